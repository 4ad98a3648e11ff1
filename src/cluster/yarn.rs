//! The YARN manager: spark-submit in cluster mode tags the application
//! (`spark.yarn.tags`); one ResourceManager list per poll interval observes
//! every tracked application; kill is the RM's `PUT …/state`. An unreachable
//! RM is an error (the reconciler keeps the last known state), never a death.

mod listing;
mod query;
mod rm;
mod state;

pub use state::{FinalStatus, YarnState, map_yarn};

use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::{Method, StatusCode};

use super::http::chain;
use super::local::map_process;
use super::{AppObservation, ClusterError, ClusterManager, Outcome, TrackedApp};
use crate::config::Config;
use crate::launcher::{Launcher, ProcessState, SubmitAdditions};
use crate::records::now_ms;
use listing::{Listing, Outage};
use query::{ListQuery, StartFloors};
use rm::Rm;
use state::{RmApp, parse_apps};

const NAME: &str = "yarn";
const CONF_TAGS: &str = "spark.yarn.tags";
const CONF_WAIT: &str = "spark.yarn.submit.waitAppCompletion";
/// `--deploy-mode` wins over it, so an explicit `livy.spark.deploy-mode` still rules.
const CONF_DEPLOY_MODE: &str = "spark.submit.deployMode";

