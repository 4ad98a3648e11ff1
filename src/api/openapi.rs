//! `GET /openapi.json`: the OpenAPI 3.1 document of the REST API, generated
//! from the handlers' own annotations and body types as the router is built
//! (`super::api_routes`): a route cannot exist without its entry, and its
//! entry is the one that serves it. `livy-server openapi` prints it; the
//! committed copy (`docs/openapi.json`) is checked against it by the tests.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::OpenApi;
use utoipa::openapi::schema::{Array, ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};
use utoipa::{IntoResponses, OpenApi as _};

use serde_json::{Value, json};

use super::request::{BATCH_ONLY, SESSION_ONLY};
use super::wire::Msg;

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "livy-server",
        description = "A REST server for Apache Spark, wire-compatible with Apache Livy 0.8: batches, \
interactive sessions and their statements. Error bodies are `{\"msg\": …}` unless an operation says \
otherwise; ids in paths are numbers, or a record's name.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "batches", description = "Spark applications run to completion (spark-submit)."),
        (name = "sessions", description = "Interactive sessions: a driver running Scala, Python, R and SQL."),
        (name = "statements", description = "Code run in a session, its progress and output."),
        (name = "server", description = "The server itself: version, health, metrics, this document."),
    )
)]
pub struct ApiDoc;

/// Refusals any API route may give before its handler runs.
#[derive(IntoResponses)]
pub enum Refusals {
    /// Authentication is on and the request carries no valid credentials.
    #[response(status = 401)]
    Unauthorized(Msg),
    /// Access control refused the caller (or the impersonation it asked for).
    #[response(status = 403)]
    Forbidden(Msg),
    /// `Accept` asks for a Livy API version other than v0.1.
    #[response(status = 406)]
    NotAcceptable(Msg),
}

/// What a route addressing one record adds.
#[derive(IntoResponses)]
pub enum RecordRefusals {
    /// The request is malformed (e.g. a query parameter is not a number).
    #[response(status = 400)]
    BadRequest(Msg),
    /// No such record (`Session 'ID' not found.`, for batches too).
    #[response(status = 404)]
    NotFound(Msg),
}

/// What a route with a JSON body adds.
#[derive(IntoResponses)]
pub enum BodyRefusals {
    /// The body does not say it is JSON.
    #[response(status = 415)]
    UnsupportedMediaType(Msg),
    /// The body is over `livy.server.request.max-body-size`.
    #[response(status = 413)]
    TooLarge(Msg),
}

/// The document, built once.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = super::api_routes()
            .merge(super::health::routes())
            .split_for_parts()
            .1;
        let mut doc = serde_json::to_value(doc).unwrap_or_default();
        split_create_request(&mut doc);
        add_links(&mut doc);
        doc
    })
}

/// The document as served and committed: pretty JSON with a final newline.
pub fn document_json() -> String {
    let mut text = serde_json::to_string_pretty(document()).unwrap_or_default();
    text.push('\n');
    text
}

/// OpenAPI links from each create to the operations on what it created
/// (for clients and for stateful fuzzing): the new record's `id`, and a new
/// statement's `id` with its session's.
fn add_links(doc: &mut Value) {
    let record =
        |op: &str| json!({ "operationId": op, "parameters": { "id": "$response.body#/id" } });
    let statement = |op: &str| json!({ "operationId": op, "parameters": { "id": "$request.path.id", "sid": "$response.body#/id" } });
    let links = [
        (
            "/batches",
            [
                "get_batch",
                "get_batch_state",
                "get_batch_log",
                "delete_batch",
            ]
            .map(record)
            .to_vec(),
        ),
        (
            "/sessions",
            [
                "get_session",
                "get_session_state",
                "get_session_log",
                "list_statements",
                "create_statement",
                "complete",
                "stop_session",
                "delete_session",
            ]
            .map(record)
            .to_vec(),
        ),
        (
            "/sessions/{id}/statements",
            ["get_statement", "cancel_statement"]
                .map(statement)
                .to_vec(),
        ),
    ];
    for (path, targets) in links {
        let created = &mut doc["paths"][path]["post"]["responses"]["201"];
        if created.is_null() {
            continue;
        }
        let mut all = serde_json::Map::new();
        for link in targets {
            let name = link["operationId"].as_str().unwrap_or_default().to_owned();
            all.insert(name, link);
        }
        created["links"] = Value::Object(all);
    }
}

