//! Livy's programmatic Job API on a session: jobs (`submit-job`, `run-job`,
//! their status and cancel), jars, files and Python files added to the
//! running context (uploaded, or by URI), and `connect` (a client
//! re-attaching). Served where the session's driver is (the leader).
//!
//! Uploads are not kept by the server: their bytes go to the driver, which
//! stores them in its own working directory (the session's staging area,
//! gone with the application) and adds them from there.

use axum::Json;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

use super::AppState;
use super::access::{Access, Requester};
use super::body::{self, LivyJson, LivyPath};
use super::error::ApiError;
use super::openapi::{BodyRefusals, RecordId, RecordRefusals, Refusals};
use super::records::Rec;
use super::sessions::{find, live_state};
use super::validate;
use super::wire::Msg;
use crate::records::{SessionState, SessionStatus};
use crate::repl::protocol::JobStatus;
use crate::repl::{AddError, Addition, Source};

/// `POST /sessions/{id}/submit-job` and `…/run-job`: Livy's `SerializedJob`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// The serialized job, base64: Livy's Kryo bytes of a `Job` (`spark`),
    /// or a cloudpickled function of one argument, the job context
    /// (`pyspark`).
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::required_text, required = true)]
    job: Option<String>,
    /// `spark` (the default) or `pyspark`.
    #[serde(default, rename = "jobType", deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::text)]
    job_type: Option<String>,
}

/// `POST /sessions/{id}/add-jar`, `…/add-file`, `…/add-pyfile`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    /// What to add: a cluster URI (`hdfs://…`), or a local path inside
    /// `livy.file.local-dir-whitelist`.
    #[serde(default, deserialize_with = "body::opt_text")]
    #[schema(schema_with = super::openapi::required_text, required = true)]
    uri: Option<String>,
}

/// Jobs and additions go to sessions that are starting (queued until the
/// driver connects) or serving; not to ended ones.
fn takes_jobs(state: SessionState) -> bool {
    matches!(
        state,
        SessionState::NotStarted
            | SessionState::Starting
            | SessionState::Recovering
            | SessionState::Idle
            | SessionState::Busy
            | SessionState::Running
    )
}

/// The session, if the caller may change it and it takes jobs.
fn active(state: &AppState, who: &Requester, key: &str) -> Result<Rec<SessionStatus>, ApiError> {
    let rec = find(state, who, Access::Modify, key)?;
    let live = live_state(state, &rec);
    if !takes_jobs(live) {
        return Err(ApiError::BadRequest(format!(
            "Session {} is in state {live}: it runs no jobs and takes no files; create a new session",
            rec.id
        )));
    }
    Ok(rec)
}

fn job_status(status: &JobStatus) -> Response {
    (StatusCode::CREATED, Json(status)).into_response()
}

/// Queues a job; poll `GET …/jobs/{jobId}` for its result.
#[utoipa::path(
    post,
    path = "/sessions/{id}/submit-job",
    tag = "jobs",
    params(RecordId),
    request_body = JobRequest,
    responses(
        (status = 201, description = "The job, `SENT`.", body = JobStatus),
        RecordRefusals,
        BodyRefusals,
        Refusals,
    )
)]
pub async fn submit_job(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    LivyJson(req): LivyJson<JobRequest>,
) -> Result<Response, ApiError> {
    queue_job(&state, &who, &key, req)
}

/// Livy's `run`: the same as `submit-job` here (jobs of a session run one
/// at a time, in order, in both).
#[utoipa::path(
    post,
    path = "/sessions/{id}/run-job",
    tag = "jobs",
    params(RecordId),
    request_body = JobRequest,
    responses(
        (status = 201, description = "The job, `SENT`.", body = JobStatus),
        RecordRefusals,
        BodyRefusals,
        Refusals,
    )
)]
pub async fn run_job(
    State(state): State<AppState>,
    who: Requester,
    LivyPath(key): LivyPath<String>,
    LivyJson(req): LivyJson<JobRequest>,
) -> Result<Response, ApiError> {
    queue_job(&state, &who, &key, req)
}

fn queue_job(
    state: &AppState,
    who: &Requester,
    key: &str,
    req: JobRequest,
) -> Result<Response, ApiError> {
    let job = req.job.filter(|j| !j.trim().is_empty()).ok_or_else(|| {
        ApiError::bad("job: no job provided (the serialized job, base64-encoded)")
    })?;
    let engine = base64::engine::general_purpose::STANDARD;
    if engine.decode(job.trim()).map_or(true, |b| b.is_empty()) {
        return Err(ApiError::bad(
            "job: not base64 (send the serialized job base64-encoded, with padding)",
        ));
    }
    let job_type = match req.job_type.as_deref() {
        None | Some("spark") => "spark",
        Some("pyspark") => "pyspark",
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "jobType: unknown job type {other:?} (use spark or pyspark)"
            )));
        }
    };
    let rec = active(state, who, key)?;
    let retention = state.config.jobs.retention;
    let status = (state.hub).submit_job(rec.id, job_type, job.trim().to_owned(), retention);
    tracing::debug!(session = rec.id, job = status.id, job_type, "job queued");
    Ok(job_status(&status))
}

