//! The PostgreSQL record store against a real PostgreSQL (Debian's, started
//! on loopback in a temporary directory): the `RecordStore` contract the
//! embedded store keeps, with two stores (two servers) on one database —
//! ids unique across them and never reused, stale versions conflict, names
//! unique per kind, one server's changes reach the other's watch, secrets
//! apart from records, and the schema migrated once when both start at once.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
#[path = "common/pki.rs"]
mod pki;
#[path = "common/postgres.rs"]
mod postgres;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use livy_server::records::{Kind, Meta};
use livy_server::store::{Durability, Fence, PostgresStore, RawChange, RawStore, StoreError};
use postgres::Postgres;
use serde_json::json;

fn meta(name: Option<&str>) -> Meta {
    Meta {
        name: name.map(str::to_owned),
        owner: Some("alice".into()),
        created_at: 1,
        deletion_requested: false,
    }
}

/// Two stores on a fresh database, connected at the same moment.
async fn two_stores(pg: &Postgres, db: &str) -> (Arc<PostgresStore>, Arc<PostgresStore>) {
    pg.create_db(db).await;
    let config: tokio_postgres::Config = pg.url(db).parse().unwrap();
    let (a, b) = tokio::join!(
        PostgresStore::connect(&config),
        PostgresStore::connect(&config)
    );
    (a.unwrap(), b.unwrap())
}

