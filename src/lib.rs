//! livy-server: a REST server for Apache Spark, wire-compatible with Apache
//! Livy, built as an operator-style controller (see the README).

pub mod api;
pub mod cluster;
pub mod config;
pub mod crd;
pub mod k8s;
pub mod launcher;
pub mod leader;
pub mod reconcile;
pub mod records;
pub mod repl;
pub mod server;
pub mod store;