/// A job's status: `SENT`, `QUEUED`, `STARTED`, then `SUCCEEDED` (with
/// `result`), `FAILED` (with `error`) or `CANCELLED`.
#[utoipa::path(
    get,
    path = "/sessions/{id}/jobs/{jobId}",
    tag = "jobs",
    params(RecordId, ("jobId" = u64, Path, description = "The job's id.")),
    responses(
        (status = 200, description = "The job.", body = JobStatus),
        (status = 404, description = "No such session or job (finished jobs are kept for `livy.server.session.job-retention`).", body = Msg),
        Refusals,
    )
)]
pub async fn get_job(
    State(state): State<AppState>,
    who: Requester,
    LivyPath((key, job)): LivyPath<(String, String)>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::View, &key)?;
    let found = job
        .parse::<u64>()
        .ok()
        .and_then(|id| state.hub.job(rec.id, id, state.config.jobs.retention));
    match found {
        Some(status) => Ok(Json(status).into_response()),
        None => Err(job_not_found(&state, rec.id, &job)),
    }
}

fn job_not_found(state: &AppState, session: u64, job: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Job {job} not found in session {session} (finished jobs are kept for {} s)",
        state.config.jobs.retention.as_secs()
    ))
}

/// Cancels a job: one not yet started ends `CANCELLED` at once; a running
/// one has its Spark jobs cancelled and ends `CANCELLED`.
#[utoipa::path(
    post,
    path = "/sessions/{id}/jobs/{jobId}/cancel",
    tag = "jobs",
    params(RecordId, ("jobId" = u64, Path, description = "The job's id."), ("X-Requested-By" = String, Header, description = "Any value. A POST needs it or a JSON `Content-Type`, body or not (a page on another site can send neither).")),
    responses(
        (status = 200, description = "`{\"msg\": \"canceled\"}`", body = Msg),
        RecordRefusals,
        Refusals,
    )
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    who: Requester,
    LivyPath((key, job)): LivyPath<(String, String)>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::Modify, &key)?;
    let cancelled = job
        .parse::<u64>()
        .ok()
        .is_some_and(|id| state.hub.cancel_job(rec.id, id));
    if !cancelled {
        return Err(job_not_found(&state, rec.id, &job));
    }
    Ok(Json(Msg::new("canceled")).into_response())
}

/// Re-attaches a client to a session (Livy's Java and Python clients, given
/// a session URL): the Session, as `GET /sessions/{id}` answers it.
#[utoipa::path(
    post,
    path = "/sessions/{id}/connect",
    tag = "jobs",
    params(RecordId, ("X-Requested-By" = String, Header, description = "Any value. A POST needs it or a JSON `Content-Type`, body or not (a page on another site can send neither).")),
    responses(
        (status = 200, description = "The session.", body = super::sessions::SessionView),
        RecordRefusals,
        Refusals,
    )
)]
pub async fn connect(
    State(state): State<AppState>,
    who: Requester,
    headers: axum::http::HeaderMap,
    LivyPath(key): LivyPath<String>,
) -> Result<Response, ApiError> {
    let rec = find(&state, &who, Access::Modify, &key)?;
    state.hub.touch(rec.id);
    Ok(Json(super::sessions::livy_view(&state, rec, &headers).await).into_response())
}

macro_rules! upload_route {
    ($name:ident, $path:literal, $part:literal, $what:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
            post,
            path = $path,
            tag = "jobs",
            params(RecordId, ("X-Requested-By" = String, Header, description = "Any value. A POST needs it or a JSON `Content-Type`, body or not (a page on another site can send neither).")),
            request_body(content_type = "multipart/form-data", description = concat!("The file, as part `", $part, "`.")),
            responses(
                (status = 200, description = "Added to the running context.", body = Msg),
                (status = 415, description = "The request is not a Livy client's (no `X-Requested-By`).", body = Msg),
                (status = 413, description = "Over `livy.server.session.upload-max-bytes`.", body = Msg),
                RecordRefusals,
                Refusals,
            )
        )]
        pub async fn $name(
            State(state): State<AppState>,
            who: Requester,
            LivyPath(key): LivyPath<String>,
            multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
        ) -> Result<Response, ApiError> {
            upload(&state, &who, &key, multipart, $part, $what).await
        }
    };
}

macro_rules! add_route {
    ($name:ident, $path:literal, $what:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(
                    post,
                    path = $path,
                    tag = "jobs",
                    params(RecordId),
                    request_body = AddRequest,
                    responses(
                        (status = 200, description = "Added to the running context.", body = Msg),
                        RecordRefusals,
                        BodyRefusals,
                        Refusals,
                    )
                )]
        pub async fn $name(
            State(state): State<AppState>,
            who: Requester,
            LivyPath(key): LivyPath<String>,
            LivyJson(req): LivyJson<AddRequest>,
        ) -> Result<Response, ApiError> {
            add_uri(&state, &who, &key, req, $what).await
        }
    };
}

