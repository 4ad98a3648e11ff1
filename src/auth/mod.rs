//! Who is calling, and may they: authentication (Kerberos/SPNEGO, LDAP,
//! a built-in file of password hashes, then a signed cookie), Livy's access
//! filter and CSRF check as one axum middleware, and the access-control and
//! impersonation rules ([`acl`]) the handlers apply per record.
//!
//! This module never reads records or talks to clusters; it turns a request
//! into a [`Caller`] (or a 401/403/400) and answers questions about users.

pub mod acl;
pub mod basic;
pub mod cookie;
pub mod gate;
#[cfg(feature = "kerberos")]
pub mod kerberos;
pub mod ldap;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::config::auth::{AuthConfig, AuthMethod};
use crate::records::now_ms;
use acl::AccessControl;

/// The authenticated user of a request (`None` without authentication), as
/// an axum request extension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller(pub Option<String>);

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(transparent)]
    UsersFile(#[from] basic::UsersFileError),
    #[error("failed to read the cookie secret file {path}")]
    Secret {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the cookie secret file {path} holds fewer than 32 bytes")]
    ShortSecret { path: String },
}

enum Verifier {
    Off,
    Basic(Arc<basic::UsersFile>),
    Ldap(ldap::Ldap),
    #[cfg(feature = "kerberos")]
    Kerberos(Arc<kerberos::Kerberos>),
}

/// Recently successful password checks, keyed by a SHA-256 of user and
/// password (never the password itself), with the canonical user name, so
/// that clients sending Basic credentials on every request cost one bind or
/// hash per `ttl`.
struct PasswordCache {
    ttl: Duration,
    seen: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (std::time::Instant, String)>>,
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

pub struct Auth {
    verifier: Verifier,
    passwords: PasswordCache,
    /// Concurrency and per-client failure limits of password checks.
    gate: gate::PasswordGate,
    signer: cookie::Signer,
    pub acl: AccessControl,
    csrf: bool,
    /// Cookies get `Secure` when the API is served over TLS.
    secure_cookie: bool,
    /// Servers sharing the store, whose forwarded calls carry their caller.
    peers: Option<Arc<crate::ha::Cluster>>,
}

/// What identified a request.
struct Identified {
    user: Option<String>,
    /// A fresh cookie value to set (after credentials, not after a cookie).
    cookie: Option<String>,
    /// The final SPNEGO token, for `WWW-Authenticate: Negotiate <token>`.
    negotiate: Option<Vec<u8>>,
}

/// Why a request is not let in.
enum Denied {
    /// 401 with a challenge.
    Challenge(Challenge),
    /// 429 with `Retry-After`: too many password checks (at once, or
    /// failed from this client).
    Busy(gate::Busy),
}

impl From<Challenge> for Denied {
    fn from(c: Challenge) -> Self {
        Self::Challenge(c)
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Self::Challenge(c) => c.into_response(),
            Self::Busy(gate::Busy(after)) => {
                let secs = after.as_secs().max(1);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs.to_string())],
                    Json(json!({
                        "msg": format!("Too many password checks; retry in {secs} s")
                    })),
                )
                    .into_response()
            }
        }
    }
}

/// A 401 with its challenge.
struct Challenge {
    scheme: &'static str,
    why: String,
    clear_cookie: bool,
}

impl IntoResponse for Challenge {
    fn into_response(self) -> Response {
        let mut resp = (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "msg": format!("Authentication required: {}", self.why) })),
        )
            .into_response();
        let h = resp.headers_mut();
        let challenge = match self.scheme {
            "Basic" => HeaderValue::from_static("Basic realm=\"livy-server\", charset=\"UTF-8\""),
            _ => HeaderValue::from_static("Negotiate"),
        };
        h.insert(header::WWW_AUTHENTICATE, challenge);
        if self.clear_cookie {
            h.insert(
                header::SET_COOKIE,
                HeaderValue::from_static("hadoop.auth=; Path=/; Max-Age=0; HttpOnly"),
            );
        }
        resp
    }
}

