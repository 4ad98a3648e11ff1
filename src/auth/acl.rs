//! Livy's access control and impersonation rules (its `AccessManager`), as
//! pure functions of the configured user lists.
//!
//! - View (logs, statements) and modify (delete, stop, statements, cancel,
//!   completion) are allowed to the record's owner, its proxy user, and the
//!   `view-users` / `modify-users` / superusers lists (`*` = everyone).
//! - With access control off, or with no authenticated user (auth off),
//!   everything is allowed, as in Livy.
//! - Impersonation (`proxyUser`, `?doAs=`) needs `livy.impersonation.enabled`
//!   and a target equal to the caller, or a superuser caller.

use std::collections::BTreeSet;

/// A configured list of users: `*` anywhere means everyone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Users {
    anyone: bool,
    names: BTreeSet<String>,
}

impl Users {
    /// Livy splits its lists on commas and spaces.
    pub fn parse(text: &str) -> Self {
        let mut out = Self::default();
        for name in text
            .split([',', ' '])
            .map(str::trim)
            .filter(|n| !n.is_empty())
        {
            if name == "*" {
                out.anyone = true;
            } else {
                out.names.insert(name.to_owned());
            }
        }
        out
    }

    fn contains(&self, user: &str) -> bool {
        self.anyone || self.names.contains(user)
    }

    fn union(&self, other: &Users) -> Users {
        Users {
            anyone: self.anyone || other.anyone,
            names: self.names.union(&other.names).cloned().collect(),
        }
    }
}

/// The configured rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessControl {
    pub enabled: bool,
    pub impersonation: bool,
    pub allowed: Users,
    pub view: Users,
    pub modify: Users,
    pub superusers: Users,
}

/// A refused impersonation, in Livy's words (its 403 text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("User '{caller}' not allowed to impersonate '{target}'.")]
pub struct ImpersonationDenied {
    pub caller: String,
    pub target: String,
}

impl AccessControl {
    fn viewers(&self) -> Users {
        self.superusers.union(&self.modify).union(&self.view)
    }

    fn modifiers(&self) -> Users {
        self.superusers.union(&self.modify)
    }

    /// May this user use the server at all (Livy's AccessFilter)?
    pub fn is_allowed(&self, user: Option<&str>) -> bool {
        match user {
            _ if !self.enabled => true,
            None => true,
            Some(u) => self.viewers().union(&self.allowed).contains(u),
        }
    }

    /// Superusers may impersonate anyone; without authentication everyone is.
    pub fn is_superuser(&self, user: Option<&str>) -> bool {
        user.is_none_or(|u| self.superusers.contains(u))
    }

    fn listed(&self, list: &Users, user: Option<&str>) -> bool {
        !self.enabled || user.is_none_or(|u| list.contains(u))
    }

    /// May `user` see a record's logs and statements?
    pub fn can_view(&self, user: Option<&str>, owner: Option<&str>, proxy: Option<&str>) -> bool {
        is_party(user, owner, proxy) || self.listed(&self.viewers(), user)
    }

    /// May `user` see every record, whoever owns it?
    pub fn can_view_all(&self, user: Option<&str>) -> bool {
        self.listed(&self.viewers(), user)
    }

    /// May `user` change a record (delete, stop, run statements, cancel)?
    pub fn can_modify(&self, user: Option<&str>, owner: Option<&str>, proxy: Option<&str>) -> bool {
        is_party(user, owner, proxy) || self.listed(&self.modifiers(), user)
    }

    /// The proxy user an application runs as: the requested target (`?doAs=`
    /// wins over the body's `proxyUser`) if the caller may impersonate it, the
    /// caller itself when impersonation is on and nothing was asked, and
    /// nobody when impersonation is off (then requests for it are ignored, as
    /// in Livy).
    pub fn proxy_user(
        &self,
        caller: Option<&str>,
        target: Option<&str>,
    ) -> Result<Option<String>, ImpersonationDenied> {
        if !self.impersonation {
            return Ok(None);
        }
        match target {
            None => Ok(caller.map(str::to_owned)),
            Some(t) if caller == Some(t) || self.is_superuser(caller) => Ok(Some(t.to_owned())),
            Some(t) => Err(ImpersonationDenied {
                caller: caller.unwrap_or_default().to_owned(),
                target: format!("Some({t})"),
            }),
        }
    }

