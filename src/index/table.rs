//! One kind's records in memory: by id (in id order), by name, and counted
//! by state. Pure bookkeeping, so every rule is a unit test.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::records::SessionState;
use crate::store::Record;

/// What the table needs of a record's status.
pub trait Stated {
    fn state(&self) -> SessionState;
}

/// Which records a list shows (`None`: all of them).
pub type Keep<'a, S, T> = Option<&'a dyn Fn(&Record<S, T>) -> bool>;
/// How many records a list shows in all, and one page of them.
pub type Page<S, T> = (usize, Vec<Arc<Record<S, T>>>);

pub struct Table<S, T> {
    by_id: BTreeMap<u64, Arc<Record<S, T>>>,
    by_name: HashMap<String, u64>,
    /// Ids of deleted records: ids are never reused, so a late event for
    /// one of them is stale and must not bring it back.
    gone: HashSet<u64>,
    states: HashMap<SessionState, usize>,
    /// Records whose deletion was requested (hidden from batch lists).
    deleting: usize,
}

impl<S, T> Default for Table<S, T> {
    fn default() -> Self {
        Self {
            by_id: BTreeMap::new(),
            by_name: HashMap::new(),
            gone: HashSet::new(),
            states: HashMap::new(),
            deleting: 0,
        }
    }
}

impl<S, T: Stated> Table<S, T> {
    /// Whether `version` of record `id` would be news (newer than what is
    /// held, and the record not deleted).
    pub fn is_news(&self, id: u64, version: u64) -> bool {
        !self.gone.contains(&id) && self.by_id.get(&id).is_none_or(|r| r.version < version)
    }

    /// Takes `rec` if it is news; returns whether it was.
    pub fn apply(&mut self, rec: Arc<Record<S, T>>) -> bool {
        if !self.is_news(rec.id, rec.version) {
            return false;
        }
        self.forget(rec.id);
        if let Some(name) = &rec.meta.name {
            self.by_name.insert(name.clone(), rec.id);
        }
        *self.states.entry(rec.status.state()).or_default() += 1;
        self.deleting += usize::from(rec.meta.deletion_requested);
        self.by_id.insert(rec.id, rec);
        true
    }

    /// Drops record `id` for good; returns whether it was held.
    pub fn remove(&mut self, id: u64) -> bool {
        self.gone.insert(id);
        self.forget(id)
    }

    fn forget(&mut self, id: u64) -> bool {
        let Some(old) = self.by_id.remove(&id) else {
            return false;
        };
        if let Some(name) = &old.meta.name
            && self.by_name.get(name) == Some(&id)
        {
            self.by_name.remove(name);
        }
        if let Some(n) = self.states.get_mut(&old.status.state()) {
            *n -= 1;
        }
        self.deleting -= usize::from(old.meta.deletion_requested);
        true
    }

    pub fn get(&self, id: u64) -> Option<Arc<Record<S, T>>> {
        self.by_id.get(&id).cloned()
    }

    pub fn named(&self, name: &str) -> Option<Arc<Record<S, T>>> {
        self.by_name.get(name).and_then(|id| self.get(*id))
    }

    pub fn count(&self, state: SessionState) -> usize {
        self.states.get(&state).copied().unwrap_or(0)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_id.keys().copied()
    }

    /// Ids that drop every record not in `present` (after a re-list).
    pub fn absent_from(&self, present: &HashSet<u64>) -> Vec<u64> {
        self.ids().filter(|id| !present.contains(id)).collect()
    }

    /// `[from, from + size)` of the records `keep` admits, in id order, and
    /// how many it admits in all. Without `keep` (everything admitted except,
    /// with `hide_deleting`, records being deleted) the total is a count and
    /// the page is found without visiting the rest.
    pub fn page(
        &self,
        from: usize,
        size: usize,
        hide_deleting: bool,
        keep: Keep<'_, S, T>,
    ) -> Page<S, T> {
        let shown = |r: &Record<S, T>| {
            !(hide_deleting && r.meta.deletion_requested) && keep.is_none_or(|k| k(r))
        };
        if keep.is_none() && (!hide_deleting || self.deleting == 0) {
            let page = self.by_id.values().skip(from).take(size).cloned().collect();
            return (self.by_id.len(), page);
        }
        let mut total = 0;
        let mut page = Vec::new();
        for r in self.by_id.values().filter(|r| shown(r)) {
            if total >= from && page.len() < size {
                page.push(r.clone());
            }
            total += 1;
        }
        (total, page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Meta;

    #[derive(Debug, Clone, PartialEq)]
    struct St(SessionState);
    impl Stated for St {
        fn state(&self) -> SessionState {
            self.0
        }
    }

    fn rec(id: u64, version: u64, name: Option<&str>, state: SessionState) -> Arc<Record<(), St>> {
        Arc::new(Record {
            id,
            version,
            meta: Meta {
                name: name.map(str::to_owned),
                ..Meta::default()
            },
            spec: (),
            status: St(state),
        })
    }

    #[test]
    fn newer_versions_replace_and_keep_names_and_counts_true() {
        let mut t = Table::default();
        assert!(t.apply(rec(1, 1, Some("a"), SessionState::NotStarted)));
        assert!(t.apply(rec(2, 1, None, SessionState::NotStarted)));
        assert_eq!(t.count(SessionState::NotStarted), 2);
        // A stale or repeated version changes nothing.
        assert!(!t.apply(rec(1, 1, Some("z"), SessionState::Dead)));
        assert!(t.apply(rec(1, 3, Some("b"), SessionState::Running)));
        assert!(!t.apply(rec(1, 2, Some("a"), SessionState::Starting)));
        assert_eq!(t.named("a"), None, "a renamed record leaves its old name");
        assert_eq!(t.named("b").map(|r| r.id), Some(1));
        assert_eq!(t.count(SessionState::NotStarted), 1);
        assert_eq!(t.count(SessionState::Running), 1);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn a_removed_record_never_comes_back() {
        let mut t = Table::default();
        t.apply(rec(4, 2, Some("x"), SessionState::Success));
        assert!(t.remove(4));
        assert!(!t.apply(rec(4, 9, Some("x"), SessionState::Success)));
        assert_eq!(
            (t.len(), t.named("x"), t.count(SessionState::Success)),
            (0, None, 0)
        );
        assert!(!t.remove(4));
    }

    #[test]
    fn pages_count_what_is_shown() {
        let mut t = Table::default();
        for id in 0..10 {
            t.apply(rec(id, 1, None, SessionState::Running));
        }
        let ids = |v: Vec<Arc<Record<(), St>>>| v.iter().map(|r| r.id).collect::<Vec<_>>();
        let (total, page) = t.page(3, 2, true, None);
        assert_eq!((total, ids(page)), (10, vec![3, 4]));
        let even = |r: &Record<(), St>| r.id.is_multiple_of(2);
        let (total, page) = t.page(1, 2, false, Some(&even));
        assert_eq!((total, ids(page)), (5, vec![2, 4]));
        let mut deleting = (*t.get(5).unwrap()).clone();
        deleting.version = 2;
        deleting.meta.deletion_requested = true;
        t.apply(Arc::new(deleting));
        let (total, page) = t.page(4, 2, true, None);
        assert_eq!((total, ids(page)), (9, vec![4, 6]));
        let (total, page) = t.page(4, 2, false, None);
        assert_eq!((total, ids(page)), (10, vec![4, 5]));
        let (total, page) = t.page(20, 2, false, None);
        assert_eq!((total, page.len()), (10, 0));
    }
}
