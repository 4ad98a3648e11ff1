//! `livy.server.recovery.state-store = postgres` and its URL and password,
//! parsed into a connection configuration.

use std::collections::BTreeMap;

use super::{ConfigError, Settings, keys};

/// The PostgreSQL store's connection settings.
#[derive(Clone)]
pub struct PostgresConfig {
    pub connect: tokio_postgres::Config,
    /// From the URL's `sslmode` and `sslrootcert`, as libpq reads them.
    pub tls: crate::store::PostgresTls,
}

impl std::fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = match self.tls {
            crate::store::PostgresTls::Plain => "plain",
            crate::store::PostgresTls::Tls(_) => "tls",
        };
        f.debug_struct("PostgresConfig")
            .field("connect", &self.connect)
            .field("tls", &tls)
            .finish()
    }
}

/// Takes libpq's `sslmode` and `sslrootcert` out of a URL's query (tokio-postgres
/// knows neither `verify-ca`, `verify-full` nor `sslrootcert`): the URL
/// without them, and the connector they ask for with tokio-postgres' mode.
/// No `sslmode` is libpq's default, `prefer`.
fn tls_from_url(
    url: &str,
) -> Result<
    (
        String,
        crate::store::PostgresTls,
        tokio_postgres::config::SslMode,
    ),
    String,
> {
    use crate::store::{PostgresTls, PostgresVerify as Verify};
    use tokio_postgres::config::SslMode;
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut mode, mut root) = (None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let value = || {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        };
        match k {
            "sslmode" => mode = Some(value()),
            "sslrootcert" => root = Some(value()),
            _ => kept.push(pair),
        }
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    // libpq: `sslrootcert=system` is the system's roots; any other value a
    // PEM file. With a file given, `require` verifies the chain too.
    let roots = match root.as_deref() {
        None | Some("system") => None,
        Some(path) => Some(
            std::fs::read(path).map_err(|e| format!("sslrootcert {path}: cannot read it: {e}"))?,
        ),
    };
    let given = root.is_some();
    let (verify, ssl) = match mode.as_deref().unwrap_or("prefer") {
        "disable" => return Ok((url, PostgresTls::Plain, SslMode::Disable)),
        "prefer" if given => (Verify::Chain, SslMode::Prefer),
        "prefer" => (Verify::Nothing, SslMode::Prefer),
        "require" if given => (Verify::Chain, SslMode::Require),
        "require" => (Verify::Nothing, SslMode::Require),
        "verify-ca" => (Verify::Chain, SslMode::Require),
        "verify-full" => (Verify::ChainAndName, SslMode::Require),
        other => {
            return Err(format!(
                "sslmode={other} is not one of disable, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    let tls = PostgresTls::tls(verify, roots.as_deref())
        .map_err(|e| format!("sslrootcert {}: {e}", root.as_deref().unwrap_or("system")))?;
    Ok((url, tls, ssl))
}

/// `None` unless the store is `postgres`. The password comes from
/// `…state-store.password-file`, else `PGPASSWORD`; never from the URL (it
/// would show in `ps` and in logs).
pub(crate) fn parse(
    s: &Settings<'_>,
    env: &BTreeMap<String, String>,
) -> Result<Option<PostgresConfig>, ConfigError> {
    if s.value(keys::STATE_STORE).trim() != "postgres" {
        return Ok(None);
    }
    let bad = |key: &'static str, reason: &str| s.bad(key, reason);
    let url = s.text(keys::STATE_STORE_URL).ok_or_else(|| {
        bad(
            keys::STATE_STORE_URL,
            "the postgres store needs postgres://user@host:port/database",
        )
    })?;
    let (url, tls, ssl_mode) = tls_from_url(&url).map_err(|e| bad(keys::STATE_STORE_URL, &e))?;
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
    let password = match s.text(keys::STATE_STORE_PASSWORD_FILE) {
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
    config.ssl_mode(ssl_mode);
    Ok(Some(PostgresConfig {
        connect: config,
        tls,
    }))
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

pub(crate) fn parse_ha(s: &Settings<'_>) -> Result<HaConfig, ConfigError> {
    let lease_duration = s.duration(keys::HA_LEASE_DURATION)?;
    s.ensure(
        keys::HA_LEASE_DURATION,
        lease_duration >= std::time::Duration::from_secs(2),
        || "must be at least 2s".to_owned(),
    )?;
    let advertised_url = match s.text(keys::HA_ADVERTISED_URL) {
        Some(url) => {
            let parsed = reqwest::Url::parse(&url).map_err(|e| {
                s.bad(
                    keys::HA_ADVERTISED_URL,
                    format!("not a URL ({e}); use http[s]://host:port"),
                )
            })?;
            s.ensure(
                keys::HA_ADVERTISED_URL,
                matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some(),
                || "must be http[s]://host:port".to_owned(),
            )?;
            Some(url.trim_end_matches('/').to_owned())
        }
        None => None,
    };
    let advertised_callback = match s.text(keys::HA_ADVERTISED_CALLBACK) {
        Some(addr) => {
            let valid = addr.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
            });
            s.ensure(keys::HA_ADVERTISED_CALLBACK, valid, || {
                "must be host:port (IPv6 hosts in brackets)".to_owned()
            })?;
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
        Ok(parse_tls(pairs, env)?.map(|c| c.connect))
    }

    fn parse_tls(
        pairs: &[(&'static str, &str)],
        env: &[(&str, &str)],
    ) -> Result<Option<PostgresConfig>, ConfigError> {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(&crate::config::test_settings(pairs), &env)
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

    #[test]
    fn sslmode_and_sslrootcert_as_libpq_reads_them() {
        use crate::store::PostgresTls;
        use tokio_postgres::config::SslMode;
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem").display().to_string();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let junk = junk.display().to_string();
        let parse_url = |url: &str| {
            let store = [
                (keys::STATE_STORE, "postgres"),
                (keys::STATE_STORE_URL, url),
            ];
            parse_tls(&store, &[]).map(Option::unwrap)
        };
        let base = "postgres://livy@db/livy";
        for (query, mode, tls) in [
            ("", SslMode::Prefer, true),
            ("?sslmode=disable", SslMode::Disable, false),
            ("?sslmode=prefer", SslMode::Prefer, true),
            ("?sslmode=require", SslMode::Require, true),
            (
                "?sslmode=verify-full&application_name=x",
                SslMode::Require,
                true,
            ),
            (
                "?application_name=x&sslmode=verify-ca",
                SslMode::Require,
                true,
            ),
        ] {
            let c = parse_url(&format!("{base}{query}")).unwrap();
            assert_eq!(c.connect.get_ssl_mode(), mode, "{query}");
            assert_eq!(matches!(c.tls, PostgresTls::Tls(_)), tls, "{query}");
            assert_eq!(c.connect.get_dbname(), Some("livy"), "{query}");
        }
        for (query, says) in [
            ("?sslmode=allow", "sslmode=allow is not one of"),
            (
                &format!("?sslmode=verify-full&sslrootcert={missing}")[..],
                "cannot read it",
            ),
            (
                &format!("?sslmode=verify-ca&sslrootcert={junk}")[..],
                "holds no certificate",
            ),
        ] {
            let err = parse_url(&format!("{base}{query}"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(keys::STATE_STORE_URL) && err.contains(says),
                "{query}: {err}"
            );
        }
    }
}
