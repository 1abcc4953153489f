//! HTTP steps: one request with a timeout; success is a 2xx (or an expected) status.

use std::time::Duration;

use super::plan::PlannedHttp;
use super::secrets::Capture;
use super::step::StepStatus;

/// Sends `request`, streaming the response body into `body` (redacted, then
/// capped, as it arrives; a huge body is never held whole). Returns the outcome
/// and the status line or error.
pub async fn run_http(
    request: &PlannedHttp,
    timeout_ms: u64,
    body: &mut Capture<'_>,
) -> (StepStatus, String) {
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return (StepStatus::Failed, format!("bad method {}", request.method));
    };
    // System and bundled roots; a private CA reaches steps through the
    // system's trust store (see docs/operations.md#tls).
    let builder = match crate::infra::tls::client_builder(None) {
        Ok(builder) => builder,
        Err(e) => return (StepStatus::Failed, e),
    };
    let client = match builder
        .timeout(Duration::from_millis(timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => return (StepStatus::Failed, e.to_string()),
    };
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(json) = &request.body {
        builder = builder.json(json);
    }
    let failed = |e: reqwest::Error| {
        if e.is_timeout() {
            (StepStatus::TimedOut, "timed out".to_owned())
        } else if let Some(tls) = crate::infra::tls::describe_failure(&e) {
            (StepStatus::Failed, tls)
        } else {
            (StepStatus::Failed, e.to_string())
        }
    };
    let mut response = match builder.send().await {
        Ok(response) => response,
        Err(e) => return failed(e),
    };
    let status = response.status();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => body.push(&chunk),
            Ok(None) => break,
            Err(e) => return failed(e),
        }
    }
    let expected = if request.expect_status.is_empty() {
        status.is_success()
    } else {
        request.expect_status.contains(&status.as_u16())
    };
    let outcome = if expected {
        StepStatus::Succeeded
    } else {
        StepStatus::Failed
    };
    (outcome, format!("HTTP {status}"))
}
