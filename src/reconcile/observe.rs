//! Watching applications: which records' applications the cluster is asked
//! about, one bulk observation of all of them per poll (or sooner when a
//! process exits or a record is submitted), and waking only the records
//! whose application changed.
//!
//! An application is observed while its record is unfinished or being
//! deleted; a finished record's application only through the leak window
//! (`livy.server.app-leak-timeout`), and not at all once the cluster has
//! reported it finished: finished applications are not read again.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::time::Instant;

use super::{Look, Reconciler, lock};
use crate::cluster::{AppObservation, TrackedApp};
use crate::index::Key;
use crate::queue::Observing;

#[derive(Default)]
pub(super) struct Observations {
    tracked: Mutex<HashMap<Key, TrackedApp>>,
    /// The last observation per tag; absent when not observed since it was
    /// tracked, or when the cluster could not be asked.
    last: Mutex<HashMap<String, AppObservation>>,
    /// Whether the last observation failed (log an outage once, not per poll).
    failing: Mutex<bool>,
}

impl Observations {
    pub(super) fn get(&self, tag: &str) -> Option<AppObservation> {
        lock(&self.last).get(tag).cloned()
    }

    /// Starts or stops observing a record's application.
    pub(super) fn retrack(&self, r: &Reconciler, look: &Look<'_>, now: u64) {
        let leak_ms = r.d.config.leak_timeout.as_millis() as u64;
        let app = look.sub.map(|s| TrackedApp {
            tag: s.tag.clone(),
            app_id: look.app_id.map(str::to_owned),
        });
        let keep = app.as_ref().is_some_and(|app| {
            let ended = matches!(self.get(&app.tag), Some(AppObservation::Finished { .. }));
            look.deleting && !ended
                || !look.state.is_finished()
                || (!ended && now.saturating_sub(look.state_since) < leak_ms)
        });
        let mut tracked = lock(&self.tracked);
        match app {
            Some(app) if keep => {
                let fresh = tracked.get(&look.key) != Some(&app);
                if fresh {
                    let tag = app.tag.clone();
                    tracked.insert(look.key, app);
                    drop(tracked);
                    // A new application: look at it now, not a poll later.
                    r.d.wake.observe_app(&tag);
                }
            }
            _ => {
                if let Some(old) = tracked.remove(&look.key) {
                    lock(&self.last).remove(&old.tag);
                }
            }
        }
    }

    pub(super) fn untrack(&self, key: Key) {
        if let Some(old) = lock(&self.tracked).remove(&key) {
            lock(&self.last).remove(&old.tag);
        }
    }
}

impl Reconciler {
    /// Observes every tracked application each poll, and the ones asked for
    /// (or all, when asked) sooner. A steady stream of asks does not put the
    /// poll off.
    pub(super) async fn observe_loop(&self) {
        let mut next_all = Instant::now();
        loop {
            // Register interest before looking, so no request is lost.
            let asked = self.d.wake.observe_asked();
            tokio::pin!(asked);
            asked.as_mut().enable();
            let mut observing = self.d.wake.take_observing();
            observing.all |= Instant::now() >= next_all;
            if observing.all {
                next_all = Instant::now() + self.poll();
            }
            self.observe_once(&observing).await;
            tokio::select! {
                _ = &mut asked => {}
                _ = tokio::time::sleep_until(next_all) => {}
            }
        }
    }

    async fn observe_once(&self, observing: &Observing) {
        let seen = &self.seen;
        let apps: Vec<(Key, TrackedApp)> = lock(&seen.tracked)
            .iter()
            .filter(|(_, a)| observing.all || observing.tags.contains(&a.tag))
            .map(|(k, a)| (*k, a.clone()))
            .collect();
        if apps.is_empty() {
            return;
        }
        let list: Vec<TrackedApp> = apps.iter().map(|(_, a)| a.clone()).collect();
        let started = std::time::Instant::now();
        let result = self.d.manager.observe(&list).await;
        crate::metrics::cluster(
            self.d.manager.name(),
            "observe",
            result.is_ok(),
            started.elapsed(),
        );
        let mut failing = lock(&seen.failing);
        let map = match result {
            Ok(map) => {
                if *failing {
                    tracing::info!(manager = self.d.manager.name(), "cluster reachable again");
                    *failing = false;
                }
                map
            }
            Err(e) => {
                if !*failing {
                    tracing::warn!(manager = self.d.manager.name(), error = %e, "cannot observe applications; keeping their last known state");
                    *failing = true;
                }
                // Nothing is known now: decisions wait (never mark an
                // application dead because the cluster cannot be asked).
                let mut last = lock(&seen.last);
                for (_, app) in &apps {
                    last.remove(&app.tag);
                }
                return;
            }
        };
        drop(failing);
        let mut changed = Vec::new();
        {
            // Same lock order as `retrack`: tracked, then last.
            let tracked = lock(&seen.tracked);
            let mut last = lock(&seen.last);
            for (key, app) in apps {
                if tracked.get(&key) != Some(&app) {
                    continue; // untracked while the cluster was asked
                }
                let now = map.get(&app.tag);
                if last.get(&app.tag) != now {
                    match now {
                        Some(o) => last.insert(app.tag, o.clone()),
                        None => last.remove(&app.tag),
                    };
                    changed.push(key);
                }
            }
        }
        for (kind, id) in changed {
            self.d.wake.record(kind, id);
        }
    }
}
