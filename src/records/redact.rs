//! Spark's redaction of conf values (`spark.redaction.regex`): a value
//! whose key or value matches is shown as `*********(redacted)` in every
//! answer, page and log line of the server. Pure; the application still
//! receives the real value (only what the server *shows* is redacted).

use std::collections::BTreeMap;

/// Spark's default `spark.redaction.regex`.
pub const DEFAULT_REGEX: &str = "(?i)secret|password|token|access[.]key";
/// What Spark shows instead of a redacted value.
pub const REDACTED: &str = "*********(redacted)";

/// The compiled redaction pattern.
#[derive(Debug, Clone)]
pub struct Redaction {
    pattern: regex::Regex,
}

impl Default for Redaction {
    fn default() -> Self {
        Self::new(DEFAULT_REGEX).unwrap_or_else(|_| unreachable!("the default pattern compiles"))
    }
}

impl Redaction {
    pub fn new(pattern: &str) -> Result<Self, regex::Error> {
        Ok(Self {
            pattern: regex::Regex::new(pattern)?,
        })
    }

    /// Whether the pair `key = value` is hidden (as Spark: key or value matches).
    pub fn hides(&self, key: &str, value: &str) -> bool {
        self.pattern.is_match(key) || self.pattern.is_match(value)
    }

    /// `conf` as it may be shown (a value sealed in its record is hidden
    /// whatever the pattern says now).
    pub fn conf(&self, conf: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        conf.iter()
            .map(|(k, v)| {
                let hidden = self.hides(k, v) || super::seal::is_sealed(v);
                let shown = if hidden { REDACTED } else { v };
                (k.clone(), shown.to_owned())
            })
            .collect()
    }

    /// A spark-submit argv as it may be logged: the value of every
    /// `--conf key=value` (and `--conf=key=value`) that is hidden.
    pub fn argv(&self, argv: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(argv.len());
        let mut after_conf = false;
        for arg in argv {
            let (prefix, pair) = match arg.strip_prefix("--conf=") {
                Some(pair) => ("--conf=", Some(pair)),
                None if after_conf => ("", Some(arg.as_str())),
                None => ("", None),
            };
            after_conf = arg == "--conf" || arg == "-c";
            out.push(match pair.and_then(|p| p.split_once('=')) {
                Some((k, v)) if self.hides(k, v) => format!("{prefix}{k}={REDACTED}"),
                _ => arg.clone(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::secret("spark.hadoop.fs.s3a.secret.key", "abc", true)]
    #[case::password_any_case("spark.ssl.keyStorePassword", "abc", true)]
    #[case::token("spark.myapp.TOKEN", "abc", true)]
    #[case::access_key("spark.hadoop.fs.s3a.access.key", "AKIA", true)]
    #[case::value_matches("spark.myapp.url", "https://x/?token=1", true)]
    #[case::plain("spark.executor.memory", "1g", false)]
    #[case::access_without_dot("spark.accesskey", "x", false)]
    fn spark_default_pattern(#[case] key: &str, #[case] value: &str, #[case] hidden: bool) {
        assert_eq!(
            Redaction::default().hides(key, value),
            hidden,
            "{key}={value}"
        );
    }

    #[test]
    fn conf_keeps_keys_and_plain_values() {
        let conf: BTreeMap<String, String> = [
            ("spark.app.secret", "s3cr3t"),
            ("spark.executor.cores", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let shown = Redaction::default().conf(&conf);
        assert_eq!(shown["spark.app.secret"], REDACTED);
        assert_eq!(shown["spark.executor.cores"], "2");
    }

    #[test]
    fn argv_hides_conf_values_only() {
        let argv: Vec<String> = [
            "spark-submit",
            "--conf",
            "spark.app.password=hunter2",
            "--conf=spark.other.token=t0k",
            "--conf",
            "spark.executor.cores=2",
            "--name",
            "password-reset",
            "app.py",
            "secret=42",
        ]
        .map(String::from)
        .to_vec();
        let shown = Redaction::default().argv(&argv).join(" ");
        assert!(
            !shown.contains("hunter2") && !shown.contains("t0k"),
            "{shown}"
        );
        assert!(
            shown.contains(&format!("spark.app.password={REDACTED}")),
            "{shown}"
        );
        assert!(shown.contains("spark.executor.cores=2"), "{shown}");
        // Not conf: the application's own name and arguments are left alone.
        assert!(
            shown.contains("password-reset") && shown.contains("secret=42"),
            "{shown}"
        );
    }

    #[test]
    fn a_custom_pattern_replaces_the_default() {
        let r = Redaction::new("(?i)mykey").unwrap();
        assert!(r.hides("spark.mykey", "x"));
        assert!(!r.hides("spark.password", "x"));
    }
}
