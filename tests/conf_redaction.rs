//! Conf secrets on real Spark (local mode): a session's and a batch's conf
//! values whose keys match the redaction pattern (Spark's default, plus one
//! the server's config adds) appear in no API answer, UI page, `/metrics`
//! or line of the server's log, nor in the stored records (sealed there),
//! while the application reads the real values (it returns their SHA-256,
//! so its output does not carry them).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const LONG: Duration = Duration::from_secs(240);
const SECRET: &str = "conf-s3cr3t-value-4711";
const CRED: &str = "company-cred-value-0815";
const PLAIN: &str = "plain-visible-value-42";
const REDACTED: &str = "*********(redacted)";

fn sha256(text: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every byte of `url`'s body; panics if it carries a secret.
async fn assert_clean(url: &str) -> String {
    let r = client().get(url).send().await.unwrap();
    let body = r.bytes().await.unwrap();
    let text = String::from_utf8_lossy(&body).into_owned();
    for s in [SECRET, CRED] {
        assert!(!text.contains(s), "{url} carries {s}: {text}");
    }
    text
}

#[tokio::test]
async fn conf_secrets_are_redacted_everywhere_and_reach_the_application() {
    let _slot = spark_slot().await;
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(
        apps.join("conf_hash.py"),
        "import hashlib\nfrom pyspark.sql import SparkSession\n\
         s = SparkSession.builder.getOrCreate()\n\
         for k in ['spark.myapp.secret', 'spark.mycompany.cred']:\n\
         \x20   print('HASH', k, hashlib.sha256(s.conf.get(k).encode()).hexdigest())\n\
         s.stop()\n",
    )
    .unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.file.local-dir-whitelist={}", apps.display()),
            // The server's pattern replaces Spark's default, as in Spark.
            "livy.server.redaction.regex=(?i)secret|mycompany[.]cred".to_owned(),
            "livy.rsc.launcher.port.range=0~0".to_owned(),
        ],
    );
    let conf = json!({
        "spark.myapp.secret": SECRET,
        "spark.mycompany.cred": CRED,
        "spark.myapp.plain": PLAIN,
    });

    // A session: its answers show the keys, redacted values, plain values.
    let (code, created) = post_json(
        &server.url("/sessions"),
        &json!({"kind": "pyspark", "conf": conf}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    assert_eq!(
        (
            &created["conf"]["spark.myapp.secret"],
            &created["conf"]["spark.mycompany.cred"],
            &created["conf"]["spark.myapp.plain"]
        ),
        (&json!(REDACTED), &json!(REDACTED), &json!(PLAIN)),
        "{created}"
    );
    let id = created["id"].as_u64().unwrap();
    wait_state(&server.url(&format!("/sessions/{id}")), &["idle"], LONG).await;
    let st = run_statement(
        &server,
        id,
        json!({"code": "import hashlib\n\
            print(hashlib.sha256(spark.conf.get('spark.myapp.secret').encode()).hexdigest(), \
            hashlib.sha256(spark.conf.get('spark.mycompany.cred').encode()).hexdigest())"}),
    )
    .await;
    assert_eq!(
        text(&st).trim(),
        format!("{} {}", sha256(SECRET), sha256(CRED)),
        "the driver sees the real values: {st}"
    );

    // A batch: the application reads the real values too.
    let (code, batch) = post_json(
        &server.url("/batches"),
        &json!({"file": apps.join("conf_hash.py"), "conf": conf}),
    )
    .await;
    assert_eq!(code, 201, "{batch}");
    let bid = batch["id"].as_u64().unwrap();
    wait_state(&server.url(&format!("/batches/{bid}")), &["success"], LONG).await;
    let log = full_log(&server.url(&format!("/batches/{bid}")))
        .await
        .join("\n");
    for (k, v) in [
        ("spark.myapp.secret", SECRET),
        ("spark.mycompany.cred", CRED),
    ] {
        assert!(
            log.contains(&format!("HASH {k} {}", sha256(v))),
            "the batch sees {k}: {log}"
        );
    }

    // No answer, page or metric carries either secret.
    let mut urls: Vec<String> = [
        "/sessions".to_owned(),
        format!("/sessions/{id}"),
        format!("/sessions/{id}/state"),
        format!("/sessions/{id}/log?size=-1"),
        format!("/sessions/{id}/statements"),
        format!("/sessions/{id}/statements/0"),
        "/batches".to_owned(),
        format!("/batches/{bid}"),
        format!("/batches/{bid}/state"),
        format!("/batches/{bid}/log?size=-1"),
        "/metrics".to_owned(),
        "/version".to_owned(),
        "/openapi.json".to_owned(),
        "/ui".to_owned(),
        format!("/ui/sessions/{id}"),
        format!("/ui/batches/{bid}/log"),
    ]
    .into();
    for asset in [
        "app.js",
        "common.js",
        "lists.js",
        "log.js",
        "output.js",
        "session.js",
        "style.css",
    ] {
        urls.push(format!("/ui/assets/{asset}"));
    }
    for path in &urls {
        assert_clean(&server.url(path)).await;
    }
    let listed = assert_clean(&server.url("/sessions")).await;
    assert!(
        listed.contains(PLAIN) && listed.contains(REDACTED),
        "{listed}"
    );

    // Nor does the server's log, though it logged both launches' argv.
    let log = server.log();
    assert!(
        log.contains("starting session driver") && log.contains("submitting"),
        "the launches were logged"
    );
    assert!(
        log.contains(&format!("spark.myapp.secret={REDACTED}")),
        "argv logged redacted"
    );
    for s in [SECRET, CRED] {
        assert!(!log.contains(s), "the server's log carries {s}");
    }

    // Nor do the stored records: the values are sealed in them, and the
    // key is not next to them in the store.
    let mut stored = Vec::new();
    for entry in std::fs::read_dir(tmp.path().join("data")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("livy.db") {
            stored.extend(std::fs::read(&path).unwrap());
        }
    }
    let stored = String::from_utf8_lossy(&stored);
    assert!(
        stored.contains("spark.myapp.secret") && stored.contains("sealed:v1:"),
        "the records are in the store, their secrets sealed"
    );
    for s in [SECRET, CRED] {
        assert!(!stored.contains(s), "the store carries {s}");
    }
    let (code, _) = delete(&server.url(&format!("/sessions/{id}"))).await;
    assert_eq!(code, 200);
}
