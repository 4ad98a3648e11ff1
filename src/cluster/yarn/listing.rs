//! The bookkeeping around ResourceManager lists: the last list (answered
//! from until the poll interval is over) and the pause after failed lists.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::super::{AppObservation, TrackedApp};
use super::state::RmApp;

/// The last list: which tags it covered and the applications it found.
pub struct Listing {
    pub fetched: Instant,
    pub covered: HashSet<String>,
    pub by_tag: HashMap<String, RmApp>,
    by_id: HashMap<String, RmApp>,
}

impl Listing {
    pub fn new(fetched: Instant, tracked: &[TrackedApp], apps: Vec<RmApp>) -> Self {
        let covered: HashSet<String> = tracked.iter().map(|a| a.tag.to_lowercase()).collect();
        let ids: HashSet<&str> = tracked.iter().filter_map(|a| a.app_id.as_deref()).collect();
        let mut by_tag: HashMap<String, RmApp> = HashMap::new();
        let mut by_id = HashMap::new();
        for app in apps {
            for tag in app.tags().filter(|t| covered.contains(t)) {
                // One tag, two applications (should not happen): the newest wins.
                if by_tag
                    .get(&tag)
                    .is_none_or(|old| old.started_time <= app.started_time)
                {
                    by_tag.insert(tag, app.clone());
                }
            }
            if ids.contains(app.id.as_str()) {
                by_id.insert(app.id.clone(), app);
            }
        }
        Self {
            fetched,
            covered,
            by_tag,
            by_id,
        }
    }

    pub fn find(&self, app: &TrackedApp) -> Option<&RmApp> {
        self.by_tag
            .get(&app.tag.to_lowercase())
            .or_else(|| app.app_id.as_ref().and_then(|id| self.by_id.get(id)))
    }

    /// Observations of the tracked apps this list covered; the others are left
    /// out (not asked yet), which the reconciler treats as "no news".
    pub fn answer(&self, apps: &[TrackedApp]) -> HashMap<String, AppObservation> {
        apps.iter()
            .filter(|a| self.covered.contains(&a.tag.to_lowercase()))
            .map(|a| {
                let obs = self
                    .find(a)
                    .map_or(AppObservation::NotFound, RmApp::observation);
                (a.tag.clone(), obs)
            })
            .collect()
    }

    pub fn started(&self) -> HashMap<String, u64> {
        self.by_tag
            .iter()
            .map(|(t, a)| (t.clone(), a.started_time))
            .collect()
    }
}

/// Consecutive failed lists, to pause between attempts during an outage.
#[derive(Default)]
pub struct Outage {
    pub failures: u32,
    retry_at: Option<Instant>,
    pub last: String,
}

impl Outage {
    pub fn left(&self) -> Option<Duration> {
        self.retry_at
            .and_then(|t| t.checked_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    pub fn failed(&mut self, why: String, poll: Duration, max: Duration) {
        self.failures = self.failures.saturating_add(1);
        let doubling = 2u32.saturating_pow(self.failures - 1);
        self.retry_at = Some(Instant::now() + poll.saturating_mul(doubling).min(max));
        self.last = why;
    }

    pub fn recovered(&mut self) {
        *self = Outage::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_from_the_poll_interval_up_to_the_cap() {
        let (poll, max) = (Duration::from_secs(5), Duration::from_secs(12));
        let mut o = Outage::default();
        assert_eq!(o.left(), None);
        let mut waits = Vec::new();
        for _ in 0..4 {
            o.failed("refused".into(), poll, max);
            // Round up: a little time passes between failing and asking.
            waits.push(o.left().map(|d| d.as_secs() + 1));
        }
        assert_eq!(waits, [Some(5), Some(10), Some(12), Some(12)]);
        o.recovered();
        assert_eq!((o.left(), o.failures), (None, 0));
    }

    #[test]
    fn answers_only_for_covered_tags_matching_by_tag_or_id() {
        let app = |id: &str, tags: &str, started: u64| RmApp {
            id: id.into(),
            state: "RUNNING".into(),
            final_status: "UNDEFINED".into(),
            tracking_url: None,
            diagnostics: None,
            application_tags: Some(tags.into()),
            started_time: started,
            am_container_logs: None,
        };
        let tracked = |tag: &str, id: Option<&str>| TrackedApp {
            tag: tag.into(),
            app_id: id.map(str::to_owned),
        };
        let listing = Listing::new(
            Instant::now(),
            &[tracked("a", None), tracked("b", Some("application_1_0002"))],
            vec![
                app("application_1_0001", "A,user", 1),
                app("application_1_0003", "a", 3),
                app("application_1_0002", "other", 2),
            ],
        );
        let got = listing.answer(&[
            tracked("a", None),
            tracked("b", Some("application_1_0002")),
            tracked("c", None),
        ]);
        let id = |t: &str| match &got[t] {
            AppObservation::Running { app_id, .. } => app_id.clone(),
            o => panic!("{o:?}"),
        };
        assert_eq!(
            id("a").as_deref(),
            Some("application_1_0003"),
            "newest of two with the tag"
        );
        assert_eq!(
            id("b").as_deref(),
            Some("application_1_0002"),
            "by known id"
        );
        assert!(!got.contains_key("c"), "not covered by this list");
    }
}
