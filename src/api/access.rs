//! Who a request acts as, and whether it may see or change a record: the
//! authenticated [`Caller`] (set by the auth middleware), `?doAs=` when the
//! caller may impersonate that user, and Livy's view/modify rules.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::auth::Caller;
use crate::records::{Kind, Meta};

/// The parties of a request.
#[derive(Debug, Clone)]
pub struct Requester {
    /// The authenticated user (a record's owner when it creates one).
    pub caller: Option<String>,
    /// The user the request acts as (`?doAs=` if allowed, else the caller).
    pub user: Option<String>,
    /// `?doAs=` as given (it beats a body's `proxyUser`).
    pub do_as: Option<String>,
}

impl FromRequestParts<AppState> for Requester {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default()
            .0;
        let Query(q) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .unwrap_or_default();
        let do_as = q.get("doAs").filter(|v| !v.is_empty()).cloned();
        let user = state
            .auth
            .acl
            .effective_user(caller.as_deref(), do_as.as_deref())
            .map_err(|e| ApiError::Forbidden(e.to_string()))?;
        Ok(Self {
            caller,
            user,
            do_as,
        })
    }
}

/// What a request wants to do with a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    View,
    Modify,
}

impl Requester {
    pub fn may(&self, state: &AppState, access: Access, meta: &Meta, proxy: Option<&str>) -> bool {
        let acl = &state.auth.acl;
        let (user, owner) = (self.user.as_deref(), meta.owner.as_deref());
        match access {
            Access::View => acl.can_view(user, owner, proxy),
            Access::Modify => acl.can_modify(user, owner, proxy),
        }
    }

    /// May the requester see every record, whoever owns it (lists then
    /// need no per-record check)?
    pub fn may_view_all(&self, state: &AppState) -> bool {
        state.auth.acl.can_view_all(self.user.as_deref())
    }

    /// A 403 that changes nothing, unless the request may do `access`.
    pub fn require(
        &self,
        state: &AppState,
        access: Access,
        kind: Kind,
        id: u64,
        meta: &Meta,
        proxy: Option<&str>,
    ) -> Result<(), ApiError> {
        if self.may(state, access, meta, proxy) {
            return Ok(());
        }
        let verb = match access {
            Access::View => "view",
            Access::Modify => "modify",
        };
        Err(ApiError::Forbidden(format!(
            "User '{}' is not allowed to {verb} {} {id}.",
            self.user.as_deref().unwrap_or_default(),
            kind.as_str()
        )))
    }

    /// The proxy user of a new record: `?doAs=` beats the body's
    /// `proxyUser`; Livy's impersonation rules decide (403 when refused).
    pub fn proxy_user(
        &self,
        state: &AppState,
        requested: Option<String>,
    ) -> Result<Option<String>, ApiError> {
        let target = self.do_as.clone().or(requested);
        state
            .auth
            .acl
            .proxy_user(self.caller.as_deref(), target.as_deref())
            .map_err(|e| ApiError::Forbidden(e.to_string()))
    }
}
