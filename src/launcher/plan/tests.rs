//! The launch plan, table by table: every cluster manager (by what it adds
//! to a submission) × deploy mode × kind × the conf cases that change it.
//! Sessions here; batches in `batch.rs`, on the same fixtures.

use super::*;
use rstest::rstest;

const TAG: &str = "livy-session-7-abcd1234";
const FAST: &str = "-XX:TieredStopAtLevel=1 -XX:SharedArchiveFile=/d/driver.jsa";

/// The cluster managers, by what they add to a submission.
#[derive(Debug, Clone, Copy)]
enum Mgr {
    Local,
    Standalone,
    YarnCluster,
    YarnClient,
    K8s,
}

impl Mgr {
    fn master(self) -> &'static str {
        match self {
            Self::Local => "local[2]",
            Self::Standalone => "spark://m:7077",
            Self::YarnCluster | Self::YarnClient => "yarn",
            Self::K8s => "k8s://https://api:6443",
        }
    }

    /// What each manager's `submit_additions` gives (src/cluster/).
    fn adds(self, name: Option<&str>) -> SubmitAdditions {
        let conf = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        match self {
            Self::Local => SubmitAdditions::default(),
            Self::Standalone => SubmitAdditions {
                app_name: Some(match name {
                    Some(n) => format!("{n} ({TAG})"),
                    None => TAG.to_owned(),
                }),
                ..Default::default()
            },
            Self::YarnCluster => SubmitAdditions {
                conf: conf(&[
                    ("spark.yarn.tags", TAG),
                    ("spark.yarn.submit.waitAppCompletion", "false"),
                    ("spark.submit.deployMode", "cluster"),
                ]),
                app_name: None,
            },
            Self::YarnClient => SubmitAdditions {
                conf: conf(&[
                    ("spark.yarn.tags", TAG),
                    ("spark.yarn.submit.waitAppCompletion", "false"),
                ]),
                app_name: None,
            },
            Self::K8s => SubmitAdditions {
                conf: conf(&[
                    ("spark.kubernetes.driver.label.livy-tag", TAG),
                    ("spark.kubernetes.namespace", "spark"),
                    ("spark.submit.deployMode", "cluster"),
                ]),
                app_name: None,
            },
        }
    }
}

fn settings(mgr: Mgr, deploy: Option<&str>) -> SubmitSettings {
    SubmitSettings {
        spark_submit: "/spark/bin/spark-submit".into(),
        master: mgr.master().into(),
        deploy_mode: deploy.map(str::to_owned),
        impersonation: true,
    }
}

fn r_artifacts() -> RArtifacts {
    RArtifacts {
        repl: "/d/r/repl.R".into(),
        lib: "/d/r/lib".into(),
        rscript: "/d/r/rscript".into(),
        archive: "/d/r/sparkr.zip".into(),
    }
}

/// Every `--conf k=v` of an argv.
fn confs(argv: &[String]) -> BTreeMap<String, String> {
    argv.windows(2)
        .filter(|w| w[0] == "--conf")
        .filter_map(|w| w[1].split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The value after `flag`, if the argv has it.
fn opt<'a>(argv: &'a [String], flag: &str) -> Option<&'a str> {
    argv.windows(2)
        .find(|w| w[0] == flag)
        .map(|w| w[1].as_str())
}

fn env<'a>(plan: &'a LaunchPlan, key: &str) -> Option<&'a str> {
    plan.env
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

struct S {
    mgr: Mgr,
    deploy: Option<&'static str>,
    kind: SessionKind,
    name: Option<&'static str>,
    conf: Vec<(&'static str, &'static str)>,
    jars: Vec<&'static str>,
    defaults_java: bool,
    fast: bool,
    pooled: bool,
    r: bool,
    /// Spark 3's spark-submit (no `--load-spark-defaults`).
    spark3: bool,
}

fn s(mgr: Mgr, deploy: Option<&'static str>) -> S {
    S {
        mgr,
        deploy,
        kind: SessionKind::Pyspark,
        name: None,
        conf: Vec::new(),
        jars: Vec::new(),
        defaults_java: false,
        fast: true,
        pooled: false,
        r: false,
        spark3: false,
    }
}

