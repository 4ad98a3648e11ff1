//! Password checks (the users file, LDAP): a recent success answered
//! from a cache; anything else through the client's failure limit and a
//! bounded number of concurrent checks ([`super::gate`]).

use std::net::IpAddr;
use std::time::Duration;

use super::{Auth, Verifier, gate};

/// Recently successful password checks, keyed by a SHA-256 of user and
/// password (never the password itself), with the canonical user name, so
/// that clients sending Basic credentials on every request cost one bind or
/// hash per `ttl`.
pub(super) struct PasswordCache {
    pub(super) ttl: Duration,
    pub(super) seen:
        std::sync::Mutex<std::collections::HashMap<Vec<u8>, (std::time::Instant, String)>>,
}

impl PasswordCache {
    fn key(user: &str, password: &str) -> Vec<u8> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(user.as_bytes());
        ctx.update(&[0]);
        ctx.update(password.as_bytes());
        ctx.finish().as_ref().to_vec()
    }

    /// The canonical name of a recent success.
    fn hit(&self, key: &[u8]) -> Option<String> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, name)| name.clone())
    }

    /// Remembers a success; expired entries are dropped here, off the hit path.
    fn remember(&self, key: Vec<u8>, name: String) {
        if !self.ttl.is_zero() {
            let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
            seen.retain(|_, (at, _)| at.elapsed() < self.ttl);
            seen.insert(key, (std::time::Instant::now(), name));
        }
    }
}

/// Why a password check did not admit the caller.
pub(super) enum CheckError {
    /// 401 with this reason.
    Wrong(String),
    /// 429: not now.
    Busy(gate::Busy),
}

impl Auth {
    /// With the users file: whether `user` is still in it (a removed user's
    /// cookie and cached password stop working at once).
    pub(super) fn still_listed(&self, user: &str) -> bool {
        match &self.verifier {
            Verifier::Basic(file) => file.current().contains(user),
            _ => true,
        }
    }

    /// The canonical name of the user whose password this is. A recent
    /// success is answered from the cache; anything else passes the
    /// client's failure limit and then waits for a turn.
    pub(super) async fn check_password(
        &self,
        user: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<String, CheckError> {
        let key = PasswordCache::key(user, password);
        if let Some(name) = self.passwords.hit(&key)
            && self.still_listed(&name)
        {
            return Ok(name);
        }
        self.gate.begin(client).map_err(CheckError::Busy)?;
        let name = self.verify_password(user, password).await?;
        self.gate.succeeded(client);
        self.passwords.remember(key, name.clone());
        Ok(name)
    }

    pub(super) async fn verify_password(
        &self,
        user: &str,
        password: &str,
    ) -> Result<String, CheckError> {
        let wrong = || CheckError::Wrong("wrong user name or password".into());
        match &self.verifier {
            Verifier::Basic(file) => {
                let users = file.current();
                let (u, p) = (user.to_owned(), password.to_owned());
                // One of a few turns: each check holds 19 MiB and a core.
                let _turn = self.gate.turn().await.map_err(CheckError::Busy)?;
                let ok = tokio::task::spawn_blocking(move || users.check(&u, &p))
                    .await
                    .unwrap_or(false);
                if ok {
                    Ok(user.to_owned())
                } else {
                    Err(wrong())
                }
            }
            Verifier::Ldap(l) => match l.check(user, password).await {
                Ok(canonical) => Ok(canonical),
                Err(e) if e.is_credentials() => Err(wrong()),
                Err(e) => {
                    tracing::error!(error = %e, "LDAP check failed");
                    Err(CheckError::Wrong(
                        "the directory cannot be reached; try again later".into(),
                    ))
                }
            },
            _ => Err(CheckError::Wrong("no password check configured".into())),
        }
    }
}