/// The next change on `rx`, within 10 s.
async fn next(rx: &mut tokio::sync::broadcast::Receiver<RawChange>) -> RawChange {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a change within 10 s")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_share_ids_versions_names_and_secrets() {
    let pg = Postgres::start();
    let (a, b) = two_stores(&pg, "contract").await;

    // Concurrent creates on both: every id once, 0..40.
    let creates = (0..40).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            store
                .create(
                    Kind::Batch,
                    meta(None),
                    json!({"file": i}),
                    json!({"state": "starting"}),
                )
                .await
                .unwrap()
                .id
        })
    });
    let ids: BTreeSet<u64> = futures::future::join_all(creates)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ids, (0..40).collect(), "unique and dense across both");
    // Sessions count apart; a deleted id is not handed out again.
    let s0 = a
        .create(Kind::Session, meta(Some("nb")), json!({}), json!({}))
        .await
        .unwrap();
    assert_eq!(s0.id, 0);
    b.delete(Kind::Batch, 39, 1).await.unwrap();
    let again = a
        .create(Kind::Batch, meta(None), json!({}), json!({}))
        .await
        .unwrap();
    assert_eq!(again.id, 40, "ids never reused");
    assert_eq!(b.list(Kind::Batch).await.unwrap().len(), 40);

    // Versions: b writes first, a's stale write conflicts; a missing record is NotFound.
    let mut rec = a.get(Kind::Batch, 3).await.unwrap().unwrap();
    rec.status = json!({"state": "running"});
    let v2 = b.update(&rec, Durability::Observed).await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(
        a.get(Kind::Batch, 3).await.unwrap().unwrap().status,
        json!({"state": "running"}),
        "an observed write is visible to the other server at once"
    );
    assert!(matches!(
        a.update(&rec, Durability::Disk).await,
        Err(StoreError::Conflict {
            id: 3,
            expected: 1,
            ..
        })
    ));
    let mut gone = rec.clone();
    gone.id = 999;
    assert!(matches!(
        a.update(&gone, Durability::Disk).await,
        Err(StoreError::NotFound { id: 999, .. })
    ));
    assert!(matches!(
        a.delete(Kind::Batch, 3, 1).await,
        Err(StoreError::Conflict { .. })
    ));

    // Names: unique per kind, on create and on update.
    assert!(matches!(
        b.create(Kind::Session, meta(Some("nb")), json!({}), json!({}))
            .await,
        Err(StoreError::DuplicateName {
            kind: Kind::Session,
            ..
        })
    ));
    let batch_nb = b
        .create(Kind::Batch, meta(Some("nb")), json!({}), json!({}))
        .await
        .unwrap();
    assert_eq!(batch_nb.id, 41, "the failed create used no id");
    let mut renamed = a.get(Kind::Batch, 4).await.unwrap().unwrap();
    renamed.meta.name = Some("nb".into());
    assert!(matches!(
        a.update(&renamed, Durability::Disk).await,
        Err(StoreError::DuplicateName { .. })
    ));

    // Secrets: only for a session that exists, readable from the other
    // server, gone with the session.
    assert!(matches!(
        a.put_session_secret(77, "s").await,
        Err(StoreError::NotFound { id: 77, .. })
    ));
    a.put_session_secret(0, "first").await.unwrap();
    a.put_session_secret(0, "second").await.unwrap();
    assert_eq!(
        b.session_secret(0).await.unwrap().as_deref(),
        Some("second")
    );
    assert!(
        !format!("{:?}", b.get(Kind::Session, 0).await.unwrap()).contains("second"),
        "the secret is not in the record"
    );
    b.delete(Kind::Session, 0, 1).await.unwrap();
    assert_eq!(a.session_secret(0).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_servers_changes_reach_the_others_watch_once() {
    let pg = Postgres::start();
    let (a, b) = two_stores(&pg, "watch").await;
    let mut seen_by_b = b.watch();
    let mut seen_by_a = a.watch();

    // The other server sees each change as committed (it reads the record
    // back, so changes made faster than it reads coalesce into the latest;
    // here each is awaited before the next).
    let created = a
        .create(
            Kind::Session,
            meta(Some("w")),
            json!({"kind": "pyspark"}),
            json!({"state": "starting"}),
        )
        .await
        .unwrap();
    match next(&mut seen_by_b).await {
        RawChange::Applied(r) => assert_eq!(*r, created),
        other => panic!("expected the create, got {other:?}"),
    }
    let mut rec = created.clone();
    rec.status = json!({"state": "idle"});
    let updated = a.update(&rec, Durability::Observed).await.unwrap();
    match next(&mut seen_by_b).await {
        RawChange::Applied(r) => assert_eq!(*r, updated),
        other => panic!("expected the update, got {other:?}"),
    }
    a.delete(Kind::Session, created.id, updated.version)
        .await
        .unwrap();
    assert_eq!(
        next(&mut seen_by_b).await,
        RawChange::Deleted {
            kind: Kind::Session,
            id: created.id
        }
    );
    // The writer: its own three changes, announced once each (its own
    // notifications are not passed on again).
    let own = [
        RawChange::Applied(Arc::new(created.clone())),
        RawChange::Applied(Arc::new(updated.clone())),
        RawChange::Deleted {
            kind: Kind::Session,
            id: created.id,
        },
    ];
    for change in own {
        assert_eq!(next(&mut seen_by_a).await, change);
    }
    let marker = b
        .create(Kind::Batch, meta(None), json!({}), json!({}))
        .await
        .unwrap();
    match next(&mut seen_by_a).await {
        RawChange::Applied(r) => assert_eq!(*r, marker, "no echo of a's own writes"),
        other => panic!("expected b's create, got {other:?}"),
    }

    // The schema was applied once though both stores started together.
    let (client, conn) = tokio_postgres::connect(&pg.url("watch"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let applied: i64 = client
        .query_one("SELECT count(*) FROM livy_schema", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        applied, 2,
        "migrations/postgres holds two, each applied once"
    );
}

/// The real server on the PostgreSQL store: a real Spark batch runs to
/// `success`; after `kill -9` and a restart on the same database the batch
/// is listed once with its state, and ids continue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_on_postgres_runs_a_batch_and_keeps_it_across_a_crash() {
    let _slot = common::spark_slot().await;
    let pg = Postgres::start();
    pg.create_db("server").await;
    let tmp = tempfile::tempdir().unwrap();
    let apps = tmp.path().join("apps");
    std::fs::create_dir_all(&apps).unwrap();
    std::fs::write(apps.join("pi.py"), common::PI_PY).unwrap();
    let conf = [
        format!("livy.file.local-dir-whitelist={}", apps.display()),
        "livy.server.recovery.state-store=postgres".to_owned(),
        format!("livy.server.recovery.state-store.url={}", pg.url("server")),
    ];
    let data = tmp.path().join("data");
    let mut server = common::Server::start(&data, &conf);
    assert!(server.log().contains("records are in PostgreSQL"));
    let (code, created) = common::post_json(
        &server.url("/batches"),
        &json!({"file": apps.join("pi.py"), "name": "pi"}),
    )
    .await;
    assert_eq!((code, &created["id"]), (201, &json!(0)), "{created}");
    common::wait_state(
        &server.url("/batches/0"),
        &["success"],
        Duration::from_secs(180),
    )
    .await;
    // Its lease dies with it: the next server on the database leads.
    server.crash();
    let server = common::Server::start(&data, &conf);
    let (_, list) = common::get_json(&server.url("/batches")).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["sessions"][0]["state"], "success");
    assert_eq!(list["sessions"][0]["name"], "pi");
    let (code, next) = common::post_json(
        &server.url("/batches"),
        &json!({"file": apps.join("pi.py"), "name": "pi"}),
    )
    .await;
    assert_eq!(code, 400, "the name is still taken: {next}");
    let (_, next) = common::post_json(
        &server.url("/batches"),
        &json!({"file": apps.join("pi.py")}),
    )
    .await;
    assert_eq!(next["id"], 1, "ids continue: {next}");
    let (code, _) = common::delete(&server.url("/batches/1")).await;
    assert_eq!(code, 200);
}

/// Fencing: a write made under a leader's term is refused by PostgreSQL
/// once the term is over (lease expired or taken by another server), or
/// when the writer never held it, and the record is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_under_a_term_are_refused_once_it_is_over() {
    let pg = Postgres::start();
    let (a, b) = two_stores(&pg, "fencing").await;
    let sql = a.side_connection().await.unwrap();
    let lease = |holder: String, term: i64, secs: f64| {
        let sql = &sql;
        async move {
            let sql = sql.client().await.unwrap();
            sql.execute(
                "INSERT INTO livy_leader (id, holder, term, expires_at, rest_url, callback)
                 VALUES (1, $1, $2, now() + make_interval(secs => $3), '', '')
                 ON CONFLICT (id) DO UPDATE SET holder = excluded.holder,
                     term = excluded.term, expires_at = excluded.expires_at",
                &[&holder, &term, &secs],
            )
            .await
            .unwrap();
        }
    };
    let rec = a
        .create(
            Kind::Batch,
            meta(None),
            json!({}),
            json!({"state": "starting"}),
        )
        .await
        .unwrap();
    fn fenced<T>(r: Result<T, StoreError>) -> bool {
        matches!(r, Err(StoreError::Fenced { .. }))
    }

    lease(a.identity().to_owned(), 1, 30.0).await;
    let mut running = rec.clone();
    running.status = json!({"state": "running"});
    let v = a
        .update_fenced(&running, Durability::Disk, Fence { term: 1 })
        .await
        .unwrap();
    let mut done = v.clone();
    done.status = json!({"state": "success"});
    assert!(fenced(
        a.update_fenced(&done, Durability::Disk, Fence { term: 2 })
            .await
    ));
    assert!(
        fenced(
            b.update_fenced(&done, Durability::Observed, Fence { term: 1 })
                .await
        ),
        "only the holder writes under its term"
    );

    // The lease ran out: even its holder is refused, deletes too.
    lease(a.identity().to_owned(), 1, -1.0).await;
    assert!(fenced(
        a.update_fenced(&done, Durability::Observed, Fence { term: 1 })
            .await
    ));
    assert!(fenced(
        a.delete_fenced(Kind::Batch, rec.id, v.version, Fence { term: 1 })
            .await
    ));
    // Another server took over in term 2: the deposed one stays refused.
    lease(b.identity().to_owned(), 2, 30.0).await;
    assert!(fenced(
        a.update_fenced(&done, Durability::Disk, Fence { term: 1 })
            .await
    ));
    let kept = b.get(Kind::Batch, rec.id).await.unwrap().unwrap();
    assert_eq!(
        (kept.version, &kept.status),
        (v.version, &json!({"state": "running"})),
        "refused writes change nothing"
    );
    b.update_fenced(&done, Durability::Disk, Fence { term: 2 })
        .await
        .unwrap();
    b.delete_fenced(Kind::Batch, rec.id, v.version + 1, Fence { term: 2 })
        .await
        .unwrap();
    assert!(a.get(Kind::Batch, rec.id).await.unwrap().is_none());
}