fn session(case: &S) -> LaunchPlan {
    let resources = Resources {
        name: case.name.map(str::to_owned),
        proxy_user: Some("alice".into()),
        conf: case
            .conf
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        jars: case.jars.iter().map(|j| (*j).to_owned()).collect(),
        ..Default::default()
    };
    let (jar, python) = (Path::new("/d/driver.jar"), Path::new("/d/repl.py"));
    let r = r_artifacts();
    let settings = settings(case.mgr, case.deploy);
    let app_dir = Path::new("/data/apps").join(TAG);
    LaunchPlan::session(
        SessionLaunch {
            id: 7,
            kind: case.kind,
            pooled: case.pooled,
            resources,
            jar,
            python,
            callback: "10.0.0.1:10000,10.0.0.2:10000".into(),
            secret: "s3cr3t-token",
            app_dir: &app_dir,
            driver: DriverSettings {
                sql_num_rows: 1000,
                max_output_bytes: 1 << 20,
                idle_timeout: Duration::from_secs(600),
                fast_start: case.fast.then(|| FAST.to_owned()),
                defaults_set_java_options: case.defaults_java,
                defaults_into_properties: case.spark3.then(|| {
                    BTreeMap::from([(
                        "spark.yarn.jars".to_owned(),
                        "local:/spark/jars/*".to_owned(),
                    )])
                }),
                rsc_jars: RSC_JARS.iter().map(|j| (*j).to_owned()).collect(),
            },
        },
        Submit {
            settings: &settings,
            adds: case.mgr.adds(case.name),
            r: case.r.then_some(&r),
        },
    )
}

const RSC_JARS: [&str; 2] = ["/livy/livy-api.jar", "/livy/livy-client-http.jar"];

/// Every driver gets `livy.rsc.jars` (Livy's API, for Java jobs) after the
/// user's own jars, wherever it runs.
#[rstest]
#[case::local(s(Mgr::Local, None), "/livy/livy-api.jar,/livy/livy-client-http.jar")]
#[case::yarn_cluster(S { jars: vec!["hdfs:///u/a.jar"], ..s(Mgr::YarnCluster, None) }, "hdfs:///u/a.jar,/livy/livy-api.jar,/livy/livy-client-http.jar")]
#[case::k8s(S { jars: vec!["local:///opt/b.jar"], ..s(Mgr::K8s, None) }, "local:///opt/b.jar,/livy/livy-api.jar,/livy/livy-client-http.jar")]
#[case::pooled(S { pooled: true, ..s(Mgr::Standalone, Some("client")) }, "/livy/livy-api.jar,/livy/livy-client-http.jar")]
fn session_jars(#[case] case: S, #[case] jars: &str) {
    let plan = session(&case);
    assert_eq!(opt(&plan.argv, "--jars"), Some(jars), "{:?}", plan.argv);
}

