//! livy-server: a REST server for Apache Spark, wire-compatible with Apache
//! Livy, built as an operator-style controller (see the README).

/// `error: cause: cause…` on one line, for logs and log lines.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Lowercase alphanumerics, for tags and secrets.
pub fn random_token(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub mod api;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod crd;
pub mod ha;
pub mod index;
pub mod k8s;
pub mod launcher;
pub mod leader;
pub mod leadership;
pub mod logtext;
pub mod metrics;
pub mod queue;
pub mod reconcile;
pub mod records;
pub mod repl;
pub mod server;
pub mod store;
pub mod tls;
