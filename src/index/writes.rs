//! Writes through the index: each goes to the store first and is taken into
//! the index from what the store answered.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Index, Kinded, write};
use crate::records::Meta;
use crate::store::{Durability, Fence, Record, StoreError};

impl Index {
    /// Stores a new record (the store allocates its id).
    pub async fn create<T: Kinded>(
        &self,
        meta: Meta,
        spec: &T::Spec,
        status: &T,
    ) -> Result<Arc<Record<T::Spec, T>>, StoreError> {
        if let Some(name) = &meta.name
            && self.named::<T>(name).is_some()
        {
            return Err(StoreError::DuplicateName {
                kind: T::KIND,
                name: name.clone(),
            });
        }
        let rec = T::wrap(Record {
            id: 0,
            version: 0,
            meta,
            spec: spec.clone(),
            status: status.clone(),
        });
        let stored = timed("create", self.store.create(rec)).await?;
        self.written(stored)
    }

    /// Writes `rec` if the stored version is still `rec.version`.
    pub async fn update<T: Kinded>(
        &self,
        rec: &Record<T::Spec, T>,
        durability: Durability,
    ) -> Result<Arc<Record<T::Spec, T>>, StoreError> {
        self.update_under(rec, durability, None).await
    }

    /// [`Index::update`], under a leader's term if `fence` is given.
    pub async fn update_under<T: Kinded>(
        &self,
        rec: &Record<T::Spec, T>,
        durability: Durability,
        fence: Option<Fence>,
    ) -> Result<Arc<Record<T::Spec, T>>, StoreError> {
        let rec = T::wrap(rec.clone());
        let stored = match fence {
            Some(fence) => {
                timed("update", self.store.update_fenced(&rec, durability, fence)).await?
            }
            None => timed("update", self.store.update(&rec, durability)).await?,
        };
        self.written(stored)
    }

    /// Reads record `id` from the store and takes it if it is news: after a
    /// conflict the index may not hold the winning version yet (a watch
    /// that is behind), and a retry must not wait for it.
    pub async fn reload<T: Kinded>(
        &self,
        id: u64,
    ) -> Result<Option<Arc<Record<T::Spec, T>>>, StoreError> {
        let Some(any) = timed("get", self.store.get(T::KIND, id)).await? else {
            if write(T::table(self)).remove(id) {
                self.announce((T::KIND, id));
            }
            return Ok(None);
        };
        self.counters.records_read.fetch_add(1, Ordering::Relaxed);
        self.take_any::<T>(&any);
        Ok(T::peek(&any).cloned().map(Arc::new))
    }

    /// Removes record `id` if its stored version is still `version`.
    pub async fn delete<T: Kinded>(&self, id: u64, version: u64) -> Result<(), StoreError> {
        self.delete_under::<T>(id, version, None).await
    }

    /// [`Index::delete`], under a leader's term if `fence` is given.
    pub async fn delete_under<T: Kinded>(
        &self,
        id: u64,
        version: u64,
        fence: Option<Fence>,
    ) -> Result<(), StoreError> {
        match fence {
            Some(fence) => {
                timed(
                    "delete",
                    self.store.delete_fenced(T::KIND, id, version, fence),
                )
                .await?
            }
            None => timed("delete", self.store.delete(T::KIND, id, version)).await?,
        }
        self.wrote();
        if write(T::table(self)).remove(id) {
            self.announce((T::KIND, id));
        }
        Ok(())
    }
}

/// Runs one store operation, timing it for `/metrics`.
async fn timed<F: std::future::Future>(op: &'static str, f: F) -> F::Output {
    let started = std::time::Instant::now();
    let out = f.await;
    crate::metrics::store(op, started.elapsed());
    out
}
