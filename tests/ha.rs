//! Several servers on one PostgreSQL store (Debian's, started on loopback in
//! a temporary directory): records shared, one leader elected through the
//! lease row, session calls forwarded to it, and failover after `kill -9`
//! with real Spark (batches end in their true state, nothing submitted
//! twice, a session keeps its context), then a chaos run of random kills.
//! Every `spark-submit` goes through a wrapper that writes its argv to a
//! file, so submissions are counted by their tags.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/postgres.rs"]
mod postgres;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::Server;
use postgres::Postgres;
use serde_json::{Value, json};

/// Short, so failovers are quick; the minimum is 2 s.
const LEASE_SECS: u64 = 3;

/// A Spark home whose `spark-submit` appends its argv to `submissions`,
/// after its parent's (the supervisor's, whose `--dir` names the record's
/// tag), and runs `inner`'s (with `SPARK_HOME` set to `inner`).
fn counting_spark_home(dir: &Path, inner: &Path, submissions: &Path) -> PathBuf {
    let home = dir.join("counting-spark");
    std::fs::create_dir_all(home.join("bin")).unwrap();
    for entry in std::fs::read_dir(inner).unwrap().flatten() {
        if entry.file_name() != "bin" {
            std::os::unix::fs::symlink(entry.path(), home.join(entry.file_name())).unwrap();
        }
    }
    for entry in std::fs::read_dir(inner.join("bin")).unwrap().flatten() {
        if entry.file_name() != "spark-submit" {
            std::os::unix::fs::symlink(entry.path(), home.join("bin").join(entry.file_name()))
                .unwrap();
        }
    }
    let script = format!(
        "#!/bin/sh\necho \"$(tr '\\0' ' ' < /proc/$PPID/cmdline) :: $*\" >> '{}'\nSPARK_HOME='{}'\nexport SPARK_HOME\nexec '{}/bin/spark-submit' \"$@\"\n",
        submissions.display(),
        inner.display(),
        inner.display()
    );
    let submit = home.join("bin/spark-submit");
    std::fs::write(&submit, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&submit, std::fs::Permissions::from_mode(0o755)).unwrap();
    home
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
            "livy.rsc.launcher.port.range=0~0".to_owned(),
        ];
        Ha {
            pg,
            tmp,
            apps,
            conf,
            log,
        }
    }

    fn start(&self, port: u16) -> Server {
        Server::start_on(port, &self.tmp.path().join("data"), &self.conf)
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
    // A forged forward is refused.
    let r = common::client()
        .get(leader.url(&format!("/sessions/{sid}/statements")))
        .header("x-livy-peer-secret", "guess")
        .header("x-livy-forwarded-user", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
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
