//! One PostgreSQL connection that is opened again when it is lost (the
//! server restarted, the backend was terminated, the network dropped it).
//!
//! A caller that finds the connection closed re-opens it at once; while
//! re-opening fails, further attempts wait out a backoff (doubling from
//! [`FIRST_RETRY`] to [`LAST_RETRY`]), and callers in between are told the
//! store is unreachable without waiting, so a request answers 503 at once
//! instead of queueing behind a dead database. [`LAST_RETRY`] bounds how
//! long after PostgreSQL's return the first call may still be refused.
//! [`connect`] opens one connection (plain or TLS) and drives it on a task
//! of its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio_postgres::{AsyncMessage, Client, NoTls};

use super::pg;
use super::tls::{self, Connector};
use crate::store::StoreError;

/// The pause after the first failed re-open.
const FIRST_RETRY: Duration = Duration::from_millis(100);
/// The longest pause between attempts to re-open.
const LAST_RETRY: Duration = Duration::from_secs(2);
/// How long one attempt to open may take (unless the URL says otherwise).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The pause after `failures` failed attempts in a row (at least one).
pub(super) fn backoff(failures: u32) -> Duration {
    FIRST_RETRY
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(LAST_RETRY)
}

/// Connects with `config` under `application_name`, driving the connection
/// on a task of its own; notifications go to `notices`, if given (dropped
/// when the connection ends).
pub(super) async fn connect(
    config: &tokio_postgres::Config,
    tls: &Connector,
    application_name: &str,
    notices: Option<tokio::sync::mpsc::UnboundedSender<tokio_postgres::Notification>>,
) -> Result<Client, StoreError> {
    let mut config = with_timeout(config);
    config.application_name(application_name);
    match tls {
        Connector::Plain => {
            let (client, connection) = config.connect(NoTls).await.map_err(pg("connect"))?;
            tokio::spawn(drive(connection, notices));
            Ok(client)
        }
        Connector::Tls(tls) => {
            let (client, connection) = config
                .connect(tls::MakeRustls(tls.clone()))
                .await
                .map_err(pg("connect"))?;
            tokio::spawn(drive(connection, notices));
            Ok(client)
        }
    }
}

/// Drives one connection until it ends, passing notifications on.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notices: Option<tokio::sync::mpsc::UnboundedSender<tokio_postgres::Notification>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
    while let Some(message) = messages.next().await {
        match message {
            Ok(AsyncMessage::Notification(n)) => {
                if let Some(tx) = &notices {
                    let _ = tx.send(n);
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "PostgreSQL store connection lost");
                return;
            }
        }
    }
}

/// A connection under one `application_name`, set up with `setup` (SQL run
/// on every fresh connection).
pub struct Link {
    config: tokio_postgres::Config,
    tls: Connector,
    name: String,
    /// What the connection is for, for the log.
    role: &'static str,
    setup: &'static str,
    state: tokio::sync::Mutex<State>,
}

#[derive(Default)]
struct State {
    client: Option<Arc<Client>>,
    failures: u32,
    /// No attempt before this (backoff after a failure).
    next_try: Option<Instant>,
}

impl Link {
    /// Opens the connection now (so a wrong URL fails at start-up).
    pub(super) async fn open(
        config: &tokio_postgres::Config,
        tls: &Connector,
        name: &str,
        role: &'static str,
        setup: &'static str,
    ) -> Result<Self, StoreError> {
        let link = Self {
            config: with_timeout(config),
            tls: tls.clone(),
            name: name.to_owned(),
            role,
            setup,
            state: Default::default(),
        };
        let client = link.connect().await?;
        link.state.lock().await.client = Some(client);
        Ok(link)
    }

    async fn connect(&self) -> Result<Arc<Client>, StoreError> {
        let client = connect(&self.config, &self.tls, &self.name, None).await?;
        if !self.setup.is_empty() {
            client
                .batch_execute(self.setup)
                .await
                .map_err(pg("set up a connection"))?;
        }
        Ok(Arc::new(client))
    }

    /// The connection, re-opened first if it was lost.
    pub async fn client(&self) -> Result<Arc<Client>, StoreError> {
        let mut state = self.state.lock().await;
        if let Some(client) = state.client.as_ref().filter(|c| !c.is_closed()) {
            return Ok(client.clone());
        }
        if state.client.take().is_some() {
            tracing::warn!(
                connection = self.role,
                "PostgreSQL connection lost; re-opening it"
            );
        }
        if let Some(at) = state.next_try
            && Instant::now() < at
        {
            return Err(StoreError::Reconnecting {
                retry_in: at - Instant::now(),
            });
        }
        match self.connect().await {
            Ok(client) => {
                if state.failures > 0 {
                    tracing::info!(
                        connection = self.role,
                        attempts = state.failures + 1,
                        "PostgreSQL connection re-opened"
                    );
                }
                *state = State {
                    client: Some(client.clone()),
                    ..State::default()
                };
                Ok(client)
            }
            Err(e) => {
                state.failures += 1;
                state.next_try = Some(Instant::now() + backoff(state.failures));
                Err(e)
            }
        }
    }
}

/// `config` with a connect timeout, unless it has one (`connect_timeout=`).
pub(super) fn with_timeout(config: &tokio_postgres::Config) -> tokio_postgres::Config {
    let mut config = config.clone();
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let ms = |n| backoff(n).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(4), ms(5), ms(6), ms(40)],
            [100, 200, 400, 800, 1600, 2000, 2000]
        );
    }
}
