//! Statement sizes on real Spark (local mode): code over
//! `livy.server.statement.max-code-bytes` is refused with 413 naming the key;
//! an output over `livy.server.statement.max-output-bytes` is cut with a
//! marker; a Python statement printing 50 MB on one line fails with a clear
//! error and the session runs the next statement.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const LONG: Duration = Duration::from_secs(240);

#[tokio::test]
async fn code_and_output_sizes_are_bounded_and_the_session_goes_on() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            "livy.server.statement.max-code-bytes=4k".to_owned(),
            "livy.server.statement.max-output-bytes=1m".to_owned(),
            "livy.rsc.launcher.port.range=0~0".to_owned(),
        ],
    );
    let (code, s) = post_json(&server.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{s}");
    let id = s["id"].as_u64().unwrap();
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], LONG).await;
    let statements = server.url(&format!("/sessions/{id}/statements"));

    // Code: 4 KiB passes, one byte more is refused (Livy's {"msg"} shape).
    let at_limit = format!("x = 1  #{}", "c".repeat(4096 - 8));
    assert_eq!(at_limit.len(), 4096);
    let st = run_statement(&server, id, json!({"code": at_limit})).await;
    assert_eq!(st["output"]["status"], "ok", "{st}");
    let (code, body) = post_json(&statements, &json!({"code": format!("{at_limit}c")})).await;
    assert_eq!(code, 413, "{body}");
    let msg = body["msg"].as_str().unwrap();
    assert!(
        msg.contains("livy.server.statement.max-code-bytes") && msg.contains("4097 bytes"),
        "{msg}"
    );
    assert_eq!(body.as_object().unwrap().len(), 1, "only msg: {body}");

    // Output over 1 MiB (under the protocol's line limit) is cut, with a marker.
    let st = run_statement(&server, id, json!({"code": "print('y' * 1500000)"})).await;
    let out = text(&st);
    let marker = "… [truncated 451424 bytes]"; // 1_500_000 printed - 1_048_576 kept
    assert!(
        out.ends_with(marker),
        "{}",
        &out[out.len().saturating_sub(80)..]
    );
    assert_eq!(out.len(), (1 << 20) + marker.len());
    assert!(out[..1 << 20].bytes().all(|b| b == b'y'));

    // 50 MB on one line: the statement fails, saying why...
    let st = run_statement(&server, id, json!({"code": "print('z' * 50_000_000)"})).await;
    let output = &st["output"];
    assert_eq!(
        (&output["status"], &output["ename"]),
        (&json!("error"), &json!("OutputTooLarge")),
        "{}",
        &st.to_string()[..st.to_string().len().min(500)]
    );
    let why = output["evalue"].as_str().unwrap();
    assert!(
        why.contains("too large") && why.contains("livy.server.statement.max-output-bytes"),
        "{why}"
    );
    // ...and the session, its Python and its variables go on.
    let st = run_statement(&server, id, json!({"code": "x + 41"})).await;
    assert_eq!(text(&st), "42");
    let (_, s) = get_json(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(s["state"], "idle", "{s}");
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
}
