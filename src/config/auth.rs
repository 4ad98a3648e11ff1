//! Authentication, access control, impersonation and CSRF keys (Livy's
//! names), parsed into [`AuthConfig`]. Fail closed: a security setting this
//! server cannot honour stops start-up with the key named, rather than a
//! server that then serves everything to everyone.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, Settings, keys};
use crate::auth::acl::{AccessControl, Users};

/// How callers prove who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// Anyone; the owner of everything is null (Livy without auth).
    Off,
    /// SPNEGO (`Authorization: Negotiate`) against a keytab.
    Kerberos {
        /// The service principal, `_HOST` already replaced.
        principal: String,
        keytab: PathBuf,
    },
    /// HTTP Basic checked by an LDAP simple bind.
    Ldap {
        url: String,
        base_dn: Option<String>,
        domain: Option<String>,
        start_tls: bool,
    },
    /// HTTP Basic against a file of salted password hashes.
    Basic { users_file: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    pub method: AuthMethod,
    /// How long the auth cookie is valid.
    pub cookie_validity: Duration,
    /// Shared cookie secret (several servers behind one address); `None`: random per process.
    pub cookie_secret_file: Option<PathBuf>,
    /// How long a successful password check (ldap, basic) is remembered.
    pub password_cache_ttl: Duration,
    /// Password hashes checked at once at most (basic).
    pub max_concurrent_checks: usize,
    /// How long a password check waits for its turn before a 429.
    pub check_wait: Duration,
    /// Failed password checks per client address and window (0: no limit).
    pub failure_limit: u32,
    pub failure_window: Duration,
    pub acl: AccessControl,
    pub csrf: bool,
}

/// Livy keys of features this server does not have: setting one is an error.
const NOT_HONOURED: &[(&str, &str)] = &[
    (
        "livy.server.launch.kerberos.",
        "the server does not kinit for its own Hadoop access; run kinit for the server's user, or leave it unset",
    ),
    (
        "livy.server.auth.custom.",
        "custom authentication filters (Java classes) cannot run here; use kerberos, ldap or basic",
    ),
];

/// Fails on keys of security features this server cannot honour.
pub fn refuse_unsupported(raw_keys: &[(&str, &str, &str)]) -> Result<(), ConfigError> {
    for (key, value, source) in raw_keys {
        for (prefix, why) in NOT_HONOURED {
            let class_key = key.starts_with("livy.server.auth.")
                && (key.ends_with(".class") || key.contains(".param."));
            if key.starts_with(prefix) || class_key {
                return Err(ConfigError::BadValue {
                    key: (*key).to_owned(),
                    value: (*value).to_owned(),
                    source_name: (*source).to_owned(),
                    reason: format!("not supported by livy-server: {why}"),
                });
            }
        }
    }
    Ok(())
}

/// Where an unknown key is a mistake that would leave security off: a key
/// under one of these prefixes that this server does not know stops
/// start-up (elsewhere unknown keys only warn).
pub const SECURITY_PREFIXES: &[&str] = &[
    "livy.server.auth.",
    "livy.server.access-control.",
    // `livy.superusers`, and its singular, a likely slip.
    "livy.superuser",
    "livy.impersonation.",
    "livy.server.csrf-protection.",
    "livy.keystore",
];

/// Fails on an unknown key under [`SECURITY_PREFIXES`], naming the known
/// key closest to it (a misspelt `livy.server.access-control.enabled` must
/// not leave access control off).
pub fn refuse_unknown_security_keys(raw_keys: &[(&str, &str, &str)]) -> Result<(), ConfigError> {
    for (key, _, source) in raw_keys {
        let known = keys::ALL.iter().any(|k| k.name == *key);
        if !known && SECURITY_PREFIXES.iter().any(|p| key.starts_with(p)) {
            return Err(ConfigError::UnknownSecurityKey {
                key: (*key).to_owned(),
                source_name: (*source).to_owned(),
                closest: closest_key(key),
            });
        }
    }
    Ok(())
}

/// The known key with the fewest single-character edits from `key`.
pub fn closest_key(key: &str) -> &'static str {
    keys::ALL
        .iter()
        .min_by_key(|k| edit_distance(key, k.name))
        .map_or("", |k| k.name)
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// `hostname` replaces `_HOST` in the Kerberos principal.
pub(crate) fn parse(s: &Settings<'_>, hostname: &str) -> Result<AuthConfig, ConfigError> {
    let method = method(s, hostname)?;
    let acl = access_control(s, &method)?;
    Ok(AuthConfig {
        method,
        cookie_validity: s.duration(keys::AUTH_COOKIE_VALIDITY)?,
        cookie_secret_file: s.text(keys::AUTH_COOKIE_SECRET_FILE).map(PathBuf::from),
        password_cache_ttl: s.duration(keys::AUTH_PASSWORD_CACHE_TTL)?,
        max_concurrent_checks: s.positive(keys::AUTH_MAX_CONCURRENT_CHECKS)?,
        check_wait: s.duration(keys::AUTH_CHECK_WAIT)?,
        failure_limit: s.number(keys::AUTH_FAILURE_LIMIT)?,
        failure_window: s.duration(keys::AUTH_FAILURE_WINDOW)?,
        acl,
        csrf: s.flag(keys::CSRF)?,
    })
}

