//! The signed, expiring cookie a client gets after authenticating, so that
//! each request does not repeat the handshake (Hadoop's `hadoop.auth`
//! behaviour): `u=<user>&t=<auth type>&e=<expiry, epoch ms>&s=<signature>`,
//! the signature an HMAC-SHA256 of the rest under a per-server secret.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;

/// Hadoop's cookie name: clients (requests sessions, sparkmagic) keep it.
pub const COOKIE: &str = "hadoop.auth";

/// Why a cookie was not accepted (the 401 says so).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieError {
    #[error("the auth cookie is malformed")]
    Malformed,
    #[error("the auth cookie's signature is invalid")]
    Forged,
    #[error("the auth cookie has expired")]
    Expired,
    #[error("the auth cookie is for another authentication type")]
    OtherType,
}

pub struct Signer {
    key: hmac::Key,
    auth_type: &'static str,
    validity_ms: u64,
}

impl Signer {
    /// `secret`: at least 32 random bytes (per process unless configured).
    pub fn new(secret: &[u8], auth_type: &'static str, validity_ms: u64) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            auth_type,
            validity_ms,
        }
    }

    /// A cookie value for `user`, valid from `now_ms` for the configured time.
    pub fn issue(&self, user: &str, now_ms: u64) -> String {
        let body = format!(
            "u={}&t={}&e={}",
            escape(user),
            self.auth_type,
            now_ms + self.validity_ms
        );
        let sig = hmac::sign(&self.key, body.as_bytes());
        format!("{body}&s={}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// The user a cookie value names, if it is ours, intact and current.
    pub fn verify(&self, value: &str, now_ms: u64) -> Result<String, CookieError> {
        let value = value.trim_matches('"');
        let (body, sig) = value.rsplit_once("&s=").ok_or(CookieError::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| CookieError::Malformed)?;
        hmac::verify(&self.key, body.as_bytes(), &sig).map_err(|_| CookieError::Forged)?;
        let (mut user, mut typ, mut expiry) = (None, None, None);
        for pair in body.split('&') {
            match pair.split_once('=') {
                Some(("u", v)) => user = Some(unescape(v).ok_or(CookieError::Malformed)?),
                Some(("t", v)) => typ = Some(v),
                Some(("e", v)) => expiry = v.parse::<u64>().ok(),
                _ => return Err(CookieError::Malformed),
            }
        }
        let (user, typ, expiry) = (
            user.ok_or(CookieError::Malformed)?,
            typ.ok_or(CookieError::Malformed)?,
            expiry.ok_or(CookieError::Malformed)?,
        );
        if typ != self.auth_type {
            return Err(CookieError::OtherType);
        }
        if now_ms >= expiry {
            return Err(CookieError::Expired);
        }
        Ok(user)
    }
}

/// User names may hold `&`, `=` or `%` (Kerberos principals hold `/` and `@`).
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'&' | b'=' | b'%' | b'"' | b';' | b',' | b' ' | 0..=0x1f | 0x7f..=0xff => {
                out.push_str(&format!("%{b:02X}"))
            }
            _ => out.push(b as char),
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut it = s.bytes();
    while let Some(b) = it.next() {
        if b == b'%' {
            let hex = [it.next()?, it.next()?];
            bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).ok()?, 16).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

/// The value of cookie `name` in a `Cookie` header.
pub fn find<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|part| {
        let (k, v) = part.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signer() -> Signer {
        Signer::new(SECRET, "ldap", 60_000)
    }

    #[test]
    fn an_issued_cookie_names_its_user_until_it_expires() {
        let c = signer().issue("alice", 1_000);
        assert_eq!(signer().verify(&c, 1_000), Ok("alice".into()));
        assert_eq!(signer().verify(&c, 60_999), Ok("alice".into()));
        assert_eq!(signer().verify(&c, 61_000), Err(CookieError::Expired));
        // Quoted, as some clients send it back.
        assert_eq!(
            signer().verify(&format!("\"{c}\""), 2_000),
            Ok("alice".into())
        );
    }

    #[test]
    fn odd_user_names_survive() {
        for user in ["HTTP/host@EXAMPLE.TEST", "a&b=c%d", "ünï cödé"] {
            let c = signer().issue(user, 0);
            assert_eq!(signer().verify(&c, 1), Ok(user.to_owned()));
        }
    }

    #[test]
    fn forged_malformed_and_foreign_cookies_are_refused() {
        let c = signer().issue("alice", 0);
        let tampered = c.replace("u=alice", "u=admin");
        assert_eq!(signer().verify(&tampered, 1), Err(CookieError::Forged));
        let longer = c.replace("&e=60000", "&e=99999999");
        assert_eq!(signer().verify(&longer, 1), Err(CookieError::Forged));
        let other_key = Signer::new(b"another secret, 32 bytes long!!!", "ldap", 60_000);
        assert_eq!(other_key.verify(&c, 1), Err(CookieError::Forged));
        let kerberos = Signer::new(SECRET, "kerberos", 60_000);
        assert_eq!(kerberos.verify(&c, 1), Err(CookieError::OtherType));
        for junk in ["", "u=alice", "u=alice&s=!!!", "&s=", "x=1&s=AAAA"] {
            assert!(signer().verify(junk, 1).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn finds_a_cookie_among_others() {
        let h = "a=1; hadoop.auth=u=x&t=ldap&e=5&s=abc; b=2";
        assert_eq!(find(h, COOKIE), Some("u=x&t=ldap&e=5&s=abc"));
        assert_eq!(find(h, "c"), None);
    }
}
