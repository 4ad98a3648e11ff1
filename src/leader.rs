//! Leader election on a `coordination.k8s.io/v1` Lease, so that of several
//! replicas exactly one runs the reconciler while all serve the REST API.
//!
//! Every write to the Lease carries the `resourceVersion` it read, so two
//! replicas racing for an expired Lease cannot both win (the loser gets 409).
//! Expiry is judged on this replica's clock from when it *observed* the Lease
//! last change, as client-go does, so clock skew between nodes cannot make a
//! live leader look expired. A leader that cannot renew steps down after
//! `renew_deadline` (shorter than the lease), before anyone else may take over.
//! kube-leader-election was considered: it needs kube 4 and acquires with an
//! unconditional merge patch, which lets two racing replicas both lead.

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
}

impl LeaseOptions {
    /// client-go's proportions: renew deadline 2/3 and retry period 2/15 of the lease.
    pub fn new(name: String, identity: String, lease_duration: Duration) -> Self {
        Self {
            name,
            identity,
            renew_deadline: lease_duration * 2 / 3,
            retry_period: (lease_duration * 2 / 15).max(Duration::from_millis(100)),
            lease_duration,
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
        }
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
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
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
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.spec_now(true, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                // Another replica created it first.
                Err(e) if is_conflict(&e) => Ok(false),
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
        let next = if holder == self.opts.identity {
            LeaseSpec {
                acquire_time: spec.acquire_time.clone(),
                ..self.spec_now(false, transitions)
            }
        } else {
            let held_for =
                Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
            let unchanged_for = self
                .observed
                .as_ref()
                .map_or(Duration::ZERO, |(_, t)| t.elapsed());
            if !holder.is_empty() && unchanged_for < held_for {
                return Ok(false);
            }
            self.spec_now(true, transitions + 1)
        };
        lease.spec = Some(next);
        // The resourceVersion read above is the precondition: 409 if anyone wrote since.
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
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

    /// Runs `work` while this replica leads, until `cancel` fires. `work`
    /// gets a token cancelled when leadership is lost; it is awaited before
    /// anything else happens, so two works never overlap on this replica.
    pub async fn run<F, Fut>(mut self, cancel: CancellationToken, work: F)
    where
        F: Fn(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut leading: Option<(CancellationToken, tokio::task::JoinHandle<()>)> = None;
        let mut last_renew: Option<Instant> = None;
        loop {
            // A hung API call must not hold up shutdown.
            let attempt = tokio::select! {
                _ = cancel.cancelled() => break,
                attempt = self.try_acquire_or_renew() => attempt,
            };
            let held = match attempt {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(lease = %self.opts.name, error = %e, "leader election attempt failed");
                    // Keep leading until the renew deadline: nobody can take over sooner.
                    last_renew.is_some_and(|t| t.elapsed() < self.opts.renew_deadline)
                }
            };
            if held {
                last_renew = Some(Instant::now());
            }
            match (&leading, held) {
                (None, true) => {
                    tracing::info!(lease = %self.opts.name, identity = %self.opts.identity, "became the leader; reconciling");
                    let token = cancel.child_token();
                    leading = Some((token.clone(), tokio::spawn(work(token))));
                }
                (Some(_), false) => {
                    tracing::warn!(lease = %self.opts.name, "lost leadership; stopping the reconciler");
                    stop(leading.take()).await;
                    last_renew = None;
                }
                _ => {}
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep(self.opts.retry_period) => {}
            }
        }
        if leading.is_some() {
            stop(leading.take()).await;
            if let Err(e) = self.release().await {
                tracing::warn!(lease = %self.opts.name, error = %e, "could not release the Lease; it expires by itself");
            }
        }
    }
}

async fn stop(leading: Option<(CancellationToken, tokio::task::JoinHandle<()>)>) {
    if let Some((token, handle)) = leading {
        token.cancel();
        if let Err(e) = handle.await {
            tracing::error!(error = %e, "the leader's work ended abnormally");
        }
    }
}
