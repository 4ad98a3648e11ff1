use super::*;
use std::path::Path;

fn fake_spark_home(dir: &Path) -> PathBuf {
    let home = dir.join("spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    std::fs::create_dir_all(home.join("conf")).unwrap();
    std::fs::write(home.join("bin/spark-submit"), "#!/bin/sh\n").unwrap();
    home
}

fn sources(dir: &Path, conf: Option<&str>, env: &[(&str, &str)], cli: &[&str]) -> Sources {
    let home = fake_spark_home(dir);
    let conf_dir = dir.join("conf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    if let Some(text) = conf {
        std::fs::write(conf_dir.join("livy.conf"), text).unwrap();
    }
    let mut env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("SPARK_HOME".into(), home.display().to_string());
    Sources {
        conf_dir: Some(conf_dir),
        env,
        cli: cli.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn defaults_without_any_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(&sources(dir.path(), None, &[], &[])).unwrap();
    assert_eq!(c.port, 8998);
    assert_eq!(c.host.to_string(), "0.0.0.0");
    assert_eq!(c.spark_master, "local[*]");
    assert_eq!(c.deploy_mode, None);
    assert_eq!(c.data_dir, PathBuf::from("./livy-data"));
    assert_eq!(c.max_creation, 100);
    assert_eq!(c.state_retain, Duration::from_secs(600));
    assert_eq!(c.cache_log_size, 200);
    assert!(c.local_dir_whitelist.is_empty());
}

#[test]
fn file_then_environment_then_cli() {
    let dir = tempfile::tempdir().unwrap();
    let conf =
        "livy.server.port = 9001\nlivy.cache-log.size = 50\nlivy.server.session.max-creation 7\n";
    let s = sources(
        dir.path(),
        Some(conf),
        &[("LIVY_SERVER_PORT", "9002"), ("LIVY_CACHE_LOG_SIZE", "60")],
        &["livy.server.port=9003"],
    );
    let c = Config::load(&s).unwrap();
    assert_eq!(c.port, 9003, "CLI beats environment and file");
    assert_eq!(c.cache_log_size, 60, "environment beats file");
    assert_eq!(c.max_creation, 7, "file beats default");
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        ("livy.server.port = 99999", "livy.server.port"),
        (
            "livy.spark.deploy-mode = sideways",
            "livy.spark.deploy-mode",
        ),
        (
            "livy.server.session.state-retain.sec = soon",
            "livy.server.session.state-retain.sec",
        ),
        (
            "livy.file.local-dir-whitelist = relative/dir",
            "livy.file.local-dir-whitelist",
        ),
        (
            "livy.server.session.max-creation = -1",
            "livy.server.session.max-creation",
        ),
        (
            "livy.impersonation.enabled = maybe",
            "livy.impersonation.enabled",
        ),
    ];
    for (line, key) in cases {
        let dir = tempfile::tempdir().unwrap();
        let err = Config::load(&sources(dir.path(), Some(line), &[], &[])).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(key), "{line}: {text}");
        assert!(
            text.contains("livy.conf:1"),
            "names the file and line: {text}"
        );
    }
}

/// Every boolean key reads by the one rule of [`parse_flag`].
#[rstest::rstest]
#[case(" TRUE ", Some(true))]
#[case("True", Some(true))]
#[case("False", Some(false))]
#[case("", Some(false))]
#[case("yes", None)]
#[case("1", None)]
fn one_true_false_rule_for_every_flag(#[case] value: &str, #[case] want: Option<bool>) {
    type Field = fn(&Config) -> bool;
    let read: [(&str, Field); 5] = [
        (keys::METRICS_ENABLED, |c| c.metrics),
        (keys::DRIVER_CLASS_DATA_SHARING, |c| {
            c.driver_class_data_sharing
        }),
        (keys::IMPERSONATION, |c| c.impersonation),
        (keys::CSRF, |c| c.auth.csrf),
        (keys::K8S_LEADER_ELECTION, |c| c.kubernetes.leader_election),
    ];
    for (key, field) in read {
        let dir = tempfile::tempdir().unwrap();
        let env = [(env_name(key), value.to_owned())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let got = Config::load(&sources(dir.path(), None, &env, &[]));
        match want {
            Some(b) => assert_eq!(field(&got.unwrap()), b, "{key} = {value:?}"),
            None => {
                let err = got.unwrap_err().to_string();
                assert!(err.starts_with(key), "{key} = {value:?}: {err}");
                assert!(err.ends_with("expected true or false"), "{err}");
            }
        }
    }
}

#[test]
fn spark_defaults_supply_the_master_unless_livy_sets_one() {
    let dir = tempfile::tempdir().unwrap();
    let s = sources(dir.path(), None, &[], &[]);
    let home = PathBuf::from(&s.env["SPARK_HOME"]);
    std::fs::write(
        home.join("conf/spark-defaults.conf"),
        "spark.master spark://m:7077\n",
    )
    .unwrap();
    assert_eq!(Config::load(&s).unwrap().spark_master, "spark://m:7077");
    let s2 = Sources {
        cli: vec!["livy.spark.master=local[2]".into()],
        ..s
    };
    assert_eq!(Config::load(&s2).unwrap().spark_master, "local[2]");
}

#[test]
fn missing_spark_home_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let s = Sources {
        conf_dir: Some(dir.path().to_owned()),
        ..Sources::default()
    };
    let err = Config::load(&s).unwrap_err().to_string();
    assert!(err.contains("SPARK_HOME"), "{err}");
}

#[test]
fn env_names() {
    assert_eq!(
        env_name("livy.server.session.max-creation"),
        "LIVY_SERVER_SESSION_MAX_CREATION"
    );
}
