//! Calls forwarded by another server sharing the store (HA): taken only
//! when signed with the servers' shared secret over this very call and
//! caller, within its time window and once (see [`crate::ha::signature`]).

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::{Auth, Identified};

impl Auth {
    /// A call forwarded by another server: `Some` with its caller when its
    /// signature holds (made with the servers' shared secret over this very
    /// method, path and caller, within its time window, not seen before);
    /// 401 when it does not, when it is unsigned, when no server shares the
    /// store, or when it names no caller while authentication is on; `None`
    /// for a call that claims no forwarding. The forwarding headers never
    /// reach the handlers.
    pub(super) fn forwarded(
        &self,
        method: &Method,
        path: &str,
        headers: &mut HeaderMap,
    ) -> Result<Option<Identified>, (StatusCode, String)> {
        let user = headers.remove(crate::ha::FORWARDED_USER_HEADER);
        let signature = headers.remove(crate::ha::PEER_SIGNATURE_HEADER);
        let bare_secret = headers.remove(crate::ha::PEER_SECRET_HEADER);
        if user.is_none() && signature.is_none() && bare_secret.is_none() {
            return Ok(None);
        }
        let refuse = |why: &str| {
            tracing::warn!(method = %method, path, reason = why, "refused a call that claimed to be forwarded by another server");
            Err((
                StatusCode::UNAUTHORIZED,
                format!(
                    "refused as a forwarded call: {why}; only servers sharing this server's store may forward calls"
                ),
            ))
        };
        let Some(signature) = signature else {
            return refuse("it is not signed");
        };
        let Some(peers) = self.peers.as_ref() else {
            return refuse("no server shares this server's store");
        };
        let user = match user.map(|u| u.to_str().map(str::to_owned)) {
            Some(Ok(u)) => Some(u),
            Some(Err(_)) => return refuse("the forwarded user name is not valid text"),
            None => None,
        };
        let Ok(signature) = signature.to_str() else {
            return refuse("the signature is not valid text");
        };
        if let Err(why) = peers.verify_forward(signature, method.as_str(), path, user.as_deref()) {
            return refuse(&why.to_string());
        }
        if user.is_none() && !self.is_off() {
            return refuse("it names no caller");
        }
        // Mark it for the CSRF check, which the forwarding server made.
        headers.insert(
            crate::ha::FORWARDED_USER_HEADER,
            HeaderValue::from_static("1"),
        );
        Ok(Some(Identified {
            user,
            cookie: None,
            negotiate: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::basic;
    use crate::config::auth::{AuthConfig, AuthMethod};

    /// Authentication on (a users file), sharing a store with other servers
    /// whose secret is `secret`.
    fn auth_with_peers(dir: &std::path::Path, secret: &str) -> Auth {
        let users = dir.join("users");
        let hash = basic::hash_password("pw").unwrap();
        std::fs::write(&users, format!("alice:{hash}\n")).unwrap();
        let config = AuthConfig {
            method: AuthMethod::Basic { users_file: users },
            cookie_validity: std::time::Duration::from_secs(3600),
            cookie_secret_file: None,
            password_cache_ttl: std::time::Duration::from_secs(60),
            acl: Default::default(),
            csrf: true,
            max_concurrent_checks: 2,
            check_wait: std::time::Duration::from_secs(2),
            failure_limit: 0,
            failure_window: std::time::Duration::from_secs(60),
        };
        let me = crate::ha::Peer {
            identity: "leader".into(),
            rest_url: "http://leader:8998".into(),
            callback: "leader:10000".into(),
        };
        let peers = crate::ha::Cluster::new(me, secret.to_owned(), Vec::new(), &[]).unwrap();
        Auth::new(&config, false).unwrap().with_peers(peers)
    }

    #[test]
    fn a_forwarded_call_is_taken_only_signed_once_with_its_caller() {
        use crate::ha::signature::Signer;
        use crate::ha::{FORWARDED_USER_HEADER, PEER_SECRET_HEADER, PEER_SIGNATURE_HEADER};
        let dir = tempfile::tempdir().unwrap();
        let auth = auth_with_peers(dir.path(), "shared");
        let path = "/sessions/4/statements";
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let peer = Signer::new(b"shared");
        let headers = |pairs: &[(&'static str, &str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_str(v).unwrap());
            }
            h
        };
        let call = |h: &mut HeaderMap| auth.forwarded(&Method::POST, path, h);

        // Not a forwarded call at all: authenticated as usual.
        assert!(call(&mut HeaderMap::new()).unwrap().is_none());

        let good = peer.sign("POST", path, Some("alice"), now);
        let mut h = headers(&[
            (PEER_SIGNATURE_HEADER, &good),
            (FORWARDED_USER_HEADER, "alice"),
        ]);
        let id = call(&mut h).unwrap().unwrap();
        assert_eq!(id.user.as_deref(), Some("alice"));
        assert!(!h.contains_key(PEER_SIGNATURE_HEADER), "not passed on");

        let refused = |pairs: &[(&'static str, &str)], says: &str| {
            let Err(err) = call(&mut headers(pairs)) else {
                panic!("{pairs:?} was taken")
            };
            assert_eq!(err.0, StatusCode::UNAUTHORIZED, "{pairs:?}");
            assert!(err.1.contains(says), "{pairs:?}: {}", err.1);
        };
        let user = (FORWARDED_USER_HEADER, "alice");
        // The same call again.
        refused(&[(PEER_SIGNATURE_HEADER, &good), user], "already used");
        // Unsigned: a caller named, or the bare secret as before signatures.
        refused(&[user], "not signed");
        refused(&[(PEER_SECRET_HEADER, "shared"), user], "not signed");
        // Signed with another secret, or for another caller.
        let forged = Signer::new(b"guess").sign("POST", path, Some("alice"), now);
        refused(&[(PEER_SIGNATURE_HEADER, &forged), user], "does not match");
        let for_bob = peer.sign("POST", path, Some("bob"), now);
        refused(&[(PEER_SIGNATURE_HEADER, &for_bob), user], "does not match");
        // Expired (two minutes old), or from the future.
        for at in [now - 120, now + 120] {
            let old = peer.sign("POST", path, Some("alice"), at);
            refused(&[(PEER_SIGNATURE_HEADER, &old), user], "window");
        }
        // Signed, but naming no caller while authentication is on.
        let anonymous = peer.sign("POST", path, None, now);
        refused(&[(PEER_SIGNATURE_HEADER, &anonymous)], "names no caller");
    }
}
