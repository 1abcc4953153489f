//! The `Caller` extractor: a bearer token checked against the configured
//! hashes or, without one, the console's session cookie, whose state changes
//! must also carry the session's CSRF token (`X-CSRF-Token`).

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::auth::session::{CSRF_HEADER, SESSION_COOKIE, cookie};
use crate::auth::{Caller, Role, authenticate, constant_time_eq};

/// An authenticated caller; 401 without a valid token.
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let result = authenticate_parts(parts, state).await;
        if let Err(err) = &result {
            audit_refusal(parts, state, err).await;
        }
        result
    }
}

/// The caller when the request carries a token, `None` when it carries none.
/// A token that is sent but unknown or malformed is still 401.
pub struct MaybeAuthenticated(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
            && cookie(&parts.headers, SESSION_COOKIE).is_none()
        {
            return Ok(Self(None));
        }
        authenticate_parts(parts, state)
            .await
            .map(|caller| Self(Some(caller.0)))
    }
}

/// Unauthenticated attempts on runbook executions go into the audit trail
/// too, sampled ([`crate::infra::audit::AuditLog::refused`]).
async fn audit_refusal(parts: &Parts, state: &AppState, err: &ApiError) {
    // Nested routers see their path without the `/v1` prefix; the original has it.
    let path = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(parts.uri.path(), |original| original.0.path());
    if !path.starts_with("/v1/executions") {
        return;
    }
    let Ok(automation) = state.automation() else {
        return;
    };
    automation
        .audit()
        .refused(
            "executions",
            "auth.refused",
            path,
            serde_json::json!({ "method": parts.method.as_str(), "status": err.status().as_u16() }),
        )
        .await;
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message.to_owned())
}

async fn authenticate_parts(parts: &Parts, state: &AppState) -> Result<Authenticated, ApiError> {
    let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
        return match cookie(&parts.headers, SESSION_COOKIE) {
            Some(id) => authenticate_session(parts, state, id).await,
            None => Err(unauthorized(
                "this endpoint needs an API token (Authorization: Bearer ...)",
            )),
        };
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
    authenticate(state.tokens(), token)
        .map(Authenticated)
        .ok_or_else(|| unauthorized("unknown API token"))
}

/// A console session: the caller it signs in; for anything but a read, only
/// with the session's CSRF token in `X-CSRF-Token` (a forged cross-site form
/// cannot set a header, and SameSite=Strict keeps the cookie off it anyway).
async fn authenticate_session(
    parts: &Parts,
    state: &AppState,
    id: &str,
) -> Result<Authenticated, ApiError> {
    let sessions = state.sessions()?;
    let session = sessions
        .find(id, state.tokens())
        .await
        .map_err(|e| ApiError::internal(format!("reading the session: {e}")))?
        .ok_or_else(|| unauthorized("the console session has expired; sign in again"))?;
    if !parts.method.is_safe() {
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !constant_time_eq(sent.as_bytes(), session.csrf.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "a state change from the console needs its CSRF token (X-CSRF-Token)",
            ));
        }
    }
    Ok(Authenticated(session.caller))
}

impl Authenticated {
    /// 403 unless the caller's role is at least `role`.
    pub fn require(self, role: Role) -> Result<Caller, ApiError> {
        if self.0.role >= role {
            Ok(self.0)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this action needs the {role:?} role or higher").to_lowercase(),
            ))
        }
    }
}
