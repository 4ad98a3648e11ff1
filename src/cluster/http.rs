//! What the HTTP-speaking managers (YARN, standalone) share: one way to
//! build their client and to turn an error chain into a log-ready line.

use std::time::Duration;

/// A client that never follows redirects (a standby master or RM redirects
/// to an address this server may not resolve; the configured list is the
/// truth). `Err` carries why it could not be built, for every later call to
/// report instead of panicking at start-up.
pub fn client(connect_timeout: Duration, timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| format!("failed to build the HTTP client: {}", chain(&e)))
}

pub use crate::error_chain as chain;