/// Where the driver runs, the deploy mode and name spark-submit is given,
/// and whether the secret travels in a properties file.
#[rstest]
#[case::local(s(Mgr::Local, None), Placement::ThisHost, None, "livy-session-7")]
#[case::local_client(
    s(Mgr::Local, Some("client")),
    Placement::ThisHost,
    Some("client"),
    "livy-session-7"
)]
#[case::standalone_client(
    s(Mgr::Standalone, Some("client")),
    Placement::ThisHost,
    Some("client"),
    TAG
)]
#[case::standalone_default(s(Mgr::Standalone, None), Placement::ThisHost, None, TAG)]
#[case::standalone_named(S { name: Some("etl"), ..s(Mgr::Standalone, None) }, Placement::ThisHost, None, "etl (livy-session-7-abcd1234)")]
#[case::yarn_cluster_by_manager(
    s(Mgr::YarnCluster, None),
    Placement::Elsewhere,
    None,
    "livy-session-7"
)]
#[case::yarn_cluster_configured(
    s(Mgr::YarnCluster, Some("cluster")),
    Placement::Elsewhere,
    Some("cluster"),
    "livy-session-7"
)]
#[case::yarn_client(
    s(Mgr::YarnClient, Some("client")),
    Placement::ThisHost,
    Some("client"),
    "livy-session-7"
)]
#[case::yarn_client_default(s(Mgr::YarnClient, None), Placement::ThisHost, None, "livy-session-7")]
#[case::yarn_named(S { name: Some("nb"), ..s(Mgr::YarnCluster, None) }, Placement::Elsewhere, None, "nb")]
#[case::k8s(s(Mgr::K8s, None), Placement::Elsewhere, None, "livy-session-7")]
#[case::k8s_configured(
    s(Mgr::K8s, Some("cluster")),
    Placement::Elsewhere,
    Some("cluster"),
    "livy-session-7"
)]
#[case::k8s_named(S { name: Some("nb"), ..s(Mgr::K8s, None) }, Placement::Elsewhere, None, "nb")]
#[case::yarn_cluster_spark3(S { spark3: true, ..s(Mgr::YarnCluster, None) }, Placement::Elsewhere, None, "livy-session-7")]
#[case::local_spark3(S { spark3: true, ..s(Mgr::Local, None) }, Placement::ThisHost, None, "livy-session-7")]
fn session_placement(
    #[case] case: S,
    #[case] placement: Placement,
    #[case] deploy: Option<&str>,
    #[case] name: &str,
) {
    let plan = session(&case);
    assert_eq!(plan.placement, placement);
    assert_eq!(opt(&plan.argv, "--deploy-mode"), deploy);
    assert_eq!(opt(&plan.argv, "--name"), Some(name));
    assert_eq!(opt(&plan.argv, "--class"), Some(DRIVER_CLASS));
    assert_eq!(plan.argv.last().map(String::as_str), Some("/d/driver.jar"));
    assert_eq!(opt(&plan.argv, "--proxy-user"), Some("alice"));
    // The secret is in the environment, or in the properties file for a
    // driver elsewhere: never in argv.
    assert!(!plan.argv.iter().any(|a| a.contains("s3cr3t-token")));
    assert_eq!(env(&plan, SECRET_ENV), Some("s3cr3t-token"));
    let elsewhere = placement == Placement::Elsewhere;
    assert_eq!(plan.files.len(), usize::from(elsewhere));
    if elsewhere {
        let file = &plan.files[0];
        assert_eq!(
            file.path,
            Path::new("/data/apps").join(TAG).join(SECRET_FILE)
        );
        // Spark 3 reads the file instead of spark-defaults.conf: its entries
        // come first; Spark 4 loads both (`--load-spark-defaults`).
        let defaults = if case.spark3 {
            "spark.yarn.jars=local:/spark/jars/*\n"
        } else {
            ""
        };
        assert_eq!(
            file.contents,
            format!(
                "{defaults}spark.yarn.appMasterEnv.LIVY_SESSION_SECRET=s3cr3t-token\n\
                 spark.kubernetes.driverEnv.LIVY_SESSION_SECRET=s3cr3t-token\n"
            )
        );
        // Right after the program.
        let path = file.path.display().to_string();
        let mut flags = vec!["--properties-file", path.as_str()];
        if !case.spark3 {
            flags.push("--load-spark-defaults");
        }
        assert_eq!(plan.argv[1..1 + flags.len()], flags);
        assert_eq!(
            plan.argv.contains(&"--load-spark-defaults".to_owned()),
            !case.spark3
        );
    } else {
        assert_eq!(opt(&plan.argv, "--properties-file"), None);
    }
}

/// The driver JVM's options: fast-start ones only for a driver on this host
/// whose options neither the user nor spark-defaults chose.
#[rstest]
#[case::local(s(Mgr::Local, None), Some(FAST))]
#[case::standalone(s(Mgr::Standalone, Some("client")), Some(FAST))]
#[case::yarn_client(s(Mgr::YarnClient, Some("client")), Some(FAST))]
#[case::yarn_cluster(s(Mgr::YarnCluster, None), None)]
#[case::k8s(s(Mgr::K8s, None), None)]
#[case::users_own(S { conf: vec![(DRIVER_JAVA_OPTIONS, "-Xss4m")], ..s(Mgr::Local, None) }, Some("-Xss4m"))]
#[case::users_own_in_cluster(S { conf: vec![(DRIVER_JAVA_OPTIONS, "-Xss4m")], ..s(Mgr::YarnCluster, None) }, Some("-Xss4m"))]
#[case::spark_defaults(S { defaults_java: true, ..s(Mgr::Local, None) }, None)]
#[case::spark_defaults_yarn_client(S { defaults_java: true, ..s(Mgr::YarnClient, Some("client")) }, None)]
#[case::no_fast_start(S { fast: false, ..s(Mgr::Local, None) }, None)]
#[case::other_user_conf_kept(S { conf: vec![("spark.executor.memory", "2g")], ..s(Mgr::Local, None) }, Some(FAST))]
fn session_java_options(#[case] case: S, #[case] options: Option<&str>) {
    let plan = session(&case);
    let conf = confs(&plan.argv);
    assert_eq!(conf.get(DRIVER_JAVA_OPTIONS).map(String::as_str), options);
    for (k, v) in &case.conf {
        assert_eq!(conf.get(*k).map(String::as_str), Some(*v), "{k}");
    }
}