/// Whether every connection to `db` is encrypted, and how many there are.
async fn ssl_connections(pg: &Postgres, db: &str) -> Vec<(String, bool)> {
    let (client, conn) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .query(
            "SELECT a.application_name, s.ssl FROM pg_stat_ssl s
             JOIN pg_stat_activity a USING (pid) WHERE a.datname = $1",
            &[&db],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// A PostgreSQL that takes only TLS (`hostssl`), its certificate from a
/// test CA: a plain store is refused, a store verifying against the
/// system's roots refuses the server, and one verifying (`verify-full`)
/// against the test CA works; the server, given the URL with `sslmode` and
/// `sslrootcert`, stores records over TLS only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_postgres_verified_against_the_given_roots() {
    use livy_server::store::{PostgresTls, PostgresVerify};
    use tokio_postgres::config::SslMode;

    let pki = pki::Pki::new();
    let pg = Postgres::start_tls(&pki.path("leaf.pem"), &pki.path("key.pem"));
    pg.create_db("tls").await;
    let mut config: tokio_postgres::Config = pg.url("tls").parse().unwrap();

    let plain = PostgresStore::connect(&config)
        .await
        .err()
        .expect("plain is refused");
    assert!(
        livy_server::error_chain(&plain).contains("no encryption"),
        "{}",
        livy_server::error_chain(&plain)
    );
    config.ssl_mode(SslMode::Require);
    let system = PostgresTls::tls(PostgresVerify::ChainAndName, None).unwrap();
    let untrusted = PostgresStore::connect_with(&config, system)
        .await
        .err()
        .expect("the test CA is not among the system's roots");
    assert!(
        livy_server::error_chain(&untrusted).contains("UnknownIssuer"),
        "{}",
        livy_server::error_chain(&untrusted)
    );
    let ca = std::fs::read(pki.path("ca.pem")).unwrap();
    let ours = PostgresTls::tls(PostgresVerify::ChainAndName, Some(&ca)).unwrap();
    let store = PostgresStore::connect_with(&config, ours).await.unwrap();
    let rec = store
        .create(Kind::Batch, meta(None), json!({}), json!({}))
        .await
        .unwrap();
    assert_eq!(store.get(Kind::Batch, rec.id).await.unwrap(), Some(rec));
    drop(store);

    // The server, from its URL.
    let tmp = tempfile::tempdir().unwrap();
    let url = format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        pg.url("tls"),
        pki.path("ca.pem").display()
    );
    let server = common::Server::start(
        &tmp.path().join("data"),
        &[
            pki.spark_home(),
            "livy.server.recovery.state-store=postgres".to_owned(),
            format!("livy.server.recovery.state-store.url={url}"),
        ],
    );
    // Ready once it leads (it is alone).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = common::get_json(&server.url("/ready")).await;
        if code == 200 {
            assert_eq!(body, json!({"ready": true, "store": true, "leader": true}));
            break;
        }
        assert_eq!(body["store"], true, "{body}");
        assert!(std::time::Instant::now() < deadline, "not ready: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, body) = common::get_json(&server.url("/batches")).await;
    // Read from the database at start (the store's test record is not a
    // batch the server can decode, so it is left out).
    assert_eq!((code, body["total"].clone()), (200, json!(0)), "{body}");
    let connections = ssl_connections(&pg, "tls").await;
    let ours: Vec<&(String, bool)> = connections
        .iter()
        .filter(|(name, _)| name.starts_with("livy-server-"))
        .collect();
    assert!(ours.len() >= 3, "{connections:?}");
    assert!(ours.iter().all(|(_, ssl)| *ssl), "{connections:?}");
}
