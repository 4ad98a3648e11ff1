//! Several servers on one store (PostgreSQL, or Kubernetes custom resources
//! with leader election on). Every server serves the REST API from its own
//! index; one, elected through a lease (a row in PostgreSQL, a `Lease` in
//! Kubernetes), reconciles and serves the session drivers. Session calls that need a driver (statements,
//! cancel, completion) are forwarded to the leader with the caller's
//! identity. Drivers are told every server's callback address, and dial the
//! next one when theirs goes away; only the leader welcomes them.
//!
//! In PostgreSQL the lease is a row (`livy_leader`) judged by the database's clock: a
//! server takes it when it is free or expired, keeps it by renewing, and its
//! term grows by one whenever the holder changes. The reconciler's writes
//! name their term and PostgreSQL refuses them once it is over (fencing); a
//! leader that cannot renew stops before anyone else may take over.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::leader::{Elector, LeaseElector, Timing};
use crate::reconcile::Reconciler;
use crate::repl::ReplHub;
use crate::store::{PostgresStore, StoreError};

mod forward;
pub mod signature;
pub use forward::forward;

/// Sent by a server that forwards a call: its signature over the call and
/// its caller (see [`signature`]).
pub const PEER_SIGNATURE_HEADER: &str = "x-livy-peer-signature";
/// The shared secret itself, as servers before signatures sent it: a call
/// that carries it is refused, as unsigned.
pub const PEER_SECRET_HEADER: &str = "x-livy-peer-secret";
/// Sent with [`PEER_SIGNATURE_HEADER`]: who called the forwarding server.
pub const FORWARDED_USER_HEADER: &str = "x-livy-forwarded-user";
/// On a forwarded answer: which server answered.
pub const ANSWERED_BY_HEADER: &str = "x-livy-answered-by";

/// Annotations a `Lease` holder writes so the other replicas can reach it.
pub const REST_URL_ANNOTATION: &str = "livy-server.dev/rest-url";
pub const CALLBACK_ANNOTATION: &str = "livy-server.dev/callback";

/// A server as the others see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub identity: String,
    /// Where its REST API is reached, e.g. `http://10.0.0.5:8998`.
    pub rest_url: String,
    /// Where its drivers dial, `host:port`.
    pub callback: String,
}

