//! Authentication, access control, impersonation and CSRF keys (Livy's
//! names), parsed into [`AuthConfig`]. Fail closed: a security setting this
//! server cannot honour stops start-up with the key named, rather than a
//! server that then serves everything to everyone.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, keys, parse_duration};
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

/// `get(key)` returns the raw value and where it came from.
pub fn parse(
    get: &dyn Fn(&'static str) -> (String, String),
    hostname: &str,
) -> Result<AuthConfig, ConfigError> {
    let bad = |key: &'static str, reason: String| super::bad_value(get, key, reason);
    let text = |key| super::text_value(get, key);
    let flag = |key: &'static str| match get(key).0.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" | "" => Ok(false),
        _ => Err(bad(key, "expected true or false".into())),
    };
    let duration =
        |key: &'static str| parse_duration(&get(key).0).map_err(|reason| bad(key, reason));
    let required = |key: &'static str, what: &str| {
        text(key).ok_or_else(|| bad(key, format!("required with this auth type: {what}")))
    };
    let method = match get(keys::AUTH_TYPE).0.trim().to_ascii_lowercase().as_str() {
        "" => AuthMethod::Off,
        "kerberos" => {
            if !cfg!(feature = "kerberos") {
                return Err(bad(
                    keys::AUTH_TYPE,
                    "this livy-server was built without Kerberos (cargo feature `kerberos`)".into(),
                ));
            }
            let principal = required(
                keys::AUTH_KERBEROS_PRINCIPAL,
                "the HTTP service principal, e.g. HTTP/_HOST@EXAMPLE.COM",
            )?
            .replace("_HOST", &hostname.to_ascii_lowercase());
            let keytab = PathBuf::from(required(
                keys::AUTH_KERBEROS_KEYTAB,
                "the keytab holding that principal's key",
            )?);
            if !keytab.is_file() {
                return Err(bad(keys::AUTH_KERBEROS_KEYTAB, "no such file".into()));
            }
            let rules = get(keys::AUTH_KERBEROS_NAME_RULES).0;
            if !rules.trim().eq_ignore_ascii_case("DEFAULT") {
                return Err(bad(
                    keys::AUTH_KERBEROS_NAME_RULES,
                    "only DEFAULT is supported (a principal of the service's realm maps to its first component)".into(),
                ));
            }
            AuthMethod::Kerberos { principal, keytab }
        }
        "ldap" => {
            let mech = get(keys::AUTH_LDAP_SECURITY_AUTHENTICATION).0;
            if !mech.trim().eq_ignore_ascii_case("simple") {
                return Err(bad(
                    keys::AUTH_LDAP_SECURITY_AUTHENTICATION,
                    "only simple binds are supported".into(),
                ));
            }
            AuthMethod::Ldap {
                url: required(keys::AUTH_LDAP_URL, "ldap://host:port or ldaps://host:port")?,
                base_dn: text(keys::AUTH_LDAP_BASE_DN),
                domain: text(keys::AUTH_LDAP_USERNAME_DOMAIN),
                start_tls: flag(keys::AUTH_LDAP_START_TLS)?,
            }
        }
        "basic" => AuthMethod::Basic {
            users_file: PathBuf::from(required(
                keys::AUTH_BASIC_USERS_FILE,
                "a file of `user:<argon2 hash>` lines (livy-server hash-password)",
            )?),
        },
        other => {
            return Err(bad(
                keys::AUTH_TYPE,
                format!("{other:?} is not supported; use kerberos, ldap, basic, or leave it empty"),
            ));
        }
    };
    let acl = AccessControl {
        enabled: flag(keys::ACCESS_CONTROL)?,
        impersonation: flag(keys::IMPERSONATION)?,
        allowed: Users::parse(&get(keys::ACCESS_ALLOWED_USERS).0),
        view: Users::parse(&get(keys::ACCESS_VIEW_USERS).0),
        modify: Users::parse(&get(keys::ACCESS_MODIFY_USERS).0),
        superusers: Users::parse(&get(keys::SUPERUSERS).0),
    };
    if acl.enabled && method == AuthMethod::Off {
        return Err(bad(
            keys::ACCESS_CONTROL,
            "access control needs authentication (livy.server.auth.type): without it every caller is anonymous and allowed everything".into(),
        ));
    }
    Ok(AuthConfig {
        method,
        cookie_validity: duration(keys::AUTH_COOKIE_VALIDITY)?,
        cookie_secret_file: text(keys::AUTH_COOKIE_SECRET_FILE).map(PathBuf::from),
        password_cache_ttl: duration(keys::AUTH_PASSWORD_CACHE_TTL)?,
        acl,
        csrf: flag(keys::CSRF)?,
    })
}
