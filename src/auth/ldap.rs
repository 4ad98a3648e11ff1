//! `livy.server.auth.type = ldap`: HTTP Basic checked by a simple bind, as
//! Livy's LDAP handler does (`uid=<user>,<base-dn>`, or `<user>@<domain>`),
//! optionally over StartTLS. (Successful checks are cached by the caller,
//! [`super::PasswordCache`].) With a base DN, the user's name becomes the
//! directory's own spelling of it (the entry's `uid`) before it names an
//! owner or a proxy user: the directory matches `ALICE` to `alice`, and
//! access rules and owners must not see two users.

use std::time::Duration;

use ldap3::{LdapConnAsync, LdapConnSettings, Scope, SearchEntry};

#[derive(Debug, Clone)]
pub struct LdapSettings {
    pub url: String,
    pub base_dn: Option<String>,
    pub domain: Option<String>,
    pub start_tls: bool,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LdapError {
    #[error("an empty password is never accepted")]
    EmptyPassword,
    #[error("failed to connect to the LDAP server {url}")]
    Connect {
        url: String,
        #[source]
        source: ldap3::LdapError,
    },
    #[error("the LDAP server refused the credentials of {dn}")]
    Refused {
        dn: String,
        #[source]
        source: ldap3::LdapError,
    },
}

impl LdapError {
    /// A wrong password is the client's fault (401); the rest is ours (logged).
    pub fn is_credentials(&self) -> bool {
        matches!(self, Self::EmptyPassword | Self::Refused { .. })
    }
}

pub struct Ldap {
    settings: LdapSettings,
}

/// The DN Livy binds as: `user@domain` unless the name has a realm already,
/// then `uid=<that>,<base-dn>` when a base DN is set.
pub fn bind_dn(user: &str, base_dn: Option<&str>, domain: Option<&str>) -> String {
    let has_realm = user.find(['@', '/']).is_some_and(|i| i > 0);
    let principal = match domain {
        Some(d) if !has_realm && !d.is_empty() => format!("{user}@{d}"),
        _ => user.to_owned(),
    };
    match base_dn {
        Some(b) if !b.is_empty() => format!("uid={},{b}", ldap3::dn_escape(&principal)),
        _ => principal,
    }
}

impl Ldap {
    pub fn new(settings: LdapSettings) -> Self {
        Self { settings }
    }

    /// Binds as the user; the user's canonical name.
    pub async fn check(&self, user: &str, password: &str) -> Result<String, LdapError> {
        if password.is_empty() || user.is_empty() {
            return Err(LdapError::EmptyPassword);
        }
        let s = &self.settings;
        let dn = bind_dn(user, s.base_dn.as_deref(), s.domain.as_deref());
        let conn = LdapConnSettings::new()
            .set_starttls(s.start_tls)
            .set_conn_timeout(s.timeout);
        let connect_err = |source| LdapError::Connect {
            url: s.url.clone(),
            source,
        };
        let (conn, mut ldap) = LdapConnAsync::with_settings(conn, &s.url)
            .await
            .map_err(connect_err)?;
        ldap3::drive!(conn);
        ldap.with_timeout(s.timeout);
        let bound = match ldap.simple_bind(&dn, password).await {
            Ok(result) => result
                .success()
                .map(|_| ())
                .map_err(|source| LdapError::Refused {
                    dn: dn.clone(),
                    source,
                }),
            Err(source) => Err(connect_err(source)),
        };
        let canonical = match (&bound, s.base_dn.as_deref()) {
            (Ok(()), Some(b)) if !b.is_empty() => {
                let found = ldap
                    .search(&dn, Scope::Base, "(objectClass=*)", vec!["uid"])
                    .await
                    .and_then(|r| r.success());
                match found {
                    Ok((entries, _)) => entries.into_iter().next().and_then(|e| {
                        let entry = SearchEntry::construct(e);
                        entry
                            .attrs
                            .into_iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("uid"))
                            .and_then(|(_, v)| v.into_iter().next())
                    }),
                    Err(e) => {
                        tracing::warn!(dn = %dn, error = %e, "cannot read the user's entry; keeping the name as given");
                        None
                    }
                }
            }
            _ => None,
        };
        let _ = ldap.unbind().await;
        bound?;
        Ok(canonical
            .map(|uid| strip_domain(&uid, user, s.domain.as_deref()))
            .unwrap_or_else(|| user.to_owned()))
    }
}

/// The directory's `uid`, less the `@<domain>` [`bind_dn`] added to a name
/// given without one.
fn strip_domain(uid: &str, given: &str, domain: Option<&str>) -> String {
    let added = domain.filter(|d| !d.is_empty() && !given.contains(['@', '/']));
    match added {
        Some(d) => {
            let suffix = format!("@{d}");
            let cut = uid.len().saturating_sub(suffix.len());
            match uid.get(cut..) {
                Some(tail) if tail.eq_ignore_ascii_case(&suffix) => uid[..cut].to_owned(),
                _ => uid.to_owned(),
            }
        }
        None => uid.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(
        "alice",
        Some("ou=people,dc=example,dc=test"),
        None,
        "uid=alice,ou=people,dc=example,dc=test"
    )]
    #[case("alice", None, Some("example.test"), "alice@example.test")]
    #[case(
        "alice",
        Some("dc=x"),
        Some("example.test"),
        "uid=alice@example.test,dc=x"
    )]
    #[case("alice@other", None, Some("example.test"), "alice@other")]
    #[case("alice", None, None, "alice")]
    #[case("a,b=c", Some("dc=x"), None, "uid=a\\2cb\\3dc,dc=x")]
    fn bind_dns(
        #[case] user: &str,
        #[case] base: Option<&str>,
        #[case] domain: Option<&str>,
        #[case] want: &str,
    ) {
        assert_eq!(bind_dn(user, base, domain), want);
    }

    #[rstest]
    #[case("alice", "ALICE", None, "alice")]
    #[case("alice@example.test", "Alice", Some("example.test"), "alice")]
    #[case(
        "alice@example.test",
        "alice@EXAMPLE.test",
        Some("example.test"),
        "alice@example.test"
    )]
    #[case("alice", "alice", Some("example.test"), "alice")]
    fn canonical_names(
        #[case] uid: &str,
        #[case] given: &str,
        #[case] domain: Option<&str>,
        #[case] want: &str,
    ) {
        assert_eq!(strip_domain(uid, given, domain), want);
    }

    #[tokio::test]
    async fn empty_passwords_never_reach_the_server() {
        let l = Ldap::new(LdapSettings {
            url: "ldap://127.0.0.1:1".into(),
            base_dn: None,
            domain: None,
            start_tls: false,
            timeout: Duration::from_secs(1),
        });
        assert!(matches!(
            l.check("alice", "").await,
            Err(LdapError::EmptyPassword)
        ));
        assert!(matches!(
            l.check("alice", "pw").await,
            Err(LdapError::Connect { .. })
        ));
    }
}
