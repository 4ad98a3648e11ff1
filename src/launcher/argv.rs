//! spark-submit's argv as a pure function of a validated spec and the
//! server's settings. Everything reaches spark-submit as separate argv
//! elements (no shell), and the application's own `args` come after the
//! primary resource, where spark-submit stops parsing options.

use std::collections::BTreeMap;

use crate::records::{BatchSpec, Resources};

/// Server-side facts the argv depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitSettings {
    pub spark_submit: String,
    pub master: String,
    pub deploy_mode: Option<String>,
    /// Pass `--proxy-user` (only when `livy.impersonation.enabled`).
    pub impersonation: bool,
}

/// What a cluster manager adds for one record: conf entries (the tag, …) and
/// an application name that lets it find the application again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitAdditions {
    pub conf: BTreeMap<String, String>,
    /// Replaces the user's `name` when the manager finds apps by name
    /// (standalone); `None` keeps the user's name.
    pub app_name: Option<String>,
}

const YARN_TAGS: &str = "spark.yarn.tags";

fn push_list(argv: &mut Vec<String>, flag: &str, items: &[String]) {
    if !items.is_empty() {
        argv.push(flag.to_owned());
        argv.push(items.join(","));
    }
}

fn push_opt(argv: &mut Vec<String>, flag: &str, value: Option<String>) {
    if let Some(v) = value {
        argv.push(flag.to_owned());
        argv.push(v);
    }
}

/// Adds `--properties-file <path>` right after the program: conf that must
/// not appear in argv (secrets) travels in a 0600 file. `load_defaults`
/// (spark-submit 4+) adds `--load-spark-defaults`, so spark-defaults.conf
/// still applies; spark-submit 3 has no such flag and reads the file instead
/// of spark-defaults.conf.
pub fn with_properties_file(mut argv: Vec<String>, path: &str, load_defaults: bool) -> Vec<String> {
    let at = 1.min(argv.len());
    let mut flags = vec!["--properties-file".to_owned(), path.to_owned()];
    if load_defaults {
        flags.push("--load-spark-defaults".to_owned());
    }
    argv.splice(at..at, flags);
    argv
}

/// The complete argv (program first) to submit `spec`.
pub fn batch_argv(
    spec: &BatchSpec,
    settings: &SubmitSettings,
    adds: &SubmitAdditions,
) -> Vec<String> {
    submit_argv(
        &spec.resources,
        spec.class_name.as_deref(),
        &spec.file,
        &spec.args,
        settings,
        adds,
    )
}

