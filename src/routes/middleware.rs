//! Middleware around every route: a request id on each request (in the log
//! line, the `x-request-id` header and error bodies), the one place internal
//! errors are logged, handler panics turned into 500s, and a deadline for a
//! whole request body.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::error::InternalError;
use super::request_id::REQUEST_ID;
pub use super::request_id::{REQUEST_ID_HEADER, RequestId, current_request_id};

/// Gives the request an id, answers it in `x-request-id`, and logs the
/// internal error behind a 500 (or an unexpected 503) under that id: the
/// client sees the id, never the internal message.
pub async fn request_id(mut request: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Some(InternalError(detail)) = response.extensions_mut().remove::<InternalError>() {
        tracing::error!(request_id = %id, %method, %path, status = response.status().as_u16(), error = %detail, "request failed");
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Query parameters of Switchboard's own API whose values say nothing
/// secret; every other parameter's value is left out of logs.
const LOGGED_QUERY_VALUES: [&str; 6] = ["state", "from", "to", "limit", "status", "since"];

/// A request's path and query as logged: the value of every query parameter
/// other than the API's own harmless ones replaced by `[redacted]`. Systems
/// that cannot sign their webhooks put a token in the query
/// (`/v1/hooks/desk?token=...`); it, and whatever a caller puts in a query,
/// must not reach the logs (a request span records this, not the URI).
pub fn loggable_uri(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_owned();
    };
    let parameters: Vec<String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|parameter| {
            let name = parameter.split('=').next().unwrap_or_default();
            if LOGGED_QUERY_VALUES.contains(&name) {
                parameter.to_owned()
            } else {
                format!("{name}=[redacted]")
            }
        })
        .collect();
    format!("{}?{}", uri.path(), parameters.join("&"))
}

/// A handler that panicked: 500 in the error shape (logged by [`request_id`]).
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a handler panicked");
    ApiError::internal(format!("handler panicked: {detail}")).into_response()
}

/// How a request body must arrive: within `deadline` in all, at most `limit`
/// bytes, and no more than `reading`'s permits at once.
#[derive(Debug, Clone)]
pub struct BodyRules {
    /// The whole body's deadline.
    pub deadline: Duration,
    /// Largest body accepted.
    pub limit: usize,
    /// One permit per body being read: the memory bodies take (before any
    /// token is checked) is bounded whatever the number of clients.
    pub reading: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Reads the whole request body before the handler runs, within the deadline
/// however the client trickles it (each read also has its own timeout, set by
/// the layer outside this one): 408 past the deadline, 413 over the limit,
/// 400 when the body breaks off.
pub async fn read_body(
    State(rules): State<BodyRules>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let Ok(_reading) = rules.reading.clone().try_acquire_owned() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "too many requests are being received at once; retry shortly",
        ));
    };
    let read = tokio::time::timeout(rules.deadline, axum::body::to_bytes(body, rules.limit)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Err(_) => {
            return Ok(close(
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    format!(
                        "the request body did not arrive within {} s",
                        rules.deadline.as_secs()
                    ),
                )
                .into_response(),
            ));
        }
        Ok(Err(err)) if is_length_limit(&err) => {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                "request body is larger than the configured limit",
            ));
        }
        Ok(Err(err)) => {
            return Ok(close(
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("cannot read the request body: {}", root_cause(&err)),
                )
                .into_response(),
            ));
        }
    };
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// Asks the client to close the connection: its request was not read whole.
fn close(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn root_cause(err: &axum::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(error) = source {
        message = error.to_string();
        source = error.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(uri: &str) -> String {
        loggable_uri(&uri.parse().unwrap())
    }

    #[test]
    fn a_query_token_never_reaches_the_log() {
        assert_eq!(
            logged("/v1/hooks/desk?token=s3cret&x=1"),
            "/v1/hooks/desk?token=[redacted]&x=[redacted]"
        );
        assert_eq!(
            logged("/v1/hooks/desk?sig"),
            "/v1/hooks/desk?sig=[redacted]"
        );
    }

    #[test]
    fn the_apis_own_filters_are_kept() {
        assert_eq!(
            logged("/v1/executions?state=running&limit=5"),
            "/v1/executions?state=running&limit=5"
        );
        assert_eq!(logged("/v1/storms"), "/v1/storms");
    }
}
