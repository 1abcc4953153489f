//! HTTP steps: one request with a timeout; success is a 2xx (or an expected) status.

use std::time::Duration;

use super::executor::StepStatus;
use super::plan::PlannedHttp;

/// Sends `request`; returns the outcome, the capped body and the status line or error.
pub async fn run_http(request: &PlannedHttp, timeout_ms: u64) -> (StepStatus, String, String) {
    let Ok(method) = reqwest::Method::from_bytes(request.method.as_bytes()) else {
        return (
            StepStatus::Failed,
            String::new(),
            format!("bad method {}", request.method),
        );
    };
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(e) => return (StepStatus::Failed, String::new(), e.to_string()),
    };
    let mut builder = client.request(method, &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    match builder.send().await {
        Ok(response) => {
            let status = response.status();
            let mut body = response.text().await.unwrap_or_default();
            let mut end = super::executor::OUTPUT_LIMIT_BYTES.min(body.len());
            while !body.is_char_boundary(end) {
                end -= 1;
            }
            body.truncate(end);
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
            (outcome, body, format!("HTTP {status}"))
        }
        Err(e) if e.is_timeout() => (StepStatus::TimedOut, String::new(), "timed out".into()),
        Err(e) => (StepStatus::Failed, String::new(), e.to_string()),
    }
}
