//! What several commands share: the triage service for a tool, and the
//! admin calls to a running server.

use anyhow::Context;

use crate::configuration::Settings;

/// The triage service (state database, model, store) for a command-line tool.
pub(super) async fn load_service(
    settings: &Settings,
) -> anyhow::Result<crate::triage::TriageService> {
    let pool = crate::app::parts::state_database(settings).await?;
    crate::app::parts::triage_service(settings, pool, crate::infra::clock::SystemClock::shared())
        .await
}

/// GETs `path` on a running server (trusting `[tls] ca_file`) with the
/// admin token in `SWITCHBOARD_TOKEN`, and returns its JSON answer; an error
/// answer becomes an error with the server's message.
pub(super) async fn get_admin(
    settings: &Settings,
    server: &str,
    path: &str,
) -> anyhow::Result<serde_json::Value> {
    send_admin(settings, server, reqwest::Method::GET, path, None).await
}

/// POSTs `body` (or nothing) to `path` on a running server (trusting
/// `[tls] ca_file`) with the admin token in `SWITCHBOARD_TOKEN`, and returns its JSON answer; an error answer
/// becomes an error with the server's message.
pub(super) async fn post_admin(
    settings: &Settings,
    server: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    send_admin(settings, server, reqwest::Method::POST, path, body).await
}

async fn send_admin(
    settings: &Settings,
    server: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<&serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let token = std::env::var("SWITCHBOARD_TOKEN")
        .context("set SWITCHBOARD_TOKEN to an admin API token to use --server")?;
    let url = format!("{}{path}", server.trim_end_matches('/'));
    let client =
        crate::infra::tls::client(settings.tls.ca_file.as_deref()).map_err(anyhow::Error::msg)?;
    let mut request = client.request(method, &url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let answer: serde_json::Value = response
        .json()
        .await
        .with_context(|| format!("{url} answered {status} without JSON"))?;
    if !status.is_success() {
        anyhow::bail!("{url} answered {status}: {}", answer["error"]["message"]);
    }
    Ok(answer)
}
