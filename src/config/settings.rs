//! Typed reads of the collected configuration. [`Settings`] answers each
//! key's value (else its default) and converts it with the one parser of its
//! syntax ([`super::values`]), so a value is checked and converted in one
//! step; a bad one is a [`ConfigError::BadValue`] naming the key, the value
//! and where it came from.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use super::sources::Raw;
use super::values::{
    parse_bytes, parse_duration, parse_flag, parse_ip, parse_list, parse_number, parse_port_range,
};
use super::{ConfigError, keys};

/// Where an unset key's value comes from, in errors.
const DEFAULT_SOURCE: &str = "default";

/// The configuration's values by key, read as typed values.
pub(crate) struct Settings<'a> {
    raw: Cow<'a, BTreeMap<String, Raw>>,
}

impl<'a> Settings<'a> {
    /// Reads `raw` (every value given, by key); unset keys read as their default.
    pub(crate) fn new(raw: &'a BTreeMap<String, Raw>) -> Self {
        Self {
            raw: Cow::Borrowed(raw),
        }
    }

    /// `key`'s value as given and where it came from; unset: its default.
    pub(crate) fn raw(&self, key: &str) -> (&str, &str) {
        match self.raw.get(key) {
            Some(r) => (&r.value, &r.source),
            None => {
                let default = keys::ALL.iter().find(|k| k.name == key);
                (default.map_or("", |k| k.default), DEFAULT_SOURCE)
            }
        }
    }

    /// `key`'s value as given (untrimmed), else its default.
    pub(crate) fn value(&self, key: &str) -> &str {
        self.raw(key).0
    }

    /// Where `key`'s value came from (`livy.conf:3`, `environment …`, `default`).
    pub(crate) fn source(&self, key: &str) -> &str {
        self.raw(key).1
    }

    /// Whether a source set `key` (rather than it taking its default).
    pub(crate) fn is_set(&self, key: &str) -> bool {
        self.raw.contains_key(key)
    }

    /// The error for `key`'s value, with the value and its source.
    pub(crate) fn bad(&self, key: &str, reason: impl Into<String>) -> ConfigError {
        let (value, source_name) = self.raw(key);
        ConfigError::BadValue {
            key: key.to_owned(),
            value: value.to_owned(),
            source_name: source_name.to_owned(),
            reason: reason.into(),
        }
    }

    /// `Ok` if `ok`, else [`Self::bad`] with `reason`: a range check on a
    /// value already parsed.
    pub(crate) fn ensure(
        &self,
        key: &str,
        ok: bool,
        reason: impl FnOnce() -> String,
    ) -> Result<(), ConfigError> {
        if ok {
            Ok(())
        } else {
            Err(self.bad(key, reason()))
        }
    }

    /// `key`'s value through `parse`, its error becoming [`ConfigError::BadValue`].
    fn parsed<T>(
        &self,
        key: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        parse(self.value(key)).map_err(|reason| self.bad(key, reason))
    }

    /// `key`'s value, trimmed; `None` when empty.
    pub(crate) fn text(&self, key: &str) -> Option<String> {
        Some(self.value(key).trim().to_owned()).filter(|v| !v.is_empty())
    }

    /// A comma-separated list ([`parse_list`]).
    pub(crate) fn list(&self, key: &str) -> Vec<String> {
        parse_list(self.value(key))
    }

    /// A comma-separated list of absolute paths.
    pub(crate) fn absolute_paths(&self, key: &str) -> Result<Vec<PathBuf>, ConfigError> {
        let paths: Vec<PathBuf> = self.list(key).into_iter().map(PathBuf::from).collect();
        match paths.iter().find(|p| !p.is_absolute()) {
            Some(p) => Err(self.bad(key, format!("{} is not an absolute path", p.display()))),
            None => Ok(paths),
        }
    }

    /// `true` or `false` by the one rule of [`parse_flag`].
    pub(crate) fn flag(&self, key: &str) -> Result<bool, ConfigError> {
        self.parsed(key, parse_flag)
    }

    /// A non-negative integer ([`parse_number`]).
    pub(crate) fn number<T: FromStr>(&self, key: &str) -> Result<T, ConfigError> {
        self.parsed(key, parse_number)
    }

    /// An integer of at least 1.
    pub(crate) fn positive<T: FromStr + PartialOrd + From<u8>>(
        &self,
        key: &str,
    ) -> Result<T, ConfigError> {
        match parse_number::<T>(self.value(key)) {
            Ok(n) if n >= T::from(1) => Ok(n),
            _ => Err(self.bad(key, "expected a positive integer")),
        }
    }

    /// A port number, 0-65535.
    pub(crate) fn port(&self, key: &str) -> Result<u16, ConfigError> {
        parse_number(self.value(key)).map_err(|_| self.bad(key, "expected a port number 0-65535"))
    }

    /// `10000~10010` or one port ([`parse_port_range`]).
    pub(crate) fn port_range(&self, key: &str) -> Result<(u16, u16), ConfigError> {
        self.parsed(key, parse_port_range)
    }

    /// An IP address ([`parse_ip`]).
    pub(crate) fn ip(&self, key: &str) -> Result<IpAddr, ConfigError> {
        self.parsed(key, parse_ip)
    }

