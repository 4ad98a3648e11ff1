//! The embedded store on a real SQLite file in a temp dir.

use super::*;
use serde_json::json;

fn meta(name: Option<&str>) -> Meta {
    Meta {
        name: name.map(str::to_owned),
        ..Meta::default()
    }
}

/// Writes `rec` with another status document.
async fn restatus(
    store: &EmbeddedStore,
    rec: &StoredRecord,
    status: serde_json::Value,
    durability: Durability,
) -> Result<StoredRecord, StoreError> {
    let next = StoredRecord {
        status,
        ..rec.clone()
    };
    store.update(&next, durability).await
}

#[tokio::test]
async fn ids_grow_and_survive_reopen_and_deletion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = EmbeddedStore::open(&path).unwrap();
    let a = store
        .create(Kind::Batch, meta(None), json!({}), json!({}))
        .await
        .unwrap();
    let b = store
        .create(Kind::Batch, meta(None), json!({}), json!({}))
        .await
        .unwrap();
    let s = store
        .create(Kind::Session, meta(None), json!({}), json!({}))
        .await
        .unwrap();
    assert_eq!((a.id, b.id, s.id), (0, 1, 0));
    store.delete(Kind::Batch, 1, b.version).await.unwrap();
    drop(store);
    let store = EmbeddedStore::open(&path).unwrap();
    let c = store
        .create(Kind::Batch, meta(None), json!({}), json!({}))
        .await
        .unwrap();
    assert_eq!(c.id, 2, "a deleted id is never reused");
    let ids: Vec<u64> = store
        .list(Kind::Batch)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![0, 2]);
}

#[tokio::test]
async fn stale_versions_conflict_and_changes_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("s.db")).unwrap();
    let mut rx = store.watch();
    let rec = store
        .create(Kind::Batch, meta(None), json!({"a":1}), json!({"s":1}))
        .await
        .unwrap();
    let fresh = restatus(&store, &rec, json!({"s":2}), Durability::Disk)
        .await
        .unwrap();
    assert_eq!(fresh.version, 2);
    let err = store.update(&rec, Durability::Disk).await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { expected: 1, .. }),
        "{err}"
    );
    assert!(matches!(
        store.delete(Kind::Batch, 0, 1).await.unwrap_err(),
        StoreError::Conflict { .. }
    ));
    let got = store.get(Kind::Batch, 0).await.unwrap().unwrap();
    assert_eq!(got.status, json!({"s":2}));
    let version = |c: RawChange| match c {
        RawChange::Applied(r) => r.version,
        RawChange::Deleted { .. } | RawChange::Missed => 0,
    };
    assert_eq!(version(rx.recv().await.unwrap()), 1);
    assert_eq!(version(rx.recv().await.unwrap()), 2);
}

#[tokio::test]
async fn session_secrets_live_apart_from_records_and_die_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("s.db")).unwrap();
    let missing = store.put_session_secret(0, "s3cret").await.unwrap_err();
    assert!(matches!(missing, StoreError::NotFound { .. }), "{missing}");
    let rec = store
        .create(
            Kind::Session,
            meta(None),
            json!({}),
            json!({"state": "starting"}),
        )
        .await
        .unwrap();
    assert_eq!(store.session_secret(rec.id).await.unwrap(), None);
    store.put_session_secret(rec.id, "first").await.unwrap();
    store.put_session_secret(rec.id, "second").await.unwrap();
    assert_eq!(
        store.session_secret(rec.id).await.unwrap().as_deref(),
        Some("second")
    );
    let listed = store.list(Kind::Session).await.unwrap();
    assert!(!format!("{listed:?}").contains("second"), "{listed:?}");
    store
        .delete(Kind::Session, rec.id, rec.version)
        .await
        .unwrap();
    assert_eq!(store.session_secret(rec.id).await.unwrap(), None);
}

#[tokio::test]
async fn secrets_kept_in_old_status_documents_move_out_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = EmbeddedStore::open(&path).unwrap();
    let old = json!({"state": "idle", "secret": "legacy", "appId": "local-1"});
    let rec = store
        .create(Kind::Session, meta(None), json!({}), old)
        .await
        .unwrap();
    drop(store);
    let store = EmbeddedStore::open(&path).unwrap();
    assert_eq!(
        store.session_secret(rec.id).await.unwrap().as_deref(),
        Some("legacy")
    );
    let got = store.get(Kind::Session, rec.id).await.unwrap().unwrap();
    assert_eq!(got.status, json!({"state": "idle", "appId": "local-1"}));
}

#[tokio::test]
async fn names_are_unique_per_kind() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("s.db")).unwrap();
    store
        .create(Kind::Batch, meta(Some("n")), json!({}), json!({}))
        .await
        .unwrap();
    let err = store
        .create(Kind::Batch, meta(Some("n")), json!({}), json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DuplicateName { .. }), "{err}");
    store
        .create(Kind::Session, meta(Some("n")), json!({}), json!({}))
        .await
        .unwrap();
    // A failed create must not leave a half-written record behind.
    assert_eq!(store.list(Kind::Batch).await.unwrap().len(), 1);
}

#[tokio::test]
async fn observed_writes_commit_without_waiting_for_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = EmbeddedStore::open(&path).unwrap();
    let synchronous = |d| {
        store.with_conn_as(d, |c| {
            c.pragma_query_value(None, "synchronous", |r| r.get::<_, i64>(0))
                .map_err(query("read synchronous"))
        })
    };
    // A group alone: its own commit mode (2 = FULL, 1 = NORMAL).
    assert_eq!(synchronous(Durability::Disk).await.unwrap(), 2);
    assert_eq!(synchronous(Durability::Observed).await.unwrap(), 1);
    assert_eq!(synchronous(Durability::Disk).await.unwrap(), 2);

    let rec = store
        .create(Kind::Batch, meta(None), json!({}), json!({"s": 1}))
        .await
        .unwrap();
    let written = restatus(&store, &rec, json!({"s": 2}), Durability::Observed).await;
    assert_eq!(written.map(|r| r.version).ok(), Some(2));
    assert!(
        matches!(
            restatus(&store, &rec, json!({"s": 3}), Durability::Observed).await,
            Err(StoreError::Conflict { .. })
        ),
        "versions decide observed writes too"
    );
    drop(store);
    let store = EmbeddedStore::open(&path).unwrap();
    let back = store.get(Kind::Batch, rec.id).await.unwrap().unwrap();
    assert_eq!((back.version, back.status), (2, json!({"s": 2})));
}
