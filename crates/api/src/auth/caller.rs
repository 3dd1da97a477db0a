//! Who is calling: the principal every request is answered for.
//!
//! The extractor authenticates the request with [`Auth`] (a bearer JWT or an
//! API key; see docs/auth.md). Keys are scoped by the caller's tenant, which
//! comes only from the credential, never from the request body. With
//! `AUTH_MODE=none` every caller is the development principal (tenant
//! `default`, subject `anonymous`), and the admin when the broker listens on
//! loopback only.
//!
//! What a caller may read is decided by [`Caller::may_read`] from a key's
//! scope alone (docs/objects.md): their own `user` scope, the teams their
//! token lists, and the `tenant` scope. An API key acts for its whole tenant:
//! it reads every scope of it and may sign into any team.
//!
//! [`Admin`] is the same extractor for the operators' routes: it answers 403
//! `admin_required` to any caller who is not an admin (see docs/auth.md).
//!
//! A request that cannot be authenticated is answered 401 `unauthenticated`
//! (with `WWW-Authenticate: Bearer`) before its handler runs, and leaves an
//! audit line.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use broker_core::{Scope, ScopeRequest, SubjectHash, TeamId, TenantId};

use super::{Auth, audit};
use crate::error::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub tenant: TenantId,
    pub subject: String,
    /// May call the operators' routes (`ADMIN_API_KEYS`, `AUTH_ADMIN_CLAIM`).
    pub admin: bool,
    /// The teams the caller is a member of (`AUTH_TEAMS_CLAIM`).
    pub teams: Vec<TeamId>,
    /// Acts for the whole tenant (an API key): reads every scope, signs into any team.
    pub tenant_wide: bool,
}

/// A caller who is an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin(pub Caller);

impl Caller {
    #[allow(clippy::expect_used, reason = "a constant, valid tenant id")]
    pub fn development() -> Self {
        Caller {
            tenant: TenantId::parse("default").expect("'default' is a valid tenant"),
            subject: "anonymous".into(),
            admin: false,
            teams: Vec::new(),
            tenant_wide: false,
        }
    }

    /// The scope `requested` names for this caller, if they may write into
    /// it: `user` is their own, `team:{id}` needs membership (or an API key).
    pub fn scope(&self, requested: &ScopeRequest) -> Result<Scope, ApiError> {
        if let ScopeRequest::Team(team) = requested
            && !self.tenant_wide
            && !self.teams.contains(team)
        {
            return Err(ApiError::ForbiddenScope);
        }
        Ok(requested.for_subject(&self.subject))
    }

    /// The scopes the caller reads by name: their own `user` scope, each of
    /// their teams, and `tenant` (an API key also reads every other user's
    /// and team's, which no list names).
    pub fn scopes(&self) -> Vec<Scope> {
        let mut scopes = vec![ScopeRequest::User.for_subject(&self.subject)];
        scopes.extend(self.teams.iter().cloned().map(Scope::Team));
        scopes.push(Scope::Tenant);
        scopes
    }

    /// Whether the caller may read (list, download, export) objects of
    /// `scope` in their tenant. The tenant itself is checked by the caller.
    pub fn may_read(&self, scope: &Scope) -> bool {
        match scope {
            Scope::Tenant => true,
            _ if self.tenant_wide => true,
            Scope::Team(team) => self.teams.contains(team),
            Scope::User(hash) => *hash == SubjectHash::of(&self.subject),
        }
    }
}

impl FromRequest for Caller {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let Some(auth) = request.app_data::<web::Data<Auth>>() else {
                tracing::error!("no Auth is registered: every request is refused");
                return Err(ApiError::Internal.into());
            };
            match auth.authenticate(&request).await {
                Ok(caller) => {
                    // The request's span (see `crate::request`) names who it acts for.
                    tracing::Span::current()
                        .record("tenant", caller.tenant.as_str())
                        .record("subject", caller.subject.as_str());
                    Ok(caller)
                }
                Err(failure) => {
                    broker_core::metrics::auth_failure(failure.reason());
                    audit::unauthenticated(audit::action_for_path(request.path()), failure.reason());
                    Err(ApiError::from(failure).into())
                }
            }
        })
    }
}

impl FromRequest for Admin {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(request, payload);
        let action = audit::action_for_path(request.path()).to_owned();
        Box::pin(async move {
            let caller = caller.await?;
            if caller.admin {
                return Ok(Admin(caller));
            }
            let refused = ApiError::AdminRequired;
            audit::refused(&action, &caller, &refused);
            Err(refused.into())
        })
    }
}