upload_route!(
    upload_jar,
    "/sessions/{id}/upload-jar",
    "jar",
    Addition::Jar,
    "Uploads a jar: added to the context (`addJar`) and to the class loader jobs run with."
);
upload_route!(
    upload_file,
    "/sessions/{id}/upload-file",
    "file",
    Addition::File,
    "Uploads a file: added to the context (`addFile`; `SparkFiles.get(name)`)."
);
upload_route!(
    upload_pyfile,
    "/sessions/{id}/upload-pyfile",
    "file",
    Addition::PyFile,
    "Uploads a Python file (`.py`, `.zip`, `.egg`): added with `addPyFile`, importable in jobs and on executors."
);
add_route!(
    add_jar,
    "/sessions/{id}/add-jar",
    Addition::Jar,
    "Adds a jar by URI: to the context and to the class loader jobs run with."
);
add_route!(
    add_file,
    "/sessions/{id}/add-file",
    Addition::File,
    "Adds a file by URI (`addFile`)."
);
add_route!(
    add_pyfile,
    "/sessions/{id}/add-pyfile",
    Addition::PyFile,
    "Adds a Python file by URI (`addPyFile`)."
);

/// The driver has this long to connect and add a file (a session still
/// starting gets it once its driver connects).
fn add_wait(state: &AppState) -> std::time::Duration {
    state.config.connect_timeout + std::time::Duration::from_secs(120)
}

async fn upload(
    state: &AppState,
    who: &Requester,
    key: &str,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
    part: &'static str,
    what: Addition,
) -> Result<Response, ApiError> {
    let rec = active(state, who, key)?;
    let mut multipart = multipart.map_err(|e| {
        ApiError::BadRequest(format!(
            "{part}: send the file as multipart/form-data part '{part}' ({})",
            e.body_text()
        ))
    })?;
    let limit = state.config.jobs.upload_max;
    let unreadable = |e: axum::extract::multipart::MultipartError| {
        ApiError::BadRequest(format!(
            "{part}: unreadable multipart body ({})",
            e.body_text()
        ))
    };
    while let Some(mut field) = multipart.next_field().await.map_err(unreadable)? {
        if field.name() != Some(part) {
            continue;
        }
        let name = file_name(field.file_name(), part)?;
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(unreadable)? {
            if (bytes.len() + chunk.len()) as u64 > limit {
                return Err(ApiError::UploadTooLarge { part, limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        let base64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        drop(bytes);
        return added(state, rec.id, what, Source::Upload { name, base64 }).await;
    }
    Err(ApiError::BadRequest(format!(
        "{part}: no multipart part named '{part}'; send the file as that part"
    )))
}

/// The uploaded file's name, as the driver will store it: its last path
/// component, which must be a plain name.
fn file_name(given: Option<&str>, part: &str) -> Result<String, ApiError> {
    let name = given
        .unwrap_or_default()
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .trim();
    if name.is_empty() || name == "." || name == ".." || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{part}: the part needs a file name (its filename parameter), e.g. helpers.jar"
        )));
    }
    Ok(name.to_owned())
}

async fn add_uri(
    state: &AppState,
    who: &Requester,
    key: &str,
    req: AddRequest,
    what: Addition,
) -> Result<Response, ApiError> {
    let uri = req.uri.ok_or_else(|| ApiError::bad("uri: is required"))?;
    validate::path("uri", &uri, &state.config.local_dir_whitelist, true)?;
    let rec = active(state, who, key)?;
    added(state, rec.id, what, Source::Uri(uri)).await
}

async fn added(
    state: &AppState,
    session: u64,
    what: Addition,
    source: Source,
) -> Result<Response, ApiError> {
    let outcome = state.hub.add(session, what, source, add_wait(state)).await;
    crate::metrics::addition(what.as_str(), outcome.is_ok());
    match outcome {
        Ok(()) => Ok(Json(Msg::new("added")).into_response()),
        Err(AddError::Failed(why)) => Err(ApiError::BadRequest(format!(
            "the session could not add the {}: {why}",
            what.as_str()
        ))),
        Err(AddError::Ended) => Err(ApiError::BadRequest(format!(
            "Session {session} ended before its driver took the {}",
            what.as_str()
        ))),
        Err(AddError::Timeout(e)) => Err(ApiError::Unavailable(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_plain_file_names() {
        assert_eq!(
            file_name(Some("a/b/helpers.jar"), "jar").unwrap(),
            "helpers.jar"
        );
        assert_eq!(file_name(Some("C:\\x\\m.py"), "file").unwrap(), "m.py");
        for bad in [None, Some(""), Some("dir/"), Some(".."), Some("a\nb")] {
            assert!(file_name(bad, "jar").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn ended_sessions_take_no_jobs() {
        assert!(takes_jobs(SessionState::Starting));
        assert!(takes_jobs(SessionState::Idle));
        for s in [
            SessionState::Dead,
            SessionState::Error,
            SessionState::ShuttingDown,
        ] {
            assert!(!takes_jobs(s), "{s}");
        }
    }
}
