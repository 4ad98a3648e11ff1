//! Applying batch decisions: submit, stop, remove, record what was observed.

use super::{Reconciler, new_tag};
use crate::cluster::{AppObservation, TrackedApp};
use crate::index::BatchRecord;
use crate::launcher::r::{is_r_script, r_launch};
use crate::launcher::{Placement, SubmitSettings, batch_argv};
use crate::records::{Kind, SessionState, Submission};
use crate::store::{Record, StoreError};

use super::{Policy, Step, decide_batch};

/// The application to observe for a batch: every submitted one, finished
/// too, so an application that shows up late for a record that gave up on it
/// is seen and killed (leak guard).
pub(super) fn tracked(b: &BatchRecord) -> Option<TrackedApp> {
    b.status.submission.as_ref().map(|s| TrackedApp {
        tag: s.tag.clone(),
        app_id: b.status.app_id.clone(),
    })
}

impl Reconciler {
    /// spark-submit settings for one application (`python`: a Python primary
    /// resource; `interactive`: a session driver).
    pub(super) fn submit_settings(&self, python: bool, interactive: bool) -> SubmitSettings {
        let c = &self.d.config;
        SubmitSettings {
            spark_submit: c.spark_submit().display().to_string(),
            master: c.spark_master.clone(),
            deploy_mode: self
                .d
                .manager
                .deploy_mode(c.deploy_mode.as_deref(), python, interactive),
            impersonation: c.impersonation,
        }
    }

    /// One look at one batch.
    pub(super) async fn batch(&self, rec: &BatchRecord, now: u64) -> Result<(), StoreError> {
        let lookup = self.lookup_timeout();
        let policy = Policy {
            lookup_timeout_ms: lookup.as_millis() as u64,
            leak_timeout_ms: self.d.config.leak_timeout.as_millis() as u64,
            retain_ms: self.d.config.state_retain.as_millis() as u64,
        };
        let sub = rec.status.submission.as_ref();
        let obs = self.observation(sub);
        let not_found = |tag: &str| self.d.manager.not_found_diagnostic(tag, lookup);
        let step = decide_batch(
            &rec.meta,
            &rec.status,
            obs.as_ref(),
            now,
            &policy,
            &not_found,
        );
        let removed = step == Step::Remove;
        self.apply_batch(rec.clone(), step, now).await?;
        if !removed {
            // A running application changes only when the cluster says so.
            let watched = matches!(
                obs,
                Some(AppObservation::Running { .. } | AppObservation::Starting { .. })
            );
            self.revisit(rec, watched, now);
        }
        Ok(())
    }

    async fn apply_batch(&self, rec: BatchRecord, step: Step, now: u64) -> Result<(), StoreError> {
        match step {
            Step::Wait => Ok(()),
            Step::Submit => self.submit_batch(rec, now).await,
            Step::Kill => {
                if let Some(app) = tracked(&rec) {
                    let why = if rec.meta.deletion_requested {
                        "livy-server: stopping the application (deleted by request)"
                    } else {
                        "livy-server: killing an application that appeared after the batch gave up on it"
                    };
                    self.appended(rec.status.submission.as_ref(), why).await;
                    self.stop(Kind::Batch, rec.id, app);
                }
                Ok(())
            }
            Step::Remove => self.remove(&rec, rec.status.submission.as_ref()).await,
            Step::Update { status, log } => {
                if let Some(line) = &log {
                    self.appended(rec.status.submission.as_ref(), line).await;
                }
                tracing::info!(batch = rec.id, from = %rec.status.state, to = %status.state, "batch state");
                self.write_observed(&Record { status, ..rec }).await
            }
        }
    }

    async fn submit_batch(&self, rec: BatchRecord, now: u64) -> Result<(), StoreError> {
        if self.backing_off(Kind::Batch, rec.id, now) {
            return Ok(());
        }
        // An R application runs with this project's SparkR package: wait for
        // the driver build that installs it.
        let is_r = is_r_script(&rec.spec.file);
        let r = if is_r {
            let Some(built) = self.driver_build() else {
                return Ok(()); // being built; its completion wakes us
            };
            match built.map(|a| a.r) {
                Ok(Some(Ok(r))) => Some(r),
                failed => {
                    let why = match failed {
                        Err(e) => e.to_string(),
                        Ok(Some(Err(e))) => e.to_string(),
                        _ => "no R on the server's PATH".to_owned(),
                    };
                    tracing::warn!(
                        batch = rec.id,
                        why,
                        "R batch submitted without the SparkR package"
                    );
                    None
                }
            }
        } else {
            None
        };
        let mut rec = rec;
        let conf =
            match (self.d.sealer).open_conf(rec.meta.owner.as_deref(), &rec.spec.resources.conf) {
                Ok(conf) => conf,
                Err(e) => {
                    rec.status.state = SessionState::Dead;
                    rec.status.state_since = now;
                    rec.status.message = Some(format!("livy-server: cannot submit the batch: {e}"));
                    return self.write(&rec).await.map(|_| ());
                }
            };
        let tag = new_tag(Kind::Batch, rec.id);
        let files = self.d.launcher.files(&tag);
        let before = rec.status.clone();
        rec.status.state = SessionState::Starting;
        rec.status.state_since = now;
        rec.status.submission = Some(Submission {
            tag: tag.clone(),
            attempt: before.launch_failures + 1,
            at: now,
        });
        rec.status.log_path = Some(files.log().display().to_string());
        // Durable before spawning: after a crash this record is looked up by
        // its tag, never submitted again.
        rec.version = self.write(&rec).await?;
        let adds = self
            .d
            .manager
            .submit_additions(&tag, rec.spec.resources.name.as_deref());
        let mut adds = adds;
        let mut spec = rec.spec.clone();
        spec.resources.conf = conf;
        // Python and R applications run in client mode on a standalone master.
        let settings = self.submit_settings(spec.file.ends_with(".py") || is_r, false);
        let mut env = Vec::new();
        if let Some(r) = &r {
            let add = r_launch(r, &spec.resources.conf, &settings.master, false);
            adds.conf.extend(add.conf);
            spec.resources.archives.extend(add.archives);
            env = add.env;
        }
        let argv = batch_argv(&spec, &settings, &adds);
        tracing::info!(batch = rec.id, tag = %tag, argv = ?self.d.config.redaction.argv(&argv), "submitting");
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.still_leading()?;
        let placement = Placement::of_submission(settings.deploy_mode.as_deref(), &adds);
        let Err(e) = self
            .d
            .launcher
            .spawn_off_thread(&tag, &argv, &env, placement)
            .await
        else {
            return Ok(());
        };
        // Nothing ran: safe to clear the submission and retry with backoff.
        let failures = before.launch_failures + 1;
        let (text, retry) = self
            .launch_failed(Kind::Batch, rec.id, &tag, &e, failures, now)
            .await;
        rec.status.launch_failures = failures;
        rec.status.submission = None;
        rec.status.message = Some(text);
        rec.status.state_since = now;
        rec.status.state = if retry {
            SessionState::Starting
        } else {
            SessionState::Dead
        };
        self.write(&rec).await.map(|_| ())
    }
}
