//! Feeds the store's change channel from one watch per kind. kube-runtime's
//! watcher lists once, then watches from the list's `resourceVersion`; when
//! the connection ends it watches again from the last version it saw (a
//! re-list only after 410 Gone), with the default backoff between failures.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::convert::from_object;
use crate::crd::LABEL_ID;
use crate::records::Kind;
use crate::store::RawChange;

/// The change an event announces (`None` for resources that are not records).
fn change(kind: Kind, obj: &DynamicObject, deleted: bool) -> Option<RawChange> {
    match from_object(kind, obj) {
        Ok(Some(rec)) if deleted => Some(RawChange::Deleted { kind, id: rec.id }),
        Ok(Some(rec)) => Some(RawChange::Applied(Arc::new(rec))),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(kind = kind.as_str(), name = ?obj.metadata.name, error = %e, "ignoring a resource that is not a record");
            None
        }
    }
}

/// Runs until `cancel` fires, sending every observed change on `changes`.
pub async fn run(
    api: Api<DynamicObject>,
    kind: Kind,
    changes: broadcast::Sender<RawChange>,
    cancel: CancellationToken,
) {
    let config = watcher::Config::default().labels(LABEL_ID);
    let mut events = watcher::watcher(api, config).default_backoff().boxed();
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => return,
            next = events.try_next() => next,
        };
        let announced = match next {
            Ok(Some(Event::Apply(obj) | Event::InitApply(obj))) => change(kind, &obj, false),
            Ok(Some(Event::Delete(obj))) => change(kind, &obj, true),
            Ok(Some(Event::Init | Event::InitDone)) => None,
            Ok(None) => return,
            Err(e) => {
                // The backoff paces the retry; the reconciler's poll keeps working meanwhile.
                tracing::warn!(kind = kind.as_str(), error = %e, "watch of records failed; retrying");
                None
            }
        };
        if let Some(c) = announced {
            // No receivers is fine: nobody is waiting.
            let _ = changes.send(c);
        }
    }
}
