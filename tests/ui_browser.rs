//! The web UI in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver), against the real binary on real Spark (local
//! mode). One server, one batch, one pyspark session and one browser for
//! the whole run. Screenshots go to `target/ui-screenshots/`. Two quick
//! tests without Spark: `/` and the UI's files, and the UI behind Basic
//! authentication.
//!
//! Chromium and chromedriver come from `hack/setup.sh --test`; without them
//! the browser test fails (it never skips).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/pki.rs"]
mod pki;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Spark starting a session (or a batch) on a loaded two-core machine.
const START: Duration = Duration::from_secs(240);
/// The page showing what the API already says (it polls every 1–2 s).
const UI_WAIT: Duration = Duration::from_secs(60);

/// A batch that prints a line, waits for the test's go-ahead (a file), then
/// prints three more: the log page must show those without a reload.
const LINES_PY: &str = r#"
import os, sys, time
print("UI-LINE before-go", flush=True)
deadline = time.time() + 300
while not os.path.exists(sys.argv[1]) and time.time() < deadline:
    time.sleep(0.1)
for i in range(3):
    print("UI-LINE after-go %d" % i, flush=True)
"#;

/// A statement whose job runs ~9 s in local mode (one core): long enough to
/// see its progress bar.
const SLOW: &str = "print('ui-live-%d' % sc.parallelize(range(6), 6).map(lambda x: __import__('time').sleep(1.5) or x).count())";

/// chromedriver, stopped with the test.
struct Chromedriver(Child);

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free port and a headless Chromium session through it.
async fn browser(dir: &Path) -> (Chromedriver, Client) {
    for tool in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(tool).exists(),
            "{tool} is missing: `hack/setup.sh --test` installs Debian's chromium and chromium-driver"
        );
    }
    let port = free_port();
    let log_path = dir.join("chromedriver.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let driver = Chromedriver(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = client().get(format!("{url}/status")).send().await;
        if let Ok(r) = status
            && let Ok(v) = r.json::<Value>().await
            && v["value"]["ready"] == true
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "chromedriver did not get ready; its log:\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let profile = dir.join("chromium-profile");
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            // Without the background-networking flags Chromium keeps calling
            // out to the (closed) network.
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
                "--window-size=1280,900",
            ],
        },
    });
    let caps = caps.as_object().unwrap().clone();
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "Chromium did not start through chromedriver: {e}; its log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )
        });
    (driver, c)
}

