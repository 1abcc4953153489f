//! Personal and secret data kept out, through the real server binary: a
//! ticket, an incident, feedback, a draft and a connector's event full of it
//! go in, then the answers, the review queue, the server's log, `/metrics`
//! and every byte under the data directory (state database and its WAL,
//! store segments and journal) are searched for it. The same run with
//! scrubbing off finds it, so the search can fail; with originals kept, it
//! is found nowhere once the address is forgotten.

use std::path::Path;

use serde_json::json;

use crate::helpers::{AGENT_TOKEN, VIEWER_TOKEN, sample_copy};
use crate::server_process::ServerProcess;

/// What must not survive anywhere.
pub const PII: [&str; 5] = [
    "ana.costa@example.com",
    "+49 30 1234567",
    "4111 1111 1111 1111",
    "Summer2026!",
    "DE89 3704 0044 0532 0130 00",
];

pub fn ticket_text() -> String {
    format!(
        "Please reset the VPN for {}; call me on {}. My password: {} stopped working. Refund card {} or IBAN {}.",
        PII[0], PII[1], PII[3], PII[2], PII[4]
    )
}

/// Where each of [`PII`] was found under `dir`, one line per file.
pub fn pii_under(dir: &Path) -> Vec<String> {
    PII.iter()
        .flat_map(|secret| {
            files_containing(dir, secret)
                .into_iter()
                .map(move |file| format!("{secret}: in {file}"))
        })
        .collect()
}

/// Every file under `dir` that contains `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// What a run does beyond sending the personal data in.
#[derive(Clone, Copy, PartialEq)]
enum Run {
    /// Scrubbing on (the default), nothing else.
    Scrubbed,
    /// Scrubbing off: the search must find the data.
    Unscrubbed,
    /// Originals kept for the review queue, then the address forgotten.
    KeptThenForgotten,
}