/// What the driver is told, for every kind and for pooled drivers.
#[rstest]
#[case::spark(S { kind: SessionKind::Spark, ..s(Mgr::Local, None) })]
#[case::pyspark(S { kind: SessionKind::Pyspark, ..s(Mgr::Standalone, None) })]
#[case::sparkr(S { kind: SessionKind::Sparkr, r: true, ..s(Mgr::YarnCluster, None) })]
#[case::sql(S { kind: SessionKind::Sql, ..s(Mgr::K8s, None) })]
#[case::shared(S { kind: SessionKind::Shared, ..s(Mgr::YarnClient, None) })]
#[case::pooled(S { kind: SessionKind::Shared, pooled: true, ..s(Mgr::Local, None) })]
fn session_driver_conf(#[case] case: S) {
    let plan = session(&case);
    let conf = confs(&plan.argv);
    let get = |k: &str| conf.get(k).map(String::as_str);
    assert_eq!(get("spark.livy.session.kind"), Some(case.kind.as_str()));
    assert_eq!(get("spark.livy.session.id"), Some("7"));
    assert_eq!(
        get("spark.livy.callback"),
        Some("10.0.0.1:10000,10.0.0.2:10000")
    );
    assert_eq!(get("spark.livy.repl.python"), Some("/d/repl.py"));
    assert_eq!(get("spark.livy.sql.num-rows"), Some("1000"));
    assert_eq!(
        get("spark.livy.statement.max-output-bytes"),
        Some("1048576")
    );
    assert_eq!(get("spark.livy.server.idle-timeout"), Some("600s"));
    assert_eq!(get("spark.livy.pool"), case.pooled.then_some("true"));
    // The manager's tag reaches spark-submit.
    match case.mgr {
        Mgr::YarnCluster | Mgr::YarnClient => assert_eq!(get("spark.yarn.tags"), Some(TAG)),
        Mgr::K8s => assert_eq!(get("spark.kubernetes.driver.label.livy-tag"), Some(TAG)),
        Mgr::Local | Mgr::Standalone => {}
    }
}

/// R: the REPL and library for every session driver with R built; the
/// package as YARN's `sparkr` archive, as a `spark.r.command` wrapper on
/// local and standalone masters (unless the user chose one), nothing on
/// Kubernetes (its image has SparkR).
#[rstest]
#[case::local(s(Mgr::Local, None), Some("/d/r/rscript"), false)]
#[case::standalone(s(Mgr::Standalone, Some("client")), Some("/d/r/rscript"), false)]
#[case::yarn_cluster(s(Mgr::YarnCluster, None), None, true)]
#[case::yarn_client(s(Mgr::YarnClient, Some("client")), None, true)]
#[case::k8s(s(Mgr::K8s, None), None, false)]
#[case::users_r_command(S { conf: vec![("spark.r.command", "/opt/R/bin/Rscript")], ..s(Mgr::Local, None) }, Some("/opt/R/bin/Rscript"), false)]
fn session_r(#[case] case: S, #[case] r_command: Option<&str>, #[case] archive: bool) {
    let plan = session(&S {
        r: true,
        kind: SessionKind::Sparkr,
        ..case
    });
    let conf = confs(&plan.argv);
    let get = |k: &str| conf.get(k).map(String::as_str);
    assert_eq!(get("spark.livy.repl.r"), Some("/d/r/repl.R"));
    assert_eq!(get("spark.livy.r.lib"), Some("/d/r/lib"));
    assert_eq!(get("spark.r.command"), r_command);
    assert_eq!(
        opt(&plan.argv, "--archives"),
        archive.then_some("/d/r/sparkr.zip#sparkr")
    );
    assert_eq!(env(&plan, "R_LIBS"), Some("/d/r/lib"));
    assert_eq!(env(&plan, SECRET_ENV), Some("s3cr3t-token"));
}

#[test]
fn a_session_without_r_has_no_r_conf() {
    let plan = session(&s(Mgr::Local, None));
    let conf = confs(&plan.argv);
    assert!(!conf.keys().any(|k| k.contains(".r.") || k.ends_with(".r")));
    assert_eq!(env(&plan, "R_LIBS"), None);
    assert_eq!(plan.env.len(), 1);
}

mod batch;
