//! Applying batch decisions: submit, stop, remove, record what was observed.

use super::launch::{cannot_start, submitted};
use super::{Action, Reconciler, new_tag};
use crate::cluster::{AppObservation, TrackedApp};
use crate::index::BatchRecord;
use crate::launcher::plan::{LaunchPlan, Submit};
use crate::launcher::r::is_r_script;
use crate::records::Kind;
use crate::repl::driver_build::RArtifacts;
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
    /// One look at one batch.
    pub(super) async fn batch(&self, rec: &BatchRecord, now: u64) -> Result<Action, StoreError> {
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
        let action = self.apply_batch(rec.clone(), step, now).await?;
        if removed {
            return Ok(action);
        }
        // A running application changes only when the cluster says so.
        let watched = matches!(
            obs,
            Some(AppObservation::Running { .. } | AppObservation::Starting { .. })
        );
        Ok(action.or(self.revisit(rec, watched, now)))
    }

    async fn apply_batch(
        &self,
        rec: BatchRecord,
        step: Step,
        now: u64,
    ) -> Result<Action, StoreError> {
        let done = Ok(Action::Done);
        match step {
            Step::Wait => done,
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
                done
            }
            Step::Remove => {
                self.remove(&rec, rec.status.submission.as_ref()).await?;
                done
            }
            Step::Update { status, log } => {
                if let Some(line) = &log {
                    self.appended(rec.status.submission.as_ref(), line).await;
                }
                tracing::info!(batch = rec.id, from = %rec.status.state, to = %status.state, "batch state");
                self.write_observed(&Record { status, ..rec }).await?;
                done
            }
        }
    }

    async fn submit_batch(&self, mut rec: BatchRecord, now: u64) -> Result<Action, StoreError> {
        if self.backing_off(Kind::Batch, rec.id, now) {
            return Ok(Action::Done);
        }
        // An R application runs with this project's SparkR package: wait for
        // the driver build that installs it.
        let is_r = is_r_script(&rec.spec.file);
        let r = if is_r {
            let Some(built) = self.driver_build() else {
                return Ok(Action::Done); // being built; its completion wakes us
            };
            r_package(rec.id, built)
        } else {
            None
        };
        let mut spec = rec.spec.clone();
        match (self.d.sealer).open_conf(rec.meta.owner.as_deref(), &spec.resources.conf) {
            Ok(conf) => spec.resources.conf = conf,
            Err(e) => {
                let text = format!("livy-server: cannot submit the batch: {e}");
                cannot_start(&mut rec.status, text, now);
                self.write(&rec).await?;
                return Ok(Action::Done);
            }
        }
        let tag = new_tag(Kind::Batch, rec.id);
        let log = self.d.launcher.files(&tag).log().display().to_string();
        submitted(&mut rec.status, &tag, log, now);
        // Durable before spawning: after a crash this record is looked up by
        // its tag, never submitted again.
        rec.version = self.write(&rec).await?;
        let adds = (self.d.manager).submit_additions(&tag, spec.resources.name.as_deref());
        // Python and R applications run in client mode on a standalone master.
        let settings = self.submit_settings(spec.file.ends_with(".py") || is_r, false);
        let submit = Submit {
            settings: &settings,
            adds,
            r: r.as_ref(),
        };
        let plan = LaunchPlan::batch(&spec, submit);
        self.launch(rec, &tag, plan, now).await
    }
}

/// The SparkR package of the driver build, for an R batch; without it the
/// batch still runs (with the Spark installation's SparkR, if any).
fn r_package(
    id: u64,
    built: Result<
        crate::repl::driver_build::DriverArtifacts,
        crate::repl::driver_build::BuildError,
    >,
) -> Option<RArtifacts> {
    match built.map(|a| a.r) {
        Ok(Some(Ok(r))) => Some(r),
        failed => {
            let why = match failed {
                Err(e) => e.to_string(),
                Ok(Some(Err(e))) => e.to_string(),
                _ => "no R on the server's PATH".to_owned(),
            };
            tracing::warn!(
                batch = id,
                why,
                "R batch submitted without the SparkR package"
            );
            None
        }
    }
}
