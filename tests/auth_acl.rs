//! Access control, impersonation and CSRF through the real binary, as a
//! table: settings (auth off/basic × access control off/on × impersonation
//! off/on) × users (owner, other, viewer, modifier, superuser, stranger) ×
//! every session, statement, Job API and batch route. The expected outcome of each
//! case comes from an oracle written here from Livy's rules (not from the
//! server's code); every forbidden action must be a 403 that changed
//! nothing, every allowed one must succeed.
//!
//! Spark is not needed: a stand-in spark-submit plays the session driver
//! (tests/fixtures/fake_spark_submit.py). Real Spark, a real KDC and a real
//! directory are in tests/auth_e2e.rs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use reqwest::Method;
use serde_json::{Value, json};

const USERS: [&str; 6] = ["alice", "bob", "viewer", "editor", "admin", "stranger"];

#[derive(Debug, Clone, Copy)]
struct Setting {
    auth: bool,
    acl: bool,
    impersonation: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    View,
    Modify,
}

/// Livy's rules, restated: who may do what to alice's record.
fn allowed(s: Setting, user: &str, need: Need) -> bool {
    if !s.auth || !s.acl {
        return true;
    }
    match (user, need) {
        ("stranger", _) => false,
        ("alice" | "admin" | "editor", _) => true,
        ("viewer", Need::View) => true,
        _ => false,
    }
}

/// May `user` run an application as `target`?
fn may_impersonate(s: Setting, user: &str, target: &str) -> bool {
    if s.acl && s.auth && user == "stranger" {
        return false;
    }
    !s.impersonation || !s.auth || user == target || user == "admin"
}