/// Sends PII-laden text into a real server through every entry (API triage,
/// an incident, feedback, a draft, a connector's webhook), then searches
/// the answers, the log, `/metrics` and every byte under the data directory:
/// what leaked where.
async fn leaks(run: Run) -> Vec<String> {
    let (base, _recorder) = crate::connectors::recording_server().await;
    let (data, _dir, config) = crate::connectors::process_config_with_desk(&base);
    let privacy = match run {
        Run::Scrubbed => "[privacy]\nscrub = true\n",
        Run::Unscrubbed => "[privacy]\nscrub = false\n",
        Run::KeptThenForgotten => "[privacy]\nkeep_original = \"review\"\n",
    };
    // `[privacy]` must come after the top-level keys: append it.
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(privacy);
    std::fs::write(&config, text).unwrap();
    let server = ServerProcess::start_ready(&config, &[("RUST_LOG", "debug")]).await;
    let http = reqwest::Client::new();
    let mut answers = String::new();
    let triage = http
        .post(format!("{}/v1/triage", server.base))
        .bearer_auth(AGENT_TOKEN)
        .json(&json!({ "id": "PII-1", "title": format!("VPN locked for {}", PII[0]), "description": ticket_text(), "caller": PII[0] }))
        .send()
        .await
        .unwrap();
    assert_eq!(triage.status(), 200);
    answers.push_str(&triage.text().await.unwrap());
    let incident = http
        .post(format!("{}/v1/incidents", server.base))
        .bearer_auth(AGENT_TOKEN)
        .json(&json!({
            "id": "PII-INC-1", "title": "Card declined", "description": ticket_text(),
            "resolution": format!("Mailed {} the new card", PII[0]),
            "labels": { "assignment_group": "Service Desk" }
        }))
        .send()
        .await
        .unwrap();
    assert!(incident.status().is_success());
    answers.push_str(&incident.text().await.unwrap());
    let feedback = http
        .post(format!("{}/v1/tickets/PII-1/feedback", server.base))
        .bearer_auth(AGENT_TOKEN)
        .json(
            &json!({ "field": "assignment_group", "label": "Network Operations", "agent": "ana" }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(feedback.status(), 200);
    answers.push_str(&feedback.text().await.unwrap());
    let draft = http
        .post(format!("{}/v1/tickets/PII-1/draft", server.base))
        .bearer_auth(AGENT_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(draft.status(), 200);
    answers.push_str(&draft.text().await.unwrap());
    let event = serde_json::to_vec(&crate::connectors::event(
        "PII-3",
        &format!("Locked out, {}", PII[0]),
        &ticket_text(),
        "new",
    ))
    .unwrap();
    let accepted = http
        .post(format!("{}/v1/hooks/desk", server.base))
        .header("x-hub-signature-256", crate::connectors::sign(&event))
        .body(event)
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    answers.push_str(&accepted.text().await.unwrap());
    wait_for_jobs_done(&http, &server.base).await;
    for path in [
        "/v1/review/PII-1",
        "/v1/review/desk:PII-3",
        "/v1/incidents/PII-INC-1",
        "/v1/incidents/PII-1",
        "/v1/tickets/PII-1/draft",
        "/v1/connectors/desk/jobs",
        "/v1/storms",
    ] {
        let answer = http
            .get(format!("{}{path}", server.base))
            .bearer_auth(VIEWER_TOKEN)
            .send()
            .await
            .unwrap();
        answers.push_str(&answer.text().await.unwrap());
    }
    answers.push_str(
        &http
            .get(format!("{}/metrics", server.base))
            .bearer_auth(VIEWER_TOKEN)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    if run == Run::KeptThenForgotten {
        let kept: serde_json::Value = http
            .get(format!("{}/v1/review/PII-1", server.base))
            .bearer_auth(AGENT_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(
            kept["original"]["description"]
                .as_str()
                .unwrap()
                .contains(PII[0]),
            "the original is kept until forgotten, so the search below can fail: {kept:#}"
        );
        let forgotten: serde_json::Value = http
            .post(format!("{}/v1/admin/forget", server.base))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .json(&json!({ "email": PII[0] }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            forgotten["tickets"],
            json!(["PII-1", "PII-INC-1", "desk:PII-3"]),
            "{forgotten:#}"
        );
    }
    // Let background writes land, then stop the server and read its files.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let log = server.log().join("\n");
    drop(server);
    let mut leaks = Vec::new();
    for secret in PII {
        if answers.contains(secret) {
            leaks.push(format!("{secret}: in an API answer"));
        }
        if log.contains(secret) {
            leaks.push(format!("{secret}: in the log"));
        }
        for file in files_containing(data.path(), secret) {
            leaks.push(format!("{secret}: in {file}"));
        }
    }
    leaks
}

/// Waits (up to 30 s) until the desk connector has no job waiting or running.
async fn wait_for_jobs_done(http: &reqwest::Client, base: &str) {
    let started = std::time::Instant::now();
    loop {
        let jobs: Vec<serde_json::Value> = http
            .get(format!("{base}/v1/connectors/desk/jobs"))
            .bearer_auth(VIEWER_TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !jobs.is_empty() && jobs.iter().all(|j| j["state"] == "done") {
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "the connector's job never finished: {jobs:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_and_secret_data_reaches_no_answer_log_or_file() {
    let leaks = leaks(Run::Scrubbed).await;
    assert!(leaks.is_empty(), "{leaks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_scrubbing_off_the_same_search_finds_it() {
    let leaks = leaks(Run::Unscrubbed).await;
    assert!(
        leaks.iter().any(|l| l.contains("in /")),
        "the file search finds unscrubbed text: {leaks:#?}"
    );
    assert!(leaks.iter().any(|l| l.contains("API answer")), "{leaks:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_the_address_is_forgotten_no_byte_of_it_remains_kept_originals_included() {
    let leaks = leaks(Run::KeptThenForgotten).await;
    assert!(leaks.is_empty(), "{leaks:#?}");
}

/// Triages a PII-laden ticket `id` as an agent on `app`.
async fn triage_with_pii(app: &crate::helpers::TestApp, id: &str) {
    let answer = app
        .post_json(
            "/v1/triage",
            &json!({ "id": id, "title": "VPN reset", "description": ticket_text() }),
        )
        .await;
    assert_eq!(answer.status(), 200);
}

#[tokio::test]
async fn the_original_is_kept_only_where_the_policy_says_and_only_for_agents() {
    use switchboard::domain::KeepOriginal;
    let app = crate::helpers::spawn_app_on(sample_copy(), |s| {
        s.privacy.keep_original = KeepOriginal::Review;
    })
    .await;
    triage_with_pii(&app, "PII-1").await;
    let as_agent: serde_json::Value = app
        .get_as(AGENT_TOKEN, "/v1/review/PII-1")
        .await
        .json()
        .await
        .unwrap();
    assert!(!as_agent["description"].as_str().unwrap().contains(PII[0]));
    assert_eq!(as_agent["original"]["description"], ticket_text());
    let as_viewer: serde_json::Value = app
        .get_as(VIEWER_TOKEN, "/v1/review/PII-1")
        .await
        .json()
        .await
        .unwrap();
    assert!(as_viewer.get("original").is_none(), "{as_viewer:#}");
    let listed = app
        .get_as(AGENT_TOKEN, "/v1/review")
        .await
        .text()
        .await
        .unwrap();
    assert!(!listed.contains(PII[0]), "the list never carries originals");

    // The policy turned off: the next write clears every kept original.
    let data = app.stop().await;
    let app = crate::helpers::spawn_app_on(data, |_| {}).await;
    triage_with_pii(&app, "PII-2").await;
    for id in ["PII-1", "PII-2"] {
        assert!(kept_original(&app, id).await.is_none(), "{id}");
    }
}

/// The original text the review queue kept for ticket `id`, read as an agent.
async fn kept_original(app: &crate::helpers::TestApp, id: &str) -> Option<serde_json::Value> {
    let item: serde_json::Value = app
        .get_as(AGENT_TOKEN, &format!("/v1/review/{id}"))
        .await
        .json()
        .await
        .unwrap();
    item.get("original").cloned()
}

// Thirty days pass on a test clock, not on the wall.
#[tokio::test]
async fn a_kept_original_is_cleared_once_its_retention_has_passed() {
    use switchboard::domain::KeepOriginal;
    let clock = crate::helpers::TestClock::now();
    let app = crate::helpers::spawn_app_on_clock(sample_copy(), clock.clone(), |s| {
        s.privacy.keep_original = KeepOriginal::Review;
        s.privacy.original_retention_days = 30;
    })
    .await;
    triage_with_pii(&app, "PII-OLD").await;
    clock.advance(std::time::Duration::from_secs(29 * 86_400));
    triage_with_pii(&app, "PII-NEW").await;
    assert!(
        kept_original(&app, "PII-OLD").await.is_some(),
        "29 days: still kept"
    );
    clock.advance(std::time::Duration::from_secs(2 * 86_400));
    triage_with_pii(&app, "PII-NEWER").await;
    assert!(
        kept_original(&app, "PII-OLD").await.is_none(),
        "31 days: cleared"
    );
    assert!(
        kept_original(&app, "PII-NEW").await.is_some(),
        "2 days old: kept"
    );
}

/// A webhook token passed in the query, as django-helpdesk sends it.
const QUERY_TOKEN: &str = "query-token-4f1d8e7a2b9c";

// Systems that cannot sign put the webhook token in the query: accepted or
// refused, it appears nowhere in the JSON log of a real server process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_token_in_the_query_never_reaches_the_log() {
    let (base, _recorder) = crate::connectors::recording_server().await;
    let (_data, dir, config) = crate::connectors::process_config_with_desk(&base);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "inbound = { hmac_secret = \"DESK_HOOK_KEY\" }",
        "inbound = { query_token_secret = \"DESK_QUERY\" }",
    );
    assert!(text.contains("DESK_QUERY"));
    std::fs::write(&config, text).unwrap();
    let secrets = dir.path().join("runbooks/secrets.yaml");
    let mut yaml = std::fs::read_to_string(&secrets).unwrap();
    yaml.push_str(&format!("DESK_QUERY: {QUERY_TOKEN}\n"));
    std::fs::write(&secrets, yaml).unwrap();
    let server = ServerProcess::start_ready(&config, &[("RUST_LOG", "debug")]).await;
    let event =
        serde_json::to_vec(&crate::connectors::event("Q-1", "VPN", "VPN drops", "new")).unwrap();
    let http = reqwest::Client::new();
    let deliver = |token: String| {
        http.post(format!("{}/v1/hooks/desk?token={token}", server.base))
            .body(event.clone())
            .send()
    };
    assert_eq!(deliver(QUERY_TOKEN.to_owned()).await.unwrap().status(), 202);
    let wrong = format!("{QUERY_TOKEN}-wrong");
    assert_eq!(deliver(wrong).await.unwrap().status(), 401);
    wait_for_jobs_done(&http, &server.base).await;
    let log = server.log().join("\n");
    assert!(log.contains("/v1/hooks/desk?token=[redacted]"), "{log}");
    assert!(
        !log.contains(QUERY_TOKEN),
        "the token is in the log:\n{log}"
    );
}
