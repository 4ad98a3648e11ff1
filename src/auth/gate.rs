//! Bounds on password checking, so a flood of wrong passwords costs little:
//! at most `livy.server.auth.max-concurrent-checks` Argon2 checks at once
//! (each holds 19 MiB), a bounded wait for a turn, and per-client failure
//! throttling (`livy.server.auth.failure-limit` per `failure-window`).
//! Refusals are 429 with `Retry-After`. A cookie or credentials accepted
//! within the password cache's TTL never come here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, SemaphorePermit};

/// Clients remembered at most; expired entries are dropped beyond it.
const MAX_CLIENTS: usize = 10_000;

/// Failed (and in-flight) checks per client address within a window.
#[derive(Debug)]
pub struct FailureLog {
    limit: u32,
    window: Duration,
    clients: HashMap<IpAddr, (u32, Instant)>,
}

impl FailureLog {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            clients: HashMap::new(),
        }
    }

    /// Admits a check from `client` and counts it as failed until
    /// [`FailureLog::succeeded`] says otherwise (so concurrent guesses count
    /// too); when the client is over its limit, how long until it may try.
    pub fn begin(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.limit == 0 {
            return Ok(());
        }
        if self.clients.len() >= MAX_CLIENTS {
            let window = self.window;
            self.clients
                .retain(|_, (_, since)| now.duration_since(*since) < window);
        }
        let entry = self.clients.entry(client).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        if entry.0 >= self.limit {
            return Err((entry.1 + self.window).saturating_duration_since(now));
        }
        entry.0 += 1;
        Ok(())
    }

    /// The check [`FailureLog::begin`] admitted was right: it is no failure.
    pub fn succeeded(&mut self, client: IpAddr) {
        if let Some(entry) = self.clients.get_mut(&client) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

/// Turns for password checks and the failure log.
pub struct PasswordGate {
    turns: Semaphore,
    wait: Duration,
    failures: Mutex<FailureLog>,
}

/// Why a check did not run: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy(pub Duration);

impl PasswordGate {
    pub fn new(concurrent: usize, wait: Duration, limit: u32, window: Duration) -> Self {
        Self {
            turns: Semaphore::new(concurrent.max(1)),
            wait,
            failures: Mutex::new(FailureLog::new(limit, window)),
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, FailureLog> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a check from `client` against its failure limit.
    pub fn begin(&self, client: IpAddr) -> Result<(), Busy> {
        self.log().begin(client, Instant::now()).map_err(Busy)
    }

    pub fn succeeded(&self, client: IpAddr) {
        self.log().succeeded(client);
    }

    /// A turn to run an expensive check, waiting at most the configured time.
    pub async fn turn(&self) -> Result<SemaphorePermit<'_>, Busy> {
        match tokio::time::timeout(self.wait, self.turns.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Busy(Duration::from_secs(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_over_its_limit_waits_for_the_window_to_end() {
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let t0 = Instant::now();
        let mut log = FailureLog::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert_eq!(log.begin(a, t0), Ok(()));
        }
        assert_eq!(
            log.begin(a, t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        // Another client is not affected.
        assert_eq!(log.begin(b, t0), Ok(()));
        // A right password does not count.
        log.succeeded(b);
        for _ in 0..3 {
            assert_eq!(log.begin(b, t0), Ok(()));
        }
        // The window ends.
        assert_eq!(log.begin(a, t0 + Duration::from_secs(60)), Ok(()));
    }

    #[test]
    fn a_zero_limit_never_throttles() {
        let mut log = FailureLog::new(0, Duration::from_secs(60));
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(log.begin([10, 0, 0, 1].into(), now), Ok(()));
        }
    }

    #[tokio::test]
    async fn at_most_the_configured_checks_run_at_once() {
        let gate = PasswordGate::new(2, Duration::from_millis(50), 0, Duration::ZERO);
        let one = gate.turn().await.unwrap();
        let _two = gate.turn().await.unwrap();
        assert_eq!(gate.turn().await.err(), Some(Busy(Duration::from_secs(1))));
        drop(one);
        assert!(gate.turn().await.is_ok());
    }
}