/// spark-submit for any application: the shared resource options, then the
/// primary resource and its arguments.
pub fn submit_argv(
    res: &Resources,
    class_name: Option<&str>,
    primary: &str,
    app_args: &[String],
    settings: &SubmitSettings,
    adds: &SubmitAdditions,
) -> Vec<String> {
    let mut argv = vec![
        settings.spark_submit.clone(),
        "--master".into(),
        settings.master.clone(),
    ];
    push_opt(&mut argv, "--deploy-mode", settings.deploy_mode.clone());
    push_opt(
        &mut argv,
        "--name",
        adds.app_name.clone().or_else(|| res.name.clone()),
    );
    push_opt(&mut argv, "--class", class_name.map(str::to_owned));
    push_list(&mut argv, "--jars", &res.jars);
    push_list(&mut argv, "--py-files", &res.py_files);
    push_list(&mut argv, "--files", &res.files);
    push_list(&mut argv, "--archives", &res.archives);
    push_opt(&mut argv, "--driver-memory", res.driver_memory.clone());
    push_opt(
        &mut argv,
        "--driver-cores",
        res.driver_cores.map(|n| n.to_string()),
    );
    push_opt(&mut argv, "--executor-memory", res.executor_memory.clone());
    push_opt(
        &mut argv,
        "--executor-cores",
        res.executor_cores.map(|n| n.to_string()),
    );
    push_opt(
        &mut argv,
        "--num-executors",
        res.num_executors.map(|n| n.to_string()),
    );
    push_opt(&mut argv, "--queue", res.queue.clone());
    if settings.impersonation {
        push_opt(&mut argv, "--proxy-user", res.proxy_user.clone());
    }
    // The manager's entries win over the user's (they carry the tag), except
    // YARN tags, which Livy merges: the user's tags stay, ours is added.
    let mut conf = res.conf.clone();
    for (k, v) in &adds.conf {
        let merged = match conf.get(k) {
            Some(user) if k == YARN_TAGS && !user.is_empty() => format!("{user},{v}"),
            _ => v.clone(),
        };
        conf.insert(k.clone(), merged);
    }
    for (k, v) in conf {
        argv.push("--conf".into());
        argv.push(format!("{k}={v}"));
    }
    argv.push(primary.to_owned());
    argv.extend(app_args.iter().cloned());
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Resources;
    use rstest::rstest;

    fn settings() -> SubmitSettings {
        SubmitSettings {
            spark_submit: "/spark/bin/spark-submit".into(),
            master: "local[*]".into(),
            deploy_mode: None,
            impersonation: false,
        }
    }

    fn base() -> BatchSpec {
        BatchSpec {
            file: "/apps/pi.py".into(),
            ..BatchSpec::default()
        }
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    const HEAD: &[&str] = &["/spark/bin/spark-submit", "--master", "local[*]"];

    #[rstest]
    #[case::file_only(base(), &[], &["/apps/pi.py"])]
    #[case::class_name(BatchSpec { class_name: Some("org.example.Pi".into()), file: "/a/pi.jar".into(), ..base() },
        &["--class", "org.example.Pi"], &["/a/pi.jar"])]
    #[case::args(BatchSpec { args: s(&["10", "x y"]), ..base() }, &[], &["/apps/pi.py", "10", "x y"])]
    #[case::jars(BatchSpec { resources: Resources { jars: s(&["/a/1.jar", "hdfs:///2.jar"]), ..Resources::default() }, ..base() }, &["--jars", "/a/1.jar,hdfs:///2.jar"], &["/apps/pi.py"])]
    #[case::py_files(BatchSpec { resources: Resources { py_files: s(&["/a/m.py"]), ..Resources::default() }, ..base() }, &["--py-files", "/a/m.py"], &["/apps/pi.py"])]
    #[case::files(BatchSpec { resources: Resources { files: s(&["/a/f.txt"]), ..Resources::default() }, ..base() }, &["--files", "/a/f.txt"], &["/apps/pi.py"])]
    #[case::archives(BatchSpec { resources: Resources { archives: s(&["/a/env.zip#env"]), ..Resources::default() }, ..base() }, &["--archives", "/a/env.zip#env"], &["/apps/pi.py"])]
    #[case::driver_memory(BatchSpec { resources: Resources { driver_memory: Some("2g".into()), ..Resources::default() }, ..base() }, &["--driver-memory", "2g"], &["/apps/pi.py"])]
    #[case::driver_cores(BatchSpec { resources: Resources { driver_cores: Some(2), ..Resources::default() }, ..base() }, &["--driver-cores", "2"], &["/apps/pi.py"])]
    #[case::executor_memory(BatchSpec { resources: Resources { executor_memory: Some("1000M".into()), ..Resources::default() }, ..base() }, &["--executor-memory", "1000M"], &["/apps/pi.py"])]
    #[case::executor_cores(BatchSpec { resources: Resources { executor_cores: Some(3), ..Resources::default() }, ..base() }, &["--executor-cores", "3"], &["/apps/pi.py"])]
    #[case::num_executors(BatchSpec { resources: Resources { num_executors: Some(4), ..Resources::default() }, ..base() }, &["--num-executors", "4"], &["/apps/pi.py"])]
    #[case::queue(BatchSpec { resources: Resources { queue: Some("etl".into()), ..Resources::default() }, ..base() }, &["--queue", "etl"], &["/apps/pi.py"])]
    #[case::name(BatchSpec { resources: Resources { name: Some("nightly".into()), ..Resources::default() }, ..base() }, &["--name", "nightly"], &["/apps/pi.py"])]
    #[case::conf(BatchSpec { resources: Resources { conf: [("spark.b".to_string(), "2".to_string()), ("spark.a".to_string(), "x=y".to_string())].into(), ..Resources::default() }, ..base() },
        &["--conf", "spark.a=x=y", "--conf", "spark.b=2"], &["/apps/pi.py"])]
    #[case::proxy_user_ignored_without_impersonation(BatchSpec { resources: Resources { proxy_user: Some("bob".into()), ..Resources::default() }, ..base() }, &[], &["/apps/pi.py"])]
    #[case::hostile_args_stay_app_args(BatchSpec { args: s(&["a;b", "$(touch /tmp/x)", "\"quoted\"", "--master", "yarn"]), ..base() },
        &[], &["/apps/pi.py", "a;b", "$(touch /tmp/x)", "\"quoted\"", "--master", "yarn"])]
    fn one_field_each(#[case] spec: BatchSpec, #[case] options: &[&str], #[case] tail: &[&str]) {
        let want: Vec<String> = HEAD
            .iter()
            .chain(options)
            .chain(tail)
            .map(|x| x.to_string())
            .collect();
        assert_eq!(
            batch_argv(&spec, &settings(), &SubmitAdditions::default()),
            want
        );
    }

    #[test]
    fn a_properties_file_goes_before_every_other_option() {
        let argv = with_properties_file(
            batch_argv(&base(), &settings(), &SubmitAdditions::default()),
            "/d/secret.conf",
            true,
        );
        assert_eq!(
            argv,
            s(&[
                HEAD[0],
                "--properties-file",
                "/d/secret.conf",
                "--load-spark-defaults",
                HEAD[1],
                HEAD[2],
                "/apps/pi.py"
            ])
        );
    }

    #[test]
    fn proxy_user_with_impersonation_and_deploy_mode() {
        let spec = BatchSpec {
            resources: Resources {
                proxy_user: Some("bob".into()),
                ..Resources::default()
            },
            ..base()
        };
        let st = SubmitSettings {
            impersonation: true,
            deploy_mode: Some("cluster".into()),
            master: "yarn".into(),
            ..settings()
        };
        assert_eq!(
            batch_argv(&spec, &st, &SubmitAdditions::default()),
            s(&[
                "/spark/bin/spark-submit",
                "--master",
                "yarn",
                "--deploy-mode",
                "cluster",
                "--proxy-user",
                "bob",
                "/apps/pi.py"
            ])
        );
    }

    #[test]
    fn manager_additions_override_the_name_and_merge_yarn_tags() {
        let spec = BatchSpec {
            resources: Resources {
                name: Some("mine".into()),
                conf: [("spark.yarn.tags".to_string(), "user".to_string())].into(),
                ..Resources::default()
            },
            ..base()
        };
        let adds = SubmitAdditions {
            conf: [(
                "spark.yarn.tags".to_string(),
                "livy-batch-1-abc".to_string(),
            )]
            .into(),
            app_name: Some("mine livy-batch-1-abc".into()),
        };
        assert_eq!(
            batch_argv(&spec, &settings(), &adds),
            s(&[
                HEAD[0],
                HEAD[1],
                HEAD[2],
                "--name",
                "mine livy-batch-1-abc",
                "--conf",
                "spark.yarn.tags=user,livy-batch-1-abc",
                "/apps/pi.py"
            ])
        );
    }

    #[test]
    fn every_field_at_once_keeps_the_documented_order() {
        let spec = BatchSpec {
            file: "/a/app.jar".into(),
            class_name: Some("C".into()),
            args: s(&["1"]),
            resources: Resources {
                proxy_user: Some("u".into()),
                jars: s(&["/a/j.jar"]),
                py_files: s(&["/a/p.py"]),
                files: s(&["/a/f"]),
                archives: s(&["/a/z.zip"]),
                driver_memory: Some("1g".into()),
                driver_cores: Some(1),
                executor_memory: Some("2g".into()),
                executor_cores: Some(2),
                num_executors: Some(3),
                queue: Some("q".into()),
                name: Some("n".into()),
                conf: [("spark.x".to_string(), "1".to_string())].into(),
            },
        };
        let st = SubmitSettings {
            impersonation: true,
            ..settings()
        };
        let got = batch_argv(&spec, &st, &SubmitAdditions::default());
        assert_eq!(
            got,
            s(&[
                HEAD[0],
                HEAD[1],
                HEAD[2],
                "--name",
                "n",
                "--class",
                "C",
                "--jars",
                "/a/j.jar",
                "--py-files",
                "/a/p.py",
                "--files",
                "/a/f",
                "--archives",
                "/a/z.zip",
                "--driver-memory",
                "1g",
                "--driver-cores",
                "1",
                "--executor-memory",
                "2g",
                "--executor-cores",
                "2",
                "--num-executors",
                "3",
                "--queue",
                "q",
                "--proxy-user",
                "u",
                "--conf",
                "spark.x=1",
                "/a/app.jar",
                "1"
            ])
        );
    }
}
