//! Applying session decisions: launch the driver, follow it through the
//! driver channel and the cluster, stop it, expire idle sessions.

use std::time::Duration;

use super::launch::{cannot_start, submitted};
use super::{Action, Reconciler, lock, new_tag, random_token};
use super::{SessionPolicy, SessionStep, decide_session, pool_backoff_ms};
use crate::cluster::TrackedApp;
use crate::index::SessionRecord;
use crate::launcher::plan::{DriverSettings, LaunchPlan, SessionLaunch, Submit};
use crate::records::{Kind, Resources, SessionKind};
use crate::repl::class_data;
use crate::repl::driver_build::DriverArtifacts;
use crate::store::{Record, StoreError};

/// Sessions are observed as long as they have an application: a finished
/// session whose driver still runs must be stopped.
pub(super) fn tracked(s: &SessionRecord) -> Option<TrackedApp> {
    s.status.submission.as_ref().map(|sub| TrackedApp {
        tag: sub.tag.clone(),
        app_id: s.status.app_id.clone(),
    })
}

impl Reconciler {
    /// One look at one session.
    pub(super) async fn session(
        &self,
        rec: &SessionRecord,
        now: u64,
    ) -> Result<Action, StoreError> {
        let c = &self.d.config;
        let policy = SessionPolicy {
            lookup_timeout_ms: self.lookup_timeout().as_millis() as u64,
            retain_ms: c.state_retain.as_millis() as u64,
            connect_timeout_ms: c.connect_timeout.as_millis() as u64,
            idle_timeout_ms: c.session_timeout.map(|d| d.as_millis() as u64),
        };
        if rec.status.submission.is_some()
            && !rec.status.state.is_finished()
            && self.d.hub.snapshot(rec.id).is_none()
        {
            self.reattach(rec.id).await;
        }
        let sub = rec.status.submission.as_ref();
        let obs = self.observation(sub);
        let chan = self.d.hub.snapshot(rec.id);
        let step = decide_session(
            &rec.meta,
            &rec.spec,
            &rec.status,
            obs.as_ref(),
            chan.as_ref(),
            now,
            &policy,
        );
        let removed = step == SessionStep::Remove;
        let action = self.apply_session(rec.clone(), step, now).await?;
        if removed {
            return Ok(action);
        }
        // Driver timeouts and heartbeats are checked every poll.
        let mut action = action.or(self.revisit(rec, false, now));
        // A failed pooled driver is looked at again when its backoff ends.
        if rec.spec.pooled && !rec.meta.deletion_requested && rec.status.state.is_finished() {
            let due = rec.status.state_since + pool_backoff_ms(rec.status.launch_failures);
            let delay = Duration::from_millis(due.saturating_sub(now) + 1);
            action = action.or(Action::RequeueAfter(delay));
        }
        Ok(action)
    }

    /// After a restart (or on becoming leader), opens the channel of a
    /// session whose driver may still run, with its secret from the store,
    /// so the driver can reconnect.
    async fn reattach(&self, id: u64) {
        if lock(&self.secretless).contains(&id) {
            return;
        }
        match self.d.index.store().session_secret(id).await {
            Ok(Some(secret)) => self.d.hub.register(id, &secret),
            Ok(None) => {
                tracing::warn!(
                    session = id,
                    "no driver secret stored for this session; its driver cannot reconnect"
                );
                lock(&self.secretless).insert(id);
            }
            Err(e) => {
                tracing::warn!(session = id, error = %crate::error_chain(&e), "cannot read the driver secret; retrying")
            }
        }
    }

    async fn apply_session(
        &self,
        mut rec: SessionRecord,
        step: SessionStep,
        now: u64,
    ) -> Result<Action, StoreError> {
        let sub = rec.status.submission.clone();
        let done = Ok(Action::Done);
        match step {
            SessionStep::Wait => done,
            SessionStep::Submit => self.submit_session(rec, now).await,
            SessionStep::Stop => {
                self.d.hub.shutdown(rec.id);
                if let Some(app) = tracked(&rec) {
                    self.stop(Kind::Session, rec.id, app);
                }
                done
            }
            SessionStep::Remove => {
                self.d.hub.unregister(rec.id);
                self.remove(&rec, sub.as_ref()).await?;
                done
            }
            SessionStep::Expire { reason } => {
                self.appended(
                    sub.as_ref(),
                    &format!("livy-server: deleting the session: {reason}"),
                )
                .await;
                tracing::info!(session = rec.id, reason, "session expired");
                rec.meta.deletion_requested = true;
                self.write(&rec).await?;
                done
            }
            SessionStep::Relaunch { status } => {
                let line = format!(
                    "livy-server: launching the pooled driver again (attempt {}) after: {}",
                    status.launch_failures + 1,
                    status.message.as_deref().unwrap_or("it ended")
                );
                self.appended(sub.as_ref(), &line).await;
                tracing::info!(
                    session = rec.id,
                    failures = status.launch_failures,
                    "pooled driver failed; launching it again on its record"
                );
                self.write_observed(&Record { status, ..rec }).await?;
                done
            }
            SessionStep::Update { status, log } => {
                if let Some(line) = &log {
                    self.appended(sub.as_ref(), line).await;
                }
                if status.state != rec.status.state {
                    tracing::info!(session = rec.id, from = %rec.status.state, to = %status.state, "session state");
                }
                self.write_observed(&Record { status, ..rec }).await?;
                done
            }
        }
    }