impl Auth {
    pub fn new(config: &AuthConfig, secure_cookie: bool) -> Result<Self, AuthSetupError> {
        let (verifier, auth_type) = match &config.method {
            AuthMethod::Off => (Verifier::Off, "none"),
            AuthMethod::Basic { users_file } => (
                Verifier::Basic(Arc::new(basic::UsersFile::load(users_file)?)),
                "basic",
            ),
            AuthMethod::Ldap {
                url,
                base_dn,
                domain,
                start_tls,
            } => (
                Verifier::Ldap(ldap::Ldap::new(ldap::LdapSettings {
                    url: url.clone(),
                    base_dn: base_dn.clone(),
                    domain: domain.clone(),
                    start_tls: *start_tls,
                    timeout: Duration::from_secs(10),
                })),
                "ldap",
            ),
            #[cfg(feature = "kerberos")]
            AuthMethod::Kerberos { principal, .. } => (
                Verifier::Kerberos(Arc::new(kerberos::Kerberos::new(principal))),
                "kerberos",
            ),
            #[cfg(not(feature = "kerberos"))]
            AuthMethod::Kerberos { .. } => (Verifier::Off, "none"),
        };
        let secret = match &config.cookie_secret_file {
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|source| AuthSetupError::Secret {
                    path: path.display().to_string(),
                    source,
                })?;
                if bytes.len() < 32 {
                    return Err(AuthSetupError::ShortSecret {
                        path: path.display().to_string(),
                    });
                }
                bytes
            }
            None => {
                use rand::RngCore;
                let mut b = vec![0u8; 32];
                rand::rng().fill_bytes(&mut b);
                b
            }
        };
        Ok(Self {
            verifier,
            passwords: PasswordCache {
                ttl: config.password_cache_ttl,
                seen: Default::default(),
            },
            gate: gate::PasswordGate::new(
                config.max_concurrent_checks,
                config.check_wait,
                config.failure_limit,
                config.failure_window,
            ),
            signer: cookie::Signer::new(
                &secret,
                auth_type,
                config.cookie_validity.as_millis() as u64,
            ),
            acl: config.acl.clone(),
            csrf: config.csrf,
            secure_cookie,
            peers: None,
        })
    }

    /// No authentication configured: everyone is anonymous.
    pub fn is_off(&self) -> bool {
        matches!(self.verifier, Verifier::Off)
    }

    fn scheme(&self) -> &'static str {
        match self.verifier {
            #[cfg(feature = "kerberos")]
            Verifier::Kerberos(_) => "Negotiate",
            _ => "Basic",
        }
    }

    async fn identify(&self, headers: &HeaderMap, client: IpAddr) -> Result<Identified, Denied> {
        if self.is_off() {
            return Ok(Identified {
                user: None,
                cookie: None,
                negotiate: None,
            });
        }
        let mut cookie_problem = None;
        if let Some(value) = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| cookie::find(h, cookie::COOKIE))
        {
            match self.signer.verify(value, now_ms()) {
                Ok(user) if !self.still_listed(&user) => {
                    cookie_problem =
                        Some(format!("the user {user} is no longer in the users file"));
                }
                Ok(user) => {
                    return Ok(Identified {
                        user: Some(user),
                        cookie: None,
                        negotiate: None,
                    });
                }
                Err(e) => cookie_problem = Some(e.to_string()),
            }
        }
        let challenge = |why: String| Challenge {
            scheme: self.scheme(),
            why,
            clear_cookie: cookie_problem.is_some(),
        };
        let Some(authz) = headers.get(header::AUTHORIZATION) else {
            let why = cookie_problem
                .clone()
                .unwrap_or_else(|| format!("send credentials ({})", self.scheme()));
            return Err(challenge(why).into());
        };
        let authz = authz
            .to_str()
            .map_err(|_| challenge("the Authorization header is not text".into()))?;
        let (scheme, data) = authz.split_once(' ').unwrap_or((authz, ""));
        let (user, negotiate) = match (&self.verifier, scheme.to_ascii_lowercase().as_str()) {
            (Verifier::Basic(_) | Verifier::Ldap(_), "basic") => {
                let (user, password) = basic_credentials(data)
                    .ok_or_else(|| challenge("malformed Basic credentials".into()))?;
                let user = match self.check_password(&user, &password, client).await {
                    Ok(canonical) => canonical,
                    Err(CheckError::Wrong(why)) => return Err(challenge(why).into()),
                    Err(CheckError::Busy(busy)) => return Err(Denied::Busy(busy)),
                };
                (user, None)
            }
            #[cfg(feature = "kerberos")]
            (Verifier::Kerberos(k), "negotiate") => {
                let token = STANDARD
                    .decode(data.trim())
                    .map_err(|_| challenge("malformed Negotiate token".into()))?;
                let k = k.clone();
                let accepted = tokio::task::spawn_blocking(move || k.accept(&token))
                    .await
                    .map_err(|e| challenge(format!("internal error: {e}")))?;
                match accepted {
                    Ok(a) => (a.user, a.reply),
                    Err(e) if e.is_client() => return Err(challenge(e.to_string()).into()),
                    Err(e) => {
                        tracing::error!(error = %e, "kerberos acceptor failed");
                        return Err(challenge(
                            "the server cannot accept Kerberos tickets now".into(),
                        )
                        .into());
                    }
                }
            }
            _ => {
                return Err(challenge(format!(
                    "the {scheme} scheme is not accepted here; use {}",
                    self.scheme()
                ))
                .into());
            }
        };
        let fresh = self.signer.issue(&user, now_ms());
        Ok(Identified {
            user: Some(user),
            cookie: Some(fresh),
            negotiate,
        })
    }

    /// Trusts calls forwarded by the servers sharing the store (they carry
    /// the cluster's peer secret and the caller they authenticated).
    pub fn with_peers(mut self, peers: Arc<crate::ha::Cluster>) -> Self {
        self.peers = Some(peers);
        self
    }

    /// A call forwarded by another server: `Some` with its caller when its
    /// signature holds (made with the servers' shared secret over this very
    /// method, path and caller, within its time window, not seen before);
    /// 401 when it does not, when it is unsigned, when no server shares the
    /// store, or when it names no caller while authentication is on; `None`
    /// for a call that claims no forwarding. The forwarding headers never
    /// reach the handlers.
    fn forwarded(
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

    /// With the users file: whether `user` is still in it (a removed user's
    /// cookie and cached password stop working at once).
    fn still_listed(&self, user: &str) -> bool {
        match &self.verifier {
            Verifier::Basic(file) => file.current().contains(user),
            _ => true,
        }
    }

    /// The canonical name of the user whose password this is. A recent
    /// success is answered from the cache; anything else passes the
    /// client's failure limit and then waits for a turn.
    async fn check_password(
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

    async fn verify_password(&self, user: &str, password: &str) -> Result<String, CheckError> {
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

    fn set_cookie(&self, value: &str) -> Option<HeaderValue> {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax{secure}",
            cookie::COOKIE
        ))
        .ok()
    }
}

