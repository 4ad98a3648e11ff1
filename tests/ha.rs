//! Several servers on one PostgreSQL store (Debian's, started on loopback in
//! a temporary directory): records shared, one leader elected through the
//! lease row, session calls forwarded to it, and failover after `kill -9`
//! with real Spark (batches end in their true state, nothing submitted
//! twice, a session keeps its context), then a chaos run of random kills.
//! Every `spark-submit` goes through a wrapper that writes its argv to a
//! file, so submissions are counted by their tags.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/pki.rs"]
mod pki;
#[path = "common/postgres.rs"]
mod postgres;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Server, wrapped_spark_home};
use postgres::Postgres;
use serde_json::{Value, json};

/// Short, so failovers are quick; the minimum is 2 s.
const LEASE_SECS: u64 = 3;

/// A Spark home whose `spark-submit` appends its argv to `submissions`,
/// after its parent's (the supervisor's, whose `--dir` names the record's
/// tag), and runs `inner`'s (with `SPARK_HOME` set to `inner`).
fn counting_spark_home(dir: &Path, inner: &Path, submissions: &Path) -> PathBuf {
    let script = format!(
        "#!/bin/sh\necho \"$(tr '\\0' ' ' < /proc/$PPID/cmdline) :: $*\" >> '{}'\nSPARK_HOME='{}'\nexport SPARK_HOME\nexec '{}/bin/spark-submit' \"$@\"\n",
        submissions.display(),
        inner.display(),
        inner.display()
    );
    wrapped_spark_home(&dir.join("counting-spark"), inner, &script)
}

/// How many times each record (`livy-batch-7`, `livy-session-2`) was
/// submitted, by the tag in its argv.
fn submissions(log: &Path) -> BTreeMap<String, usize> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        let Some(at) = line
            .find("livy-batch-")
            .or_else(|| line.find("livy-session-"))
        else {
            continue;
        };
        let mut parts = line[at..].splitn(4, '-');
        let (_, kind, id) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
        *counts.entry(format!("livy-{kind}-{id}")).or_default() += 1;
    }
    counts
}

/// Servers on one database, one data directory (their applications' files
/// are shared, as on one host), one counting Spark home.
struct Ha {
    pg: Postgres,
    tmp: tempfile::TempDir,
    apps: PathBuf,
    conf: Vec<String>,
    log: PathBuf,
    /// Each server's driver callback port, kept across its restarts (as a
    /// configured port would be), by REST port.
    callbacks: std::sync::Mutex<BTreeMap<u16, u16>>,
}

impl Ha {
    /// With real Spark, or the stand-in spark-submit when `fake`.
    async fn new(fake: bool) -> Ha {
        let pg = Postgres::start();
        pg.create_db("ha").await;
        let tmp = tempfile::tempdir().unwrap();
        let spark = if fake {
            common::fake_spark_home(tmp.path())
        } else {
            common::spark_home()
        };
        let apps = tmp.path().join("apps");
        std::fs::create_dir_all(&apps).unwrap();
        std::fs::write(apps.join("pi.py"), common::PI_PY).unwrap();
        // Both take a Spark context, hold it for argv[1] seconds, then end
        // in success or failure.
        let script = |end: &str| {
            format!(
                "import sys, time\nfrom pyspark.sql import SparkSession\n\
                 spark = SparkSession.builder.getOrCreate()\n\
                 time.sleep(float(sys.argv[1]))\nprint('COUNT', spark.range(100).count())\n{end}\n"
            )
        };
        std::fs::write(apps.join("ok.py"), script("spark.stop()")).unwrap();
        std::fs::write(apps.join("fail.py"), script("sys.exit(3)")).unwrap();
        let log = tmp.path().join("submissions.log");
        let home = counting_spark_home(tmp.path(), &spark, &log);
        let conf = vec![
            format!("livy.server.spark-home={}", home.display()),
            format!("livy.file.local-dir-whitelist={}", apps.display()),
            "livy.server.recovery.state-store=postgres".to_owned(),
            format!("livy.server.recovery.state-store.url={}", pg.url("ha")),
            format!("livy.server.ha.lease-duration={LEASE_SECS}s"),
            // The counting spark-submit writes its log outside any sandbox.
            "livy.server.launch.isolation=none".to_owned(),
        ];
        Ha {
            pg,
            tmp,
            apps,
            conf,
            log,
            callbacks: Default::default(),
        }
    }

    fn start(&self, port: u16) -> Server {
        let callback = *self
            .callbacks
            .lock()
            .unwrap()
            .entry(port)
            .or_insert_with(common::free_port);
        let mut conf = self.conf.clone();
        conf.push(format!(
            "livy.rsc.launcher.port.range={callback}~{callback}"
        ));
        Server::start_on(port, &self.tmp.path().join("data"), &conf)
    }

