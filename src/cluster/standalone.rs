//! The standalone manager: client mode (the local spark-submit is the driver)
//! or cluster mode (a driver on a worker, submitted through the master's REST
//! server). One `GET /json/` of the master per observation finds every
//! tracked application: by the tag in its name (submit sets `<name> (<tag>)`),
//! or by the app/driver id spark-submit printed (user code may rename the app).

mod scan;
mod state;

pub use state::{map_app_state, map_driver_state};

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::http::{chain, client};
use super::{AppObservation, ClusterError, ClusterManager, Phase, TrackedApp};
use crate::config::Config;
use crate::launcher::{Launcher, SubmitAdditions};
use scan::LogScan;
use state::{Facts, MasterState, observe_app};

const NAME: &str = "standalone";
const UI_PORT: u16 = 8080;
const REST_PORT: u16 = 6066;
/// The head of a driver's stderr holds the lines we look for.
const WORKER_LOG_BYTES: u32 = 256 * 1024;
/// Drivers whose output is read per observation at most (bounds the burst
/// when many cluster-mode drivers start at once).
const WORKER_LOGS_PER_CALL: usize = 8;

#[derive(Debug, Clone)]
pub struct StandaloneOptions {
    /// Master web UI base URLs, tried in order (standalone HA lists several).
    pub ui_addresses: Vec<String>,
    /// REST submission server base URLs (`http://host:6066`).
    pub rest_addresses: Vec<String>,
    pub kill_grace: Duration,
    /// `livy.spark.deploy-mode = cluster`.
    pub cluster_mode: bool,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// `spark://h1:7077,h2:7077` → `["h1", "h2"]`.
pub fn master_hosts(master: &str) -> Vec<String> {
    master
        .strip_prefix("spark://")
        .unwrap_or(master)
        .split(',')
        .map(str::trim)
        .filter(|hp| !hp.is_empty())
        .map(|hp| match hp.rsplit_once(':') {
            Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
            _ => hp.to_owned(),
        })
        .collect()
}

/// `<input type="hidden" name="csrfToken" value="…"/>` in a master UI page.
fn csrf_token(html: &str) -> Option<String> {
    const MARK: &str = "name=\"csrfToken\" value=\"";
    let rest = &html[html.find(MARK)? + MARK.len()..];
    let token = &rest[..rest.find('"')?];
    token
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        .then(|| token.to_owned())
}

fn with_scheme(address: &str) -> String {
    let a = address.trim().trim_end_matches('/');
    if a.starts_with("http://") || a.starts_with("https://") {
        a.to_owned()
    } else {
        format!("http://{a}")
    }
}

impl StandaloneOptions {
    pub fn from_config(c: &Config) -> Self {
        let hosts = master_hosts(&c.spark_master);
        let ui_addresses = if c.spark_master_ui.is_empty() {
            hosts
                .iter()
                .map(|h| format!("http://{h}:{UI_PORT}"))
                .collect()
        } else {
            c.spark_master_ui.iter().map(|a| with_scheme(a)).collect()
        };
        Self {
            ui_addresses,
            rest_addresses: if c.spark_master_rest.is_empty() {
                hosts
                    .iter()
                    .map(|h| format!("http://{h}:{REST_PORT}"))
                    .collect()
            } else {
                c.spark_master_rest.iter().map(|a| with_scheme(a)).collect()
            },
            kill_grace: c.kill_grace,
            cluster_mode: c.deploy_mode.as_deref() == Some("cluster"),
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
        }
    }
}

pub struct StandaloneManager {
    launcher: Arc<Launcher>,
    http: Result<reqwest::Client, String>,
    opts: StandaloneOptions,
    /// Index of the master UI that last answered as ALIVE.
    active: AtomicUsize,
    /// What each tracked application's spark-submit output said so far.
    scans: Mutex<HashMap<String, LogScan>>,
    /// Whether the last look at the master failed (warn once per outage).
    master_down: AtomicBool,
}

impl StandaloneManager {
    pub fn new(launcher: Arc<Launcher>, opts: StandaloneOptions) -> Self {
        Self {
            launcher,
            http: client(opts.connect_timeout, opts.request_timeout),
            opts,
            active: AtomicUsize::new(0),
            scans: Mutex::default(),
            master_down: AtomicBool::new(false),
        }
    }

