//! The one place errors become HTTP statuses and the `{ "error": { ... } }` body.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::ValidationError;
use crate::embed::EmbedError;
use crate::triage::TriageError;

/// An error answer: status, stable machine code, message safe to show.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    /// For unexpected failures: what went wrong inside, logged (with the
    /// request id) by the request-id middleware, never sent.
    internal: Option<String>,
}

/// The internal message of a 500, carried from the handler to the logging
/// middleware in the response's extensions.
#[derive(Debug, Clone)]
pub(crate) struct InternalError(pub String);

/// The body of every error answer.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// What went wrong, for programs (`code`) and people (`message`).
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorDetail<'a> {
    /// Stable machine-readable code, e.g. `invalid_field`, `overloaded`.
    code: &'a str,
    /// Explanation safe to show; never internals or secrets.
    message: &'a str,
    /// The input field at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// This request's id, also in the `x-request-id` header and the server's
    /// log line: quote it when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            internal: None,
        }
    }

    /// 500 for an unexpected failure: the client learns only that it happened
    /// and the request id; `detail` goes to the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(detail.to_string()),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the server failed to complete the request; quote the request id when reporting it",
            )
        }
    }

    /// 503 for a dependency that is down for now (retrying later can succeed).
    pub(super) fn unavailable(detail: impl std::fmt::Display) -> Self {
        Self {
            internal: Some(detail.to_string()),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the service is temporarily unable to complete the request; retry shortly",
            )
        }
    }

    /// 404 for a missing resource.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 503 while the model and store load.
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the model and store are still loading",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The message safe to show.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ValidationError> for ApiError {
    fn from(err: ValidationError) -> Self {
        Self {
            field: err.field.map(str::to_owned),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                err.message,
            )
        }
    }
}

impl From<TriageError> for ApiError {
    fn from(err: TriageError) -> Self {
        match err {
            TriageError::Validation(err) => err.into(),
            TriageError::Embed(EmbedError::Overloaded) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "too many requests are waiting for the model; retry shortly",
            ),
            TriageError::NotFound(message) => Self::not_found(message),
            TriageError::TokenRequired => Self::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a bearer token is required (triage.anonymous is off)",
            ),
            TriageError::Busy(message) => Self::new(StatusCode::CONFLICT, "busy", message),
            TriageError::Classifier(err @ crate::classify::HeadError::NothingToTrain(_)) => {
                Self::new(StatusCode::CONFLICT, "nothing_to_train", err.to_string())
            }
            // The model thread has stopped: the process is shutting down.
            TriageError::Embed(err @ EmbedError::Unavailable) => Self::unavailable(err),
            TriageError::Database(err @ sqlx::Error::PoolTimedOut) => Self::unavailable(err),
            other => Self::internal(other),
        }
    }
}

impl From<crate::automation::AutomationError> for ApiError {
    fn from(err: crate::automation::AutomationError) -> Self {
        use crate::automation::AutomationError as E;
        match err {
            E::Refused { field, message } => Self {
                field: Some(field),
                ..Self::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", message)
            },
            E::NotFound(message) => Self::not_found(message),
            E::Forbidden(message) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            E::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            E::Frozen { message, .. } => Self::new(StatusCode::CONFLICT, "change_freeze", message),
            // Every connection busy: load, not a fault.
            E::Database(err @ sqlx::Error::PoolTimedOut) => Self::unavailable(err),
            other => Self::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = super::request_id::current_request_id();
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
                request_id: request_id.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(internal) = self.internal {
            response.extensions_mut().insert(InternalError(internal));
        }
        response
    }
}

/// Fallback for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// Fallback for a known route called with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

impl From<crate::drafts::DraftError> for ApiError {
    fn from(err: crate::drafts::DraftError) -> Self {
        use crate::drafts::DraftError as E;
        match err {
            E::Triage(err) => err.into(),
            E::Invalid { field, message } => Self {
                field: Some(field.to_owned()),
                ..Self::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    message,
                )
            },
            E::NotFound(message) => Self::not_found(message),
            E::Conflict(message) => Self::new(StatusCode::CONFLICT, "conflict", message),
            E::Disabled => Self::new(StatusCode::NOT_FOUND, "not_found", err.to_string()),
            E::Busy(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                err.to_string(),
            ),
            // The backend's own words may name its address: logged, not sent.
            E::Backend(detail) => Self {
                internal: Some(detail),
                ..Self::new(
                    StatusCode::BAD_GATEWAY,
                    "draft_backend_failed",
                    "the draft backend failed; quote the request id when reporting it",
                )
            },
            E::Timeout(_) => Self::new(
                StatusCode::GATEWAY_TIMEOUT,
                "draft_timeout",
                err.to_string(),
            ),
            E::Database(err @ sqlx::Error::PoolTimedOut) => Self::unavailable(err),
            other => Self::internal(other),
        }
    }
}

impl From<crate::connectors::AcceptError> for ApiError {
    fn from(err: crate::connectors::AcceptError) -> Self {
        use crate::connectors::AcceptError as E;
        match err {
            E::Unknown(name) => Self::not_found(format!("no connector {name:?}")),
            E::Refused(err) => Self::new(StatusCode::UNAUTHORIZED, "unauthorized", err.to_string()),
            E::Malformed(message) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_event", message)
            }
            E::Database(err) => Self::internal(err),
        }
    }
}

impl From<crate::privacy::ForgetError> for ApiError {
    fn from(err: crate::privacy::ForgetError) -> Self {
        use crate::privacy::ForgetError as E;
        match err {
            E::Invalid(message) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
            }
            E::Store(err) => err.into(),
            E::Database(err @ sqlx::Error::PoolTimedOut) => Self::unavailable(err),
            E::Database(err) => Self::internal(err),
        }
    }
}

impl From<crate::problems::ProblemError> for ApiError {
    fn from(err: crate::problems::ProblemError) -> Self {
        use crate::problems::ProblemError as E;
        match err {
            E::Options(message) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
            }
            other => Self::internal(format!("problem report: {other}")),
        }
    }
}