    /// The servers' shared forwarding secret, as they keep it.
    async fn peer_secret(&self) -> String {
        let (client, conn) = tokio_postgres::connect(&self.pg.url("ha"), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query_one("SELECT peer_secret FROM livy_cluster WHERE id = 1", &[])
            .await
            .unwrap()
            .get(0)
    }

    fn file(&self, name: &str) -> String {
        self.apps.join(name).display().to_string()
    }
}

/// Whether `server` leads now (its `livy_leader` gauge); `None` when it
/// does not answer.
async fn leads(server: &Server) -> Option<bool> {
    let r = common::client()
        .get(server.url("/metrics"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let text = r.text().await.ok()?;
    let line = text.lines().find(|l| l.starts_with("livy_leader "))?;
    Some(line.ends_with(" 1"))
}

/// Waits until one of `servers` leads; its index.
async fn leader_of(servers: &[&Server], within: Duration) -> usize {
    let deadline = Instant::now() + within;
    loop {
        for (i, s) in servers.iter().enumerate() {
            if leads(s).await == Some(true) {
                return i;
            }
        }
        assert!(Instant::now() < deadline, "no server led within {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `url` until `check` holds on its JSON body.
async fn until(url: &str, within: Duration, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let (code, body) = common::get_json(url).await;
        if code == 200 && check(&body) {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "{url} did not get there within {within:?}; last: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn ids(list: &Value) -> BTreeSet<u64> {
    list["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_u64().unwrap())
        .collect()
}

/// Two servers, stand-in spark-submit: records created on either are seen,
/// tracked and deleted on both; ids stay unique under concurrent creates;
/// only the leader launches, once per record; session calls reach the
/// leader's driver from either server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_records_ids_and_sessions() {
    let ha = Ha::new(true).await;
    let a = ha.start(common::free_port());
    let b = ha.start(common::free_port());
    let lead = leader_of(&[&a, &b], Duration::from_secs(30)).await;
    let (leader, follower) = if lead == 0 { (&a, &b) } else { (&b, &a) };
    assert_eq!(leads(follower).await, Some(false), "exactly one leads");

    // Created on the follower, launched by the leader, tracked on both.
    let (code, created) = common::post_json(
        &follower.url("/batches"),
        &json!({"file": ha.file("pi.py"), "conf": {"spark.livy.fake.seconds": "2"}}),
    )
    .await;
    assert_eq!(code, 201, "{created}");
    let id = created["id"].as_u64().unwrap();
    for s in [leader, follower] {
        common::wait_state(
            &s.url(&format!("/batches/{id}")),
            &["running"],
            Duration::from_secs(60),
        )
        .await;
    }
    for s in [follower, leader] {
        common::wait_state(
            &s.url(&format!("/batches/{id}")),
            &["success"],
            Duration::from_secs(60),
        )
        .await;
    }

    // Created on the leader, deleted on the follower: gone from both, and
    // its application stopped (a `dead`/`killed` record would remain).
    let (_, long) = common::post_json(
        &leader.url("/batches"),
        &json!({"file": ha.file("pi.py"), "conf": {"spark.livy.fake.seconds": "120"}}),
    )
    .await;
    let long = long["id"].as_u64().unwrap();
    common::wait_state(
        &follower.url(&format!("/batches/{long}")),
        &["running"],
        Duration::from_secs(60),
    )
    .await;
    let (code, body) = common::delete(&follower.url(&format!("/batches/{long}"))).await;
    assert_eq!(code, 200, "{body}");
    for s in [leader, follower] {
        until(&s.url("/batches"), Duration::from_secs(60), |l| {
            !ids(l).contains(&long)
        })
        .await;
    }

    // Concurrent creates on both: 40 ids, all different.
    let creates = (0..40).map(|i| {
        let url = if i % 2 == 0 {
            a.url("/batches")
        } else {
            b.url("/batches")
        };
        let file = ha.file("pi.py");
        tokio::spawn(async move {
            let (code, body) = common::post_json(&url, &json!({"file": file})).await;
            assert_eq!(code, 201, "{body}");
            body["id"].as_u64().unwrap()
        })
    });
    let mut made = BTreeSet::new();
    for c in creates {
        assert!(made.insert(c.await.unwrap()), "an id was given twice");
    }
    assert_eq!(made.len(), 40);
    let all: BTreeSet<u64> = made.iter().copied().chain([id, long]).collect();
    for s in [&a, &b] {
        let list = until(&s.url("/batches?size=100"), Duration::from_secs(120), |l| {
            ids(l) == all.iter().copied().filter(|i| *i != long).collect()
                && l["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|b| b["state"] == "success")
        })
        .await;
        assert_eq!(list["total"], 41, "{list}");
    }

    // A session made on the follower: its statements, cancel and
    // completion reach the leader's driver through the follower.
    let (code, session) =
        common::post_json(&follower.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{session}");
    let sid = session["id"].as_u64().unwrap();
    common::wait_state(
        &follower.url(&format!("/sessions/{sid}")),
        &["idle"],
        Duration::from_secs(60),
    )
    .await;
    // The leader's Location comes back through the follower.
    let r = common::client()
        .post(follower.url(&format!("/sessions/{sid}/statements")))
        .json(&json!({"code": "2 + 2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let location = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let posted: Value = r.json().await.unwrap();
    assert_eq!(
        location,
        Some(format!("/sessions/{sid}/statements/{}", posted["id"])),
        "{posted}"
    );
    let st = common::run_statement(follower, sid, json!({"code": "1 + 1"})).await;
    assert_eq!(
        common::text(&st),
        "1 + 1",
        "the stand-in echoes the code: {st}"
    );
    let r = common::client()
        .post(follower.url(&format!("/sessions/{sid}/completion")))
        .json(&json!({"code": "sp", "kind": "pyspark", "cursor": 2}))
        .send()
        .await
        .unwrap();
    let answered_by = r
        .headers()
        .get("x-livy-answered-by")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["candidates"], json!(["fake_candidate"]), "{body}");
    assert!(answered_by.is_some(), "the follower forwarded the call");
    // The Job API through the follower: a job and its status, and an upload
    // (a multipart body relayed whole); the stand-in answers the job with
    // its own bytes and confirms the file.
    let (code, job) = common::post_json(
        &follower.url(&format!("/sessions/{sid}/submit-job")),
        &json!({"job": "aGVsbG8=", "jobType": "spark"}),
    )
    .await;
    assert_eq!(code, 201, "{job}");
    let status = until(
        &follower.url(&format!("/sessions/{sid}/jobs/{}", job["id"])),
        Duration::from_secs(30),
        |v| v["state"] == "SUCCEEDED",
    )
    .await;
    assert_eq!(status["result"], "aGVsbG8=", "{status}");
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(b"x = 1\n".to_vec()).file_name("m.py"),
    );
    let r = common::client()
        .post(follower.url(&format!("/sessions/{sid}/upload-pyfile")))
        .header("X-Requested-By", "ha-test")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert!(r.headers().contains_key("x-livy-answered-by"));
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Forwarding as the servers do it, with their secret from the database:
    // a signed call is taken once; forged, unsigned, replayed and expired
    // ones are refused by the leader.
    let secret = ha.peer_secret().await;
    let peer = livy_server::ha::signature::Signer::new(secret.as_bytes());
    let path = format!("/sessions/{sid}/statements");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forward = |headers: Vec<(&'static str, String)>| {
        let mut req = common::client().get(leader.url(&path));
        for (k, v) in headers {
            req = req.header(k, v);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let sig = "x-livy-peer-signature";
    let user = || ("x-livy-forwarded-user", "admin".to_owned());
    let good = peer.sign("GET", &path, Some("admin"), now);
    assert_eq!(
        forward(vec![(sig, good.clone()), user()]).await,
        200,
        "signed"
    );
    assert_eq!(forward(vec![(sig, good), user()]).await, 401, "replayed");
    let forged = livy_server::ha::signature::Signer::new(b"guess");
    let forged = forged.sign("GET", &path, Some("admin"), now);
    assert_eq!(forward(vec![(sig, forged), user()]).await, 401, "forged");
    assert_eq!(forward(vec![user()]).await, 401, "unsigned");
    let bare = ("x-livy-peer-secret", secret.clone());
    assert_eq!(forward(vec![bare, user()]).await, 401, "the bare secret");
    let expired = peer.sign("GET", &path, Some("admin"), now - 120);
    assert_eq!(forward(vec![(sig, expired), user()]).await, 401, "expired");
    let other_path = peer.sign("GET", "/sessions", Some("admin"), now);
    assert_eq!(
        forward(vec![(sig, other_path), user()]).await,
        401,
        "another path"
    );
    let (code, _) = common::delete(&follower.url(&format!("/sessions/{sid}"))).await;
    assert_eq!(code, 200);

    // Only the leader launched, and each record once.
    let counts = submissions(&ha.log);
    for i in &all {
        assert_eq!(
            counts.get(&format!("livy-batch-{i}")),
            Some(&1),
            "{counts:?}"
        );
    }
    assert_eq!(
        counts.get(&format!("livy-session-{sid}")),
        Some(&1),
        "{counts:?}"
    );
}

/// `kill -9` of the leader while real Spark batches run and a session's
/// statement is in flight: the follower leads within the lease + 5 s, the
/// batches end in their true states, nothing is submitted twice, and the
/// session keeps its id, statements and SparkContext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leaders_death_loses_no_batch_and_no_session() {
    let _slot = common::spark_slot().await;
    let ha = Ha::new(false).await;
    let mut a = ha.start(common::free_port());
    leader_of(&[&a], Duration::from_secs(30)).await;
    let b = ha.start(common::free_port());

    let (code, session) = common::post_json(&b.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{session}");
    let sid = session["id"].as_u64().unwrap();
    common::wait_state(
        &b.url(&format!("/sessions/{sid}")),
        &["idle"],
        Duration::from_secs(300),
    )
    .await;
    let first =
        common::run_statement(&b, sid, json!({"code": "x = 20\nprint(sc.applicationId)"})).await;
    let app_id = common::text(&first).trim().to_owned();
    assert!(app_id.starts_with("local-"), "{first}");

    let mut batches = Vec::new();
    for (file, want) in [("ok.py", "success"), ("fail.py", "dead")] {
        let (code, batch) = common::post_json(
            &b.url("/batches"),
            &json!({"file": ha.file(file), "args": ["25"], "conf": {"spark.ui.enabled": "false"}}),
        )
        .await;
        assert_eq!(code, 201, "{batch}");
        batches.push((batch["id"].as_u64().unwrap(), want));
    }
    for (id, _) in &batches {
        common::wait_state(
            &b.url(&format!("/batches/{id}")),
            &["running"],
            Duration::from_secs(300),
        )
        .await;
    }
    // In flight on the leader when it dies.
    let (code, slow) = common::post_json(
        &a.url(&format!("/sessions/{sid}/statements")),
        &json!({"code": "import time\ntime.sleep(10)\nx + 1"}),
    )
    .await;
    assert_eq!(code, 201, "{slow}");
    let slow = slow["id"].as_u64().unwrap();
    common::wait_statement(&a, sid, slow, &["running"], Duration::from_secs(60)).await;

    a.crash();
    let killed = Instant::now();
    leader_of(&[&b], Duration::from_secs(LEASE_SECS + 5)).await;
    let leaderless = killed.elapsed();
    eprintln!("the follower led {leaderless:?} after the leader's kill -9");

    let st = common::wait_statement(&b, sid, slow, &["available"], Duration::from_secs(180)).await;
    assert_eq!(common::text(&st).trim(), "21", "{st}");
    let after =
        common::run_statement(&b, sid, json!({"code": "print(x + 2, sc.applicationId)"})).await;
    assert_eq!(
        common::text(&after).trim(),
        format!("22 {app_id}"),
        "the same SparkContext"
    );
    let (_, list) = common::get_json(&b.url(&format!("/sessions/{sid}/statements"))).await;
    let states: Vec<&str> = list["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["available"; 3], "{list}");
    let (_, session) = common::get_json(&b.url(&format!("/sessions/{sid}"))).await;
    assert_eq!(session["appId"], app_id.as_str(), "{session}");

    for (id, want) in &batches {
        common::wait_state(
            &b.url(&format!("/batches/{id}")),
            &[want],
            Duration::from_secs(300),
        )
        .await;
    }
    let counts = submissions(&ha.log);
    let mut expected: BTreeMap<String, usize> = batches
        .iter()
        .map(|(id, _)| (format!("livy-batch-{id}"), 1))
        .collect();
    expected.insert(format!("livy-session-{sid}"), 1);
    assert_eq!(counts, expected, "each application submitted once");

    // The killed server comes back as a follower and serves the session too.
    let a = ha.start(common::free_port());
    assert_eq!(leads(&a).await, Some(false));
    let again = common::run_statement(&a, sid, json!({"code": "x + 3"})).await;
    assert_eq!(common::text(&again).trim(), "23");
    let (code, _) = common::delete(&a.url(&format!("/sessions/{sid}"))).await;
    assert_eq!(code, 200);
}

/// Two servers serving HTTPS with a certificate from a private CA (their
/// chain includes it): a call the follower forwards reaches the leader over
/// HTTPS, trusting that chain (the leader answers a session it does not
/// have with 404, naming itself); without that trust the follower could
/// not reach it and would answer 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_forward_over_https_trusting_their_own_chain() {
    let pki = pki::Pki::new();
    let mut ha = Ha::new(true).await;
    ha.conf
        .push(pki.conf("livy.server.tls.cert-file", "chain.pem"));
    ha.conf
        .push(pki.conf("livy.server.tls.key-file", "key.pem"));
    let servers = [ha.start(common::free_port()), ha.start(common::free_port())];
    let https = pki.client();
    let url = |s: &Server, path: &str| format!("https://127.0.0.1:{}{path}", s.port);
    let deadline = Instant::now() + Duration::from_secs(30);
    let leader = 'found: loop {
        for (i, s) in servers.iter().enumerate() {
            let text = match https.get(url(s, "/metrics")).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if text.lines().any(|l| l == "livy_leader 1") {
                break 'found i;
            }
        }
        assert!(Instant::now() < deadline, "no server led within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let follower = &servers[1 - leader];
    let r = https
        .get(url(follower, "/sessions/999/statements"))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let answered_by = r.headers().get("x-livy-answered-by").cloned();
    let body = r.text().await.unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(answered_by.is_some(), "forwarded to the leader: {body}");
    // The leader answers for itself.
    let r = https
        .get(url(&servers[leader], "/sessions/999/statements"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.headers().get("x-livy-answered-by").is_none());
}

/// What the outage traffic saw.
#[derive(Default)]
struct OutageLedger {
    /// Batches answered 201.
    accepted: BTreeSet<u64>,
    /// 503s with `Retry-After`.
    unavailable: usize,
    /// Any other answer (status, body), or a failed request (status 0).
    other: Vec<(u16, String)>,
}

/// Creates a batch (the stand-in spark-submit, 1 s) on `base`; its id if
/// accepted. Every answer goes into `ledger`.
async fn create_batch(
    http: &reqwest::Client,
    base: &str,
    file: &str,
    ledger: &std::sync::Mutex<OutageLedger>,
) -> Option<u64> {
    let body = json!({"file": file, "conf": {"spark.livy.fake.seconds": "1"}});
    let answer = http
        .post(format!("{base}/batches"))
        .json(&body)
        .send()
        .await;
    let r = match answer {
        Ok(r) => r,
        Err(e) => {
            ledger.lock().unwrap().other.push((0, e.to_string()));
            return None;
        }
    };
    let code = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let text = r.text().await.unwrap_or_default();
    let mut ledger = ledger.lock().unwrap();
    match code {
        201 => {
            let id = serde_json::from_str::<Value>(&text).unwrap()["id"]
                .as_u64()
                .unwrap();
            ledger.accepted.insert(id);
            return Some(id);
        }
        503 if retry_after => ledger.unavailable += 1,
        _ => ledger.other.push((code, text)),
    }
    None
}

/// How long after `back` a batch create on `base` first succeeds (polled
/// every 100 ms, for up to 30 s).
async fn first_write(
    http: &reqwest::Client,
    base: &str,
    file: &str,
    ledger: &std::sync::Mutex<OutageLedger>,
    back: Instant,
) -> Duration {
    while back.elapsed() < Duration::from_secs(30) {
        if create_batch(http, base, file, ledger).await.is_some() {
            return back.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base}: no write succeeded within 30 s of PostgreSQL's return");
}

/// Waits until `GET /ready` on `server` answers `ready` (200) or not (503).
async fn until_ready(server: &Server, ready: bool, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let r = common::client()
            .get(server.url("/ready"))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["ready"], json!(code == 200), "{code}: {body}");
        if (code == 200) == ready {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{}/ready was not {ready} within {within:?}: {code} {body}",
            server.url("")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// PostgreSQL lost and back, three ways, under batch creates alternating
/// between two servers (stand-in spark-submit): `pg_ctl stop` then `start`
/// (during the outage `/ready` is false on both, no server leads, writes
/// answer 503 with `Retry-After`), `pg_ctl restart`, and
/// `pg_terminate_backend` of every connection. After each, writes succeed
/// on both within 10 s of PostgreSQL being back; both servers never lead
/// at once (their `livy_leader` gauges, polled every 50 ms); every batch
/// accepted ends `success`, submitted once; no answer but 201 and 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_and_back_under_traffic() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let ha = Ha::new(true).await;
    let ports = [common::free_port(), common::free_port()];
    let servers = [ha.start(ports[0]), ha.start(ports[1])];
    leader_of(&[&servers[0], &servers[1]], Duration::from_secs(30)).await;
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let file = ha.file("pi.py");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(OutageLedger::default()));

    // Both asked at once every 50 ms: polls in which both said they lead.
    let watcher = {
        let (stop, urls, http) = (stop.clone(), urls.clone(), http.clone());
        tokio::spawn(async move {
            let (mut both, mut polls) = (0, 0);
            while !stop.load(Ordering::Relaxed) {
                let asks = urls.iter().map(|u| {
                    let http = http.clone();
                    async move {
                        let r = http.get(format!("{u}/metrics")).send().await.ok()?;
                        let text = r.text().await.ok()?;
                        Some(text.lines().any(|l| l == "livy_leader 1"))
                    }
                });
                let led = futures::future::join_all(asks).await;
                polls += 1;
                if led.iter().all(|l| *l == Some(true)) {
                    both += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (both, polls)
        })
    };
    let traffic = {
        let (stop, urls, http, ledger, file) = (
            stop.clone(),
            urls.clone(),
            http.clone(),
            ledger.clone(),
            file.clone(),
        );
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                create_batch(&http, &urls[n % 2], &file, &ledger).await;
                n += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    // Some traffic before the first outage.
    until(&servers[0].url("/batches"), Duration::from_secs(30), |l| {
        l["total"].as_u64().unwrap() >= 5
    })
    .await;

    // 1. Stopped, watched, started.
    ha.pg.stop();
    let down = Instant::now();
    for s in &servers {
        until_ready(s, false, Duration::from_secs(10)).await;
    }
    let deadline = down + Duration::from_secs(10);
    let stepped_down = loop {
        if leads(&servers[0]).await == Some(false) && leads(&servers[1]).await == Some(false) {
            break down.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "a server still leads with no database"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for base in &urls {
        let r = http
            .post(format!("{base}/batches"))
            .json(&json!({"file": file}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503, "{base}: a write with no database");
        assert!(
            r.headers().contains_key("retry-after"),
            "{base}: Retry-After"
        );
    }
    // Held down past the lease (so it expires in the database too), checked
    // all along: unready, leaderless, reads answered from the index.
    while down.elapsed() < Duration::from_secs(LEASE_SECS + 2) {
        for s in &servers {
            until_ready(s, false, Duration::ZERO).await;
            assert_eq!(leads(s).await, Some(false), "{}: leads", s.port);
            let (code, _) = common::get_json(&s.url("/batches")).await;
            assert_eq!(code, 200);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let outage = down.elapsed();
    ha.pg.start_again();
    let back = Instant::now();
    let mut figures = vec![format!(
        "stop/start: both unready and neither leading {:.1} s after the stop; down {:.1} s",
        stepped_down.as_secs_f64(),
        outage.as_secs_f64()
    )];
    let mut phase = |name: &str, firsts: Vec<Duration>, ready: Vec<Duration>| {
        for (i, d) in firsts.iter().enumerate() {
            assert!(
                *d < Duration::from_secs(10),
                "{name}: server {i} wrote again only {d:?} after PostgreSQL's return"
            );
        }
        figures.push(format!(
            "{name}: first write {:.1} s / {:.1} s, ready {:.1} s / {:.1} s after PostgreSQL was back",
            firsts[0].as_secs_f64(),
            firsts[1].as_secs_f64(),
            ready[0].as_secs_f64(),
            ready[1].as_secs_f64()
        ));
    };
    let firsts = [
        first_write(&http, &urls[0], &file, &ledger, back).await,
        first_write(&http, &urls[1], &file, &ledger, back).await,
    ];
    let ready = [
        back.elapsed() + until_ready(&servers[0], true, Duration::from_secs(10)).await,
        back.elapsed() + until_ready(&servers[1], true, Duration::from_secs(10)).await,
    ];
    phase("stop/start", firsts.to_vec(), ready.to_vec());

    // 2. Restarted.
    ha.pg.restart();
    let back = Instant::now();
    let firsts = [
        first_write(&http, &urls[0], &file, &ledger, back).await,
        first_write(&http, &urls[1], &file, &ledger, back).await,
    ];
    let ready = [
        back.elapsed() + until_ready(&servers[0], true, Duration::from_secs(10)).await,
        back.elapsed() + until_ready(&servers[1], true, Duration::from_secs(10)).await,
    ];
    phase("restart", firsts.to_vec(), ready.to_vec());

    // 3. Every connection terminated, once each server has re-opened at
    // least three (records, LISTEN, election; the unsynchronised writes'
    // connection opens again at its next use).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let names = ha.pg.connections("ha").await;
        let mut per_server: BTreeMap<&str, usize> = BTreeMap::new();
        for name in names.iter().filter(|n| n.starts_with("livy-server-")) {
            *per_server.entry(name).or_default() += 1;
        }
        if per_server.len() == 2 && per_server.values().all(|n| *n >= 3) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "connections not re-opened: {per_server:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let terminated = ha.pg.terminate_backends("ha").await;
    let back = Instant::now();
    assert!(terminated >= 6, "terminated {terminated} connections");
    let firsts = [
        first_write(&http, &urls[0], &file, &ledger, back).await,
        first_write(&http, &urls[1], &file, &ledger, back).await,
    ];
    let ready = [
        back.elapsed() + until_ready(&servers[0], true, Duration::from_secs(10)).await,
        back.elapsed() + until_ready(&servers[1], true, Duration::from_secs(10)).await,
    ];
    phase("terminate", firsts.to_vec(), ready.to_vec());

    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    let (both, polls) = watcher.await.unwrap();
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();

    // Every batch accepted is on both servers and ends `success`.
    for s in &servers {
        until(
            &s.url("/batches?size=100000"),
            Duration::from_secs(120),
            |l| {
                let done: BTreeSet<u64> = l["sessions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|b| b["state"] == "success")
                    .map(|b| b["id"].as_u64().unwrap())
                    .collect();
                ledger.accepted.is_subset(&done)
            },
        )
        .await;
    }
    let submitted = submissions(&ha.log);
    let unsubmitted: Vec<u64> = ledger
        .accepted
        .iter()
        .filter(|id| !submitted.contains_key(&format!("livy-batch-{id}")))
        .copied()
        .collect();
    let duplicates: Vec<(String, usize)> = submitted.into_iter().filter(|(_, n)| *n > 1).collect();
    for line in &figures {
        eprintln!("outage: {line}");
    }
    eprintln!(
        "outage: {} batches accepted, {} writes answered 503 with Retry-After, {} other answers; \
         both led in {both} of {polls} polls; duplicate applications: {}",
        ledger.accepted.len(),
        ledger.unavailable,
        ledger.other.len(),
        duplicates.len()
    );
    assert!(ledger.unavailable > 0, "the outages were seen as 503s");
    assert!(
        ledger.other.is_empty(),
        "answers other than 201 and 503: {:?}",
        ledger.other
    );
    assert_eq!(both, 0, "both servers led at once in {both} polls");
    assert!(unsubmitted.is_empty(), "never submitted: {unsubmitted:?}");
    assert!(duplicates.is_empty(), "submitted twice: {duplicates:?}");
}

/// What the chaos traffic saw accepted.
#[derive(Default)]
struct Ledger {
    /// Batch id → the state it must end in.
    batches: BTreeMap<u64, &'static str>,
    deleted: BTreeSet<u64>,
    /// Deletes whose answer was lost (the server died): either way.
    maybe_deleted: BTreeSet<u64>,
    /// Statements accepted (201): id → code (each code unique).
    statements: BTreeMap<u64, String>,
}

/// 20 random `kill -9`s of either of two servers (each restarted after),
/// under mixed traffic to both with the stand-in spark-submit: batches
/// created (ending in success or failure), listed, read and deleted, and a
/// session's statements. Reports records lost, applications submitted
/// twice, and the longest time without a leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_twenty_random_kills() {
    use rand::Rng;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let ha = Ha::new(true).await;
    let ports = [common::free_port(), common::free_port()];
    let mut servers = [Some(ha.start(ports[0])), Some(ha.start(ports[1]))];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    {
        let live: Vec<&Server> = servers.iter().flatten().collect();
        leader_of(&live, Duration::from_secs(30)).await;
    }
    let any = servers[0].as_ref().unwrap();
    let (code, session) =
        common::post_json(&any.url("/sessions"), &json!({"kind": "pyspark"})).await;
    assert_eq!(code, 201, "{session}");
    let sid = session["id"].as_u64().unwrap();
    common::wait_state(
        &any.url(&format!("/sessions/{sid}")),
        &["idle"],
        Duration::from_secs(60),
    )
    .await;

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // Who leads, every 100 ms: the longest stretch with no leader.
    let watcher = {
        let (stop, urls, http) = (stop.clone(), urls.clone(), http.clone());
        tokio::spawn(async move {
            let (mut last_led, mut longest) = (Instant::now(), Duration::ZERO);
            while !stop.load(Ordering::Relaxed) {
                // Both asked at once: a server still starting (its port bound,
                // not yet answering) does not delay the other's answer.
                let asks = urls.iter().map(|u| {
                    let http = http.clone();
                    async move {
                        let r = http
                            .get(format!("{u}/metrics"))
                            .timeout(Duration::from_secs(2))
                            .send()
                            .await
                            .ok()?;
                        let text = r.text().await.ok()?;
                        Some(text.lines().any(|l| l == "livy_leader 1"))
                    }
                });
                let led = futures::future::join_all(asks)
                    .await
                    .into_iter()
                    .any(|l| l == Some(true));
                if led {
                    last_led = Instant::now();
                }
                longest = longest.max(last_led.elapsed());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            longest
        })
    };

    // Mixed traffic against either server; failures while one is down are
    // expected, and only what was accepted is in the ledger.
    let traffic = {
        let (stop, urls, http, ledger) = (stop.clone(), urls.clone(), http.clone(), ledger.clone());
        let (ok, fail) = (ha.file("pi.py"), ha.file("pi.py"));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let (pick, op, exit, secs) = {
                    let mut rng = rand::rng();
                    (
                        rng.random_range(0..urls.len()),
                        rng.random_range(0..10),
                        rng.random_range(0..2),
                        rng.random_range(0..4),
                    )
                };
                let base = &urls[pick];
                match op {
                    0..=3 => {
                        let file = if exit == 0 { &ok } else { &fail };
                        let body = json!({"file": file, "conf": {
                            "spark.livy.fake.seconds": secs.to_string(),
                            "spark.livy.fake.exit": exit.to_string(),
                        }});
                        if let Ok(r) = http
                            .post(format!("{base}/batches"))
                            .json(&body)
                            .send()
                            .await
                            && r.status().as_u16() == 201
                            && let Ok(b) = r.json::<Value>().await
                        {
                            let want = if exit == 0 { "success" } else { "dead" };
                            ledger
                                .lock()
                                .unwrap()
                                .batches
                                .insert(b["id"].as_u64().unwrap(), want);
                        }
                    }
                    4..=5 => {
                        let text = format!("statement {}", rand::random::<u64>());
                        let code = json!({ "code": text });
                        if let Ok(r) = http
                            .post(format!("{base}/sessions/{sid}/statements"))
                            .json(&code)
                            .send()
                            .await
                            && r.status().as_u16() == 201
                            && let Ok(st) = r.json::<Value>().await
                        {
                            ledger
                                .lock()
                                .unwrap()
                                .statements
                                .insert(st["id"].as_u64().unwrap(), text);
                        }
                    }
                    6 => {
                        let victim = {
                            let l = ledger.lock().unwrap();
                            let live: Vec<u64> = l
                                .batches
                                .keys()
                                .filter(|i| !l.deleted.contains(i))
                                .copied()
                                .collect();
                            (!live.is_empty())
                                .then(|| live[rand::rng().random_range(0..live.len())])
                        };
                        if let Some(id) = victim {
                            match http.delete(format!("{base}/batches/{id}")).send().await {
                                Ok(r) if r.status().as_u16() == 200 => {
                                    ledger.lock().unwrap().deleted.insert(id);
                                }
                                Ok(_) => {}
                                Err(_) => {
                                    ledger.lock().unwrap().maybe_deleted.insert(id);
                                }
                            }
                        }
                    }
                    _ => {
                        let _ = http.get(format!("{base}/batches?size=1000")).send().await;
                        let _ = http.get(format!("{base}/sessions/{sid}")).send().await;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let mut leader_kills = 0;
    for _ in 0..20 {
        let (victim, pause, rest) = {
            let mut rng = rand::rng();
            (
                rng.random_range(0..2),
                rng.random_range(200..2500),
                rng.random_range(1000..4000),
            )
        };
        // Both serve before each kill, so a kill never lands while the other
        // server is still starting (that gap would be a double outage).
        for s in servers.iter().flatten() {
            let deadline = Instant::now() + Duration::from_secs(60);
            while leads(s).await.is_none() {
                assert!(
                    Instant::now() < deadline,
                    "server {} did not come up",
                    s.port
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let mut server = servers[victim].take().unwrap();
        if leads(&server).await == Some(true) {
            leader_kills += 1;
        }
        server.crash();
        tokio::time::sleep(Duration::from_millis(pause)).await;
        servers[victim] = Some(tokio::task::block_in_place(|| ha.start(ports[victim])));
        tokio::time::sleep(Duration::from_millis(rest)).await;
    }
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    let longest = watcher.await.unwrap();

    // Everything settles: every batch accepted and not deleted ends in its
    // true state on both servers; deleted ones are gone.
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    let live: Vec<&Server> = servers.iter().flatten().collect();
    leader_of(&live, Duration::from_secs(30)).await;
    let mut lost = BTreeSet::new();
    let mut wrong = Vec::new();
    for s in &live {
        let list =
            until(
                &s.url("/batches?size=10000"),
                Duration::from_secs(120),
                |l| {
                    l["sessions"].as_array().unwrap().iter().all(|b| {
                        ["success", "dead", "killed"].contains(&b["state"].as_str().unwrap())
                    }) && ids(l).is_disjoint(&ledger.deleted)
                },
            )
            .await;
        let states: BTreeMap<u64, String> = list["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["id"].as_u64().unwrap(),
                    b["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        for (id, want) in &ledger.batches {
            if ledger.deleted.contains(id) || ledger.maybe_deleted.contains(id) {
                continue;
            }
            match states.get(id) {
                None => {
                    lost.insert(*id);
                }
                Some(state) if state != want => wrong.push((*id, state.clone(), *want)),
                Some(_) => {}
            }
        }
    }
    let (code, session) = common::get_json(&live[0].url(&format!("/sessions/{sid}"))).await;
    if code != 200 {
        lost.insert(sid);
    }
    let (_, list) =
        common::get_json(&live[0].url(&format!("/sessions/{sid}/statements?size=100000"))).await;
    // Kept: the same id with the same code (an id given twice would show).
    let kept: BTreeMap<u64, String> = list["statements"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| {
                    (
                        s["id"].as_u64().unwrap(),
                        s["code"].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // A session retains its last 100 statements (livy.rsc.retained-statements):
    // those older than the first kept are gone by design.
    let window = kept.keys().next().copied().unwrap_or(0);
    let statements_lost = ledger
        .statements
        .iter()
        .filter(|(id, code)| **id >= window && kept.get(id) != Some(code))
        .count();
    let statements_checked = ledger.statements.range(window..).count();
    let duplicates: Vec<(String, usize)> = submissions(&ha.log)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    eprintln!(
        "chaos: 20 kill -9s ({leader_kills} of the leader); {} batches accepted, {} deleted; \
         records lost: {}; wrong final states: {}; duplicate applications: {}; \
         statements lost: {statements_lost} of the {statements_checked} retained \
         ({} accepted); session now {}; \
         longest time without a leader: {:.1} s",
        ledger.batches.len(),
        ledger.deleted.len(),
        lost.len(),
        wrong.len(),
        duplicates.len(),
        ledger.statements.len(),
        session["state"],
        longest.as_secs_f64(),
    );
    if session["state"] != "idle" || statements_lost > 0 {
        eprintln!(
            "session log: {:#?}",
            common::full_log(&live[0].url(&format!("/sessions/{sid}"))).await
        );
        for s in &live {
            for line in s
                .log()
                .lines()
                .filter(|l| l.contains("session") || l.contains("driver"))
            {
                eprintln!("{}: {line}", s.port);
            }
        }
    }
    assert!(lost.is_empty(), "records lost: {lost:?}");
    assert_eq!(
        session["state"], "idle",
        "the session survived every failover"
    );
    assert!(
        wrong.is_empty(),
        "batches in a wrong final state: {wrong:?}"
    );
    assert!(
        duplicates.is_empty(),
        "applications submitted twice: {duplicates:?}"
    );
    if longest > Duration::from_secs(LEASE_SECS + 5) {
        for s in &live {
            for line in s
                .log()
                .lines()
                .filter(|l| l.contains("leader") || l.contains("lease") || l.contains("listening"))
            {
                eprintln!("{}: {line}", s.port);
            }
        }
    }
    assert!(
        longest <= Duration::from_secs(LEASE_SECS + 5),
        "no leader for {longest:?}"
    );
}
