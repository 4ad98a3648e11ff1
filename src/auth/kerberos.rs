//! `livy.server.auth.type = kerberos`: SPNEGO (`Authorization: Negotiate`)
//! accepted with MIT's GSSAPI through the `libgssapi` crate, against the
//! service principal's key in the configured keytab (`KRB5_KTNAME`, set by
//! `main` before any thread starts). Blocking: call off the async threads.

use libgssapi::context::{SecurityContext, ServerCtx};
use libgssapi::credential::{Cred, CredUsage};
use libgssapi::name::Name;
use libgssapi::oid::{GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_KRB5_PRINCIPAL, OidSet};

#[derive(Debug, thiserror::Error)]
pub enum KerberosError {
    #[error("cannot use the service principal {principal}: {reason}")]
    Credentials { principal: String, reason: String },
    #[error("the Negotiate token was refused: {0}")]
    Refused(String),
    #[error("the SPNEGO exchange needs more than one round, which this server does not do")]
    Incomplete,
    #[error("principal {0} is not of the service's realm (name rules: DEFAULT)")]
    ForeignRealm(String),
}

impl KerberosError {
    /// The client's fault (401) rather than ours (a misconfigured keytab).
    pub fn is_client(&self) -> bool {
        !matches!(self, Self::Credentials { .. })
    }
}

/// A caller who completed the exchange.
pub struct Accepted {
    /// The short user name (name rules applied).
    pub user: String,
    /// The final SPNEGO token for `WWW-Authenticate: Negotiate <token>`
    /// (mutual authentication: clients like requests-kerberos require it).
    pub reply: Option<Vec<u8>>,
}

pub struct Kerberos {
    principal: String,
    realm: Option<String>,
}

impl Kerberos {
    pub fn new(principal: &str) -> Self {
        Self {
            principal: principal.to_owned(),
            realm: principal.rsplit_once('@').map(|(_, r)| r.to_owned()),
        }
    }

    /// One SPNEGO step on the client's token.
    pub fn accept(&self, token: &[u8]) -> Result<Accepted, KerberosError> {
        let creds = |reason: libgssapi::error::Error| KerberosError::Credentials {
            principal: self.principal.clone(),
            reason: reason.to_string(),
        };
        let name =
            Name::new(self.principal.as_bytes(), Some(GSS_NT_KRB5_PRINCIPAL)).map_err(creds)?;
        let mut mechs = OidSet::new();
        mechs.add(GSS_MECH_SPNEGO).map_err(creds)?;
        mechs.add(GSS_MECH_KRB5).map_err(creds)?;
        let cred =
            Cred::acquire(Some(&name), None, CredUsage::Accept, Some(&mechs)).map_err(creds)?;
        let mut ctx = ServerCtx::new(Some(cred));
        let reply = ctx
            .step(token, None)
            .map_err(|e| KerberosError::Refused(e.to_string()))?;
        if !ctx.is_complete() {
            return Err(KerberosError::Incomplete);
        }
        let principal = ctx
            .source_name()
            .map_err(|e| KerberosError::Refused(e.to_string()))?
            .to_string();
        let user = short_name(&principal, self.realm.as_deref())
            .ok_or(KerberosError::ForeignRealm(principal))?;
        Ok(Accepted {
            user,
            reply: reply.map(|b| b.to_vec()),
        })
    }
}

/// Hadoop's DEFAULT name rule: a principal of the default realm becomes its
/// first component (`alice@R` and `alice/host@R` → `alice`); others have no
/// short name.
pub fn short_name(principal: &str, default_realm: Option<&str>) -> Option<String> {
    let (name, realm) = principal.rsplit_once('@')?;
    if Some(realm) != default_realm {
        return None;
    }
    let first = name.split('/').next()?;
    (!first.is_empty()).then(|| first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("alice@EXAMPLE.TEST", Some("alice"))]
    #[case("alice/admin@EXAMPLE.TEST", Some("alice"))]
    #[case("alice@OTHER.TEST", None)]
    #[case("alice", None)]
    #[case("@EXAMPLE.TEST", None)]
    fn default_name_rule(#[case] principal: &str, #[case] want: Option<&str>) {
        assert_eq!(short_name(principal, Some("EXAMPLE.TEST")).as_deref(), want);
    }
}
