//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several
//! replicas exactly one runs the reconciler while all serve the REST API.
//!
//! Every write to the Lease carries the `resourceVersion` it read, so two
//! replicas racing for an expired Lease cannot both win (the loser gets 409).
//! Expiry is judged on this replica's clock from when it *observed* the Lease
//! last change, as client-go does, so clock skew between nodes cannot make a
//! live leader look expired. A leader whose renewal fails steps down at once,
//! and one that gets no answer by `renew_deadline` (shorter than the lease)
//! then: either way before anyone else may take over.
//! kube-leader-election was considered: it needs kube 4 and acquires with an
//! unconditional merge patch, which lets two racing replicas both lead.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use tokio_util::sync::CancellationToken;

/// Timing and identity of one elector.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    /// Name of the Lease (one per installation).
    pub name: String,
    /// This replica (its pod name); written as `holderIdentity`.
    pub identity: String,
    /// How long a Lease not renewed stays held; a new leader takes over after it.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long stops leading.
    pub renew_deadline: Duration,
    /// Pause between attempts to acquire or renew.
    pub retry_period: Duration,
    /// Written on the Lease by its holder (e.g. where other replicas reach it).
    pub annotations: BTreeMap<String, String>,
}

impl LeaseOptions {
    /// client-go's proportions: renew deadline 2/3 and retry period 2/15 of the lease.
    pub fn new(name: String, identity: String, lease_duration: Duration) -> Self {
        let timing = Timing::for_lease(lease_duration);
        Self {
            name,
            identity,
            renew_deadline: timing.renew_deadline,
            retry_period: timing.retry_period,
            lease_duration,
            annotations: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("failed to read Lease {name}")]
    Get {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to create Lease {name}")]
    Create {
        name: String,
        #[source]
        source: kube::Error,
    },
    #[error("failed to write Lease {name} (acquire or renew)")]
    Write {
        name: String,
        #[source]
        source: kube::Error,
    },
}

pub struct LeaseElector {
    api: Api<Lease>,
    opts: LeaseOptions,
    /// The Lease's `resourceVersion` when last read, and when we first saw it.
    observed: Option<(String, Instant)>,
    /// `leaseTransitions` as last written by this replica: its term.
    transitions: u64,
    /// The live holder as last seen, with its annotations.
    holder: Option<(String, BTreeMap<String, String>)>,
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

impl LeaseElector {
    pub fn new(api: Api<Lease>, opts: LeaseOptions) -> Self {
        Self {
            api,
            opts,
            observed: None,
            transitions: 0,
            holder: None,
        }
    }

    /// The replica that held the Lease, unexpired, at the last attempt
    /// (this one included), and the annotations it wrote there.
    pub fn holder(&self) -> Option<&(String, BTreeMap<String, String>)> {
        self.holder.as_ref()
    }

    fn mine(&self) -> (String, BTreeMap<String, String>) {
        (self.opts.identity.clone(), self.opts.annotations.clone())
    }

    /// `meta` with this replica's annotations added.
    fn annotate(&self, meta: &mut ObjectMeta) {
        if !self.opts.annotations.is_empty() {
            meta.annotations
                .get_or_insert_with(BTreeMap::new)
                .extend(self.opts.annotations.clone());
        }
    }

    /// One attempt, remembering who holds the Lease afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let held = self.attempt_once().await;
        match &held {
            Ok(true) => self.holder = Some(self.mine()),
            Ok(false) => {}
            Err(_) => self.holder = None,
        }
        held
    }

    fn spec_now(&self, acquired: bool, transitions: i32) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.opts.identity.clone()),
            lease_duration_seconds: Some(self.opts.lease_duration.as_secs().max(1) as i32),
            acquire_time: acquired.then(|| now.clone()),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..LeaseSpec::default()
        }
    }

    /// One attempt: `Ok(true)` when this replica holds the Lease afterwards.
    async fn attempt_once(&mut self) -> Result<bool, LeaderError> {
        let name = self.opts.name.clone();
        let current = self
            .api
            .get_opt(&name)
            .await
            .map_err(|source| LeaderError::Get {
                name: name.clone(),
                source,
            })?;
        let Some(mut lease) = current else {
            let mut lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec_now(true, 0)),
            };
            self.annotate(&mut lease.metadata);
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => {
                    self.transitions = 0;
                    Ok(true)
                }
                // Another replica created it first.
                Err(e) if is_conflict(&e) => {
                    self.holder = None;
                    Ok(false)
                }
                Err(source) => Err(LeaderError::Create { name, source }),
            };
        };
        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().is_none_or(|(seen, _)| *seen != rv) {
            self.observed = Some((rv, Instant::now()));
        }
        let spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let transitions = spec.lease_transitions.unwrap_or(0);
        let (next, term) = if holder == self.opts.identity {
            let next = LeaseSpec {
                acquire_time: spec.acquire_time.clone(),
                ..self.spec_now(false, transitions)
            };
            (next, transitions)
        } else {
            let held_for =
                Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
            let unchanged_for = self
                .observed
                .as_ref()
                .map_or(Duration::ZERO, |(_, t)| t.elapsed());
            if !holder.is_empty() && unchanged_for < held_for {
                let annotations = lease.metadata.annotations.clone().unwrap_or_default();
                self.holder = Some((holder, annotations));
                return Ok(false);
            }
            self.holder = None;
            (self.spec_now(true, transitions + 1), transitions + 1)
        };
        lease.spec = Some(next);
        self.annotate(&mut lease.metadata);
        // The resourceVersion read above is the precondition: 409 if anyone wrote since.
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                self.transitions = term.max(0) as u64;
                Ok(true)
            }
            Err(e) if is_conflict(&e) => {
                self.holder = None;
                Ok(false)
            }
            Err(source) => Err(LeaderError::Write { name, source }),
        }
    }

    /// Gives the Lease up so another replica can take over at once.
    async fn release(&mut self) -> Result<(), LeaderError> {
        let name = self.opts.name.clone();
        let lease = self
            .api
            .get(&name)
            .await
            .map_err(|source| LeaderError::Get {
                name: name.clone(),
                source,
            })?;
        let Some(spec) = lease.spec.clone() else {
            return Ok(());
        };
        if spec.holder_identity.as_deref() != Some(self.opts.identity.as_str()) {
            return Ok(());
        }
        let released = Lease {
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..spec
            }),
            ..lease
        };
        self.api
            .replace(&name, &PostParams::default(), &released)
            .await
            .map(|_| ())
            .map_err(|source| LeaderError::Write { name, source })
    }

    /// Runs `work` while this replica leads, until `cancel` fires (see [`lead`]).
    pub async fn run<F, Fut>(self, cancel: CancellationToken, work: F)
    where
        F: Fn(CancellationToken) -> Fut + Send,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let timing = Timing {
            renew_deadline: self.opts.renew_deadline,
            retry_period: self.opts.retry_period,
        };
        lead(self, timing, cancel, move |token, _term| work(token)).await
    }
}

