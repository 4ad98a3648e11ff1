//! The REST API's TLS keys (`livy.keystore*`, `livy.key-password`,
//! `livy.server.tls.*`), checked for consistency into a [`TlsSource`].
//! Only names and passwords here: the files are read at start-up by
//! [`crate::tls`]. Any TLS key set means HTTPS is required; a half-done
//! setting is an error, never a silent fallback to plain HTTP.

use std::fmt;
use std::path::PathBuf;

use super::{ConfigError, Settings, keys};

/// A password that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String);

impl Password {
    pub fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where the REST API's certificate and key come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsSource {
    /// A PKCS#12 keystore (`livy.keystore`).
    Keystore {
        path: PathBuf,
        password: Password,
        /// `livy.keystore.type` as configured (the content decides; see [`crate::tls`]).
        declared_type: String,
    },
    /// PEM files (`livy.server.tls.cert-file` and `…key-file`).
    Pem { cert: PathBuf, key: PathBuf },
}

/// Keystore types we accept as a declaration; Java's `JKS` loads PKCS#12
/// files too, so Livy configurations that kept the default still work.
const ACCEPTED_TYPES: &[&str] = &["pkcs12", "p12", "jks"];

/// `Ok(None)`: no TLS.
pub(crate) fn parse(s: &Settings<'_>) -> Result<Option<TlsSource>, ConfigError> {
    let Some(path) = s.text(keys::KEYSTORE) else {
        return pem_files(s);
    };
    if s.text(keys::TLS_CERT_FILE).is_some() || s.text(keys::TLS_KEY_FILE).is_some() {
        return Err(s.bad(
            keys::KEYSTORE,
            format!(
                "set either {} or {} and {}, not both",
                keys::KEYSTORE,
                keys::TLS_CERT_FILE,
                keys::TLS_KEY_FILE
            ),
        ));
    }
    let declared_type = s.value(keys::KEYSTORE_TYPE).trim().to_owned();
    if !ACCEPTED_TYPES.contains(&declared_type.to_ascii_lowercase().as_str()) {
        return Err(s.bad(
            keys::KEYSTORE_TYPE,
            "only PKCS#12 keystores are supported: set PKCS12 and convert the keystore with \
             `keytool -importkeystore -srckeystore <in> -destkeystore <out>.p12 -deststoretype PKCS12`",
        ));
    }
    Ok(Some(TlsSource::Keystore {
        path: path.into(),
        password: keystore_password(s)?,
        declared_type,
    }))
}

/// Without a keystore: both PEM files or neither; a keystore password
/// without a keystore is a mistake.
fn pem_files(s: &Settings<'_>) -> Result<Option<TlsSource>, ConfigError> {
    for k in [keys::KEYSTORE_PASSWORD, keys::KEY_PASSWORD] {
        if s.text(k).is_some() {
            return Err(bad_secret(
                s,
                k,
                format!(
                    "is set but {} is not; set the keystore too, or remove the password",
                    keys::KEYSTORE
                ),
            ));
        }
    }
    match (s.text(keys::TLS_CERT_FILE), s.text(keys::TLS_KEY_FILE)) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsSource::Pem {
            cert: cert.into(),
            key: key.into(),
        })),
        (Some(_), None) => Err(s.bad(
            keys::TLS_KEY_FILE,
            format!("required with {}", keys::TLS_CERT_FILE),
        )),
        (None, Some(_)) => Err(s.bad(
            keys::TLS_CERT_FILE,
            format!("required with {}", keys::TLS_KEY_FILE),
        )),
    }
}

/// The keystore's one password: the store's, else the key's; both set must be equal.
fn keystore_password(s: &Settings<'_>) -> Result<Password, ConfigError> {
    match (s.text(keys::KEYSTORE_PASSWORD), s.text(keys::KEY_PASSWORD)) {
        (Some(store), Some(key)) if store != key => Err(bad_secret(
            s,
            keys::KEY_PASSWORD,
            format!(
                "differs from {}; a PKCS#12 keystore has one password (keytool gives the key \
                 the keystore's), so leave it unset or make it equal",
                keys::KEYSTORE_PASSWORD
            ),
        )),
        (Some(p), _) | (None, Some(p)) => Ok(Password::new(p)),
        (None, None) => Ok(Password::default()),
    }
}

