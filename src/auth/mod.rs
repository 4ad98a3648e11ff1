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
mod forwarded;
pub mod gate;
#[cfg(feature = "kerberos")]
pub mod kerberos;
pub mod ldap;
mod password;

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
use password::{CheckError, PasswordCache};

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
        let cookie_problem = match self.cookie_user(headers) {
            Ok(Some(user)) => {
                return Ok(Identified {
                    user: Some(user),
                    cookie: None,
                    negotiate: None,
                });
            }
            Ok(None) => None,
            Err(problem) => Some(problem),
        };
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
                (self.basic_user(data, client, &challenge).await?, None)
            }
            #[cfg(feature = "kerberos")]
            (Verifier::Kerberos(k), "negotiate") => negotiate_user(k, data, &challenge).await?,
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

    /// The user of a valid auth cookie (`None`: no cookie); `Err`: why the
    /// cookie sent is no good (expired, forged, its user gone).
    fn cookie_user(&self, headers: &HeaderMap) -> Result<Option<String>, String> {
        let Some(value) = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|h| cookie::find(h, cookie::COOKIE))
        else {
            return Ok(None);
        };
        match self.signer.verify(value, now_ms()) {
            Ok(user) if !self.still_listed(&user) => {
                Err(format!("the user {user} is no longer in the users file"))
            }
            Ok(user) => Ok(Some(user)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The canonical user of HTTP Basic credentials (`data`: after `Basic `),
    /// checked by the password file or LDAP.
    async fn basic_user(
        &self,
        data: &str,
        client: IpAddr,
        challenge: &impl Fn(String) -> Challenge,
    ) -> Result<String, Denied> {
        let (user, password) = basic_credentials(data)
            .ok_or_else(|| challenge("malformed Basic credentials".into()))?;
        match self.check_password(&user, &password, client).await {
            Ok(canonical) => Ok(canonical),
            Err(CheckError::Wrong(why)) => Err(challenge(why).into()),
            Err(CheckError::Busy(busy)) => Err(Denied::Busy(busy)),
        }
    }

    /// Trusts calls forwarded by the servers sharing the store (they carry
    /// the cluster's peer secret and the caller they authenticated).
    pub fn with_peers(mut self, peers: Arc<crate::ha::Cluster>) -> Self {
        self.peers = Some(peers);
        self
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

/// The user of a SPNEGO token (`data`: after `Negotiate `) and the final
/// token to send back; the GSSAPI call runs off the async threads.
#[cfg(feature = "kerberos")]
async fn negotiate_user(
    k: &Arc<kerberos::Kerberos>,
    data: &str,
    challenge: &impl Fn(String) -> Challenge,
) -> Result<(String, Option<Vec<u8>>), Denied> {
    let token = STANDARD
        .decode(data.trim())
        .map_err(|_| challenge("malformed Negotiate token".into()))?;
    let k = k.clone();
    let accepted = tokio::task::spawn_blocking(move || k.accept(&token))
        .await
        .map_err(|e| challenge(format!("internal error: {e}")))?;
    match accepted {
        Ok(a) => Ok((a.user, a.reply)),
        Err(e) if e.is_client() => Err(challenge(e.to_string()).into()),
        Err(e) => {
            tracing::error!(error = %e, "kerberos acceptor failed");
            Err(challenge("the server cannot accept Kerberos tickets now".into()).into())
        }
    }
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
}