/// `livy.server.auth.type` and the keys of the chosen method.
fn method(s: &Settings<'_>, hostname: &str) -> Result<AuthMethod, ConfigError> {
    match s
        .value(keys::AUTH_TYPE)
        .trim()
        .to_ascii_lowercase()
        .as_str()
    {
        "" => Ok(AuthMethod::Off),
        "kerberos" => kerberos(s, hostname),
        "ldap" => ldap(s),
        "basic" => Ok(AuthMethod::Basic {
            users_file: PathBuf::from(required(
                s,
                keys::AUTH_BASIC_USERS_FILE,
                "a file of `user:<argon2 hash>` lines (livy-server hash-password)",
            )?),
        }),
        other => Err(s.bad(
            keys::AUTH_TYPE,
            format!("{other:?} is not supported; use kerberos, ldap, basic, or leave it empty"),
        )),
    }
}

/// `key`'s value, which the chosen auth type needs (`what` says what it is).
fn required(s: &Settings<'_>, key: &'static str, what: &str) -> Result<String, ConfigError> {
    s.text(key)
        .ok_or_else(|| s.bad(key, format!("required with this auth type: {what}")))
}

fn kerberos(s: &Settings<'_>, hostname: &str) -> Result<AuthMethod, ConfigError> {
    if !cfg!(feature = "kerberos") {
        return Err(s.bad(
            keys::AUTH_TYPE,
            "this livy-server was built without Kerberos (cargo feature `kerberos`)",
        ));
    }
    let principal = required(
        s,
        keys::AUTH_KERBEROS_PRINCIPAL,
        "the HTTP service principal, e.g. HTTP/_HOST@EXAMPLE.COM",
    )?
    .replace("_HOST", &hostname.to_ascii_lowercase());
    let keytab = PathBuf::from(required(
        s,
        keys::AUTH_KERBEROS_KEYTAB,
        "the keytab holding that principal's key",
    )?);
    if !keytab.is_file() {
        return Err(s.bad(keys::AUTH_KERBEROS_KEYTAB, "no such file"));
    }
    let rules = s.value(keys::AUTH_KERBEROS_NAME_RULES);
    if !rules.trim().eq_ignore_ascii_case("DEFAULT") {
        return Err(s.bad(
            keys::AUTH_KERBEROS_NAME_RULES,
            "only DEFAULT is supported (a principal of the service's realm maps to its first component)",
        ));
    }
    Ok(AuthMethod::Kerberos { principal, keytab })
}

fn ldap(s: &Settings<'_>) -> Result<AuthMethod, ConfigError> {
    let mech = s.value(keys::AUTH_LDAP_SECURITY_AUTHENTICATION);
    if !mech.trim().eq_ignore_ascii_case("simple") {
        return Err(s.bad(
            keys::AUTH_LDAP_SECURITY_AUTHENTICATION,
            "only simple binds are supported",
        ));
    }
    Ok(AuthMethod::Ldap {
        url: required(
            s,
            keys::AUTH_LDAP_URL,
            "ldap://host:port or ldaps://host:port",
        )?,
        base_dn: s.text(keys::AUTH_LDAP_BASE_DN),
        domain: s.text(keys::AUTH_LDAP_USERNAME_DOMAIN),
        start_tls: s.flag(keys::AUTH_LDAP_START_TLS)?,
    })
}

/// Access control and impersonation; access control needs an auth method.
fn access_control(s: &Settings<'_>, method: &AuthMethod) -> Result<AccessControl, ConfigError> {
    let acl = AccessControl {
        enabled: s.flag(keys::ACCESS_CONTROL)?,
        impersonation: s.flag(keys::IMPERSONATION)?,
        allowed: Users::parse(s.value(keys::ACCESS_ALLOWED_USERS)),
        view: Users::parse(s.value(keys::ACCESS_VIEW_USERS)),
        modify: Users::parse(s.value(keys::ACCESS_MODIFY_USERS)),
        superusers: Users::parse(s.value(keys::SUPERUSERS)),
    };
    s.ensure(
        keys::ACCESS_CONTROL,
        !(acl.enabled && *method == AuthMethod::Off),
        || "access control needs authentication (livy.server.auth.type): without it every caller is anonymous and allowed everything".to_owned(),
    )?;
    Ok(acl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_security_key_stops_start_up_naming_the_closest_key() {
        for (typo, closest) in [
            ("livy.server.access-control.enable", keys::ACCESS_CONTROL),
            ("livy.server.auth.typ", keys::AUTH_TYPE),
            ("livy.superuser", keys::SUPERUSERS),
            ("livy.superusers.list", keys::SUPERUSERS),
            ("livy.impersonation.enable", keys::IMPERSONATION),
            ("livy.server.csrf-protection.enable", keys::CSRF),
            ("livy.keystore.pasword", keys::KEYSTORE_PASSWORD),
            (
                "livy.server.auth.basic.users_file",
                keys::AUTH_BASIC_USERS_FILE,
            ),
        ] {
            let err = refuse_unknown_security_keys(&[(typo, "true", "livy.conf:3")])
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(typo), "{err}");
            assert!(err.contains(&format!("did you mean {closest}?")), "{err}");
            assert!(err.contains("livy.conf:3"), "{err}");
        }
        // Known security keys and unknown keys elsewhere pass.
        assert!(
            refuse_unknown_security_keys(&[
                (keys::ACCESS_CONTROL, "true", "x"),
                (keys::KEYSTORE_PASSWORD, "pw", "x"),
                ("livy.server.some-future-thing", "1", "x"),
                ("livy.spark.deployMode", "client", "x"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