struct Api {
    server: Server,
    setting: Setting,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        user: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method.clone(), self.server.url(path));
        if method != Method::GET {
            // As Livy's clients do; bodiless changes need it (tested below).
            req = req.header("X-Requested-By", "auth-acl-test");
        }
        if self.setting.auth {
            req = req.basic_auth(user, Some(format!("{user}-password")));
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    async fn new_session(&self) -> u64 {
        self.create("/sessions", json!({"kind": "pyspark"}), "idle")
            .await
    }

    async fn new_batch(&self) -> u64 {
        self.create("/batches", json!({"file": "hdfs:///apps/pi.py"}), "success")
            .await
    }

    /// alice creates a record at `path` and waits until it is `state`.
    async fn create(&self, path: &str, body: Value, state: &str) -> u64 {
        let (code, r) = self.call("alice", Method::POST, path, Some(body)).await;
        assert_eq!(code, 201, "{r}");
        let id = r["id"].as_u64().unwrap();
        self.wait(&format!("{path}/{id}"), state).await;
        id
    }

    async fn wait(&self, path: &str, want: &str) {
        for _ in 0..600 {
            let (_, v) = self.call("alice", Method::GET, path, None).await;
            if v["state"] == want {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{path} never reached {want}");
    }

    /// What alice sees of a record: proof that a denied request changed nothing.
    async fn snapshot(&self, path: &str) -> (u16, Value) {
        let (code, mut v) = self.call("alice", Method::GET, path, None).await;
        if let Some(o) = v.as_object_mut() {
            o.remove("log"); // the fake driver's log grows on its own
        }
        (code, v)
    }
}

async fn start(s: Setting, dir: &Path) -> Api {
    let home = common::fake_spark_home(dir);
    let mut conf = vec![
        format!("livy.server.spark-home={}", home.display()),
        format!("livy.file.local-dir-whitelist={}", dir.display()),
        "livy.rsc.launcher.port.range=0~0".into(),
        format!("livy.impersonation.enabled={}", s.impersonation),
    ];
    if s.auth {
        conf.push("livy.server.auth.type=basic".into());
        conf.push(format!(
            "livy.server.auth.basic.users-file={}",
            {
                let path = dir.join("users");
                users_file(&path, &USERS);
                path
            }
            .display()
        ));
    }
    if s.acl {
        conf.push("livy.server.access-control.enabled=true".into());
        conf.push("livy.server.access-control.allowed-users=alice,bob".into());
        conf.push("livy.server.access-control.view-users=viewer".into());
        conf.push("livy.server.access-control.modify-users=editor".into());
        conf.push("livy.superusers=admin".into());
    } else {
        conf.push("livy.superusers=admin".into());
    }
    Api {
        server: Server::start(&dir.join("data"), &conf),
        setting: s,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    }
}

/// Runs one case: the call's status must match the oracle; a denial must be
/// a 403 and leave `proof` (alice's view of the record) as it was.
#[allow(clippy::too_many_arguments)]
async fn case(
    api: &Api,
    cases: &mut usize,
    user: &str,
    need: Need,
    method: Method,
    path: &str,
    body: Option<Value>,
    ok: &[u16],
    proof: &str,
) {
    *cases += 1;
    let before = api.snapshot(proof).await;
    let (code, reply) = api.call(user, method.clone(), path, body).await;
    if allowed(api.setting, user, need) {
        assert!(
            ok.contains(&code),
            "{:?} {user} {method} {path}: expected one of {ok:?}, got {code} {reply}",
            api.setting
        );
    } else {
        assert_eq!(
            code, 403,
            "{:?} {user} {method} {path}: {reply}",
            api.setting
        );
        assert!(reply["msg"].is_string(), "a 403 without a message: {reply}");
        assert_eq!(
            api.snapshot(proof).await,
            before,
            "a denied {method} {path} changed something"
        );
    }
}

async fn run_setting(s: Setting) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let api = start(s, tmp.path()).await;
    let mut n = 0;
    let sid = api.new_session().await;
    let bid = api.new_batch().await;
    let session = format!("/sessions/{sid}");
    let batch = format!("/batches/{bid}");
    let users: &[&str] = if s.auth { &USERS } else { &["alice"] };
    // alice's job 1 (the stand-in driver answers it SUCCEEDED); each allowed
    // submission below takes the next id, so a denied one would show there.
    let job = json!({"job": "AAAA", "jobType": "spark"});
    let (code, r) = api
        .call(
            "alice",
            Method::POST,
            &format!("{session}/submit-job"),
            Some(job.clone()),
        )
        .await;
    assert_eq!(code, 201, "{r}");
    let mut jobs = 1;
    let staged = tmp.path().join("staged.txt");
    std::fs::write(&staged, "staged\n").unwrap();

    for &user in users {
        // Reads.
        for path in [
            session.clone(),
            format!("{session}/state"),
            format!("{session}/log"),
            format!("{session}/statements"),
            batch.clone(),
            format!("{batch}/state"),
            format!("{batch}/log"),
        ] {
            case(
                &api,
                &mut n,
                user,
                Need::View,
                Method::GET,
                &path,
                None,
                &[200],
                &session,
            )
            .await;
        }
        // Statements: modify to run, cancel, complete; view to read one.
        let statements = format!("{session}/statements");
        case(
            &api,
            &mut n,
            user,
            Need::Modify,
            Method::POST,
            &statements,
            Some(json!({"code": "1 + 1"})),
            &[201],
            &statements,
        )
        .await;
        case(
            &api,
            &mut n,
            user,
            Need::View,
            Method::GET,
            &format!("{statements}/0"),
            None,
            &[200],
            &statements,
        )
        .await;
        case(
            &api,
            &mut n,
            user,
            Need::Modify,
            Method::POST,
            &format!("{statements}/0/cancel"),
            Some(json!({})),
            &[200],
            &statements,
        )
        .await;
        case(
            &api,
            &mut n,
            user,
            Need::Modify,
            Method::POST,
            &format!("{session}/completion"),
            Some(json!({"code": "sp", "kind": "pyspark"})),
            &[200],
            &statements,
        )
        .await;

        // The Job API: modify to submit, cancel, add, connect; view to read.
        for route in ["submit-job", "run-job"] {
            let next = format!("{session}/jobs/{}", jobs + 1);
            case(
                &api,
                &mut n,
                user,
                Need::Modify,
                Method::POST,
                &format!("{session}/{route}"),
                Some(job.clone()),
                &[201],
                &next,
            )
            .await;
            if allowed(s, user, Need::Modify) {
                jobs += 1;
            }
        }
        let first = format!("{session}/jobs/1");
        case(
            &api,
            &mut n,
            user,
            Need::View,
            Method::GET,
            &first,
            None,
            &[200],
            &first,
        )
        .await;
        case(
            &api,
            &mut n,
            user,
            Need::Modify,
            Method::POST,
            &format!("{first}/cancel"),
            None,
            &[200],
            &first,
        )
        .await;
        case(
            &api,
            &mut n,
            user,
            Need::Modify,
            Method::POST,
            &format!("{session}/add-file"),
            Some(json!({"uri": staged.display().to_string()})),
            &[200],
            &session,
        )
        .await;
        case(
            &api,
            &mut n,
            user,
            Need::Modify,
            Method::POST,
            &format!("{session}/connect"),
            None,
            &[200],
            &session,
        )
        .await;

        // Lists show only what the user may view.
        n += 1;
        let (code, list) = api.call(user, Method::GET, "/sessions", None).await;
        if s.auth && s.acl && user == "stranger" {
            assert_eq!(code, 403, "{list}");
        } else {
            assert_eq!(code, 200);
            let listed = list["sessions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["id"] == sid);
            assert_eq!(
                listed,
                allowed(s, user, Need::View),
                "{user} sees the session in the list: {list}"
            );
        }

        // Destructive routes, each on a fresh record of alice's.
        for (route, kind) in [
            ("delete", "session"),
            ("stop", "session"),
            ("interrupt", "session"),
            ("delete", "batch"),
        ] {
            let target = if kind == "session" {
                format!("/sessions/{}", api.new_session().await)
            } else {
                format!("/batches/{}", api.new_batch().await)
            };
            let (method, path) = match route {
                "delete" => (Method::DELETE, target.clone()),
                other => (Method::POST, format!("{target}/{other}")),
            };
            let ok: &[u16] = match route {
                "stop" => &[204],
                _ => &[200],
            };
            case(
                &api,
                &mut n,
                user,
                Need::Modify,
                method,
                &path,
                None,
                ok,
                &target,
            )
            .await;
        }

        // Impersonation: as themselves, as someone else, by ?doAs=.
        for (target, how) in [(user, "body"), ("bob", "body"), ("bob", "doAs")] {
            n += 1;
            let (path, body) = match how {
                "body" => (
                    "/batches".to_owned(),
                    json!({"file": "hdfs:///apps/pi.py", "proxyUser": target}),
                ),
                _ => (
                    format!("/batches?doAs={target}"),
                    json!({"file": "hdfs:///apps/pi.py", "proxyUser": "alice"}),
                ),
            };
            let (code, b) = api.call(user, Method::POST, &path, Some(body)).await;
            let ok = may_impersonate(s, user, target) && !(s.auth && s.acl && user == "stranger");
            if ok {
                assert_eq!(code, 201, "{s:?} {user} as {target} ({how}): {b}");
                let want = if !s.impersonation {
                    Value::Null
                } else {
                    json!(target)
                };
                assert_eq!(b["proxyUser"], want, "{s:?} {user} as {target} ({how})");
                if s.auth {
                    assert_eq!(b["owner"], user, "the owner is the authenticated caller");
                }
            } else {
                assert_eq!(code, 403, "{s:?} {user} as {target} ({how}): {b}");
                if user != "stranger" {
                    assert_eq!(
                        b["msg"],
                        format!("User '{user}' not allowed to impersonate 'Some({target})'.")
                    );
                }
            }
        }
    }
    // With impersonation on and no proxy user, applications run as their owner.
    if s.impersonation {
        n += 1;
        let (code, b) = api
            .call(
                "alice",
                Method::POST,
                "/batches",
                Some(json!({"file": "hdfs:///apps/pi.py"})),
            )
            .await;
        assert_eq!(code, 201);
        let want = if s.auth { json!("alice") } else { Value::Null };
        assert_eq!(b["proxyUser"], want);
    }
    n
}

#[tokio::test]
async fn every_user_and_route_under_every_setting() {
    let mut total = 0;
    for auth in [false, true] {
        for acl in [false, true] {
            for impersonation in [false, true] {
                if acl && !auth {
                    continue; // refused at start-up (tested below)
                }
                let s = Setting {
                    auth,
                    acl,
                    impersonation,
                };
                let n = run_setting(s).await;
                eprintln!("{s:?}: {n} cases");
                total += n;
            }
        }
    }
    eprintln!("access-control table: {total} cases");
    assert!(total >= 400, "{total}");
}

#[tokio::test]
async fn access_control_without_authentication_is_refused_at_start_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livy-server"))
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["--conf", "livy.server.access-control.enabled=true"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("livy.server.access-control.enabled"), "{err}");
}

#[tokio::test]
async fn csrf_protection_needs_x_requested_by_on_changes_only() {
    let tmp = tempfile::tempdir().unwrap();
    let home = common::fake_spark_home(tmp.path());
    let server = Server::start(
        &tmp.path().join("data"),
        &[
            format!("livy.server.spark-home={}", home.display()),
            "livy.server.csrf-protection.enabled=true".into(),
        ],
    );
    let http = client();
    let r = http
        .post(server.url("/batches"))
        .json(&json!({"file": "hdfs:///apps/pi.py"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["msg"], "Missing Required Header for CSRF protection.");
    let (_, list) = get_json(&server.url("/batches")).await;
    assert_eq!(list["total"], 0, "the refused POST created nothing");
    let r = http
        .post(server.url("/batches"))
        .header("X-Requested-By", "zeppelin")
        .json(&json!({"file": "hdfs:///apps/pi.py"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    // Reads need no header.
    let (code, _) = get_json(&server.url("/batches")).await;
    assert_eq!(code, 200);
}

#[tokio::test]
async fn an_unknown_security_key_stops_start_up_naming_the_closest_key() {
    let tmp = tempfile::tempdir().unwrap();
    for (typo, closest) in [
        (
            "livy.server.access-control.enable=true",
            "livy.server.access-control.enabled",
        ),
        ("livy.server.auth.typ=basic", "livy.server.auth.type"),
        ("livy.superuser=admin", "livy.superusers"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_livy-server"))
            .arg("--data-dir")
            .arg(tmp.path())
            .args(["--conf", typo])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{typo}: the server started");
        let err = String::from_utf8_lossy(&out.stderr);
        let key = typo.split('=').next().unwrap();
        assert!(err.contains(key), "{typo}: {err}");
        assert!(
            err.contains(&format!("did you mean {closest}?")),
            "{typo}: {err}"
        );
    }
}

/// A page on another site can post a form (a `Content-Type` of its own) or
/// a bodiless `fetch` (no `Content-Type`), and cannot set `X-Requested-By`:
/// neither may stop, interrupt, cancel or delete. Livy's clients pass.
#[tokio::test]
async fn bodiless_changes_need_a_client_header_or_a_json_type() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start(
        Setting {
            auth: false,
            acl: false,
            impersonation: false,
        },
        tmp.path(),
    )
    .await;
    let sid = api.new_session().await;
    let session = format!("/sessions/{sid}");
    let (code, st) = api
        .call(
            "alice",
            Method::POST,
            &format!("{session}/statements"),
            Some(json!({"code": "1 + 1"})),
        )
        .await;
    assert_eq!(code, 201, "{st}");
    // Settled, so that the snapshots below can only differ by a change.
    api.wait(&format!("{session}/statements/0"), "available")
        .await;
    let http = client();
    for (method, path) in [
        (Method::POST, format!("{session}/stop")),
        (Method::POST, format!("{session}/interrupt")),
        (Method::POST, format!("{session}/statements/0/cancel")),
    ] {
        for content_type in [
            None,
            Some("application/x-www-form-urlencoded"),
            Some("text/plain"),
        ] {
            let before = api.snapshot(&session).await;
            let mut req = http.request(method.clone(), api.server.url(&path));
            if let Some(ct) = content_type {
                req = req.header("Content-Type", ct).body("a=b");
            }
            let r = req.send().await.unwrap();
            let code = r.status().as_u16();
            assert_eq!(
                r.headers()
                    .get("x-content-type-options")
                    .map(|v| v.as_bytes()),
                Some(&b"nosniff"[..])
            );
            let body: Value = r.json().await.unwrap();
            let want = if content_type.is_some() { 415 } else { 400 };
            assert_eq!(code, want, "{method} {path} {content_type:?}: {body}");
            assert!(body["msg"].is_string(), "{body}");
            assert_eq!(
                api.snapshot(&session).await,
                before,
                "{method} {path} changed something"
            );
        }
    }
    // A cross-site DELETE (browsers send `Origin` with one) is refused too.
    let r = http
        .delete(api.server.url(&session))
        .header("Origin", "https://elsewhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(
        api.snapshot(&session).await.0,
        200,
        "the session is still there"
    );
    // Livy's clients: X-Requested-By (Zeppelin, Hue, the web UI, `livy`), or
    // a JSON type (sparkmagic, Airflow), or a bare DELETE (pylivy).
    let r = http
        .post(api.server.url(&format!("{session}/statements/0/cancel")))
        .header("Content-Type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http
        .post(api.server.url(&format!("{session}/interrupt")))
        .header("X-Requested-By", "zeppelin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = http.delete(api.server.url(&session)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(api.snapshot(&session).await.0, 404);
}

#[tokio::test]
async fn a_user_removed_from_the_users_file_loses_access_at_the_next_request() {
    let tmp = tempfile::tempdir().unwrap();
    let api = start(
        Setting {
            auth: true,
            acl: false,
            impersonation: false,
        },
        tmp.path(),
    )
    .await;
    let users = tmp.path().join("users");
    // bob signs in once: a cookie, and his password in the check cache.
    let r = client()
        .get(api.server.url("/sessions"))
        .basic_auth("bob", Some("bob-password"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r
        .headers()
        .get("set-cookie")
        .unwrap()
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let with_cookie = || async {
        client()
            .get(api.server.url("/sessions"))
            .header("Cookie", cookie.clone())
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    let with_password = || async {
        client()
            .get(api.server.url("/sessions"))
            .basic_auth("bob", Some("bob-password"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(with_cookie().await, 200);
    // The administrator removes bob (rewriting the file in place).
    let text = std::fs::read_to_string(&users).unwrap();
    let without_bob: String = text
        .lines()
        .filter(|l| !l.starts_with("bob:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(text, without_bob);
    std::fs::write(&users, without_bob).unwrap();
    assert_eq!(with_cookie().await, 401, "bob's cookie still works");
    assert_eq!(
        with_password().await,
        401,
        "bob's cached password still works"
    );
    // The others are unaffected.
    let (code, _) = api.call("alice", Method::GET, "/sessions", None).await;
    assert_eq!(code, 200);
}
