//! The server's Prometheus metrics, through the `metrics` facade: code
//! anywhere records with `counter!`/`histogram!`, and `GET /metrics` renders
//! the process-wide recorder installed here in the text exposition format.
//!
//! Names and labels are listed once, below; label values are bounded sets
//! (route templates, kinds, states, causes), never ids or user text.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::records::{Kind, LaunchFailure, SessionState};

/// API requests, by route template, method and status.
pub const HTTP_REQUESTS: &str = "livy_http_requests_total";
/// API request latency, by route template and method.
pub const HTTP_DURATION: &str = "livy_http_request_duration_seconds";
/// Applications launched that reached running (batches) or idle (sessions).
pub const LAUNCHES: &str = "livy_launches_total";
/// From the submission to running (batches) or idle (sessions).
pub const LAUNCH_DURATION: &str = "livy_launch_duration_seconds";
/// Launches that failed, by kind and cause.
pub const LAUNCH_FAILURES: &str = "livy_launch_failures_total";
/// Statements finished, by kind and outcome.
pub const STATEMENT_DURATION: &str = "livy_statement_duration_seconds";
/// One reconcile step of one record.
pub const RECONCILE_DURATION: &str = "livy_reconcile_duration_seconds";
/// Requests to the cluster manager, by manager and operation.
pub const CLUSTER_REQUESTS: &str = "livy_cluster_manager_requests_total";
/// Failed requests to the cluster manager.
pub const CLUSTER_ERRORS: &str = "livy_cluster_manager_errors_total";
/// Latency of requests to the cluster manager.
pub const CLUSTER_DURATION: &str = "livy_cluster_manager_request_duration_seconds";
/// Job API jobs finished, by job type and state.
pub const JOBS: &str = "livy_jobs_total";
/// Job API additions (uploads and adds), by what and outcome.
pub const ADDITIONS: &str = "livy_job_additions_total";
/// Store operations, by operation.
pub const STORE_DURATION: &str = "livy_store_operation_duration_seconds";

/// Buckets (seconds) for API and store latencies.
const FAST: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// Buckets (seconds) for launches and statements: from a pooled driver's
/// milliseconds to a cluster's minutes.
const SLOW: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder (installed on first use), whose handle renders it.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".into()), FAST)
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(LAUNCH_DURATION.into()), SLOW))
            .and_then(|b| b.set_buckets_for_metric(Matcher::Full(STATEMENT_DURATION.into()), SLOW));
        let recorder = match builder {
            Ok(b) => b.build_recorder(),
            // Only an empty bucket list is refused; ours are constants.
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        // Another recorder installed first (an embedding program): ours
        // renders empty but nothing breaks.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows none of ours");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "API requests, by route, method and status.");
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "API request latency, by route and method."
    );
    describe_counter!(
        LAUNCHES,
        "Applications that reached running (batches) or idle (sessions)."
    );
    describe_histogram!(
        LAUNCH_DURATION,
        Unit::Seconds,
        "From submission to running (batches) or idle (sessions)."
    );
    describe_counter!(LAUNCH_FAILURES, "Launches that failed, by kind and cause.");
    describe_histogram!(
        STATEMENT_DURATION,
        Unit::Seconds,
        "Statement run time, by statement kind and outcome."
    );
    describe_counter!(JOBS, "Job API jobs finished, by job type and state.");
    describe_counter!(
        ADDITIONS,
        "Job API jars, files and Python files added, by what and outcome."
    );
    describe_histogram!(
        RECONCILE_DURATION,
        Unit::Seconds,
        "One reconcile step of one record, by kind."
    );
    describe_counter!(
        CLUSTER_REQUESTS,
        "Requests to the cluster manager, by manager and operation."
    );
    describe_counter!(
        CLUSTER_ERRORS,
        "Failed requests to the cluster manager, by manager and operation."
    );
    describe_histogram!(
        CLUSTER_DURATION,
        Unit::Seconds,
        "Latency of requests to the cluster manager."
    );
    describe_histogram!(
        STORE_DURATION,
        Unit::Seconds,
        "Store operations, by operation."
    );
}

/// One API request.
pub fn http(route: &str, method: &str, status: u16, took: Duration) {
    let (route, method) = (route.to_owned(), method.to_owned());
    counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status.to_string())
        .increment(1);
    histogram!(HTTP_DURATION, "route" => route, "method" => method).record(took.as_secs_f64());
}

/// One request to the cluster manager.
pub fn cluster(manager: &'static str, op: &'static str, ok: bool, took: Duration) {
    counter!(CLUSTER_REQUESTS, "manager" => manager, "op" => op).increment(1);
    if !ok {
        counter!(CLUSTER_ERRORS, "manager" => manager, "op" => op).increment(1);
    }
    histogram!(CLUSTER_DURATION, "manager" => manager, "op" => op).record(took.as_secs_f64());
}

/// One store operation.
pub fn store(op: &'static str, took: Duration) {
    histogram!(STORE_DURATION, "op" => op).record(took.as_secs_f64());
}

/// One reconcile step.
pub fn reconciled(kind: Kind, took: Duration) {
    histogram!(RECONCILE_DURATION, "kind" => kind.as_str()).record(took.as_secs_f64());
}

/// One finished statement (`outcome`: ok, error or cancelled).
pub fn statement(kind: &str, outcome: &'static str, took: Duration) {
    histogram!(STATEMENT_DURATION, "kind" => kind.to_owned(), "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// A Job API job ended in `state` (`SUCCEEDED`, `FAILED`, `CANCELLED`).
pub fn job(job_type: &str, state: crate::repl::protocol::JobState) {
    let job_type = if job_type == "pyspark" {
        "pyspark"
    } else {
        "spark"
    };
    let state = format!("{state:?}").to_ascii_uppercase();
    counter!(JOBS, "type" => job_type, "state" => state).increment(1);
}

/// A Job API addition (`what`: jar, file, pyfile) ended `ok` or `error`.
pub fn addition(what: &'static str, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    counter!(ADDITIONS, "what" => what, "outcome" => outcome).increment(1);
}

pub fn launch_failed(kind: Kind, cause: LaunchFailure) {
    counter!(LAUNCH_FAILURES, "kind" => kind.as_str(), "cause" => cause.as_str()).increment(1);
}

/// A record's state changed from `from` to `to`, `since_submit` after its
/// submission: counts launches that reached their serving state and
/// launches that ended before it (a spawn failure is counted where it is
/// retried, [`launch_failed`], so every attempt shows).
pub fn transition(
    kind: Kind,
    from: SessionState,
    to: SessionState,
    since_submit: Option<Duration>,
    cause: impl FnOnce() -> LaunchFailure,
) {
    if from == to || !from.awaits_launch() {
        return;
    }
    let serving = match kind {
        Kind::Batch => SessionState::Running,
        Kind::Session => SessionState::Idle,
    };
    if to == serving || (kind == Kind::Batch && to == SessionState::Success) {
        counter!(LAUNCHES, "kind" => kind.as_str()).increment(1);
        if let Some(took) = since_submit {
            histogram!(LAUNCH_DURATION, "kind" => kind.as_str()).record(took.as_secs_f64());
        }
    } else if matches!(to, SessionState::Dead | SessionState::Error) {
        let cause = cause();
        if cause != LaunchFailure::Spawn {
            launch_failed(kind, cause);
        }
    }
}