/// Timing of the manager (from [`Config`], or short ones in tests).
#[derive(Debug, Clone)]
pub struct YarnOptions {
    /// At most one RM list per interval; observations in between answer from it.
    pub poll_interval: Duration,
    pub lookup_timeout: Duration,
    /// SIGTERM→SIGKILL grace for the local spark-submit process on kill.
    pub kill_grace: Duration,
    /// `livy.spark.deploy-mode = client`: the driver is the local process.
    pub client_mode: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Upper bound of the pause after consecutive failed lists (doubling from
    /// the poll interval); zero never pauses.
    pub max_backoff: Duration,
    pub kill_retry_delay: Duration,
    pub kill_attempts: u32,
}

impl YarnOptions {
    pub fn from_config(c: &Config) -> Self {
        Self {
            poll_interval: c.yarn_poll_interval,
            lookup_timeout: c.yarn_app_lookup_timeout,
            kill_grace: c.kill_grace,
            client_mode: c.deploy_mode.as_deref() == Some("client"),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
            max_backoff: Duration::from_secs(60),
            kill_retry_delay: Duration::from_millis(500),
            kill_attempts: 40,
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum YarnError {
    #[error("no ResourceManager answered as the active one ({0})")]
    Unreachable(String),
    #[error("ResourceManager {url} answered {status} to the application list: {body}")]
    ListStatus {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("failed to decode the application list from {url}")]
    Decode {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "not asking the ResourceManager for another {left:?} after {failures} failed lists (last: {last})"
    )]
    BackingOff {
        left: Duration,
        failures: u32,
        last: String,
    },
    #[error("ResourceManager {url} answered {status} to the kill: {body}")]
    KillStatus {
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("{app_id} was still being killed after {attempts} requests")]
    KillPending { app_id: String, attempts: u32 },
}

#[derive(Default)]
struct State {
    floors: StartFloors,
    listing: Option<Listing>,
    outage: Outage,
}

pub struct YarnManager {
    rm: Rm,
    launcher: Arc<Launcher>,
    opts: YarnOptions,
    state: Mutex<State>,
}

impl YarnManager {
    /// `rm_addresses`: base URLs of the ResourceManagers (several for RM HA).
    pub fn new(rm_addresses: Vec<String>, launcher: Arc<Launcher>, opts: YarnOptions) -> Self {
        Self {
            rm: Rm::new(rm_addresses, opts.connect_timeout, opts.request_timeout),
            launcher,
            opts,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn list(&self, query: &ListQuery) -> Result<Vec<RmApp>, YarnError> {
        let resp = self
            .rm
            .send(Method::GET, &query.path(), None)
            .await
            .map_err(YarnError::Unreachable)?;
        if resp.status != StatusCode::OK {
            return Err(YarnError::ListStatus {
                url: resp.url,
                status: resp.status,
                body: snippet(&resp.body),
            });
        }
        let (apps, skipped) = parse_apps(&resp.body).map_err(|source| YarnError::Decode {
            url: resp.url.clone(),
            source,
        })?;
        if skipped > 0 {
            tracing::warn!(url = %resp.url, skipped, "skipped application documents this server cannot read");
        }
        Ok(apps)
    }

    /// The newest application carrying `tag`, if the RM knows one.
    async fn find_id(&self, tag: &str) -> Result<Option<String>, YarnError> {
        let apps = self
            .list(&ListQuery::Tags(vec![tag.to_lowercase()]))
            .await?;
        let listing = Listing::new(
            Instant::now(),
            &[TrackedApp {
                tag: tag.to_owned(),
                app_id: None,
            }],
            apps,
        );
        Ok(listing.by_tag.into_values().next().map(|a| a.id))
    }

    async fn kill_by_id(&self, app_id: &str) -> Result<(), YarnError> {
        let path = format!("/ws/v1/cluster/apps/{app_id}/state");
        let body = serde_json::json!({ "state": "KILLED" });
        for attempt in 1..=self.opts.kill_attempts {
            let resp = self
                .rm
                .send(Method::PUT, &path, Some(&body))
                .await
                .map_err(YarnError::Unreachable)?;
            match resp.status {
                // The application is in a final state (killed now, or ended before).
                StatusCode::OK => return Ok(()),
                // The RM no longer knows it: nothing is left to kill.
                StatusCode::NOT_FOUND => return Ok(()),
                // The kill is under way; ask again until it is done.
                StatusCode::ACCEPTED if attempt < self.opts.kill_attempts => {
                    tokio::time::sleep(self.opts.kill_retry_delay).await;
                }
                StatusCode::ACCEPTED => {}
                status => {
                    return Err(YarnError::KillStatus {
                        url: resp.url,
                        status,
                        body: snippet(&resp.body),
                    });
                }
            }
        }
        Err(YarnError::KillPending {
            app_id: app_id.to_owned(),
            attempts: self.opts.kill_attempts,
        })
    }
}

fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

fn observe_err(e: &YarnError) -> ClusterError {
    ClusterError::Observe {
        manager: NAME,
        reason: chain(e),
    }
}

/// The steps of [`ClusterManager::observe`].
impl YarnManager {
    /// The last listing's answer while it is fresh (`Break`), an error while
    /// the ResourceManager is backed off, else the query to send (`Continue`).
    fn cached_or_plan(
        &self,
        apps: &[TrackedApp],
    ) -> Result<ControlFlow<HashMap<String, AppObservation>, ListQuery>, ClusterError> {
        let mut st = self.lock();
        if let Some(l) = &st.listing
            && l.fetched.elapsed() < self.opts.poll_interval
        {
            return Ok(ControlFlow::Break(l.answer(apps)));
        }
        if let Some(left) = st.outage.left() {
            return Err(observe_err(&YarnError::BackingOff {
                left,
                failures: st.outage.failures,
                last: st.outage.last.clone(),
            }));
        }
        st.floors.retain(apps);
        Ok(ControlFlow::Continue(ListQuery::plan(apps, &st.floors)))
    }

    /// The tags of applications without an id whose spark-submit has exited,
    /// with how it exited.
    async fn exited_submits<'a>(&self, apps: &'a [TrackedApp]) -> Vec<(&'a str, ProcessState)> {
        let unnamed: Vec<&TrackedApp> = apps.iter().filter(|a| a.app_id.is_none()).collect();
        let states = self
            .launcher
            .observe_all(unnamed.iter().map(|a| a.tag.clone()).collect())
            .await;
        unnamed
            .iter()
            .map(|a| a.tag.as_str())
            .zip(states)
            .filter(|(_, s)| matches!(s, ProcessState::Exited(_)))
            .collect()
    }

    /// Records a list's outcome (the outage, the start floors, the cached
    /// listing) and answers `apps` from it.
    fn keep_listing(
        &self,
        result: Result<Vec<RmApp>, YarnError>,
        apps: &[TrackedApp],
        fetched: Instant,
        listed_at: u64,
    ) -> Result<HashMap<String, AppObservation>, ClusterError> {
        let mut st = self.lock();
        let found = match result {
            Ok(found) => {
                st.outage.recovered();
                found
            }
            Err(e) => {
                let (poll, max) = (self.opts.poll_interval, self.opts.max_backoff);
                st.outage.failed(chain(&e), poll, max);
                return Err(observe_err(&e));
            }
        };
        let listing = Listing::new(fetched, apps, found);
        let covered = listing.covered.iter().map(String::as_str);
        st.floors.learn(covered, &listing.started(), listed_at);
        let out = listing.answer(apps);
        st.listing = Some(listing);
        Ok(out)
    }
}

/// An application YARN does not know whose spark-submit failed is failed
/// now, with the submit's diagnostic, rather than after the lookup timeout.
fn explain_failed_submits(
    out: &mut HashMap<String, AppObservation>,
    exits: Vec<(&str, ProcessState)>,
) {
    for (tag, process) in exits {
        if out.get(tag) != Some(&AppObservation::NotFound) {
            continue;
        }
        if let AppObservation::Finished {
            outcome: Outcome::Failed,
            exit_code,
            diagnostic,
            ..
        } = map_process(&process)
        {
            let why = diagnostic.unwrap_or_default();
            out.insert(
                tag.to_owned(),
                AppObservation::Finished {
                    outcome: Outcome::Failed,
                    app_id: None,
                    app_info: Default::default(),
                    exit_code,
                    diagnostic: Some(format!("{why}; YARN has no application tagged {tag}")),
                },
            );
        }
    }
}

#[async_trait]
impl ClusterManager for YarnManager {
    fn name(&self) -> &'static str {
        NAME
    }

    fn submit_additions(&self, tag: &str, _user_name: Option<&str>) -> SubmitAdditions {
        let mut conf = BTreeMap::new();
        conf.insert(CONF_TAGS.to_owned(), tag.to_lowercase());
        conf.insert(CONF_WAIT.to_owned(), "false".to_owned());
        if !self.opts.client_mode {
            conf.insert(CONF_DEPLOY_MODE.to_owned(), "cluster".to_owned());
        }
        SubmitAdditions {
            conf,
            ..SubmitAdditions::default()
        }
    }

    fn submit_process_is_app(&self) -> bool {
        self.opts.client_mode
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.opts.poll_interval)
    }

    fn lookup_timeout(&self) -> Option<Duration> {
        Some(self.opts.lookup_timeout)
    }

    fn not_found_diagnostic(&self, tag: &str, waited: Duration) -> String {
        // Livy's wording, which users search for.
        format!(
            "No YARN application is found with tag {tag} in {} seconds. This may be because \
             1) spark-submit fail to submit application to YARN; or 2) YARN cluster doesn't \
             have enough resources to start the application in time. Please check Livy log \
             and YARN log to know the details.",
            waited.as_secs()
        )
    }

    async fn observe(
        &self,
        apps: &[TrackedApp],
    ) -> Result<HashMap<String, AppObservation>, ClusterError> {
        if apps.is_empty() {
            return Ok(HashMap::new());
        }
        let query = match self.cached_or_plan(apps)? {
            ControlFlow::Break(answer) => return Ok(answer),
            ControlFlow::Continue(query) => query,
        };
        // Read before listing: an application that spark-submit got to YARN
        // before exiting is in a list made after the exit.
        let exits = self.exited_submits(apps).await;
        let (listed_at, fetched) = (now_ms(), Instant::now());
        let result = self.list(&query).await;
        let mut out = self.keep_listing(result, apps, fetched, listed_at)?;
        // spark-submit failed and YARN never heard of the application: say so
        // now instead of after the lookup timeout.
        explain_failed_submits(&mut out, exits);
        Ok(out)
    }

    async fn kill(&self, app: &TrackedApp) -> Result<(), ClusterError> {
        let kill_err = |e: YarnError| ClusterError::Kill {
            manager: NAME,
            tag: app.tag.clone(),
            reason: chain(&e),
        };
        // The next observation must show the kill, not a list from before it.
        self.lock().listing = None;
        // As Livy does, also stop the local spark-submit: it may still be
        // submitting, or be the driver itself (client mode).
        self.launcher.stop(&app.tag, self.opts.kill_grace).await;
        let app_id = match &app.app_id {
            Some(id) => id.clone(),
            None => match self.find_id(&app.tag).await.map_err(kill_err)? {
                Some(id) => id,
                // Not on YARN (yet): the reconciler kills it if it shows up.
                None => return Ok(()),
            },
        };
        self.kill_by_id(&app_id).await.map_err(kill_err)
    }
}