#[async_trait::async_trait]
impl Elector for LeaseElector {
    fn name(&self) -> String {
        format!("Lease {}", self.opts.name)
    }

    async fn attempt(&mut self) -> Result<Option<u64>, String> {
        match self.try_acquire_or_renew().await {
            // The Lease's transitions count one per change of holder: a term.
            Ok(true) => Ok(Some(self.transitions)),
            Ok(false) => Ok(None),
            Err(e) => Err(crate::error_chain(&e)),
        }
    }

    async fn release(&mut self) -> Result<(), String> {
        LeaseElector::release(self)
            .await
            .map_err(|e| crate::error_chain(&e))
    }
}

/// One way of electing a leader: a Kubernetes Lease, a row in PostgreSQL.
#[async_trait::async_trait]
pub trait Elector: Send {
    /// What is contended for, for the log.
    fn name(&self) -> String;
    /// One attempt to acquire or renew: the term held afterwards, if any.
    /// A term grows whenever the holder changes.
    async fn attempt(&mut self) -> Result<Option<u64>, String>;
    /// Gives the lease up so another server can take over at once.
    async fn release(&mut self) -> Result<(), String>;
}

/// How often an elector tries, and when a leader that cannot renew stops.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// A leader that has not renewed for this long stops leading (shorter
    /// than the lease, so it stops before anyone else may take over).
    pub renew_deadline: Duration,
    /// Pause between attempts.
    pub retry_period: Duration,
}

impl Timing {
    /// client-go's proportions: renew deadline 2/3 and retry period 2/15 of the lease.
    pub fn for_lease(lease: Duration) -> Self {
        Self {
            renew_deadline: lease * 2 / 3,
            retry_period: (lease * 2 / 15).max(Duration::from_millis(100)),
        }
    }
}

