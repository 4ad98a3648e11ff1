//! The signature on a forwarded call: HMAC-SHA256, under the secret the
//! servers share through their store, over the method, the path and query,
//! the caller, the time and a random nonce. The leader accepts a signature
//! only within [`WINDOW`] of its own clock and only once (it remembers the
//! nonces it saw until they are out of the window), so a captured call
//! cannot be sent again, and nothing in the request can be changed without
//! the secret.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// How far a signature's time may be from the verifier's clock, either way.
pub const WINDOW_SECS: u64 = 30;
/// The header's version tag (a new scheme gets a new one).
const VERSION: &str = "v1";

/// Why a signature was refused (for the log; the caller gets one 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the signature header is malformed")]
    Malformed,
    #[error(
        "the signature is {skew_secs} s away from this server's clock (the window is {WINDOW_SECS} s)"
    )]
    OutOfWindow { skew_secs: u64 },
    #[error("the signature does not match (wrong secret, or the call was changed)")]
    Mismatch,
    #[error("the signature was already used (a replay)")]
    Replayed,
}

/// Signs and verifies forwarded calls with one shared secret.
pub struct Signer {
    key: hmac::Key,
    /// Nonces seen, with the time (s) after which they may be forgotten.
    seen: Mutex<HashMap<String, u64>>,
}

/// What is signed: every field on its own line, the user last but one so
/// that no field can be shifted into another.
fn message(method: &str, path: &str, user: Option<&str>, time: u64, nonce: &str) -> String {
    // A user is marked present or absent, so "" and none differ.
    let user = match user {
        Some(u) => format!("+{u}"),
        None => "-".to_owned(),
    };
    format!("livy-forward-{VERSION}\n{method}\n{path}\n{time}\n{nonce}\n{user}")
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            seen: Mutex::default(),
        }
    }

    /// The header value for a call `method path` made for `user` at `now`
    /// (seconds since the epoch).
    pub fn sign(&self, method: &str, path: &str, user: Option<&str>, now: u64) -> String {
        let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        self.sign_with(method, path, user, now, &nonce)
    }

    /// [`Signer::sign`] with a given nonce (tests forge with it).
    pub fn sign_with(
        &self,
        method: &str,
        path: &str,
        user: Option<&str>,
        now: u64,
        nonce: &str,
    ) -> String {
        let tag = hmac::sign(
            &self.key,
            message(method, path, user, now, nonce).as_bytes(),
        );
        let mac = URL_SAFE_NO_PAD.encode(tag.as_ref());
        format!("{VERSION};t={now};n={nonce};s={mac}")
    }

    /// Accepts `header` for `method path` and `user` at `now`, once.
    pub fn verify(
        &self,
        header: &str,
        method: &str,
        path: &str,
        user: Option<&str>,
        now: u64,
    ) -> Result<(), Refusal> {
        let mut parts = header.split(';');
        if parts.next() != Some(VERSION) {
            return Err(Refusal::Malformed);
        }
        let mut field = |name: &str| {
            parts
                .next()
                .and_then(|p| p.strip_prefix(name))
                .and_then(|p| p.strip_prefix('='))
                .ok_or(Refusal::Malformed)
        };
        let time: u64 = field("t")?.parse().map_err(|_| Refusal::Malformed)?;
        let nonce = field("n")?;
        let mac = URL_SAFE_NO_PAD
            .decode(field("s")?)
            .map_err(|_| Refusal::Malformed)?;
        if nonce.is_empty() || nonce.len() > 64 || parts.next().is_some() {
            return Err(Refusal::Malformed);
        }
        let skew_secs = now.abs_diff(time);
        if skew_secs > WINDOW_SECS {
            return Err(Refusal::OutOfWindow { skew_secs });
        }
        // Constant time (ring's verify).
        hmac::verify(
            &self.key,
            message(method, path, user, time, nonce).as_bytes(),
            &mac,
        )
        .map_err(|_| Refusal::Mismatch)?;
        // Only a genuine signature is remembered, so forgeries cannot fill
        // the table; it holds at most a window's worth of forwarded calls.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, until| *until >= now);
        if seen.contains_key(nonce) {
            return Err(Refusal::Replayed);
        }
        seen.insert(nonce.to_owned(), time + WINDOW_SECS);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn a_signature_holds_once_for_exactly_what_was_signed() {
        let signer = Signer::new(b"shared");
        let path = "/sessions/1/statements";
        let header = signer.sign("POST", path, Some("alice"), NOW);
        // The verifier is another server with the same secret.
        let leader = Signer::new(b"shared");
        let changed = [
            ("GET", path, Some("alice")),
            ("POST", "/sessions/2/statements", Some("alice")),
            ("POST", path, Some("admin")),
            ("POST", path, None),
        ];
        for (method, path, user) in changed {
            assert_eq!(
                leader.verify(&header, method, path, user, NOW),
                Err(Refusal::Mismatch),
                "{method} {path} {user:?}"
            );
        }
        assert_eq!(
            leader.verify(&header, "POST", path, Some("alice"), NOW),
            Ok(())
        );
        assert_eq!(
            leader.verify(&header, "POST", path, Some("alice"), NOW + 1),
            Err(Refusal::Replayed)
        );
    }

    #[test]
    fn only_within_the_window_and_only_with_the_secret() {
        let signer = Signer::new(b"shared");
        let leader = Signer::new(b"shared");
        let p = "/sessions/1/completion";
        for (at, ok) in [
            (NOW - 31, false),
            (NOW - 30, true),
            (NOW + 30, true),
            (NOW + 31, false),
        ] {
            let header = signer.sign("POST", p, Some("bob"), at);
            let got = leader.verify(&header, "POST", p, Some("bob"), NOW);
            assert_eq!(got.is_ok(), ok, "signed at {at}: {got:?}");
        }
        let forged = Signer::new(b"guess").sign("POST", p, Some("bob"), NOW);
        assert_eq!(
            leader.verify(&forged, "POST", p, Some("bob"), NOW),
            Err(Refusal::Mismatch)
        );
        for junk in [
            "",
            "v1",
            "v2;t=1;n=a;s=AA",
            "v1;t=x;n=a;s=AA",
            "v1;t=1;n=;s=AA",
            "v1;n=a;t=1;s=AA",
        ] {
            assert_eq!(
                leader.verify(junk, "POST", p, Some("bob"), NOW),
                Err(Refusal::Malformed),
                "{junk:?}"
            );
        }
    }

    #[test]
    fn nonces_are_forgotten_once_out_of_the_window() {
        let signer = Signer::new(b"shared");
        let h1 = signer.sign_with("GET", "/a", Some("u"), NOW, "n1");
        assert_eq!(signer.verify(&h1, "GET", "/a", Some("u"), NOW), Ok(()));
        let h2 = signer.sign_with("GET", "/a", Some("u"), NOW + 100, "n2");
        assert_eq!(
            signer.verify(&h2, "GET", "/a", Some("u"), NOW + 100),
            Ok(())
        );
        let seen = signer.seen.lock().unwrap();
        assert_eq!(seen.keys().collect::<Vec<_>>(), ["n2"]);
    }
}