    /// The ALIVE master's state and UI base URL, trying each UI in turn.
    async fn master(&self) -> Result<(MasterState, String), String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let n = self.opts.ui_addresses.len();
        let start = self.active.load(Ordering::Relaxed);
        let mut passed_over = Vec::new();
        for i in 0..n {
            let idx = (start + i) % n;
            let base = self.opts.ui_addresses[idx].clone();
            let got = async {
                let resp = http
                    .get(format!("{base}/json/"))
                    .send()
                    .await
                    .map_err(|e| chain(&e))?;
                if !resp.status().is_success() {
                    return Err(format!("answered {}", resp.status()));
                }
                let state: MasterState = resp.json().await.map_err(|e| chain(&e))?;
                if state.status != "ALIVE" {
                    return Err(format!("master is {}", state.status));
                }
                Ok(state)
            }
            .await;
            match got {
                Ok(state) => {
                    self.active.store(idx, Ordering::Relaxed);
                    return Ok((state, base));
                }
                Err(why) => passed_over.push(format!("{base}: {why}")),
            }
        }
        Err(passed_over.join("; "))
    }

    fn scan(&self, tag: &str) -> LogScan {
        let mut scans = self.scans.lock().unwrap_or_else(|e| e.into_inner());
        let scan = scans.entry(tag.to_owned()).or_default();
        scan.advance(&self.launcher.files(tag).log());
        scan.clone()
    }

    /// Cluster mode: the driver runs on a worker and only its own output ties
    /// it to its application. Read it (once per observation, until the app id
    /// is known or the driver has ended) for drivers whose app is unknown.
    async fn learn_from_worker_logs(&self, apps: &[TrackedApp], master: &MasterState) {
        let Ok(http) = self.http.as_ref() else {
            return;
        };
        let wanted: Vec<(String, String, bool)> = {
            let scans = self.scans.lock().unwrap_or_else(|e| e.into_inner());
            apps.iter()
                .filter(|a| a.app_id.is_none())
                .filter_map(|a| {
                    let scan = scans.get(&a.tag)?;
                    if scan.app_id.is_some() || scan.worker_log_read {
                        return None;
                    }
                    let driver = master.find_driver(scan.driver_id.as_deref()?)?;
                    let ui = master.worker_ui(&driver.worker)?;
                    let url = format!(
                        "{ui}/log/?driverId={}&logType=stderr&offset=0&byteLength={WORKER_LOG_BYTES}",
                        driver.id
                    );
                    let ended = matches!(map_driver_state(&driver.state), Some(Phase::Finished(_)));
                    Some((a.tag.clone(), url, ended))
                })
                .take(WORKER_LOGS_PER_CALL)
                .collect()
        };
        for (tag, url, ended) in wanted {
            let text = match http.get(&url).send().await {
                Ok(r) if r.status().is_success() => r.text().await.unwrap_or_default(),
                Ok(r) => {
                    tracing::debug!(url = %url, status = %r.status(), "cannot read a driver's output");
                    continue;
                }
                Err(e) => {
                    tracing::debug!(url = %url, error = %chain(&e), "cannot read a driver's output");
                    continue;
                }
            };
            let mut scans = self.scans.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(scan) = scans.get_mut(&tag) {
                scan.feed(&text);
                scan.worker_log_read = ended;
            }
        }
    }

    /// The master UI's kill buttons (`path` has a query). Spark 4.3+ wants the
    /// page's CSRF token with the POST, so read it from the page first.
    async fn ui_kill(&self, path: &str) -> Result<(), String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let mut why = Vec::new();
        for base in &self.opts.ui_addresses {
            let page = match http.get(format!("{base}/")).send().await {
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => {
                    why.push(format!("{base}: {}", chain(&e)));
                    continue;
                }
            };
            let url = match csrf_token(&page) {
                Some(t) => format!("{base}{path}&csrfToken={t}"),
                None => format!("{base}{path}"),
            };
            match http.post(&url).send().await {
                Ok(r) if r.status().is_success() || r.status().is_redirection() => return Ok(()),
                Ok(r) => why.push(format!("{url}: answered {}", r.status())),
                Err(e) => why.push(format!("{url}: {}", chain(&e))),
            }
        }
        Err(why.join("; "))
    }

    /// POSTs to the first of `bases` that answers; `Err` says why none did.
    async fn post_first(&self, bases: &[String], path: &str) -> Result<(), String> {
        let http = self.http.as_ref().map_err(Clone::clone)?;
        let mut why = Vec::new();
        for base in bases {
            match http.post(format!("{base}{path}")).send().await {
                Ok(r) if r.status().is_success() || r.status().is_redirection() => return Ok(()),
                Ok(r) => why.push(format!("{base}{path}: answered {}", r.status())),
                Err(e) => why.push(format!("{base}{path}: {}", chain(&e))),
            }
        }
        Err(why.join("; "))
    }
}