/// One type decodes both create bodies (`CreateRequest`) and each endpoint
/// refuses the other's fields (`BATCH_ONLY`, `SESSION_ONLY`): the document
/// gives each endpoint its own schema, made from that type's by leaving the
/// refused fields out (and `file` required for batches).
fn split_create_request(doc: &mut Value) {
    let Some(both) = doc["components"]["schemas"].get("CreateRequest").cloned() else {
        return;
    };
    for (name, refused, required, path) in [
        ("BatchRequest", SESSION_ONLY, Some("file"), "/batches"),
        ("SessionRequest", BATCH_ONLY, None, "/sessions"),
    ] {
        let mut one = both.clone();
        if let Some(props) = one["properties"].as_object_mut() {
            for field in refused {
                props.remove(field);
            }
            if let Some(field) = required {
                if let Some(p) = props.get_mut(field) {
                    // Required and not null ("File is required").
                    p["type"] = json!(["string", "number"]);
                }
                one["required"] = json!([field]);
            }
        }
        let endpoint = if required.is_some() {
            "Submits a batch (`POST /batches`)"
        } else {
            "Starts a session (`POST /sessions`)"
        };
        one["description"] = Value::String(format!(
            "{endpoint}. Text fields take numbers too and integer fields numeric strings, as \
             Livy's Jackson does; values are validated beyond their types (whitelisted paths, \
             memory sizes, counts of at least 1, class names, no control characters): a 400 \
             says what to fix."
        ));
        doc["components"]["schemas"][name] = one;
        let body = &mut doc["paths"][path]["post"]["requestBody"]["content"]["application/json"];
        body["schema"] = json!({ "$ref": format!("#/components/schemas/{name}") });
    }
    if let Some(all) = doc["components"]["schemas"].as_object_mut() {
        all.remove("CreateRequest");
    }
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "server",
    responses(
        (status = 200, description = "The OpenAPI 3.1 document of this API.", body = Object, content_type = "application/json"),
        Refusals,
    )
)]
pub async fn serve() -> Json<&'static Value> {
    Json(document())
}

/// The doc's own base (for `utoipa::OpenApi::openapi`).
pub fn base() -> OpenApi {
    ApiDoc::openapi()
}

/// `{id}`: a record's id, or its name.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RecordId {
    /// The record's id (a number), or its name.
    #[allow(dead_code)] // read by the path extractor as a string, not through this type
    id: String,
}

/// `{id}` and `{sid}`: a session and one of its statements.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct StatementId {
    /// The session's id (a number), or its name.
    #[allow(dead_code)]
    id: String,
    /// The statement's id.
    #[allow(dead_code)]
    sid: String,
}

/// Paging of a log.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Index of the first line (default: the last `size` lines).
    #[allow(dead_code)]
    from: Option<i64>,
    /// How many lines (default 100; negative: all).
    #[allow(dead_code)]
    size: Option<i64>,
}

/// Paging of a list.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documents the query the handler reads as a map
pub struct ListQuery {
    /// Index of the first record (default 0).
    from: Option<i64>,
    /// How many records (default 100).
    size: Option<i64>,
}

/// A 404 body: `{"msg": …}` for a record, a bare string for a statement.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // documents two shapes the handlers build
#[serde(untagged)]
pub enum NotFoundBody {
    Msg(Msg),
    Text(String),
}

// Schemas of the lenient request fields (`super::body`): what the
// deserializers accept, so generated clients and fuzzers send what works.

fn of_types(types: &[Type]) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter(types.iter().cloned()))
}

/// A text field: a string, or a number taken as its text.
pub fn text() -> Object {
    of_types(&[Type::String, Type::Number, Type::Null]).build()
}

/// A text field that must be given.
pub fn required_text() -> Object {
    of_types(&[Type::String, Type::Number]).build()
}

/// An integer field: a number, or a string of one (up to 18 digits).
pub fn int() -> Object {
    of_types(&[Type::Integer, Type::String, Type::Null])
        .pattern(Some(r"^\s*[+-]?[0-9]{1,18}\s*$"))
        .minimum(Some(i64::MIN as f64))
        .maximum(Some(i64::MAX as f64))
        .build()
}

/// A list of texts (scalars taken as text).
pub fn text_list() -> Array {
    ArrayBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        .items(of_types(&[Type::String, Type::Number, Type::Boolean]))
        .build()
}

/// `conf`: names to scalar values (taken as text).
pub fn conf() -> Object {
    of_types(&[Type::Object, Type::Null])
        .additional_properties(Some(of_types(&[Type::String, Type::Number, Type::Boolean])))
        .build()
}