    /// The user an ordinary request acts as: `?doAs=` if the caller may
    /// impersonate it, else the caller.
    pub fn effective_user(
        &self,
        caller: Option<&str>,
        do_as: Option<&str>,
    ) -> Result<Option<String>, ImpersonationDenied> {
        match do_as {
            Some(_) if self.impersonation => self.proxy_user(caller, do_as),
            _ => Ok(caller.map(str::to_owned)),
        }
    }
}

fn is_party(user: Option<&str>, owner: Option<&str>, proxy: Option<&str>) -> bool {
    user.is_some_and(|u| owner == Some(u) || proxy == Some(u))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn acl(enabled: bool, impersonation: bool) -> AccessControl {
        AccessControl {
            enabled,
            impersonation,
            allowed: Users::parse("alice,bob,carol,viewer,admin"),
            view: Users::parse("viewer"),
            modify: Users::parse("editor"),
            superusers: Users::parse("admin"),
        }
    }

    #[test]
    fn lists_split_on_commas_and_spaces_and_star_means_everyone() {
        let u = Users::parse(" a, b c,,d ");
        assert!(u.contains("a") && u.contains("b") && u.contains("c") && u.contains("d"));
        assert!(!u.contains("e"));
        assert!(Users::parse("x,*").contains("anyone"));
    }

    #[rstest]
    //     enabled user           owner          proxy         view   modify
    #[case(false, Some("mallory"), Some("alice"), None, true, true)]
    #[case(true, None, Some("alice"), None, true, true)]
    #[case(true, Some("alice"), Some("alice"), None, true, true)]
    #[case(true, Some("bob"), Some("alice"), Some("bob"), true, true)]
    #[case(true, Some("bob"), Some("alice"), None, false, false)]
    #[case(true, Some("viewer"), Some("alice"), None, true, false)]
    #[case(true, Some("editor"), Some("alice"), None, true, true)]
    #[case(true, Some("admin"), Some("alice"), None, true, true)]
    #[case(true, Some("bob"), None, None, false, false)]
    fn view_and_modify(
        #[case] enabled: bool,
        #[case] user: Option<&str>,
        #[case] owner: Option<&str>,
        #[case] proxy: Option<&str>,
        #[case] view: bool,
        #[case] modify: bool,
    ) {
        let a = acl(enabled, false);
        assert_eq!(a.can_view(user, owner, proxy), view, "view");
        assert_eq!(a.can_modify(user, owner, proxy), modify, "modify");
    }

    #[rstest]
    #[case(false, Some("mallory"), true)]
    #[case(true, Some("mallory"), false)]
    #[case(true, Some("alice"), true)]
    #[case(true, Some("editor"), true)] // modify-users may use the server
    #[case(true, None, true)]
    fn who_may_use_the_server(#[case] enabled: bool, #[case] user: Option<&str>, #[case] ok: bool) {
        assert_eq!(acl(enabled, false).is_allowed(user), ok);
    }

    #[rstest]
    //     impersonation caller          target          result
    #[case(false, Some("alice"), Some("bob"), Ok(None))]
    #[case(false, Some("alice"), None, Ok(None))]
    #[case(true, Some("alice"), None, Ok(Some("alice")))]
    #[case(true, Some("alice"), Some("alice"), Ok(Some("alice")))]
    #[case(true, Some("admin"), Some("bob"), Ok(Some("bob")))]
    #[case(true, None, Some("bob"), Ok(Some("bob")))]
    #[case(true, None, None, Ok(None))]
    #[case(
        true,
        Some("alice"),
        Some("bob"),
        Err("User 'alice' not allowed to impersonate 'Some(bob)'.")
    )]
    fn impersonation_rules(
        #[case] impersonation: bool,
        #[case] caller: Option<&str>,
        #[case] target: Option<&str>,
        #[case] want: Result<Option<&str>, &str>,
    ) {
        let got = acl(true, impersonation).proxy_user(caller, target);
        let got = got
            .as_ref()
            .map(|o| o.as_deref())
            .map_err(|e| e.to_string());
        assert_eq!(got, want.map_err(str::to_owned));
    }

    #[test]
    fn do_as_changes_the_effective_user_only_when_allowed() {
        let a = acl(true, true);
        assert_eq!(
            a.effective_user(Some("admin"), Some("bob")),
            Ok(Some("bob".into()))
        );
        assert!(a.effective_user(Some("alice"), Some("bob")).is_err());
        assert_eq!(
            a.effective_user(Some("alice"), None),
            Ok(Some("alice".into()))
        );
        let off = acl(true, false);
        assert_eq!(
            off.effective_user(Some("alice"), Some("bob")),
            Ok(Some("alice".into()))
        );
    }
}
