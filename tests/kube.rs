//! Kubernetes mode against a scripted API server (no cluster needed): the
//! custom-resource store, its watch, drivers' secrets, leader election and
//! the pod manager.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[path = "kube/leader.rs"]
mod leader;
#[path = "kube/manager.rs"]
mod manager;
#[path = "kube/reconcile.rs"]
mod reconcile;
#[path = "kube/scripted.rs"]
mod scripted;
#[path = "kube/secrets.rs"]
mod secrets;
#[path = "kube/store.rs"]
mod store;
#[path = "kube/watch.rs"]
mod watch;