/// Passwords are never echoed, not even in errors.
fn bad_secret(s: &Settings<'_>, key: &'static str, reason: String) -> ConfigError {
    ConfigError::BadSecret {
        key,
        source_name: s.source(key).to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(pairs: &[(&'static str, &str)]) -> Result<Option<TlsSource>, ConfigError> {
        parse(&crate::config::test_settings(pairs))
    }

    #[test]
    fn no_keys_no_tls() {
        assert_eq!(parse_with(&[]).unwrap(), None);
    }

    #[test]
    fn a_keystore_with_livys_default_type_or_pkcs12() {
        for ty in ["JKS", "PKCS12", "pkcs12"] {
            let got = parse_with(&[
                (keys::KEYSTORE, "/etc/livy/livy.p12"),
                (keys::KEYSTORE_PASSWORD, "changeit"),
                (keys::KEYSTORE_TYPE, ty),
            ])
            .unwrap();
            let Some(TlsSource::Keystore { path, password, .. }) = got else {
                panic!("{ty}: {got:?}")
            };
            assert_eq!(path, PathBuf::from("/etc/livy/livy.p12"));
            assert_eq!(password.expose(), "changeit");
        }
        // The key password stands in for an unset store password.
        let got = parse_with(&[(keys::KEYSTORE, "/k.p12"), (keys::KEY_PASSWORD, "kp")]).unwrap();
        assert!(
            matches!(got, Some(TlsSource::Keystore { password, .. }) if password.expose() == "kp")
        );
    }

    #[test]
    fn pem_files() {
        let got = parse_with(&[
            (keys::TLS_CERT_FILE, "/tls/chain.pem"),
            (keys::TLS_KEY_FILE, "/tls/key.pem"),
        ])
        .unwrap();
        assert_eq!(
            got,
            Some(TlsSource::Pem {
                cert: "/tls/chain.pem".into(),
                key: "/tls/key.pem".into()
            })
        );
    }

    #[test]
    fn half_done_or_ambiguous_settings_are_errors_naming_the_key() {
        for (pairs, key) in [
            (vec![(keys::TLS_CERT_FILE, "/c.pem")], keys::TLS_KEY_FILE),
            (vec![(keys::TLS_KEY_FILE, "/k.pem")], keys::TLS_CERT_FILE),
            (
                vec![(keys::KEYSTORE_PASSWORD, "s3cret-a")],
                keys::KEYSTORE_PASSWORD,
            ),
            (
                vec![(keys::KEYSTORE, "/k.p12"), (keys::TLS_CERT_FILE, "/c.pem")],
                keys::KEYSTORE,
            ),
            (
                vec![(keys::KEYSTORE, "/k.jceks"), (keys::KEYSTORE_TYPE, "JCEKS")],
                keys::KEYSTORE_TYPE,
            ),
            (
                vec![
                    (keys::KEYSTORE, "/k.p12"),
                    (keys::KEYSTORE_PASSWORD, "s3cret-a"),
                    (keys::KEY_PASSWORD, "s3cret-b"),
                ],
                keys::KEY_PASSWORD,
            ),
        ] {
            let err = parse_with(&pairs).unwrap_err().to_string();
            assert!(err.starts_with(key), "{pairs:?}: {err}");
            assert!(!err.contains("s3cret"), "a password leaked: {err}");
        }
    }

    #[test]
    fn passwords_do_not_show_in_debug_output() {
        let got = parse_with(&[
            (keys::KEYSTORE, "/k.p12"),
            (keys::KEYSTORE_PASSWORD, "hunter2"),
        ]);
        assert!(!format!("{got:?}").contains("hunter2"));
    }
}
