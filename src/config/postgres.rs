//! `livy.server.recovery.state-store = postgres` and its URL and password,
//! parsed into a connection configuration.

use std::collections::BTreeMap;

use super::{ConfigError, keys};

/// `None` unless the store is `postgres`. The password comes from
/// `…state-store.password-file`, else `PGPASSWORD`; never from the URL (it
/// would show in `ps` and in logs).
pub fn parse(
    get: &dyn Fn(&'static str) -> (String, String),
    env: &BTreeMap<String, String>,
) -> Result<Option<tokio_postgres::Config>, ConfigError> {
    if get(keys::STATE_STORE).0.trim() != "postgres" {
        return Ok(None);
    }
    let bad = |key: &'static str, reason: &str| super::bad_value(get, key, reason.to_owned());
    let url = super::text_value(get, keys::STATE_STORE_URL).ok_or_else(|| {
        bad(
            keys::STATE_STORE_URL,
            "the postgres store needs postgres://user@host:port/database",
        )
    })?;
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| bad(keys::STATE_STORE_URL, &format!("not a PostgreSQL URL: {e}")))?;
    if config.get_password().is_some() {
        return Err(bad(
            keys::STATE_STORE_URL,
            "holds a password; put it in livy.server.recovery.state-store.password-file or PGPASSWORD instead",
        ));
    }
    if config.get_dbname().is_none() {
        return Err(bad(keys::STATE_STORE_URL, "names no database"));
    }
    let password = match super::text_value(get, keys::STATE_STORE_PASSWORD_FILE) {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| {
                    bad(
                        keys::STATE_STORE_PASSWORD_FILE,
                        &format!("cannot read it: {e}"),
                    )
                })?
                .trim_end_matches(['\r', '\n'])
                .to_owned(),
        ),
        None => env.get("PGPASSWORD").cloned(),
    };
    if let Some(p) = password {
        config.password(p);
    }
    Ok(Some(config))
}

/// Leader election among servers sharing a store (PostgreSQL, or Kubernetes
/// with leader election on).
#[derive(Debug, Clone)]
pub struct HaConfig {
    pub lease_duration: std::time::Duration,
    /// This server's REST address as other servers should dial it; `None`:
    /// derived from the launcher address and the port.
    pub advertised_url: Option<String>,
    /// Where drivers reach this server's callback listener, `host:port`;
    /// `None`: the launcher address and the callback port.
    pub advertised_callback: Option<String>,
}

pub fn parse_ha(get: &dyn Fn(&'static str) -> (String, String)) -> Result<HaConfig, ConfigError> {
    let bad = |key: &'static str, reason: String| super::bad_value(get, key, reason);
    let lease_duration = super::values::parse_duration(&get(keys::HA_LEASE_DURATION).0)
        .map_err(|reason| bad(keys::HA_LEASE_DURATION, reason))?;
    if lease_duration < std::time::Duration::from_secs(2) {
        return Err(bad(
            keys::HA_LEASE_DURATION,
            "must be at least 2s".to_owned(),
        ));
    }
    let advertised_url = match super::text_value(get, keys::HA_ADVERTISED_URL) {
        Some(url) => {
            let parsed = reqwest::Url::parse(&url).map_err(|e| {
                bad(
                    keys::HA_ADVERTISED_URL,
                    format!("not a URL ({e}); use http[s]://host:port"),
                )
            })?;
            if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
                return Err(bad(
                    keys::HA_ADVERTISED_URL,
                    "must be http[s]://host:port".to_owned(),
                ));
            }
            Some(url.trim_end_matches('/').to_owned())
        }
        None => None,
    };
    let advertised_callback = match super::text_value(get, keys::HA_ADVERTISED_CALLBACK) {
        Some(addr) => {
            let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            if !valid {
                return Err(bad(
                    keys::HA_ADVERTISED_CALLBACK,
                    "must be host:port (IPv6 hosts in brackets)".to_owned(),
                ));
            }
            Some(addr)
        }
        None => None,
    };
    Ok(HaConfig {
        lease_duration,
        advertised_url,
        advertised_callback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(
        pairs: &[(&'static str, &str)],
        env: &[(&str, &str)],
    ) -> Result<Option<tokio_postgres::Config>, ConfigError> {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&crate::config::test_get(pairs), &env)
    }

    #[test]
    fn off_unless_chosen() {
        assert!(parse_with(&[], &[]).unwrap().is_none());
        let store = [(keys::STATE_STORE, "kubernetes")];
        assert!(parse_with(&store, &[]).unwrap().is_none());
    }

    #[test]
    fn url_and_password_from_a_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let file = file.display().to_string();
        let url = "postgres://livy@db.example:5433/livy";
        let c = parse_with(
            &[
                (keys::STATE_STORE, "postgres"),
                (keys::STATE_STORE_URL, url),
                (keys::STATE_STORE_PASSWORD_FILE, &file),
            ],
            &[("PGPASSWORD", "env")],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.get_user(), Some("livy"));
        assert_eq!(c.get_dbname(), Some("livy"));
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_password(), Some(&b"s3cret"[..]), "the file wins");
        let store = [
            (keys::STATE_STORE, "postgres"),
            (keys::STATE_STORE_URL, url),
        ];
        let c = parse_with(&store, &[("PGPASSWORD", "env")])
            .unwrap()
            .unwrap();
        assert_eq!(c.get_password(), Some(&b"env"[..]));
    }

    #[test]
    fn bad_settings_name_the_key_and_the_fix() {
        let cases = [
            (None, keys::STATE_STORE_URL, "needs postgres://"),
            (
                Some("http://x"),
                keys::STATE_STORE_URL,
                "not a PostgreSQL URL",
            ),
            (
                Some("postgres://livy:pw@h/db"),
                keys::STATE_STORE_URL,
                "password-file or PGPASSWORD",
            ),
            (
                Some("postgres://livy@h"),
                keys::STATE_STORE_URL,
                "names no database",
            ),
        ];
        for (url, key, says) in cases {
            let mut pairs = vec![(keys::STATE_STORE, "postgres")];
            pairs.extend(url.map(|u| (keys::STATE_STORE_URL, u)));
            let err = parse_with(&pairs, &[]).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(says), "{url:?}: {err}");
        }
        let pairs = [
            (keys::STATE_STORE, "postgres"),
            (keys::STATE_STORE_URL, "postgres://livy@h/db"),
            (keys::STATE_STORE_PASSWORD_FILE, "/nonexistent/pw"),
        ];
        let err = parse_with(&pairs, &[]).unwrap_err().to_string();
        assert!(err.contains("cannot read it"), "{err}");
    }
}
