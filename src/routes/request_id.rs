//! The id of the request being handled: set by the request-id middleware,
//! read by the error table (it goes into every error body) and the trace span.
//! Below both, so neither imports the other.

tokio::task_local! {
    /// The id of the request this task is answering.
    pub(super) static REQUEST_ID: String;
}

/// The header carrying a request's id in every answer.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The id of the request being handled, if called while handling one.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A request's id, as an extension for the trace span.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);
