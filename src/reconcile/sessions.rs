//! Applying session decisions: launch the driver, follow it through the
//! driver channel and the cluster, stop it, expire idle sessions.

use std::collections::BTreeMap;

use super::{Reconciler, lock, new_tag, random_token};
use super::{SessionPolicy, SessionStep, decide_session, pool_backoff_ms};
use crate::cluster::TrackedApp;
use crate::index::SessionRecord;
use crate::launcher::files::AppFiles;
use crate::launcher::r::r_launch;
use crate::launcher::{Placement, submit_argv, with_properties_file};
use crate::records::{Kind, SessionKind, SessionState, Submission};
use crate::repl::class_data;
use crate::store::{Record, StoreError};

/// The Spark key of the driver JVM's options.
const DRIVER_JAVA_OPTIONS: &str = "spark.driver.extraJavaOptions";

/// The driver's main class (src/repl/driver/LivyReplDriver.scala).
pub const DRIVER_CLASS: &str = "org.livyserver.repl.LivyReplDriver";
/// Environment variable that carries the per-session secret to the driver.
pub const SECRET_ENV: &str = "LIVY_SESSION_SECRET";

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
    pub(super) async fn session(&self, rec: &SessionRecord, now: u64) -> Result<(), StoreError> {
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
        self.apply_session(rec.clone(), step, now).await?;
        if !removed {
            // Driver timeouts and heartbeats are checked every poll.
            self.revisit(rec, false, now);
            // A failed pooled driver is looked at again when its backoff ends.
            if rec.spec.pooled && !rec.meta.deletion_requested && rec.status.state.is_finished() {
                let due = rec.status.state_since + pool_backoff_ms(rec.status.launch_failures);
                let delay = std::time::Duration::from_millis(due.saturating_sub(now) + 1);
                self.d.wake.after((Kind::Session, rec.id), delay);
            }
        }
        Ok(())
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
    ) -> Result<(), StoreError> {
        let sub = rec.status.submission.clone();
        match step {
            SessionStep::Wait => Ok(()),
            SessionStep::Submit => self.submit_session(rec, now).await,
            SessionStep::Stop => {
                self.d.hub.shutdown(rec.id);
                if let Some(app) = tracked(&rec) {
                    self.stop(Kind::Session, rec.id, app);
                }
                Ok(())
            }
            SessionStep::Remove => {
                self.d.hub.unregister(rec.id);
                self.remove(&rec, sub.as_ref()).await
            }
            SessionStep::Expire { reason } => {
                self.appended(
                    sub.as_ref(),
                    &format!("livy-server: deleting the session: {reason}"),
                )
                .await;
                tracing::info!(session = rec.id, reason, "session expired");
                rec.meta.deletion_requested = true;
                self.write(&rec).await.map(|_| ())
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
                self.write_observed(&Record { status, ..rec }).await
            }
            SessionStep::Update { status, log } => {
                if let Some(line) = &log {
                    self.appended(sub.as_ref(), line).await;
                }
                if status.state != rec.status.state {
                    tracing::info!(session = rec.id, from = %rec.status.state, to = %status.state, "session state");
                }
                self.write_observed(&Record { status, ..rec }).await
            }
        }
    }

    /// A session that cannot be launched at all ends `error`, with why in its log.
    async fn cannot_start(
        &self,
        mut rec: SessionRecord,
        files: &AppFiles,
        text: String,
        now: u64,
    ) -> Result<(), StoreError> {
        super::append_to(files.clone(), &text).await;
        rec.status.state = SessionState::Error;
        rec.status.state_since = now;
        rec.status.message = Some(text);
        rec.status.log_path = Some(files.log().display().to_string());
        self.write(&rec).await.map(|_| ())
    }

    async fn submit_session(&self, mut rec: SessionRecord, now: u64) -> Result<(), StoreError> {
        if self.backing_off(Kind::Session, rec.id, now) {
            return Ok(());
        }
        let Some(built) = self.driver_build() else {
            return Ok(()); // the driver is being compiled; its completion wakes us
        };
        let tag = new_tag(Kind::Session, rec.id);
        let files = self.d.launcher.files(&tag);
        let artifacts = match built {
            Ok(a) => a,
            Err(e) => {
                let text = format!("livy-server: cannot build the session driver: {e}");
                return self.cannot_start(rec, &files, text, now).await;
            }
        };
        // Without R every kind but sparkr still works; sparkr says why it cannot.
        if rec.spec.kind == SessionKind::Sparkr && !matches!(artifacts.r, Some(Ok(_))) {
            let why = match &artifacts.r {
                Some(Err(e)) => format!("the R side of the driver could not be built: {e}"),
                _ => "no R on the server's PATH (install R, e.g. apt-get install r-base-core)"
                    .to_owned(),
            };
            let text = format!("livy-server: cannot start a sparkr session: {why}");
            return self.cannot_start(rec, &files, text, now).await;
        }
        let conf =
            match (self.d.sealer).open_conf(rec.meta.owner.as_deref(), &rec.spec.resources.conf) {
                Ok(conf) => conf,
                Err(e) => {
                    let text = format!("livy-server: cannot start the session: {e}");
                    return self.cannot_start(rec, &files, text, now).await;
                }
            };
        let Some(callback) = self.d.hub.local_addr() else {
            tracing::error!(
                session = rec.id,
                "no driver callback listener; cannot start sessions"
            );
            return Ok(());
        };
        let c = &self.d.config;
        let user_name = rec
            .spec
            .resources
            .name
            .clone()
            .unwrap_or_else(|| format!("livy-session-{}", rec.id));
        let mut adds = self.d.manager.submit_additions(&tag, Some(&user_name));
        adds.app_name.get_or_insert(user_name);
        let settings = self.submit_settings(false, true);
        let placement = Placement::of_submission(settings.deploy_mode.as_deref(), &adds);
        let cluster_mode = placement == Placement::Elsewhere;
        let secret = random_token(32);
        // The driver runs elsewhere (YARN AM, Kubernetes pod): its secret
        // travels as driver environment in a 0600 properties file, never in
        // argv. Without that file it could never call back: say so now.
        let secret_file = if cluster_mode {
            let (files2, secret2) = (files.clone(), secret.clone());
            let written = tokio::task::spawn_blocking(move || write_secret_conf(&files2, &secret2))
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e)));
            match written {
                Ok(path) => Some(path),
                Err(e) => {
                    let text = format!(
                        "livy-server: cannot write the driver secret file under {}: {e}",
                        files.dir().display()
                    );
                    return self.cannot_start(rec, &files, text, now).await;
                }
            }
        } else {
            None
        };
        let before = rec.status.clone();
        // Stored before the submission is recorded: a server that restarts
        // after that write can always let the driver reconnect.
        self.d
            .index
            .store()
            .put_session_secret(rec.id, &secret)
            .await?;
        rec.status.state = SessionState::Starting;
        rec.status.state_since = now;
        rec.status.submission = Some(Submission {
            tag: tag.clone(),
            attempt: before.launch_failures + 1,
            at: now,
        });
        rec.status.log_path = Some(files.log().display().to_string());
        // Durable before spawning (see batches), and the channel exists
        // before the driver can dial in.
        rec.version = self.write(&rec).await?;
        self.d.hub.register(rec.id, &secret);

        let driver_conf: BTreeMap<String, String> = [
            (
                "spark.livy.callback",
                callbacks(
                    &format!("{}:{}", c.launcher_address, callback.port()),
                    self.d.hub.servers(),
                ),
            ),
            ("spark.livy.session.id", rec.id.to_string()),
            ("spark.livy.session.kind", rec.spec.kind.as_str().to_owned()),
            (
                "spark.livy.repl.python",
                artifacts.python.display().to_string(),
            ),
            ("spark.livy.sql.num-rows", c.sql_num_rows.to_string()),
            (
                "spark.livy.statement.max-output-bytes",
                c.limits.statement_max_output.to_string(),
            ),
            (
                "spark.livy.server.idle-timeout",
                format!("{}s", c.driver_idle_timeout.as_secs()),
            ),
        ]
        .into_iter()
        .chain(
            rec.spec
                .pooled
                .then(|| ("spark.livy.pool", "true".to_owned())),
        )
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        adds.conf.extend(driver_conf);
        let jar = artifacts.jar.display().to_string();
        let mut resources = rec.spec.resources.clone();
        resources.conf = conf;
        // A driver on this host starts with the fast-start JVM options (and
        // the class-data archive) unless the user or spark-defaults chose.
        if !cluster_mode
            && !resources.conf.contains_key(DRIVER_JAVA_OPTIONS)
            && !c.spark_defaults.contains_key(DRIVER_JAVA_OPTIONS)
        {
            let archive = c
                .driver_class_data_sharing
                .then(|| class_data::archive_for(&artifacts.jar));
            let ready = archive.as_deref().and_then(class_data::ready);
            if let Some(options) = class_data::java_options(&c.driver_java_options, ready) {
                adds.conf.insert(DRIVER_JAVA_OPTIONS.to_owned(), options);
            }
        }
        let mut env: Vec<(String, String)> = vec![(SECRET_ENV.into(), secret.clone())];
        if let Some(Ok(r)) = &artifacts.r {
            let add = r_launch(r, &resources.conf, &settings.master, true);
            adds.conf.extend(add.conf);
            resources.archives.extend(add.archives);
            env.extend(add.env);
        }
        let mut argv = submit_argv(&resources, Some(DRIVER_CLASS), &jar, &[], &settings, &adds);
        if let Some(path) = &secret_file {
            argv = with_properties_file(argv, path);
        }
        tracing::info!(session = rec.id, tag = %tag, argv = ?c.redaction.argv(&argv), "starting session driver");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.still_leading()?;
        let Err(e) = self
            .d
            .launcher
            .spawn_off_thread(&tag, &argv, &env, placement)
            .await
        else {
            return Ok(());
        };
        let failures = before.launch_failures + 1;
        let (text, retry) = self
            .launch_failed(Kind::Session, rec.id, &tag, &e, failures, now)
            .await;
        rec.status.submission = None;
        rec.status.launch_failures = failures;
        rec.status.message = Some(text);
        rec.status.state_since = now;
        rec.status.state = if retry {
            SessionState::Starting
        } else {
            SessionState::Error
        };
        self.write(&rec).await.map(|_| ())
    }
}

/// Writes the session secret as cluster-mode driver environment (YARN's
/// application master, a Kubernetes driver pod) into a file only the server's
/// user can read; returns its path.
fn write_secret_conf(files: &AppFiles, secret: &str) -> std::io::Result<String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(files.dir())?;
    let path = files.dir().join("driver-secret.conf");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    writeln!(f, "spark.yarn.appMasterEnv.{SECRET_ENV}={secret}")?;
    writeln!(f, "spark.kubernetes.driverEnv.{SECRET_ENV}={secret}")?;
    Ok(path.display().to_string())
}

/// The driver's `spark.livy.callback`: this server first, then every other
/// server sharing the records (the driver dials them in turn when this one
/// is gone).
fn callbacks(own: &str, servers: Vec<String>) -> String {
    let mut all = vec![own.to_owned()];
    all.extend(servers.into_iter().filter(|s| s != own));
    all.join(",")
}