/// What this server knows of the servers sharing its store.
pub struct Cluster {
    pub me: Peer,
    /// Signs and checks forwarded calls with the servers' shared secret.
    signer: signature::Signer,
    /// The leader, as last read (`None`: no unexpired lease).
    leader: tokio::sync::watch::Sender<Option<Peer>>,
    /// Further addresses drivers may dial (e.g. a Service in front of every
    /// server), after the known servers.
    also: Vec<String>,
    http: reqwest::Client,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long a forwarded call may take (statements answer within their own
/// waits, far shorter).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(120);

impl Cluster {
    /// `peer_roots`: certificates trusted, besides the usual roots, when
    /// forwarding to another server over HTTPS (this server's own chain:
    /// the servers share their certificate or its CA).
    pub fn new(
        me: Peer,
        peer_secret: String,
        also: Vec<String>,
        peer_roots: &[rustls::pki_types::CertificateDer<'static>],
    ) -> Result<Arc<Self>, String> {
        let mut http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(FORWARD_TIMEOUT);
        for cert in peer_roots {
            let cert = reqwest::Certificate::from_der(cert.as_ref()).map_err(|e| {
                format!("cannot trust this server's certificate for forwarding: {e}")
            })?;
            http = http.add_root_certificate(cert);
        }
        let http = http.build().map_err(|e| {
            format!(
                "failed to build the forwarding client: {}",
                crate::error_chain(&e)
            )
        })?;
        Ok(Arc::new(Self {
            me,
            signer: signature::Signer::new(peer_secret.as_bytes()),
            leader: tokio::sync::watch::Sender::new(None),
            also,
            http,
        }))
    }

    /// Records who leads now and tells the drivers where to dial: the
    /// leader first, then this server, the other known servers and the
    /// further addresses.
    fn observed(&self, leader: Option<Peer>, others: Vec<String>, hub: &ReplHub) {
        let mut servers: Vec<String> = Vec::new();
        let first = leader.as_ref().map(|l| l.callback.clone());
        for addr in first
            .into_iter()
            .chain([self.me.callback.clone()])
            .chain(others)
            .chain(self.also.iter().cloned())
        {
            if !servers.contains(&addr) {
                servers.push(addr);
            }
        }
        self.leader.send_if_modified(|known| {
            let changed = *known != leader;
            *known = leader;
            changed
        });
        hub.set_servers(servers);
    }

    pub fn leader(&self) -> Option<Peer> {
        self.leader.borrow().clone()
    }

    /// The leader once one is known, waiting up to `within` (a server just
    /// started, or a failover under way).
    pub async fn leader_within(&self, within: Duration) -> Option<Peer> {
        let mut rx = self.leader.subscribe();
        let found = tokio::time::timeout(within, rx.wait_for(Option::is_some)).await;
        match found {
            Ok(Ok(leader)) => leader.clone(),
            _ => None,
        }
    }

    /// The signature for forwarding `method path` on behalf of `user`.
    pub fn sign_forward(&self, method: &str, path: &str, user: Option<&str>) -> String {
        self.signer.sign(method, path, user, unix_now())
    }

    /// Accepts a forwarded call's signature (once, within its window).
    pub fn verify_forward(
        &self,
        signature: &str,
        method: &str,
        path: &str,
        user: Option<&str>,
    ) -> Result<(), signature::Refusal> {
        self.signer
            .verify(signature, method, path, user, unix_now())
    }

    /// Runs elections on the PostgreSQL lease row until `cancel`.
    pub async fn run_on_postgres(
        self: Arc<Self>,
        store: Arc<PostgresStore>,
        lease: Duration,
        reconciler: Arc<Reconciler>,
        hub: Arc<ReplHub>,
        cancel: CancellationToken,
    ) {
        let link = loop {
            match store.side_connection().await {
                Ok(link) => break link,
                Err(e) => {
                    tracing::warn!(error = %crate::error_chain(&e), "cannot connect for leader election; retrying");
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        let elector = RowElector {
            link,
            cluster: self.clone(),
            hub: hub.clone(),
            lease,
        };
        self.lead(elector, Timing::for_lease(lease), reconciler, hub, cancel)
            .await;
    }

    /// Runs elections on a Kubernetes `Lease` until `cancel`; the holder
    /// writes where it is reached as the Lease's annotations.
    pub async fn run_on_lease(
        self: Arc<Self>,
        elector: LeaseElector,
        timing: Timing,
        reconciler: Arc<Reconciler>,
        hub: Arc<ReplHub>,
        cancel: CancellationToken,
    ) {
        let elector = LeaseDirectory {
            inner: elector,
            cluster: self.clone(),
            hub: hub.clone(),
        };
        self.lead(elector, timing, reconciler, hub, cancel).await;
    }

    /// Runs elections until `cancel`, publishing each term in the hub's
    /// [`Leadership`](crate::leadership::Leadership) (the server's): while
    /// this server leads, `reconciler` runs (its writes fenced by the term)
    /// and `hub` serves drivers, which go to the next leader when it ends.
    async fn lead<E: Elector>(
        self: Arc<Self>,
        elector: E,
        timing: Timing,
        reconciler: Arc<Reconciler>,
        hub: Arc<ReplHub>,
        cancel: CancellationToken,
    ) {
        crate::leader::lead(elector, timing, cancel, move |token, term| {
            let (reconciler, hub) = (reconciler.clone(), hub.clone());
            async move {
                let leadership = hub.leadership().clone();
                leadership
                    .lead_term(term, token.clone(), reconciler.run(token))
                    .await;
                hub.end_term();
            }
        })
        .await;
    }
}

/// The lease row, contended for through one connection of its own.
struct RowElector {
    /// Re-opened when lost; until then every attempt fails, and a leader
    /// stops leading at the first failed renewal.
    link: crate::store::Link,
    cluster: Arc<Cluster>,
    hub: Arc<ReplHub>,
    lease: Duration,
}

fn pg(action: &'static str) -> impl FnOnce(tokio_postgres::Error) -> String {
    move |e| crate::error_chain(&StoreError::Postgres { action, source: e })
}

#[async_trait::async_trait]
impl Elector for RowElector {
    fn name(&self) -> String {
        "PostgreSQL lease livy_leader".to_owned()
    }

    async fn attempt(&mut self) -> Result<Option<u64>, String> {
        let me = &self.cluster.me;
        let lease = self.lease.as_secs_f64();
        let client = self
            .link
            .client()
            .await
            .map_err(|e| crate::error_chain(&e))?;
        // Take the row when it is ours, free or expired; the term grows
        // with every change of holder.
        let term = client
            .query_opt(
                "INSERT INTO livy_leader (id, holder, term, expires_at, rest_url, callback)
                 VALUES (1, $1, 1, now() + make_interval(secs => $2), $3, $4)
                 ON CONFLICT (id) DO UPDATE SET
                     term = CASE WHEN livy_leader.holder = excluded.holder
                                 THEN livy_leader.term ELSE livy_leader.term + 1 END,
                     holder = excluded.holder,
                     expires_at = excluded.expires_at,
                     rest_url = excluded.rest_url,
                     callback = excluded.callback
                 WHERE livy_leader.holder = excluded.holder OR livy_leader.expires_at < now()
                 RETURNING term",
                &[&me.identity, &lease, &me.rest_url, &me.callback],
            )
            .await
            .map_err(pg("acquire or renew the lease"))?
            .map(|row| row.get::<_, i64>(0) as u64);
        client
            .execute(
                "INSERT INTO livy_servers (identity, rest_url, callback, seen_at)
                 VALUES ($1, $2, $3, now())
                 ON CONFLICT (identity) DO UPDATE SET
                     rest_url = excluded.rest_url, callback = excluded.callback, seen_at = now()",
                &[&me.identity, &me.rest_url, &me.callback],
            )
            .await
            .map_err(pg("announce this server"))?;
        // Servers not seen for four leases are gone (killed, not stopped).
        client
            .execute(
                "DELETE FROM livy_servers WHERE seen_at < now() - make_interval(secs => $1)",
                &[&(lease * 4.0)],
            )
            .await
            .map_err(pg("forget servers that are gone"))?;
        let others = client
            .query("SELECT callback FROM livy_servers ORDER BY identity", &[])
            .await
            .map_err(pg("list the servers"))?
            .iter()
            .map(|row| row.get::<_, String>(0))
            .collect();
        let leader = client
            .query_opt(
                "SELECT holder, rest_url, callback FROM livy_leader
                 WHERE id = 1 AND expires_at > now()",
                &[],
            )
            .await
            .map_err(pg("read the lease"))?
            .map(|row| Peer {
                identity: row.get(0),
                rest_url: row.get(1),
                callback: row.get(2),
            });
        self.cluster.observed(leader, others, &self.hub);
        Ok(term)
    }

    async fn release(&mut self) -> Result<(), String> {
        let me = &self.cluster.me.identity;
        let client = self
            .link
            .client()
            .await
            .map_err(|e| crate::error_chain(&e))?;
        client
            .execute(
                "UPDATE livy_leader SET expires_at = now() - interval '1 second' WHERE holder = $1",
                &[me],
            )
            .await
            .map_err(pg("release the lease"))?;
        client
            .execute("DELETE FROM livy_servers WHERE identity = $1", &[me])
            .await
            .map_err(pg("leave the list of servers"))?;
        Ok(())
    }
}

/// A Kubernetes `Lease`, whose holder's annotations say where it is reached.
struct LeaseDirectory {
    inner: LeaseElector,
    cluster: Arc<Cluster>,
    hub: Arc<ReplHub>,
}

/// The leader as its `Lease` annotations describe it.
pub fn peer_from_lease(holder: &str, annotations: &BTreeMap<String, String>) -> Option<Peer> {
    Some(Peer {
        identity: holder.to_owned(),
        rest_url: annotations.get(REST_URL_ANNOTATION)?.clone(),
        callback: annotations.get(CALLBACK_ANNOTATION)?.clone(),
    })
}

#[async_trait::async_trait]
impl Elector for LeaseDirectory {
    fn name(&self) -> String {
        Elector::name(&self.inner)
    }

    async fn attempt(&mut self) -> Result<Option<u64>, String> {
        let term = Elector::attempt(&mut self.inner).await;
        let leader = self
            .inner
            .holder()
            .and_then(|(holder, annotations)| peer_from_lease(holder, annotations));
        self.cluster.observed(leader, Vec::new(), &self.hub);
        term
    }

    async fn release(&mut self) -> Result<(), String> {
        Elector::release(&mut self.inner).await
    }
}

/// The REST address other servers forward to (`advertised`, else this
/// server's launcher address and port).
pub fn rest_url(advertised: Option<&str>, tls: bool, host: &str, port: u16) -> String {
    match advertised {
        Some(url) => url.to_owned(),
        None => {
            let scheme = if tls { "https" } else { "http" };
            match host.parse::<std::net::Ipv6Addr>() {
                Ok(v6) => format!("{scheme}://[{v6}]:{port}"),
                Err(_) => format!("{scheme}://{host}:{port}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(name: &str) -> Peer {
        Peer {
            identity: name.to_owned(),
            rest_url: format!("http://{name}:8998"),
            callback: format!("{name}:10000"),
        }
    }

    #[test]
    fn drivers_dial_the_leader_first_then_this_server_then_the_others() {
        let hub = ReplHub::new(
            Arc::new(crate::reconcile::Wake::new()),
            tokio_util::task::TaskTracker::new(),
        );
        let cluster = Cluster::new(peer("b"), "s".into(), vec!["svc:10000".into()], &[]).unwrap();
        let others = ["b:10000", "a:10000", "c:10000"].map(String::from).to_vec();
        cluster.observed(Some(peer("a")), others, &hub);
        assert_eq!(
            hub.servers(),
            ["a:10000", "b:10000", "c:10000", "svc:10000"]
        );
        assert_eq!(cluster.leader(), Some(peer("a")));
        cluster.observed(None, Vec::new(), &hub);
        assert_eq!(hub.servers(), ["b:10000", "svc:10000"]);
        assert_eq!(cluster.leader(), None);
    }

    #[test]
    fn a_lease_names_its_holder_only_with_both_addresses() {
        let full = BTreeMap::from([
            (REST_URL_ANNOTATION.to_owned(), "http://a:8998".to_owned()),
            (CALLBACK_ANNOTATION.to_owned(), "a:10000".to_owned()),
        ]);
        assert_eq!(peer_from_lease("a", &full), Some(peer("a")));
        let mut partial = full.clone();
        partial.remove(CALLBACK_ANNOTATION);
        assert_eq!(peer_from_lease("a", &partial), None);
    }

    #[test]
    fn the_rest_url_brackets_ipv6_hosts() {
        assert_eq!(
            rest_url(None, false, "10.0.0.5", 8998),
            "http://10.0.0.5:8998"
        );
        assert_eq!(rest_url(None, true, "::1", 8998), "https://[::1]:8998");
        assert_eq!(
            rest_url(Some("https://livy.example:443"), false, "x", 1),
            "https://livy.example:443"
        );
    }
}