#[async_trait]
impl ClusterManager for StandaloneManager {
    fn name(&self) -> &'static str {
        NAME
    }

    /// spark-submit refuses Python in standalone cluster mode, and sessions
    /// keep their driver next to the server: both run in client mode even
    /// when `livy.spark.deploy-mode = cluster` (which JVM batches follow).
    fn deploy_mode(
        &self,
        configured: Option<&str>,
        python: bool,
        interactive: bool,
    ) -> Option<String> {
        match configured {
            Some("cluster") if python || interactive => Some("client".to_owned()),
            other => other.map(str::to_owned),
        }
    }

    /// The tag goes into the application name (the only free text the
    /// master's JSON shows): `<name> (<tag>)`, or the tag alone.
    fn submit_additions(&self, tag: &str, user_name: Option<&str>) -> SubmitAdditions {
        let name = match user_name.map(str::trim).filter(|n| !n.is_empty()) {
            Some(n) => format!("{n} ({tag})"),
            None => tag.to_owned(),
        };
        SubmitAdditions {
            app_name: Some(name),
            ..SubmitAdditions::default()
        }
    }

    fn submit_process_is_app(&self) -> bool {
        !self.opts.cluster_mode
    }

    async fn observe(
        &self,
        apps: &[TrackedApp],
    ) -> Result<HashMap<String, AppObservation>, ClusterError> {
        if apps.is_empty() {
            return Ok(HashMap::new());
        }
        {
            let mut scans = self.scans.lock().unwrap_or_else(|e| e.into_inner());
            scans.retain(|t, _| apps.iter().any(|a| &a.tag == t));
        }
        // Process state first: a process seen running has not been missed by
        // the master list that follows.
        let processes = self
            .launcher
            .observe_all(apps.iter().map(|a| a.tag.clone()).collect())
            .await;
        for app in apps {
            self.scan(&app.tag);
        }
        let master = match self.master().await {
            Ok(m) => {
                if self.master_down.swap(false, Ordering::Relaxed) {
                    tracing::info!(manager = NAME, "standalone master reachable again");
                }
                Some(m)
            }
            Err(why) => {
                // Processes still tell how client-mode applications end, so
                // this is partial news, not an error.
                if !self.master_down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(manager = NAME, error = %why, "cannot reach the standalone master; cluster-mode states are kept until it answers");
                }
                None
            }
        };
        if let Some((m, _)) = &master {
            self.learn_from_worker_logs(apps, m).await;
        }
        let scans: Vec<LogScan> = {
            let scans = self.scans.lock().unwrap_or_else(|e| e.into_inner());
            apps.iter()
                .map(|a| scans.get(&a.tag).cloned().unwrap_or_default())
                .collect()
        };
        let ui = master
            .as_ref()
            .map(|(_, u)| u.as_str())
            .or(self.opts.ui_addresses.first().map(String::as_str))
            .unwrap_or("");
        Ok(apps
            .iter()
            .zip(processes.iter().zip(&scans))
            .filter_map(|(app, (process, scan))| {
                let facts = Facts {
                    tracked: app,
                    process,
                    scan,
                    master: master.as_ref().map(|(m, _)| m),
                    master_ui: ui,
                    cluster_default: self.opts.cluster_mode,
                };
                observe_app(&facts).map(|o| (app.tag.clone(), o))
            })
            .collect())
    }

    async fn kill(&self, app: &TrackedApp) -> Result<(), ClusterError> {
        let scan = self.scan(&app.tag);
        let mut failures = Vec::new();
        if let Some(driver) = &scan.driver_id {
            // The REST server if it runs, else the master UI's kill button.
            let rest = format!("/v1/submissions/kill/{driver}");
            let ui = format!("/driver/kill/?id={driver}&terminate=true");
            if let Err(e) = self.post_first(&self.opts.rest_addresses, &rest).await
                && let Err(e2) = self.ui_kill(&ui).await
            {
                failures.push(format!("{e}; {e2}"));
            }
        }
        // Client mode: the driver is this process. Cluster mode: spark-submit
        // may still be submitting.
        self.launcher.stop(&app.tag, self.opts.kill_grace).await;
        let app_id = app.app_id.clone().or(scan.app_id.clone());
        if let (None, Some(id), true) = (&scan.driver_id, app_id, self.opts.cluster_mode) {
            // A cluster-mode application whose driver is unknown: stop the app.
            let path = format!("/app/kill/?id={id}&terminate=true");
            if let Err(e) = self.ui_kill(&path).await {
                failures.push(e);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ClusterError::Kill {
                manager: NAME,
                tag: app.tag.clone(),
                reason: failures.join("; "),
            })
        }
    }
}

#[cfg(test)]
mod tests;