    /// A session that cannot be launched at all ends `error`, with why in
    /// the log of the tag it would have had.
    async fn session_cannot_start(
        &self,
        mut rec: SessionRecord,
        tag: &str,
        text: String,
        now: u64,
    ) -> Result<Action, StoreError> {
        let files = self.d.launcher.files(tag);
        super::append_to(files.clone(), &text).await;
        cannot_start(&mut rec.status, text, now);
        rec.status.log_path = Some(files.log().display().to_string());
        self.write(&rec).await?;
        Ok(Action::Done)
    }

    async fn submit_session(&self, mut rec: SessionRecord, now: u64) -> Result<Action, StoreError> {
        if self.backing_off(Kind::Session, rec.id, now) {
            return Ok(Action::Done);
        }
        let Some(built) = self.driver_build() else {
            return Ok(Action::Done); // the driver is being compiled; its completion wakes us
        };
        let tag = new_tag(Kind::Session, rec.id);
        let opened = built
            .map_err(|e| format!("livy-server: cannot build the session driver: {e}"))
            .and_then(|artifacts| {
                sparkr_ready(rec.spec.kind, &artifacts)?;
                let conf = (self.d.sealer)
                    .open_conf(rec.meta.owner.as_deref(), &rec.spec.resources.conf)
                    .map_err(|e| format!("livy-server: cannot start the session: {e}"))?;
                Ok((artifacts, conf))
            });
        let (artifacts, conf) = match opened {
            Ok(opened) => opened,
            Err(text) => return self.session_cannot_start(rec, &tag, text, now).await,
        };
        let Some(callback) = self.d.hub.local_addr() else {
            tracing::error!(
                session = rec.id,
                "no driver callback listener; cannot start sessions"
            );
            return Ok(Action::Done);
        };
        let secret = random_token(32);
        // Stored before the submission is recorded: a server that restarts
        // after that write can always let the driver reconnect.
        (self.d.index.store())
            .put_session_secret(rec.id, &secret)
            .await?;
        let log = self.d.launcher.files(&tag).log().display().to_string();
        submitted(&mut rec.status, &tag, log, now);
        // Durable before spawning (see batches), and the channel exists
        // before the driver can dial in.
        rec.version = self.write(&rec).await?;
        self.d.hub.register(rec.id, &secret);
        let resources = Resources {
            conf,
            ..rec.spec.resources.clone()
        };
        let own = format!("{}:{}", self.d.config.launcher_address, callback.port());
        let plan = self.session_plan(&rec, &tag, resources, &artifacts, &own, &secret);
        self.launch(rec, &tag, plan, now).await
    }

    /// The launch of `rec`'s driver under `tag`.
    fn session_plan(
        &self,
        rec: &SessionRecord,
        tag: &str,
        resources: Resources,
        artifacts: &DriverArtifacts,
        own_callback: &str,
        secret: &str,
    ) -> LaunchPlan {
        let c = &self.d.config;
        let name = resources
            .name
            .clone()
            .unwrap_or_else(|| format!("livy-session-{}", rec.id));
        let settings = self.submit_settings(false, true);
        let app_dir = self.d.launcher.files(tag).dir().to_owned();
        let archive =
            (c.driver_class_data_sharing).then(|| class_data::archive_for(&artifacts.jar));
        let ready = archive.as_deref().and_then(class_data::ready);
        let session = SessionLaunch {
            id: rec.id,
            kind: rec.spec.kind,
            pooled: rec.spec.pooled,
            resources,
            jar: &artifacts.jar,
            python: &artifacts.python,
            callback: callbacks(own_callback, self.d.hub.servers()),
            secret,
            app_dir: &app_dir,
            driver: DriverSettings {
                sql_num_rows: c.sql_num_rows,
                max_output_bytes: c.limits.statement_max_output,
                idle_timeout: c.driver_idle_timeout,
                fast_start: class_data::java_options(&c.driver_java_options, ready),
                defaults_set_java_options: c
                    .spark_defaults
                    .contains_key("spark.driver.extraJavaOptions"),
                defaults_into_properties: spark3(c).then(|| c.spark_defaults.clone()),
                rsc_jars: c.jobs.rsc_jars.clone(),
            },
        };
        let submit = Submit {
            settings: &settings,
            adds: self.d.manager.submit_additions(tag, Some(&name)),
            r: artifacts.r.as_ref().and_then(|r| r.as_ref().ok()),
        };
        LaunchPlan::session(session, submit)
    }
}

/// Whether the Spark installation is of the 3.x line (or older), whose
/// spark-submit has no `--load-spark-defaults`.
fn spark3(c: &crate::config::Config) -> bool {
    let major = (c.spark_install.as_ref())
        .and_then(|i| i.spark_version.split('.').next()?.parse::<u32>().ok());
    major.is_some_and(|m| m < 4)
}

/// Without R every kind but sparkr still works; sparkr says why it cannot.
fn sparkr_ready(kind: SessionKind, artifacts: &DriverArtifacts) -> Result<(), String> {
    if kind != SessionKind::Sparkr || matches!(artifacts.r, Some(Ok(_))) {
        return Ok(());
    }
    let why = match &artifacts.r {
        Some(Err(e)) => format!("the R side of the driver could not be built: {e}"),
        _ => "no R on the server's PATH (install R, e.g. apt-get install r-base-core)".to_owned(),
    };
    Err(format!("livy-server: cannot start a sparkr session: {why}"))
}

/// The driver's `spark.livy.callback`: this server first, then every other
/// server sharing the records (the driver dials them in turn when this one
/// is gone).
fn callbacks(own: &str, servers: Vec<String>) -> String {
    let mut all = vec![own.to_owned()];
    all.extend(servers.into_iter().filter(|s| s != own));
    all.join(",")
}
