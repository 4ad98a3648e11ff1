//! The reconciler's work queue: records to look at, keyed by `(kind, id)`.
//!
//! A key is queued at most once; a key being worked on is not handed out
//! again, and if it is woken meanwhile it is queued once the work ends, so
//! no record is ever worked on by two tasks at once and no wake is lost.
//! Timers queue a key at an instant (the earliest one asked for wins).
//! [`Wake`] is what the rest of the server holds: wake one record, ask for
//! an observation of the cluster now, or ask for every record.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::index::Key;
use crate::records::Kind;

#[derive(Default)]
struct State {
    order: VecDeque<Key>,
    queued: HashSet<Key>,
    active: HashSet<Key>,
    /// Woken while active: queued again when the work ends.
    again: HashSet<Key>,
    timers: BTreeSet<(Instant, Key)>,
    due: HashMap<Key, Instant>,
}

impl State {
    fn add(&mut self, key: Key) -> bool {
        if self.active.contains(&key) {
            self.again.insert(key);
            return false;
        }
        if self.queued.insert(key) {
            self.order.push_back(key);
            return true;
        }
        false
    }
}

/// Applications asked to be observed since the last observation.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Observing {
    /// Every tracked application.
    pub all: bool,
    /// These applications (by tag).
    pub tags: HashSet<String>,
}

#[derive(Default)]
pub struct Wake {
    state: Mutex<State>,
    /// A key was queued.
    ready: Notify,
    /// The earliest timer changed.
    timer: Notify,
    /// Observe the cluster now (an application may have changed).
    observe: Notify,
    /// Which applications to observe now.
    observing: Mutex<Observing>,
    /// Look at every record (a driver build finished, a feed lagged).
    everything: AtomicBool,
}

impl Wake {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one record.
    pub fn record(&self, kind: Kind, id: u64) {
        if self.lock().add((kind, id)) {
            self.ready.notify_one();
        }
    }

    /// Queues one record after `delay` (unless a timer for it is due sooner).
    pub fn after(&self, key: Key, delay: Duration) {
        let at = Instant::now() + delay;
        let mut s = self.lock();
        match s.due.get(&key) {
            Some(&due) if due <= at => return,
            Some(&due) => {
                s.timers.remove(&(due, key));
            }
            None => {}
        }
        s.due.insert(key, at);
        let first = s.timers.first().is_none_or(|(t, _)| at < *t);
        s.timers.insert((at, key));
        drop(s);
        if first {
            self.timer.notify_one();
        }
    }

    /// Asks for an observation of every tracked application now.
    pub fn observe(&self) {
        self.lock_observing().all = true;
        self.observe.notify_one();
    }

    /// Asks for an observation of one application now (its process ended,
    /// it was just submitted or stopped): the others wait for the poll.
    pub fn observe_app(&self, tag: &str) {
        self.lock_observing().tags.insert(tag.to_owned());
        self.observe.notify_one();
    }

    /// What was asked to be observed since the last call.
    pub(crate) fn take_observing(&self) -> Observing {
        std::mem::take(&mut *self.lock_observing())
    }

    fn lock_observing(&self) -> std::sync::MutexGuard<'_, Observing> {
        self.observing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks for a look at every record.
    pub fn everything(&self) {
        self.everything.store(true, Ordering::Release);
        self.ready.notify_one();
    }

    /// Resolves on the next [`Wake::observe`] or [`Wake::observe_app`]
    /// after it is first polled.
    pub fn observe_asked(&self) -> tokio::sync::futures::Notified<'_> {
        self.observe.notified()
    }

    /// The next key to work on; `None` when a look at every record was
    /// asked for (the caller then queues them all).
    pub(crate) async fn next(&self) -> Option<Key> {
        loop {
            let ready = self.ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            if self.everything.swap(false, Ordering::AcqRel) {
                return None;
            }
            {
                let mut s = self.lock();
                if let Some(key) = s.order.pop_front() {
                    s.queued.remove(&key);
                    s.active.insert(key);
                    drop(s);
                    // Another worker may take the next one.
                    self.ready.notify_one();
                    return Some(key);
                }
            }
            ready.await;
        }
    }

    /// The work on `key` ended.
    pub(crate) fn done(&self, key: Key) {
        let mut s = self.lock();
        s.active.remove(&key);
        let again = s.again.remove(&key) && s.add(key);
        drop(s);
        if again {
            self.ready.notify_one();
        }
    }

    /// Queues keys whose timers are due; runs until dropped.
    pub(crate) async fn run_timers(&self) {
        loop {
            let changed = self.timer.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next = {
                let mut s = self.lock();
                let now = Instant::now();
                let mut woke = false;
                while let Some(&(at, key)) = s.timers.first() {
                    if at > now {
                        break;
                    }
                    s.timers.pop_first();
                    s.due.remove(&key);
                    woke |= s.add(key);
                }
                if woke {
                    self.ready.notify_one();
                }
                s.timers.first().map(|(at, _)| *at)
            };
            match next {
                Some(at) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {}
                        _ = &mut changed => {}
                    }
                }
                None => changed.await,
            }
        }
    }

    /// Keys waiting (queued, not yet taken).
    pub fn depth(&self) -> usize {
        self.lock().order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Key = (Kind::Batch, 1);
    const B: Key = (Kind::Session, 1);

    #[tokio::test]
    async fn a_key_is_queued_once_and_never_worked_on_twice_at_once() {
        let w = Wake::new();
        w.record(A.0, A.1);
        w.record(A.0, A.1);
        w.record(B.0, B.1);
        assert_eq!(w.depth(), 2);
        assert_eq!(w.next().await, Some(A));
        // Woken while active: not handed out again until done.
        w.record(A.0, A.1);
        assert_eq!(w.next().await, Some(B));
        assert_eq!(w.depth(), 0);
        w.done(A);
        assert_eq!(w.next().await, Some(A), "the wake during work is kept");
        w.done(A);
        w.done(B);
        assert_eq!(w.depth(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn timers_queue_keys_when_due_and_the_earliest_wins() {
        let w = std::sync::Arc::new(Wake::new());
        let timers = tokio::spawn({
            let w = w.clone();
            async move { w.run_timers().await }
        });
        w.after(A, Duration::from_secs(10));
        w.after(A, Duration::from_secs(2));
        w.after(A, Duration::from_secs(5));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(w.depth(), 0);
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(w.depth(), 1);
        assert_eq!(w.next().await, Some(A));
        w.done(A);
        tokio::time::sleep(Duration::from_secs(20)).await;
        assert_eq!(w.depth(), 0, "the later timers were replaced, not kept");
        timers.abort();
    }

    #[tokio::test]
    async fn everything_interrupts_a_waiting_worker() {
        let w = std::sync::Arc::new(Wake::new());
        let worker = tokio::spawn({
            let w = w.clone();
            async move { w.next().await }
        });
        tokio::task::yield_now().await;
        w.everything();
        assert_eq!(worker.await.unwrap(), None);
        w.record(A.0, A.1);
        assert_eq!(w.next().await, Some(A), "asked once, answered once");
    }

    #[test]
    fn observations_asked_for_are_taken_once() {
        let w = Wake::new();
        w.observe_app("t1");
        w.observe_app("t2");
        w.observe_app("t1");
        let asked = w.take_observing();
        assert!(!asked.all);
        assert_eq!(
            asked.tags,
            HashSet::from(["t1".to_owned(), "t2".to_owned()])
        );
        assert_eq!(w.take_observing(), Observing::default(), "taken, not kept");
        w.observe_app("t3");
        w.observe();
        assert!(w.take_observing().all);
    }
}
