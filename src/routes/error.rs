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
}

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
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
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
            TriageError::Busy(message) => Self::new(StatusCode::CONFLICT, "busy", message),
            TriageError::Classifier(err @ crate::classify::HeadError::NothingToTrain(_)) => {
                Self::new(StatusCode::CONFLICT, "nothing_to_train", err.to_string())
            }
            other => {
                tracing::error!(error = %other, "request failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service could not complete the request; retry shortly",
                )
            }
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
            other => {
                tracing::error!(error = %other, "automation request failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the service could not complete the request; retry shortly",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
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