    /// A time such as `30s` ([`parse_duration`]).
    pub(crate) fn duration(&self, key: &str) -> Result<Duration, ConfigError> {
        self.parsed(key, parse_duration)
    }

    /// A size such as `8k` or `2g`, in bytes ([`parse_bytes`]).
    pub(crate) fn bytes(&self, key: &str) -> Result<u64, ConfigError> {
        self.parsed(key, parse_bytes)
    }
}

/// For the per-area parsers' tests: `pairs`, and every other key at its
/// default, all from the source `test`.
#[cfg(test)]
pub(crate) fn test_settings(pairs: &[(&'static str, &str)]) -> Settings<'static> {
    let raw: BTreeMap<String, Raw> = keys::ALL
        .iter()
        .map(|k| (k.name, k.default))
        .chain(pairs.iter().copied())
        .map(|(key, value)| {
            let source = "test".to_owned();
            (
                key.to_owned(),
                Raw {
                    value: value.to_owned(),
                    source,
                },
            )
        })
        .collect();
    Settings {
        raw: Cow::Owned(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn raw(pairs: &[(&str, &str, &str)]) -> BTreeMap<String, Raw> {
        pairs
            .iter()
            .map(|(k, v, s)| {
                let (value, source) = (v.to_string(), s.to_string());
                (k.to_string(), Raw { value, source })
            })
            .collect()
    }

    type Read = fn(&Settings<'_>, &str) -> Result<(), ConfigError>;

    #[rstest]
    #[case::flag(keys::METRICS_ENABLED, "yes", "expected true or false", |s: &Settings, k: &str| s.flag(k).map(drop))]
    #[case::number(keys::MAX_CREATION, "-1", "expected a non-negative integer", |s: &Settings, k: &str| s.number::<u64>(k).map(drop))]
    #[case::positive(keys::MAX_DRIVER_CORES, "0", "expected a positive integer", |s: &Settings, k: &str| s.positive::<u32>(k).map(drop))]
    #[case::port(keys::SERVER_PORT, "99999", "expected a port number 0-65535", |s: &Settings, k: &str| s.port(k).map(drop))]
    #[case::ip(keys::SERVER_HOST, "localhost", "expected an IP address such as 0.0.0.0", |s: &Settings, k: &str| s.ip(k).map(drop))]
    #[case::duration(keys::POLL_INTERVAL, "soon", "expected a duration such as 30s, 10m or 1h", |s: &Settings, k: &str| s.duration(k).map(drop))]
    #[case::bytes(keys::MAX_BODY, "12x", "expected a size such as 512m or 2g", |s: &Settings, k: &str| s.bytes(k).map(drop))]
    #[case::port_range(keys::LAUNCHER_PORT_RANGE, "9~1", "expected a port range such as 10000~10010", |s: &Settings, k: &str| s.port_range(k).map(drop))]
    #[case::absolute_paths(keys::LAUNCH_SANDBOX_PATHS, "/a, rel/b", "rel/b is not an absolute path", |s: &Settings, k: &str| s.absolute_paths(k).map(drop))]
    fn a_bad_value_names_key_value_and_source(
        #[case] key: &str,
        #[case] value: &str,
        #[case] reason: &str,
        #[case] read: Read,
    ) {
        let raw = raw(&[(key, value, "livy.conf:7")]);
        let err = read(&Settings::new(&raw), key).unwrap_err();
        let ConfigError::BadValue {
            key: k,
            value: v,
            source_name,
            reason: r,
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(
            (k.as_str(), v.as_str(), source_name.as_str(), r.as_str()),
            (key, value, "livy.conf:7", reason)
        );
        assert_eq!(
            err.to_string(),
            format!("{key} = {value:?} (from livy.conf:7): {reason}")
        );
    }

    #[test]
    fn unset_keys_read_their_default_from_the_source_default() {
        let raw = raw(&[]);
        let s = Settings::new(&raw);
        assert_eq!(s.raw(keys::SERVER_PORT), ("8998", "default"));
        assert!(!s.is_set(keys::SERVER_PORT));
        assert_eq!(s.port(keys::SERVER_PORT).unwrap(), 8998);
        assert!(s.flag(keys::METRICS_ENABLED).unwrap());
        assert_eq!(s.text(keys::SPARK_HOME), None);
        let err = s.bad(keys::SERVER_PORT, "why").to_string();
        assert_eq!(err, "livy.server.port = \"8998\" (from default): why");
    }

    #[rstest]
    #[case("5", Some(5))]
    #[case(" 1 ", Some(1))]
    #[case("0", None)]
    #[case("-3", None)]
    #[case("many", None)]
    fn positive_integers(#[case] value: &str, #[case] want: Option<u32>) {
        let raw = raw(&[(keys::MAX_DRIVER_CORES, value, "test")]);
        let got = Settings::new(&raw).positive::<u32>(keys::MAX_DRIVER_CORES);
        match want {
            Some(n) => assert_eq!(got.unwrap(), n),
            None => assert!(
                got.unwrap_err()
                    .to_string()
                    .ends_with("expected a positive integer")
            ),
        }
    }
}
