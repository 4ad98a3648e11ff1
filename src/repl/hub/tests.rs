//! The hub against a scripted driver on a real socket: numbering across a
//! restart, re-sending what a driver never got, eviction, completion leaks.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use super::*;

struct FakeDriver {
    lines: Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
}

impl FakeDriver {
    /// Dials, says hello, expects welcome.
    async fn connect(hub: &Arc<ReplHub>, session: u64, secret: &str) -> FakeDriver {
        let addr = hub.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        let (read, write) = stream.into_split();
        let mut d = FakeDriver {
            lines: BufReader::new(read).lines(),
            write,
        };
        d.send(json!({"type": "hello", "session": session, "secret": secret}))
            .await;
        assert_eq!(d.recv().await["type"], "welcome");
        d
    }

    async fn send(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.write.write_all(line.as_bytes()).await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(5), self.lines.next_line())
            .await
            .expect("a message from the hub")
            .unwrap()
            .expect("the hub closed the connection");
        serde_json::from_str(&line).unwrap()
    }

    /// Nothing arrives for a short while.
    async fn silent(&mut self) {
        let r = tokio::time::timeout(Duration::from_millis(200), self.lines.next_line()).await;
        assert!(r.is_err(), "unexpected message: {r:?}");
    }

    async fn history(&mut self, statements: Value, next_id: u64) {
        self.send(json!({"type": "history", "statements": statements, "nextId": next_id}))
            .await;
    }
}

async fn hub() -> (Arc<ReplHub>, CancellationToken) {
    let hub = ReplHub::new(
        Arc::new(crate::queue::Wake::new()),
        tokio_util::task::TaskTracker::new(),
    );
    let cancel = CancellationToken::new();
    hub.listen("127.0.0.1", (0, 0), cancel.clone())
        .await
        .unwrap();
    (hub, cancel)
}

fn finished(id: u64, text: &str) -> Value {
    json!({"id": id, "code": "x", "state": "available", "progress": 1.0, "started": 1,
           "completed": 2, "output": {"status": "ok", "execution_count": id, "data": {"text/plain": text}}})
}

