//! What the configured Spark installation is: its Spark and Scala versions,
//! read from the names of the jars it ships (`spark-core_2.13-4.3.0.jar`,
//! `scala-library-2.13.18.jar`). Cheaper than `spark-submit --version`
//! (a JVM start), and exact: they are the jars every application runs on.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SparkInstall {
    /// `4.3.0`, `3.5.9`.
    pub spark_version: String,
    /// The full Scala version, `2.13.18`.
    pub scala_version: String,
}

impl SparkInstall {
    /// Reads `<spark_home>/jars`; `None` if it does not look like Spark.
    pub fn detect(spark_home: &Path) -> Option<Self> {
        let names: Vec<String> = std::fs::read_dir(spark_home.join("jars"))
            .ok()?
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_owned))
            .collect();
        Self::from_jar_names(names.iter().map(String::as_str))
    }

    fn from_jar_names<'a>(names: impl Iterator<Item = &'a str> + Clone) -> Option<Self> {
        let version_of = |prefix: &str| {
            names.clone().find_map(|n| {
                let v = n.strip_prefix(prefix)?.strip_suffix(".jar")?;
                v.starts_with(|c: char| c.is_ascii_digit())
                    .then(|| v.to_owned())
            })
        };
        let scala_version = version_of("scala-library-")?;
        let spark_version = version_of(&format!("spark-core_{}-", binary(&scala_version)))?;
        Some(Self {
            spark_version,
            scala_version,
        })
    }

    /// The Scala binary version, `2.13`: which driver shims to compile.
    pub fn scala_binary(&self) -> &str {
        binary(&self.scala_version)
    }
}

fn binary(full: &str) -> &str {
    match full.match_indices('.').nth(1) {
        Some((i, _)) => &full[..i],
        None => full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(&["scala-library-2.13.18.jar", "spark-core_2.13-4.3.0.jar", "spark-sql_2.13-4.3.0.jar"], Some(("4.3.0", "2.13.18", "2.13")))]
    #[case(&["spark-core_2.12-3.5.9.jar", "scala-library-2.12.18.jar", "scala-reflect-2.12.18.jar"], Some(("3.5.9", "2.12.18", "2.12")))]
    #[case(&["scala-library-2.13.18.jar"], None)]
    #[case(&["spark-core_2.13-4.3.0.jar"], None)]
    #[case(&["scala-library-2.12.18.jar", "spark-core_2.13-4.3.0.jar"], None)]
    #[case(&[], None)]
    fn versions_come_from_jar_names(
        #[case] jars: &[&str],
        #[case] want: Option<(&str, &str, &str)>,
    ) {
        let got = SparkInstall::from_jar_names(jars.iter().copied());
        let got = got.as_ref().map(|s| {
            (
                s.spark_version.as_str(),
                s.scala_version.as_str(),
                s.scala_binary(),
            )
        });
        assert_eq!(got, want);
    }
}
