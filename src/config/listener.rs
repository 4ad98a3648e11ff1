//! The REST listener's limits (`livy.server.request-header-timeout`,
//! `livy.server.request-body-timeout`,
//! `livy.server.idle-timeout`, `livy.server.tls.handshake-timeout`,
//! `livy.server.shutdown.grace-period`, `livy.server.request.max-uri-length`,
//! `livy.server.request.max-header-size`), checked into [`ListenerConfig`].
//! Only values here; [`crate::server`] enforces them.

use std::time::Duration;

use super::{ConfigError, Settings, keys};

/// The `http` crate refuses URIs of 65,534 bytes and more with hyper's bare
/// 414; our own limit must stay below it to answer in JSON.
const URI_CEILING: u64 = 60 * 1024;
/// Headers beyond this would need hyper buffers of megabytes per connection.
const HEADER_CEILING: u64 = 1 << 20;

/// Timeouts and request-head limits of the REST listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerConfig {
    /// From a request's first byte to its last header line.
    pub header_timeout: Duration,
    /// From the end of a request's head to the end of its body.
    pub body_timeout: Duration,
    /// A connection with no request in flight and no byte of a new one.
    pub idle_timeout: Duration,
    /// From accept to a finished TLS handshake.
    pub tls_handshake_timeout: Duration,
    /// How long open requests may run on after shutdown begins.
    pub shutdown_grace: Duration,
    /// Longest request URI (bytes); longer gets 414.
    pub max_uri: usize,
    /// Largest request head (names, values and line ends, bytes); larger gets 431.
    pub max_header: usize,
}

pub(crate) fn parse(s: &Settings<'_>) -> Result<ListenerConfig, ConfigError> {
    let positive = |key: &'static str| -> Result<Duration, ConfigError> {
        let d = s.duration(key)?;
        s.ensure(key, !d.is_zero(), || "must be more than 0".to_owned())?;
        Ok(d)
    };
    let bytes = |key: &'static str, min: u64, max: u64| -> Result<usize, ConfigError> {
        let n = s.bytes(key)?;
        s.ensure(key, (min..=max).contains(&n), || {
            format!("must be between {min} and {max} bytes")
        })?;
        Ok(n as usize)
    };
    Ok(ListenerConfig {
        header_timeout: positive(keys::HEADER_TIMEOUT)?,
        body_timeout: positive(keys::BODY_TIMEOUT)?,
        idle_timeout: positive(keys::IDLE_TIMEOUT)?,
        tls_handshake_timeout: positive(keys::TLS_HANDSHAKE_TIMEOUT)?,
        shutdown_grace: s.duration(keys::SHUTDOWN_GRACE)?,
        max_uri: bytes(keys::MAX_URI, 64, URI_CEILING)?,
        max_header: bytes(keys::MAX_HEADER, 1024, HEADER_CEILING)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(pairs: &[(&'static str, &str)]) -> Result<ListenerConfig, ConfigError> {
        parse(&crate::config::test_settings(pairs))
    }

    #[test]
    fn defaults() {
        let c = parse_with(&[]).unwrap();
        assert_eq!(c.header_timeout, Duration::from_secs(30));
        assert_eq!(c.idle_timeout, Duration::from_secs(60));
        assert_eq!(c.body_timeout, Duration::from_secs(60));
        assert_eq!(c.tls_handshake_timeout, Duration::from_secs(10));
        assert_eq!(c.shutdown_grace, Duration::from_secs(10));
        assert_eq!((c.max_uri, c.max_header), (8 * 1024, 64 * 1024));
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        for (key, value) in [
            (keys::HEADER_TIMEOUT, "0s"),
            (keys::IDLE_TIMEOUT, "soon"),
            (keys::BODY_TIMEOUT, "0"),
            (keys::TLS_HANDSHAKE_TIMEOUT, "0"),
            (keys::MAX_URI, "64k"),
            (keys::MAX_URI, "10"),
            (keys::MAX_HEADER, "2m"),
        ] {
            let err = parse_with(&[(key, value)]).unwrap_err().to_string();
            assert!(err.starts_with(key), "{key}={value}: {err}");
        }
    }
}
