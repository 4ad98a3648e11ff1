//! Which one list request covers every tracked application: their tags in the
//! URL while they fit, else every SPARK application started since the oldest
//! start any of them can have (learned from facts, never guessed).

use std::collections::HashMap;

use super::super::TrackedApp;

/// Up to this many tags go into `applicationTags`: ~30 bytes each keeps the
/// request line far below the RM's header limit (8–64 KiB by version).
pub const MAX_URL_TAGS: usize = 100;

/// Margin for clock skew between this server and the RM when a start floor
/// comes from this server's clock.
pub const CLOCK_SLACK_MS: u64 = 10 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListQuery {
    /// `applicationTags=<t1,t2,…>` (lowercase).
    Tags(Vec<String>),
    /// `startedTimeBegin=<ms>`; `None` lists every SPARK application the RM keeps.
    StartedSince(Option<u64>),
}

impl ListQuery {
    /// For `apps`, with lower bounds on their start times from `floors`.
    pub fn plan(apps: &[TrackedApp], floors: &StartFloors) -> Self {
        if apps.len() <= MAX_URL_TAGS {
            let mut tags: Vec<String> = apps.iter().map(|a| a.tag.to_lowercase()).collect();
            tags.sort();
            tags.dedup();
            return ListQuery::Tags(tags);
        }
        // One unknown start → no floor at all.
        let floor = apps
            .iter()
            .map(|a| floors.floor(a))
            .try_fold(u64::MAX, |acc, f| f.map(|f| acc.min(f)));
        ListQuery::StartedSince(floor)
    }

    /// The path and query string below the RM's base URL.
    pub fn path(&self) -> String {
        // resourceRequests can be large for pending applications and is not needed.
        let base = "/ws/v1/cluster/apps?applicationTypes=SPARK&deSelects=resourceRequests";
        match self {
            ListQuery::Tags(tags) => format!("{base}&applicationTags={}", tags.join(",")),
            ListQuery::StartedSince(Some(ms)) => format!("{base}&startedTimeBegin={ms}"),
            ListQuery::StartedSince(None) => base.to_owned(),
        }
    }
}

/// Lower bounds on when each tracked application can have started (RM
/// epoch ms), kept only from facts: the application's own `startedTime`, the
/// RM start time inside a known application id, or a list that covered the
/// tag and did not contain it (so it can only start after that list).
#[derive(Debug, Default)]
pub struct StartFloors {
    by_tag: HashMap<String, u64>,
}

impl StartFloors {
    pub fn floor(&self, app: &TrackedApp) -> Option<u64> {
        let learned = self.by_tag.get(&app.tag.to_lowercase()).copied();
        let from_id = app.app_id.as_deref().and_then(cluster_timestamp);
        learned.max(from_id)
    }

    /// Forgets applications no longer tracked.
    pub fn retain(&mut self, apps: &[TrackedApp]) {
        let keep: std::collections::HashSet<String> =
            apps.iter().map(|a| a.tag.to_lowercase()).collect();
        self.by_tag.retain(|t, _| keep.contains(t));
    }

    /// After a list made at `listed_at_ms` (this server's clock) that covered
    /// `covered` tags: `started` has the start time of each one found.
    pub fn learn<'a>(
        &mut self,
        covered: impl Iterator<Item = &'a str>,
        started: &HashMap<String, u64>,
        listed_at_ms: u64,
    ) {
        let absent_floor = listed_at_ms.saturating_sub(CLOCK_SLACK_MS);
        for tag in covered {
            let floor = match started.get(tag) {
                Some(&t) => t,
                None => absent_floor,
            };
            let entry = self.by_tag.entry(tag.to_owned()).or_insert(floor);
            // A found application's start is exact; an absent one only raises the floor.
            *entry = if started.contains_key(tag) {
                floor
            } else {
                (*entry).max(floor)
            };
        }
    }
}

/// `application_<rmStartMs>_<seq>` → the RM's start time, which no
/// application of that id can precede.
fn cluster_timestamp(app_id: &str) -> Option<u64> {
    let mut parts = app_id.strip_prefix("application_")?.split('_');
    let ts = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    Some(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn app(tag: &str, id: Option<&str>) -> TrackedApp {
        TrackedApp {
            tag: tag.into(),
            app_id: id.map(str::to_owned),
        }
    }

    fn many(n: usize) -> Vec<TrackedApp> {
        (0..n)
            .map(|i| app(&format!("livy-batch-{i}-abcdefgh"), None))
            .collect()
    }

    #[test]
    fn few_apps_are_asked_by_tag() {
        let q = ListQuery::plan(
            &[app("livy-batch-2-B", None), app("livy-batch-1-a", None)],
            &StartFloors::default(),
        );
        assert_eq!(
            q.path(),
            "/ws/v1/cluster/apps?applicationTypes=SPARK&deSelects=resourceRequests&applicationTags=livy-batch-1-a,livy-batch-2-b"
        );
    }

    #[test]
    fn many_apps_without_facts_list_everything() {
        let q = ListQuery::plan(&many(MAX_URL_TAGS + 1), &StartFloors::default());
        assert_eq!(q, ListQuery::StartedSince(None));
        assert!(!q.path().contains("startedTimeBegin"));
    }

    #[test]
    fn many_apps_with_facts_list_since_the_oldest_floor() {
        let apps = many(MAX_URL_TAGS + 1);
        let mut floors = StartFloors::default();
        let listed_at = 100 * CLOCK_SLACK_MS;
        let started: HashMap<String, u64> = [(apps[3].tag.clone(), 1_000u64)].into();
        floors.learn(apps.iter().map(|a| a.tag.as_str()), &started, listed_at);
        assert_eq!(
            ListQuery::plan(&apps, &floors),
            ListQuery::StartedSince(Some(1_000)),
            "the found app's start is the oldest floor"
        );
        // A new tag (no fact yet) makes the next list unbounded again.
        let mut more = apps.clone();
        more.push(app("livy-batch-new-zzzzzzzz", None));
        assert_eq!(
            ListQuery::plan(&more, &floors),
            ListQuery::StartedSince(None)
        );
        // ... unless its application id is known.
        more.last_mut().unwrap().app_id = Some("application_500_0007".into());
        assert_eq!(
            ListQuery::plan(&more, &floors),
            ListQuery::StartedSince(Some(500))
        );
    }

    #[test]
    fn absent_tags_get_the_list_time_minus_slack_and_retain_forgets() {
        let apps = many(2);
        let mut floors = StartFloors::default();
        let at = 50 * CLOCK_SLACK_MS;
        floors.learn(apps.iter().map(|a| a.tag.as_str()), &HashMap::new(), at);
        assert_eq!(floors.floor(&apps[0]), Some(at - CLOCK_SLACK_MS));
        floors.retain(&apps[1..]);
        assert_eq!(floors.floor(&apps[0]), None);
        assert_eq!(floors.floor(&apps[1]), Some(at - CLOCK_SLACK_MS));
    }

    #[rstest]
    #[case("application_1700000000000_0042", Some(1_700_000_000_000))]
    #[case("application_1700000000000", None)]
    #[case("app-20240101000000-0000", None)]
    #[case("application_x_1", None)]
    fn rm_start_from_app_id(#[case] id: &str, #[case] want: Option<u64>) {
        assert_eq!(cluster_timestamp(id), want);
    }
}