/// Runs `script` (with `args` as `arguments`) until it returns something
/// other than null, false or "" and returns that; panics with the page's
/// text after `timeout`.
async fn wait_js(
    c: &Client,
    what: &str,
    script: &str,
    args: Vec<Value>,
    timeout: Duration,
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let v = c.execute(script, args.clone()).await.unwrap();
        if !(v.is_null() || v == false || v == "") {
            return v;
        }
        if Instant::now() > deadline {
            let page = c
                .execute("return document.body.innerText", vec![])
                .await
                .unwrap_or_default();
            panic!(
                "timed out waiting for {what}; the page says:\n{}",
                page.as_str().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the element at `css` holds `text`.
async fn wait_text(c: &Client, css: &str, text: &str, timeout: Duration) {
    wait_js(
        c,
        &format!("{text:?} in {css}"),
        "const e = document.querySelector(arguments[0]); return !!e && e.textContent.includes(arguments[1]);",
        vec![json!(css), json!(text)],
        timeout,
    )
    .await;
}

/// The cells' texts of the first output table of statement `id`.
async fn table_of(c: &Client, id: u64) -> Value {
    wait_js(
        c,
        &format!("statement {id}'s output table"),
        "const t = document.querySelector(`.statement[data-id=\"${arguments[0]}\"] table.output`);
         if (!t) return null;
         const texts = (sel) => [...t.querySelectorAll(sel)].map((e) => e.textContent);
         return { heads: [...t.querySelectorAll('th')].map((th) => th.firstChild.textContent), cells: texts('td') };",
        vec![json!(id)],
        UI_WAIT,
    )
    .await
}

fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots")
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = dir.join(name);
    std::fs::write(&path, png).unwrap();
    println!("screenshot: {}", path.display());
    path
}

/// POST with the CSRF header (the server under test requires it).
async fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(url)
        .header("X-Requested-By", "ui-test")
        .json(body)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    (code, r.json().await.unwrap_or(Value::Null))
}

/// Runs a statement through the API until it is available.
async fn run(server: &Server, session: u64, body: Value) -> Value {
    let (code, st) = post(
        &server.url(&format!("/sessions/{session}/statements")),
        &body,
    )
    .await;
    assert_eq!(code, 201, "{st}");
    let id = st["id"].as_u64().unwrap();
    wait_statement(server, session, id, &["available"], START).await
}

#[tokio::test]
async fn the_ui_shows_batches_sessions_statements_and_logs_live_in_chromium() {
    let _slot = spark_slot().await;
    let began = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("lines.py"), LINES_PY).unwrap();
    // In the whitelisted directory, which the application's sandbox shows.
    let go = apps.join("go");
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.file.local-dir-whitelist={}", apps.display()),
            "livy.rsc.launcher.port.range=0~0".into(),
            // The page's own POSTs must carry X-Requested-By.
            "livy.server.csrf-protection.enabled=true".into(),
        ],
    );
    let (code, batch) = post(
        &server.url("/batches"),
        &json!({ "file": apps.join("lines.py"), "args": [go], "name": "ui-lines" }),
    )
    .await;
    assert_eq!(code, 201, "{batch}");
    let bid = batch["id"].as_u64().unwrap();
    let (code, session) = post(
        &server.url("/sessions"),
        &json!({ "kind": "pyspark", "name": "ui-session" }),
    )
    .await;
    assert_eq!(code, 201, "{session}");
    let sid = session["id"].as_u64().unwrap();
    let (_driver, c) = browser(tmp.path()).await;

    // The batch's log page follows the log: lines printed after it loaded appear.
    c.goto(&server.url(&format!("/ui/batches/{bid}/log")))
        .await
        .unwrap();
    wait_text(&c, "pre.log-lines", "UI-LINE before-go", START).await;
    std::fs::write(&go, "").unwrap();
    wait_text(&c, "pre.log-lines", "UI-LINE after-go 2", UI_WAIT).await;
    let final_state = wait_js(
        &c,
        "the batch's badge to say success",
        "const b = document.querySelector('h1 .badge'); return b && b.textContent === 'success' && b.textContent;",
        vec![],
        START,
    )
    .await;
    assert_eq!(final_state, "success");
    let log_text = c
        .execute(
            "return document.querySelector('pre.log-lines').textContent",
            vec![],
        )
        .await
        .unwrap();
    let log_text = log_text.as_str().unwrap();
    assert_eq!(
        log_text.matches("UI-LINE before-go").count(),
        1,
        "{log_text}"
    );
    assert!(
        log_text.find("UI-LINE before-go") < log_text.find("UI-LINE after-go 0"),
        "{log_text}"
    );
    screenshot(&c, "batch-log.png").await;

    // The batches list: the batch's row with its id, name and state.
    c.goto(&server.url("/ui/batches")).await.unwrap();
    let row = wait_js(
        &c,
        "the batch's row",
        "const r = document.querySelector(`#batches-table tr[data-id=\"${arguments[0]}\"]`);
         return r && [r.querySelector('.c-id').textContent, r.querySelector('.c-name').textContent,
                      r.querySelector('.c-state').textContent, r.querySelector('.c-age').textContent];",
        vec![json!(bid)],
        UI_WAIT,
    )
    .await;
    // Its age: seconds or minutes since its creation (the test is that young).
    let age = row[3].as_str().unwrap_or_default().to_owned();
    assert!(age.ends_with(" s") || age.ends_with(" min"), "age {age:?}");
    assert_eq!(
        row.as_array().unwrap()[..3],
        [json!(bid.to_string()), json!("ui-lines"), json!("success")]
    );
    screenshot(&c, "batches.png").await;

    // The session's statements, run through the API.
    wait_state(&server.url(&format!("/sessions/{sid}")), &["idle"], START).await;
    let table = run(
        &server,
        sid,
        json!({"code": "rows = [{'n': 1, 's': 'a'}, {'n': 2, 's': 'b'}]\n%table rows"}),
    )
    .await;
    let plot = run(
        &server,
        sid,
        json!({"code": "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\n%matplot plt"}),
    )
    .await;
    assert!(plot["output"]["data"]["image/png"].is_string(), "{plot}");
    let sql = run(
        &server,
        sid,
        json!({"kind": "sql", "code": "SELECT 1 AS one, 'x' AS letter"}),
    )
    .await;
    let error = run(
        &server,
        sid,
        json!({"code": "def boom():\n    raise ValueError('ui-boom')\nboom()"}),
    )
    .await;
    assert_eq!(error["output"]["status"], "error", "{error}");
    let id_of = |st: &Value| st["id"].as_u64().unwrap();

    // The sessions list: the session's row with its id, name, kind and state.
    c.goto(&server.url("/ui/sessions")).await.unwrap();
    let row = wait_js(
        &c,
        "the session's row",
        "const r = document.querySelector(`#sessions-table tr[data-id=\"${arguments[0]}\"]`);
         return r && [r.querySelector('.c-id').textContent, r.querySelector('.c-name').textContent,
                      r.querySelector('.c-kind').textContent, r.querySelector('.c-state').textContent];",
        vec![json!(sid)],
        UI_WAIT,
    )
    .await;
    assert_eq!(
        row,
        json!([sid.to_string(), "ui-session", "pyspark", "idle"])
    );
    screenshot(&c, "sessions.png").await;

    // The session's page: a table, a SQL result as a table, a plot, an error.
    c.goto(&server.url(&format!("/ui/sessions/{sid}")))
        .await
        .unwrap();
    let t = table_of(&c, id_of(&table)).await;
    assert_eq!(
        t,
        json!({"heads": ["n", "s"], "cells": ["1", "a", "2", "b"]})
    );
    let t = table_of(&c, id_of(&sql)).await;
    assert_eq!(t, json!({"heads": ["one", "letter"], "cells": ["1", "x"]}));
    let width = wait_js(
        &c,
        "the plot to load",
        "const i = document.querySelector(`.statement[data-id=\"${arguments[0]}\"] img.plot`);
         return i && i.complete && i.naturalWidth > 0 && i.naturalWidth;",
        vec![json!(id_of(&plot))],
        UI_WAIT,
    )
    .await;
    assert!(width.as_u64().unwrap() > 100, "plot width {width}");
    let shown = wait_js(
        &c,
        "the error",
        "const e = document.querySelector(`.statement[data-id=\"${arguments[0]}\"] .error-output`);
         return e && [e.querySelector('.ename').textContent, e.querySelector('.evalue').textContent,
                      e.querySelector('pre.traceback').textContent];",
        vec![json!(id_of(&error))],
        UI_WAIT,
    )
    .await;
    assert_eq!(shown[0], "ValueError", "{shown}");
    assert_eq!(shown[1], "ui-boom", "{shown}");
    assert!(shown[2].as_str().unwrap().contains("boom()"), "{shown}");
    c.set_window_size(1280, 2200).await.unwrap();
    screenshot(&c, "session.png").await;
    c.set_window_size(1280, 900).await.unwrap();

    // Live: a statement submitted after the page loaded shows its progress
    // bar while it runs, then its output, without a reload.
    let (code, slow) = post(
        &server.url(&format!("/sessions/{sid}/statements")),
        &json!({ "code": SLOW }),
    )
    .await;
    assert_eq!(code, 201, "{slow}");
    let slow_id = id_of(&slow);
    let pct = wait_js(
        &c,
        "a partly filled progress bar",
        "const p = document.querySelector(`.statement[data-id=\"${arguments[0]}\"] .progress`);
         const v = p && Number(p.getAttribute('aria-valuenow'));
         return v > 0 && v < 100 && v;",
        vec![json!(slow_id)],
        START,
    )
    .await;
    println!("progress bar seen at {pct}%");
    screenshot(&c, "session-progress.png").await;
    wait_text(
        &c,
        &format!(".statement[data-id=\"{slow_id}\"] pre.text"),
        "ui-live-6",
        START,
    )
    .await;

    // The page's form: its POST passes the CSRF check, and HTML in the
    // output stays text.
    let code = "print('<b>ui-escaped</b><img src=x>')";
    c.find(Locator::Css("#submit-statement textarea"))
        .await
        .unwrap()
        .send_keys(code)
        .await
        .unwrap();
    c.find(Locator::Css("#submit-statement button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let form_id = slow_id + 1;
    wait_text(
        &c,
        &format!(".statement[data-id=\"{form_id}\"] pre.text"),
        "<b>ui-escaped</b><img src=x>",
        START,
    )
    .await;
    let injected = c
        .execute(
            "return document.querySelectorAll('.statement .out b, .statement .out img:not(.plot)').length",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(injected, 0, "output was parsed as HTML");
    let (_, st) = get_json(&server.url(&format!("/sessions/{sid}/statements/{form_id}"))).await;
    assert_eq!(st["code"], code, "{st}");

    // The session's log page shows the driver's log.
    c.goto(&server.url(&format!("/ui/sessions/{sid}/log")))
        .await
        .unwrap();
    wait_js(
        &c,
        "session log lines",
        "const e = document.querySelector('pre.log-lines'); return !!e && e.textContent.trim().length > 0;",
        vec![],
        UI_WAIT,
    )
    .await;
    screenshot(&c, "session-log.png").await;

    c.close().await.unwrap();
    println!("browser test took {:?}", began.elapsed());
}

/// Without Spark: `/` redirects to the UI, the UI's files come with their
/// types, and the API's routes are untouched.
#[tokio::test]
async fn root_redirects_to_the_ui_which_serves_its_files() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[pki::stand_in_spark_home(tmp.path())],
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |path: &str| http.get(server.url(path)).send();
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };

    let r = get("/").await.unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(header(&r, "location"), "/ui/");

    for path in ["/ui", "/ui/", "/ui/sessions/3", "/ui/batches/0/log"] {
        let r = get(path).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&r, "cache-control"), "no-cache");
        let body = r.text().await.unwrap();
        assert!(
            body.contains(r#"<script type="module" src="/ui/assets/app.js">"#),
            "{body}"
        );
    }
    let r = get("/ui/assets/app.js").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "content-type"), "text/javascript; charset=utf-8");
    let r = get("/ui/assets/style.css").await.unwrap();
    assert_eq!(header(&r, "content-type"), "text/css; charset=utf-8");

    let r = get("/ui/assets/x").await.unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["msg"].as_str().unwrap().contains("no file x"),
        "{body}"
    );

    let r = get("/sessions").await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["sessions"], json!([]));
}

/// The UI's files are behind the server's authentication like the API (the
/// browser asks for a password on the first load, then sends the cookie).
#[tokio::test]
async fn the_ui_is_behind_the_servers_authentication() {
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_livy-server"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(child.stdin.take().unwrap(), "alice-password").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let users = tmp.path().join("users");
    std::fs::write(
        &users,
        format!("alice:{}\n", String::from_utf8(out.stdout).unwrap().trim()),
    )
    .unwrap();
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            pki::stand_in_spark_home(tmp.path()),
            "livy.server.auth.type=basic".into(),
            format!("livy.server.auth.basic.users-file={}", users.display()),
        ],
    );
    for path in ["/ui", "/ui/assets/app.js"] {
        let r = client().get(server.url(path)).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Basic"), "{challenge}");
    }
    let r = client()
        .get(server.url("/ui"))
        .basic_auth("alice", Some("alice-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers().contains_key("set-cookie"), "{:?}", r.headers());
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
}
