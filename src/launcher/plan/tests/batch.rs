//! Batches' launch plans: where the application runs and what its conf
//! becomes, per cluster manager and deploy mode.

use super::*;
use rstest::rstest;

struct B {
    mgr: Mgr,
    deploy: Option<&'static str>,
    file: &'static str,
    conf: Vec<(&'static str, &'static str)>,
    r: bool,
}

fn b(mgr: Mgr, deploy: Option<&'static str>, file: &'static str) -> B {
    B {
        mgr,
        deploy,
        file,
        conf: Vec::new(),
        r: false,
    }
}

fn batch(case: &B) -> LaunchPlan {
    let spec = BatchSpec {
        file: case.file.to_owned(),
        class_name: case
            .file
            .ends_with(".jar")
            .then(|| "org.example.Main".to_owned()),
        args: vec!["--in".into(), "a b".into()],
        resources: Resources {
            name: Some("etl".into()),
            conf: case
                .conf
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..Default::default()
        },
    };
    let r = r_artifacts();
    let settings = settings(case.mgr, case.deploy);
    LaunchPlan::batch(
        &spec,
        Submit {
            settings: &settings,
            adds: case.mgr.adds(Some("etl")),
            r: case.r.then_some(&r),
        },
    )
}

/// Batches: where the driver runs and what spark-submit is told.
#[rstest]
#[case::local_jar(b(Mgr::Local, None, "/jobs/etl.jar"), Placement::ThisHost, None, "etl")]
#[case::local_py(b(Mgr::Local, None, "/jobs/etl.py"), Placement::ThisHost, None, "etl")]
#[case::standalone_client(
    b(Mgr::Standalone, Some("client"), "/jobs/etl.jar"),
    Placement::ThisHost,
    Some("client"),
    "etl (livy-session-7-abcd1234)"
)]
#[case::standalone_cluster(
    b(Mgr::Standalone, Some("cluster"), "/jobs/etl.jar"),
    Placement::Elsewhere,
    Some("cluster"),
    "etl (livy-session-7-abcd1234)"
)]
#[case::yarn_cluster(
    b(Mgr::YarnCluster, None, "hdfs:///jobs/etl.jar"),
    Placement::Elsewhere,
    None,
    "etl"
)]
#[case::yarn_cluster_py(
    b(Mgr::YarnCluster, Some("cluster"), "hdfs:///jobs/etl.py"),
    Placement::Elsewhere,
    Some("cluster"),
    "etl"
)]
#[case::yarn_client(
    b(Mgr::YarnClient, Some("client"), "/jobs/etl.jar"),
    Placement::ThisHost,
    Some("client"),
    "etl"
)]
#[case::k8s(
    b(Mgr::K8s, None, "local:///opt/etl.jar"),
    Placement::Elsewhere,
    None,
    "etl"
)]
#[case::k8s_py(
    b(Mgr::K8s, None, "local:///opt/etl.py"),
    Placement::Elsewhere,
    None,
    "etl"
)]
fn batch_placement(
    #[case] case: B,
    #[case] placement: Placement,
    #[case] deploy: Option<&str>,
    #[case] name: &str,
) {
    let plan = batch(&case);
    assert_eq!(plan.placement, placement);
    assert_eq!(opt(&plan.argv, "--deploy-mode"), deploy);
    assert_eq!(opt(&plan.argv, "--name"), Some(name));
    // The application's own arguments come last, after its file, unsplit.
    let n = plan.argv.len();
    assert_eq!(plan.argv[n - 3..], [case.file, "--in", "a b"]);
    assert_eq!(
        opt(&plan.argv, "--class"),
        case.file.ends_with(".jar").then_some("org.example.Main")
    );
    assert!(plan.files.is_empty());
    assert!(plan.env.is_empty());
}

/// Batch conf: the manager's entries win, YARN tags merge, R batches get
/// the SparkR package as each master needs it.
#[rstest]
#[case::yarn_tags_merge(B { conf: vec![("spark.yarn.tags", "nightly")], ..b(Mgr::YarnCluster, None, "/j.jar") }, "spark.yarn.tags", Some("nightly,livy-session-7-abcd1234"))]
#[case::manager_wins(B { conf: vec![("spark.submit.deployMode", "client")], ..b(Mgr::K8s, None, "/j.jar") }, "spark.submit.deployMode", Some("cluster"))]
#[case::user_conf_kept(B { conf: vec![("spark.executor.memory", "4g")], ..b(Mgr::Local, None, "/j.jar") }, "spark.executor.memory", Some("4g"))]
#[case::r_local(B { r: true, ..b(Mgr::Local, None, "/jobs/etl.R") }, "spark.r.command", Some("/d/r/rscript"))]
#[case::r_standalone(B { r: true, ..b(Mgr::Standalone, Some("client"), "/jobs/etl.r") }, "spark.r.command", Some("/d/r/rscript"))]
#[case::r_users_command(B { r: true, conf: vec![("spark.r.command", "/opt/Rscript")], ..b(Mgr::Local, None, "/jobs/etl.R") }, "spark.r.command", Some("/opt/Rscript"))]
#[case::r_yarn(B { r: true, ..b(Mgr::YarnCluster, None, "/jobs/etl.R") }, "spark.r.command", None)]
#[case::r_k8s(B { r: true, ..b(Mgr::K8s, None, "/jobs/etl.R") }, "spark.r.command", None)]
#[case::r_batch_has_no_repl(B { r: true, ..b(Mgr::Local, None, "/jobs/etl.R") }, "spark.livy.repl.r", None)]
fn batch_conf(#[case] case: B, #[case] key: &str, #[case] value: Option<&str>) {
    let plan = batch(&case);
    assert_eq!(confs(&plan.argv).get(key).map(String::as_str), value);
    assert_eq!(env(&plan, "R_LIBS"), case.r.then_some("/d/r/lib"));
    let yarn = matches!(case.mgr, Mgr::YarnCluster | Mgr::YarnClient);
    assert_eq!(
        opt(&plan.argv, "--archives"),
        (case.r && yarn).then_some("/d/r/sparkr.zip#sparkr")
    );
}