/// Why a password check did not admit the caller.
enum CheckError {
    /// 401 with this reason.
    Wrong(String),
    /// 429: not now.
    Busy(gate::Busy),
}

fn basic_credentials(data: &str) -> Option<(String, String)> {
    let decoded = STANDARD.decode(data.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    (!user.is_empty()).then(|| (user.to_owned(), password.to_owned()))
}

fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "msg": msg }))).into_response()
}

/// Livy's filter chain: authenticate → CSRF → access filter; then the
/// handler with a [`Caller`], then the cookie and SPNEGO reply headers.
pub async fn middleware(State(auth): State<Arc<Auth>>, mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let forwarded = match auth.forwarded(&method, &path, req.headers_mut()) {
        Ok(forwarded) => forwarded,
        Err((status, msg)) => return json_error(status, &msg),
    };
    let id = match forwarded {
        Some(id) => id,
        None => {
            // Per-client limits key on the peer address (the listener sets
            // it; a request without one, in tests, counts as one client).
            let client = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
            match auth.identify(req.headers(), client).await {
                Ok(id) => id,
                Err(denied) => return denied.into_response(),
            }
        }
    };
    // A forwarded call passed the CSRF check where it was made.
    if auth.csrf
        && !req.headers().contains_key(crate::ha::FORWARDED_USER_HEADER)
        && !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        && !req.headers().contains_key("x-requested-by")
    {
        return json_error(
            StatusCode::BAD_REQUEST,
            "Missing Required Header for CSRF protection.",
        );
    }
    if !auth.acl.is_allowed(id.user.as_deref()) {
        return json_error(StatusCode::FORBIDDEN, "User not authorised to use Livy.");
    }
    req.extensions_mut().insert(Caller(id.user));
    let mut resp = next.run(req).await;
    if let Some(v) = id.cookie.as_deref().and_then(|c| auth.set_cookie(c)) {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    if let Some(tok) = id.negotiate
        && let Ok(v) = HeaderValue::from_str(&format!("Negotiate {}", STANDARD.encode(tok)))
    {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_parse() {
        let enc = STANDARD.encode("alice:pa:ss");
        assert_eq!(
            basic_credentials(&enc),
            Some(("alice".into(), "pa:ss".into()))
        );
        assert_eq!(basic_credentials("!!!"), None);
        assert_eq!(basic_credentials(&STANDARD.encode("nocolon")), None);
        assert_eq!(basic_credentials(&STANDARD.encode(":pw")), None);
    }

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