async fn wait_synced(hub: &ReplHub, session: u64) {
    for _ in 0..100 {
        if hub.snapshot(session).is_some_and(|s| s.synced) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("never synced");
}

#[tokio::test]
async fn a_recovered_session_numbers_statements_after_the_drivers_history() {
    let (hub, _c) = hub().await;
    // A restarted server: the channel exists, nothing is known yet.
    hub.register(7, "s3cret");
    assert!(!hub.snapshot(7).unwrap().synced);
    let early = {
        let hub = hub.clone();
        tokio::spawn(async move {
            hub.submit(7, "kept".into(), "pyspark", Duration::from_secs(10))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !early.is_finished(),
        "a statement was numbered before the history came"
    );
    let mut d = FakeDriver::connect(&hub, 7, "s3cret").await;
    d.history(json!([finished(0, "42"), finished(1, "43")]), 2)
        .await;
    let st = early.await.unwrap().unwrap();
    assert_eq!(st.id, 2, "ids continue after the driver's");
    let exec = d.recv().await;
    assert_eq!(
        (
            exec["type"].as_str(),
            exec["id"].as_u64(),
            exec["code"].as_str()
        ),
        (Some("execute"), Some(2), Some("kept"))
    );
    let all = hub.statements(7);
    assert_eq!(all.iter().map(|s| s.id).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(all[0].output.as_ref().unwrap()["data"]["text/plain"], "42");
}

#[tokio::test]
async fn without_history_a_statement_is_refused_with_a_retryable_error() {
    let (hub, _c) = hub().await;
    hub.register(3, "x");
    let err = hub
        .submit(3, "1".into(), "pyspark", Duration::from_millis(100))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ReplError::Recovering { session: 3, .. }),
        "{err}"
    );
    assert!(
        hub.statements(3).is_empty(),
        "a refused statement left an entry"
    );
    // Unknown sessions are refused the same way (no channel yet).
    assert!(
        hub.submit(4, "1".into(), "pyspark", Duration::ZERO)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn statements_queued_while_the_driver_was_away_go_out_once_it_is_back() {
    let (hub, _c) = hub().await;
    hub.register(1, "k");
    let mut d = FakeDriver::connect(&hub, 1, "k").await;
    d.history(json!([]), 0).await;
    wait_synced(&hub, 1).await;
    let a = hub
        .submit(1, "a".into(), "spark", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(d.recv().await["id"], a.id);
    drop(d); // the connection drops (driver side)
    for _ in 0..100 {
        if !hub.snapshot(1).unwrap().connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Queued while away: numbered (the server kept its memory), not sent.
    let b = hub
        .submit(1, "b".into(), "sql", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(b.id, 1);
    let mut d = FakeDriver::connect(&hub, 1, "k").await;
    d.silent().await; // nothing before the history
    // The driver got `a` (it is running); it never got `b`.
    d.history(
        json!([{"id": 0, "code": "a", "state": "running", "progress": 0.0, "started": 5, "completed": 0, "output": null}]),
        1,
    )
    .await;
    let exec = d.recv().await;
    assert_eq!(
        (exec["id"].as_u64(), exec["kind"].as_str()),
        (Some(1), Some("sql"))
    );
    d.silent().await; // `a` is not sent twice
    assert_eq!(hub.statement(1, 0).unwrap().state, StatementState::Running);
}

#[tokio::test]
async fn running_statements_are_never_evicted_and_finished_ones_are() {
    let (hub, _c) = hub().await;
    hub.register(2, "k");
    let mut d = FakeDriver::connect(&hub, 2, "k").await;
    d.history(json!([]), 0).await;
    wait_synced(&hub, 2).await;
    for _ in 0..RETAINED_STATEMENTS + 20 {
        hub.submit(2, "x".into(), "pyspark", Duration::ZERO)
            .await
            .unwrap();
    }
    let all = hub.statements(2);
    assert_eq!(
        all.len(),
        RETAINED_STATEMENTS + 20,
        "nothing finished: nothing evicted"
    );
    assert_eq!(all[0].id, 0);
    // The first 30 finish; the oldest finished ones go, the rest stay.
    for id in 0..30 {
        d.send(
            json!({"type": "statement", "id": id, "state": "available", "completed": 9,
                      "output": {"status": "ok", "data": {"text/plain": ""}}}),
        )
        .await;
    }
    for _ in 0..100 {
        if hub.statements(2).len() == RETAINED_STATEMENTS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ids: Vec<u64> = hub.statements(2).iter().map(|s| s.id).collect();
    assert_eq!(ids.len(), RETAINED_STATEMENTS);
    assert_eq!(ids[0], 20, "the 20 oldest finished statements were evicted");
    assert!(hub.statement(2, 19).is_none());
}

#[tokio::test]
async fn wait_final_returns_a_fast_statement_finished_and_a_slow_one_as_is() {
    let (hub, _c) = hub().await;
    hub.register(5, "k");
    let mut d = FakeDriver::connect(&hub, 5, "k").await;
    d.history(json!([]), 0).await;
    wait_synced(&hub, 5).await;
    let st = hub
        .submit(5, "1+1".into(), "pyspark", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(d.recv().await["id"], st.id);
    let answer = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.wait_final(5, st.id, Duration::from_secs(5)).await })
    };
    d.send(json!({"type": "statement", "id": st.id, "state": "running", "started": 3}))
        .await;
    d.send(
        json!({"type": "statement", "id": st.id, "state": "available", "completed": 4,
                  "output": {"status": "ok", "execution_count": 0, "data": {"text/plain": "2"}}}),
    )
    .await;
    let done = answer.await.unwrap().unwrap();
    assert_eq!(done.state, StatementState::Available);
    assert_eq!(done.output.unwrap()["data"]["text/plain"], "2");
    let slow = hub
        .submit(5, "sleep".into(), "pyspark", Duration::ZERO)
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    let as_is = hub
        .wait_final(5, slow.id, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(as_is.state, StatementState::Waiting);
    assert!(t0.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn a_completion_that_times_out_leaves_nothing_behind() {
    let (hub, _c) = hub().await;
    hub.register(6, "k");
    let mut d = FakeDriver::connect(&hub, 6, "k").await;
    d.history(json!([]), 0).await;
    wait_synced(&hub, 6).await;
    tokio::time::pause();
    let r = hub.complete(6, "pyspark", "sp".into(), 2).await;
    tokio::time::resume();
    assert!(matches!(r, Err(ReplError::Timeout(6))));
    assert_eq!(hub.pending_completions(6), 0);
    assert_eq!(d.recv().await["type"], "complete");
}

#[tokio::test]
async fn a_cancel_asked_while_the_driver_is_away_reaches_it_on_return() {
    let (hub, _c) = hub().await;
    hub.register(8, "k");
    let mut d = FakeDriver::connect(&hub, 8, "k").await;
    d.history(json!([]), 0).await;
    wait_synced(&hub, 8).await;
    let st = hub
        .submit(8, "long".into(), "spark", Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(d.recv().await["id"], st.id);
    drop(d);
    for _ in 0..100 {
        if !hub.snapshot(8).unwrap().connected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hub.cancel(8, st.id);
    let mut d = FakeDriver::connect(&hub, 8, "k").await;
    d.history(
        json!([{"id": 0, "code": "long", "state": "running", "progress": 0.0, "started": 5, "completed": 0, "output": null}]),
        1,
    )
    .await;
    let msg = d.recv().await;
    assert_eq!(
        (msg["type"].as_str(), msg["id"].as_u64()),
        (Some("cancel"), Some(0))
    );
}

#[tokio::test]
async fn shutdown_drains_driver_connections_and_wakes_their_sessions() {
    let wake = Arc::new(crate::queue::Wake::new());
    let tasks = tokio_util::task::TaskTracker::new();
    let hub = ReplHub::new(wake.clone(), tasks.clone());
    let cancel = CancellationToken::new();
    hub.listen("127.0.0.1", (0, 0), cancel.clone())
        .await
        .unwrap();
    hub.register(3, "s3cret");
    let mut driver = FakeDriver::connect(&hub, 3, "s3cret").await;
    assert_eq!(wake.depth(), 1, "the connection woke session 3's record");
    // The server stops: every connection task ends, and the driver sees EOF
    // (it will dial the next server).
    cancel.cancel();
    tasks.close();
    tokio::time::timeout(Duration::from_secs(5), tasks.wait())
        .await
        .expect("driver connections are tracked and drained");
    let eof = tokio::time::timeout(Duration::from_secs(5), driver.lines.next_line())
        .await
        .expect("the connection closed");
    assert!(matches!(eof, Ok(None) | Err(_)), "{eof:?}");
}

#[tokio::test]
async fn past_the_output_cap_the_oldest_outputs_are_dropped_first() {
    let (hub, _c) = hub().await;
    hub.retain_output_bytes(10_000);
    hub.register(3, "k");
    let mut d = FakeDriver::connect(&hub, 3, "k").await;
    // Four finished outputs of about 4 KB each, in the driver's history.
    let big = |c: &str| c.repeat(4_000);
    d.history(
        json!([
            finished(0, &big("a")),
            finished(1, &big("b")),
            finished(2, &big("c")),
            finished(3, &big("d"))
        ]),
        4,
    )
    .await;
    wait_synced(&hub, 3).await;
    let texts: Vec<String> = hub
        .statements(3)
        .iter()
        .map(|s| {
            s.output.as_ref().unwrap()["data"]["text/plain"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts.len(), 4, "every statement stays listed");
    for old in &texts[..2] {
        assert!(
            old.starts_with(DROPPED) && old.contains("10000 bytes"),
            "{old}"
        );
    }
    assert_eq!(texts[2], big("c"));
    assert_eq!(texts[3], big("d"));
    let kept: u64 = hub
        .statements(3)
        .iter()
        .map(|s| output_bytes(s.output.as_ref().unwrap()))
        .sum();
    assert!(kept <= 10_000, "{kept}");
}
