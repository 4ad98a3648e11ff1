//! What an application needs to run this project's R code (pure): where the
//! driver finds the SparkR package and the R REPL, and how executors find the
//! R worker without anything written into the user's Spark installation.
//!
//! Spark's RRunner starts `<spark.r.command> --vanilla <R lib>/SparkR/worker/…`
//! with `<R lib>` = `$SPARK_HOME/R/lib`, except on YARN, where it is the
//! `sparkr` archive in the container's directory. So: on YARN the package ships
//! as that archive; on local and standalone masters `spark.r.command` is a
//! wrapper that runs our copy of the worker script (the user's own
//! `spark.r.command` wins; standalone workers must see the server's data dir,
//! as they do on one host or a shared file system). Kubernetes executors look
//! in their image's `$SPARK_HOME/R/lib`: nothing is added there.

use std::collections::BTreeMap;

use crate::repl::driver_build::RArtifacts;

/// Additions to one spark-submit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RLaunch {
    pub conf: BTreeMap<String, String>,
    /// Extra `--archives` entries.
    pub archives: Vec<String>,
    /// Environment of spark-submit (an R batch's `Rscript` inherits it in client mode).
    pub env: Vec<(String, String)>,
}

const R_COMMAND: &str = "spark.r.command";

/// `repl`: a session driver (it needs the REPL script and the library path);
/// otherwise an R batch.
pub fn r_launch(
    r: &RArtifacts,
    user_conf: &BTreeMap<String, String>,
    master: &str,
    repl: bool,
) -> RLaunch {
    let mut out = RLaunch::default();
    let lib = r.lib.display().to_string();
    if repl {
        out.conf
            .insert("spark.livy.repl.r".into(), r.repl.display().to_string());
        out.conf.insert("spark.livy.r.lib".into(), lib.clone());
    }
    if master.starts_with("yarn") {
        out.archives.push(format!("{}#sparkr", r.archive.display()));
    } else if !master.starts_with("k8s") && !user_conf.contains_key(R_COMMAND) {
        out.conf
            .insert(R_COMMAND.into(), r.rscript.display().to_string());
    }
    out.env.push(("R_LIBS".into(), lib));
    out
}

/// Whether a batch's primary resource is an R script.
pub fn is_r_script(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    lower.ends_with(".r")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn artifacts() -> RArtifacts {
        RArtifacts {
            repl: PathBuf::from("/d/R/livy_repl.R"),
            lib: PathBuf::from("/d/R/lib"),
            rscript: PathBuf::from("/d/R/livy-rscript"),
            archive: PathBuf::from("/d/R/sparkr.zip"),
        }
    }

    use crate::records::conf_of as conf;

    #[test]
    fn a_local_session_gets_the_repl_the_library_and_the_worker_wrapper() {
        let l = r_launch(&artifacts(), &conf(&[]), "local[*]", true);
        assert_eq!(
            l.conf,
            conf(&[
                ("spark.livy.r.lib", "/d/R/lib"),
                ("spark.livy.repl.r", "/d/R/livy_repl.R"),
                ("spark.r.command", "/d/R/livy-rscript"),
            ])
        );
        assert!(l.archives.is_empty());
        assert_eq!(l.env, vec![("R_LIBS".to_string(), "/d/R/lib".to_string())]);
    }

    #[test]
    fn on_yarn_the_package_ships_as_the_sparkr_archive_and_no_wrapper_is_set() {
        let l = r_launch(&artifacts(), &conf(&[]), "yarn", false);
        assert_eq!(l.archives, vec!["/d/R/sparkr.zip#sparkr".to_string()]);
        assert!(!l.conf.contains_key("spark.r.command"));
        assert!(
            !l.conf.contains_key("spark.livy.repl.r"),
            "a batch has no REPL"
        );
    }

    #[test]
    fn the_users_own_r_command_wins() {
        let l = r_launch(
            &artifacts(),
            &conf(&[("spark.r.command", "/opt/R/bin/Rscript")]),
            "spark://m:7077",
            true,
        );
        assert!(!l.conf.contains_key("spark.r.command"));
    }

    #[test]
    fn kubernetes_executors_use_their_image() {
        let l = r_launch(&artifacts(), &conf(&[]), "k8s://https://api:6443", true);
        assert!(l.archives.is_empty());
        assert!(!l.conf.contains_key("spark.r.command"));
        assert_eq!(l.conf["spark.livy.r.lib"], "/d/R/lib");
    }

    #[test]
    fn r_scripts_are_recognised_by_extension() {
        assert!(is_r_script("/apps/pi.R"));
        assert!(is_r_script("hdfs:///apps/pi.r"));
        assert!(!is_r_script("/apps/pi.py"));
        assert!(!is_r_script("/apps/R"));
    }
}