/// Runs `work` while `elector` holds its lease, until `cancel` fires.
/// `work` gets a token cancelled when leadership is lost and the term it
/// leads in; it is awaited before anything else happens, so two works never
/// overlap on this server.
pub async fn lead<E, F, Fut>(mut elector: E, timing: Timing, cancel: CancellationToken, work: F)
where
    E: Elector,
    F: Fn(CancellationToken, u64) -> Fut + Send,
    Fut: Future<Output = ()> + Send + 'static,
{
    let name = elector.name();
    let mut leading: Option<(u64, CancellationToken, tokio::task::JoinHandle<()>)> = None;
    let mut last_renew: Option<Instant> = None;
    loop {
        let sent = Instant::now();
        // A leader waits for an answer only until its renew deadline.
        let deadline = last_renew
            .filter(|_| leading.is_some())
            .map(|t| t + timing.renew_deadline);
        let wait = deadline.map_or(timing.renew_deadline, |d| d.saturating_duration_since(sent));
        let attempt = tokio::select! {
            _ = cancel.cancelled() => break,
            attempt = tokio::time::timeout(wait, elector.attempt()) => {
                attempt.unwrap_or_else(|_| Err(format!("no answer within {wait:?}")))
            }
        };
        let held = match attempt {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(lease = %name, error = %e, "leader election attempt failed");
                // A leader that cannot renew stops at once: nobody else can
                // take over before its lease ends, but neither can it know
                // that its term still holds (its fenced writes would be
                // refused anyway), and its drivers should look for the
                // next leader now.
                None
            }
        };
        if held.is_some() {
            // The lease runs from when the renewal was sent, at the latest.
            last_renew = Some(sent);
        }
        match (&leading, held) {
            (None, Some(term)) => {
                tracing::info!(lease = %name, term, "became the leader; reconciling");
                let token = cancel.child_token();
                leading = Some((term, token.clone(), tokio::spawn(work(token, term))));
            }
            (Some((was, _, _)), Some(term)) if *was != term => {
                tracing::warn!(lease = %name, was, term, "leader term changed; restarting the reconciler");
                stop(leading.take()).await;
                let token = cancel.child_token();
                leading = Some((term, token.clone(), tokio::spawn(work(token, term))));
            }
            (Some(_), None) => {
                tracing::warn!(lease = %name, "lost leadership; stopping the reconciler");
                stop(leading.take()).await;
                last_renew = None;
            }
            _ => {}
        }
        // Wake at the renew deadline at the latest, to step down in time.
        let mut until = Instant::now() + timing.retry_period;
        if let Some(t) = last_renew.filter(|_| leading.is_some()) {
            until = until.min(t + timing.renew_deadline);
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(until.into()) => {}
        }
        if leading.is_some() && last_renew.is_none_or(|t| t.elapsed() >= timing.renew_deadline) {
            tracing::warn!(lease = %name, "could not renew in time; stopping the reconciler");
            stop(leading.take()).await;
            last_renew = None;
        }
    }
    if leading.is_some() {
        stop(leading.take()).await;
        if let Err(e) = elector.release().await {
            tracing::warn!(lease = %name, error = %e, "could not release the lease; it expires by itself");
        }
    }
}

async fn stop(leading: Option<(u64, CancellationToken, tokio::task::JoinHandle<()>)>) {
    if let Some((_, token, handle)) = leading {
        token.cancel();
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "the leader's work ended abnormally");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// Answers from a script, then keeps the last answer.
    struct Scripted(VecDeque<Result<Option<u64>, String>>);

    #[async_trait::async_trait]
    impl Elector for Scripted {
        fn name(&self) -> String {
            "scripted".to_owned()
        }

        async fn attempt(&mut self) -> Result<Option<u64>, String> {
            if self.0.len() > 1 {
                self.0.pop_front().unwrap()
            } else {
                self.0.front().cloned().unwrap()
            }
        }

        async fn release(&mut self) -> Result<(), String> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_leader_that_cannot_renew_stops_at_once() {
        let script = [Ok(Some(7)), Ok(Some(7)), Err("database gone".to_owned())];
        let elector = Scripted(script.into_iter().collect());
        // A renew deadline far longer than the test may take.
        let timing = Timing {
            renew_deadline: Duration::from_secs(60),
            retry_period: Duration::from_millis(20),
        };
        let ended: Arc<Mutex<Option<(u64, Instant)>>> = Arc::default();
        let cancel = CancellationToken::new();
        let seen = ended.clone();
        let started = Instant::now();
        let run = tokio::spawn(lead(elector, timing, cancel.clone(), move |token, term| {
            let seen = seen.clone();
            async move {
                token.cancelled().await;
                *seen.lock().unwrap() = Some((term, Instant::now()));
            }
        }));
        let deadline = Instant::now() + Duration::from_secs(5);
        while ended.lock().unwrap().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (term, at) = ended.lock().unwrap().expect("the term ended");
        assert_eq!(term, 7);
        // Two renewals and the failed one, 20 ms apart: well under a second,
        // not the 60 s renew deadline.
        assert!(
            at - started < Duration::from_secs(1),
            "stopped after {:?}",
            at - started
        );
        cancel.cancel();
        run.await.unwrap();
    }
}
