//! Erasure and retention of ticket text: `POST /v1/admin/forget` removes a
//! ticket (or every ticket that mentioned an address) and everything derived
//! from it, audited without the address; `POST /v1/admin/retention` (and the
//! background task) deletes what is past its retention.

use std::time::Duration;

use serde_json::{Value, json};

use crate::connectors::{deliver, event, recording_server, spawn_with_desk, wait_job};
use crate::helpers::{
    ADMIN_TOKEN, AGENT_TOKEN, TestApp, TestClock, error_code, sample_copy, spawn_app_on,
    spawn_app_on_clock,
};

const ADDRESS: &str = "ana.costa.4711@example.com";

impl TestApp {
    /// `POST /v1/admin/forget` with `body` as an admin.
    pub async fn forget(&self, body: &Value) -> reqwest::Response {
        self.post_json_as(Some(ADMIN_TOKEN), "/v1/admin/forget", body)
            .await
    }

    /// `POST /v1/admin/forget` as an admin, expecting 200: the report.
    pub async fn forgotten(&self, body: &Value) -> Value {
        let answer = self.forget(body).await;
        assert_eq!(answer.status(), 200);
        answer.json().await.unwrap()
    }

    /// `POST /v1/admin/retention` as an admin, expecting 200: the report.
    pub async fn run_retention(&self) -> Value {
        let answer = self
            .post_json_as(Some(ADMIN_TOKEN), "/v1/admin/retention", &json!({}))
            .await;
        assert_eq!(answer.status(), 200);
        answer.json().await.unwrap()
    }

    /// Triages ticket `id` as an agent (remembered, so it is reviewable).
    async fn triage_mentioning(&self, id: &str, description: &str) {
        let answer = self
            .post_json(
                "/v1/triage",
                &json!({ "id": id, "title": "VPN keeps disconnecting", "description": description }),
            )
            .await;
        assert_eq!(answer.status(), 200);
    }

    /// The status `GET path` answers an agent.
    async fn status_of(&self, path: &str) -> u16 {
        self.get_as(AGENT_TOKEN, path).await.status().as_u16()
    }
}

fn mentioning(address: &str) -> String {
    format!("The GlobalProtect VPN drops every few minutes. Write to {address} when fixed.")
}

/// The audit rows of erasures, each as one line of text.
async fn erasure_audit(app: &TestApp) -> Vec<String> {
    let url = switchboard::infra::db::default_url(app.data_dir.path());
    let pool = switchboard::infra::db::connect(&url).await.unwrap();
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT actor, subject, detail FROM audit_log WHERE action = 'privacy.forget' ORDER BY seq",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(actor, subject, detail)| format!("{actor} {subject} {detail}"))
        .collect()
}

#[tokio::test]
async fn forgetting_a_ticket_removes_its_record_draft_feedback_and_incident() {
    let app = spawn_app_on(sample_copy(), |_| {}).await;
    app.triage_mentioning("ER-1", &mentioning(ADDRESS)).await;
    let feedback = app
        .post_json(
            "/v1/tickets/ER-1/feedback",
            &json!({ "field": "assignment_group", "label": "Network Operations", "agent": "ana" }),
        )
        .await;
    assert_eq!(feedback.status(), 200);
    app.draft("ER-1").await;
    for path in [
        "/v1/review/ER-1",
        "/v1/incidents/ER-1",
        "/v1/tickets/ER-1/draft",
    ] {
        assert_eq!(app.status_of(path).await, 200, "{path} before");
    }

    let report = app.forgotten(&json!({ "ticket": "ER-1" })).await;

    assert_eq!(report["tickets"], json!(["ER-1"]));
    assert_eq!(report["review_records"], 1, "{report:#}");
    assert_eq!(report["feedback"], 1, "{report:#}");
    assert!(report["drafts"].as_u64().unwrap() >= 1, "{report:#}");
    for path in [
        "/v1/review/ER-1",
        "/v1/incidents/ER-1",
        "/v1/tickets/ER-1/draft",
    ] {
        assert_eq!(app.status_of(path).await, 404, "{path} after");
    }
}

#[tokio::test]
async fn forgetting_an_address_finds_the_tickets_whose_text_was_scrubbed() {
    let app = spawn_app_on(sample_copy(), |_| {}).await;
    app.triage_mentioning("ER-A", &mentioning(ADDRESS)).await;
    app.triage_mentioning("ER-B", &mentioning(&ADDRESS.to_uppercase()))
        .await;
    app.triage_mentioning("ER-OTHER", &mentioning("someone.else@example.com"))
        .await;

    let report = app.forgotten(&json!({ "email": ADDRESS })).await;

    assert_eq!(report["tickets"], json!(["ER-A", "ER-B"]), "{report:#}");
    assert_eq!(app.status_of("/v1/review/ER-A").await, 404);
    assert_eq!(app.status_of("/v1/review/ER-B").await, 404);
    assert_eq!(app.status_of("/v1/review/ER-OTHER").await, 200);
}

#[tokio::test]
async fn an_erasure_is_audited_without_the_address_and_repeating_it_is_harmless() {
    let app = spawn_app_on(sample_copy(), |_| {}).await;
    app.triage_mentioning("ER-A", &mentioning(ADDRESS)).await;

    let first = app.forgotten(&json!({ "email": ADDRESS })).await;
    let again = app.forgotten(&json!({ "email": ADDRESS })).await;

    assert_eq!(first["tickets"], json!(["ER-A"]));
    assert_eq!(again["tickets"], json!([]), "nothing left: {again:#}");
    let audit = erasure_audit(&app).await;
    assert_eq!(audit.len(), 2, "each request is audited: {audit:#?}");
    for row in &audit {
        assert!(row.starts_with("admin email:"), "{row}");
        assert!(!row.to_lowercase().contains("ana.costa"), "{row}");
    }
    assert_eq!(
        audit[0].split(' ').nth(1),
        audit[1].split(' ').nth(1),
        "same request, same name"
    );
}

#[tokio::test]
async fn forgetting_an_address_reaches_a_connectors_ticket_and_its_job() {
    let (base, _recorder) = recording_server().await;
    let secrets = tempfile::tempdir().unwrap();
    let app = spawn_with_desk(&base, &secrets, |_| {}).await;
    // The address only in a field the connector does not read.
    let mut body = event(
        "881",
        "VPN keeps disconnecting",
        &mentioning("the user"),
        "new",
    );
    body["ticket"]["requester"] = json!(ADDRESS);
    let answer = deliver(&app, &body, None, "d-881").await;
    let job = answer.json::<Value>().await.unwrap()["job"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_job(&app, &job, "done").await;
    assert_eq!(app.status_of("/v1/review/desk:881").await, 200);

    let report = app.forgotten(&json!({ "email": ADDRESS })).await;

    assert_eq!(report["tickets"], json!(["desk:881"]), "{report:#}");
    assert_eq!(report["jobs"], 1, "{report:#}");
    assert_eq!(app.status_of("/v1/review/desk:881").await, 404);
    assert_eq!(crate::connectors::jobs(&app).await, Vec::<Value>::new());
}

#[tokio::test]
async fn only_an_admin_may_forget() {
    let app = spawn_app_on(sample_copy(), |_| {}).await;
    let answer = app
        .post_json_as(
            Some(AGENT_TOKEN),
            "/v1/admin/forget",
            &json!({ "ticket": "X" }),
        )
        .await;
    error_code(answer, 403).await;
}

#[tokio::test]
async fn a_request_that_is_not_one_ticket_or_one_address_is_refused() {
    let app = spawn_app_on(sample_copy(), |_| {}).await;
    for body in [
        json!({ "email": "not an address" }),
        json!({ "email": "a@example.com b@example.com" }),
        json!({ "ticket": "" }),
    ] {
        let answer = app.forget(&body).await;
        assert_eq!(answer.status(), 422, "{body}");
    }
    // Not one of the two shapes at all: a malformed body.
    for body in [json!({ "ticket": "A", "email": ADDRESS }), json!({})] {
        let answer = app.forget(&body).await;
        assert_eq!(answer.status(), 400, "{body}");
    }
}

#[tokio::test]
async fn review_records_and_drafts_are_deleted_once_past_their_retention() {
    let clock = TestClock::now();
    let app = spawn_app_on_clock(sample_copy(), clock.clone(), |s| {
        s.privacy.review_retention_days = 90;
        s.privacy.draft_retention_days = 90;
        // The background task stays asleep: the runs below are the test's.
        s.privacy.retention_interval_s = 365 * 86_400;
    })
    .await;
    app.triage_mentioning("RT-OLD", &mentioning("the user"))
        .await;
    app.draft("RT-OLD").await;
    clock.advance(Duration::from_secs(89 * 86_400));
    app.triage_mentioning("RT-NEW", &mentioning("the user"))
        .await;

    let within = app.run_retention().await;
    assert_eq!(within["review_records"], 0, "{within:#}");
    assert_eq!(within["drafts"], 0, "{within:#}");

    clock.advance(Duration::from_secs(2 * 86_400));
    let past = app.run_retention().await;
    assert_eq!(past["review_records"], 1, "{past:#}");
    assert!(past["drafts"].as_u64().unwrap() >= 1, "{past:#}");
    assert_eq!(app.status_of("/v1/review/RT-OLD").await, 404);
    assert_eq!(app.status_of("/v1/tickets/RT-OLD/draft").await, 404);
    assert_eq!(app.status_of("/v1/review/RT-NEW").await, 200);
}

#[tokio::test]
async fn remembered_tickets_and_incidents_leave_the_store_once_past_their_retention() {
    let clock = TestClock::now();
    let app = spawn_app_on_clock(sample_copy(), clock.clone(), |s| {
        s.privacy.ticket_retention_days = 90;
        s.privacy.incident_retention_days = 365;
        // The background task stays asleep through the years moved below.
        s.privacy.retention_interval_s = 10 * 365 * 86_400;
    })
    .await;
    // Both remembered; RT-INC also becomes an incident through an agent's label.
    for id in ["RT-OLD", "RT-INC"] {
        app.triage_mentioning(id, &mentioning("the user")).await;
    }
    let label =
        |field: &str| json!({ "field": field, "label": "Network Operations", "agent": "ana" });
    let labelled = app
        .post_json("/v1/tickets/RT-INC/feedback", &label("assignment_group"))
        .await;
    assert_eq!(labelled.status(), 200);
    clock.advance(Duration::from_secs(89 * 86_400));
    app.triage_mentioning("RT-NEW", &mentioning("the user"))
        .await;
    let within = app.run_retention().await;
    assert_eq!(
        (within["tickets"].as_u64(), within["incidents"].as_u64()),
        (Some(0), Some(0)),
        "{within:#}"
    );

    clock.advance(Duration::from_secs(2 * 86_400));
    let past = app.run_retention().await;
    assert_eq!(past["tickets"], 2, "{past:#}");
    assert_eq!(past["incidents"], 0, "{past:#}");
    // No feedback can name a forgotten ticket; the incident one became stays.
    let late = app
        .post_json("/v1/tickets/RT-OLD/feedback", &label("assignment_group"))
        .await;
    assert_eq!(late.status(), 404);
    let newer = app
        .post_json("/v1/tickets/RT-NEW/feedback", &label("assignment_group"))
        .await;
    assert_eq!(newer.status(), 200);
    assert_eq!(app.status_of("/v1/incidents/RT-INC").await, 200);
    assert_eq!(app.run_retention().await["tickets"], 0);

    clock.advance(Duration::from_secs(365 * 86_400));
    let years = app.run_retention().await;
    assert!(years["incidents"].as_u64().unwrap() >= 2, "{years:#}");
    assert_eq!(app.status_of("/v1/incidents/RT-INC").await, 404);
}

#[tokio::test]
async fn points_stored_before_they_were_dated_are_dated_at_the_first_start() {
    let data = sample_copy();
    let url = switchboard::infra::db::default_url(data.path());
    let pool = switchboard::infra::db::connect(&url).await.unwrap();
    // As a state database from before points were dated.
    sqlx::query("DELETE FROM stored_points")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM state_meta WHERE name = 'stored_points_dated'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let clock = TestClock::now();
    let app = spawn_app_on_clock(data, clock.clone(), |s| {
        s.privacy.incident_retention_days = 30;
        s.privacy.retention_interval_s = 10 * 365 * 86_400;
    })
    .await;
    assert_eq!(app.run_retention().await["incidents"], 0);
    clock.advance(Duration::from_secs(31 * 86_400));
    let expired = app.run_retention().await;
    assert!(expired["incidents"].as_u64().unwrap() > 10, "{expired:#}");
}

#[tokio::test]
async fn the_command_line_forgets_and_runs_the_retention_on_a_stopped_deployment() {
    let app = spawn_app_on(sample_copy(), |_| {}).await;
    app.triage_mentioning("ER-CLI", &mentioning(ADDRESS)).await;
    let data = app.stop().await;

    let forget = crate::helpers::switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", data.path())
        .args(["forget", "--email", ADDRESS])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&forget);
    let said = String::from_utf8_lossy(&forget.stdout);
    assert!(said.contains("forgotten: 1 ticket(s)"), "{said}");
    let retention = crate::helpers::switchboard_command()
        .env("SWITCHBOARD_DATA_DIR", data.path())
        .args(["retention", "run"])
        .output()
        .unwrap();
    crate::helpers::assert_succeeded(&retention);

    let app = spawn_app_on(data, |_| {}).await;
    assert_eq!(app.status_of("/v1/review/ER-CLI").await, 404);
    assert_eq!(erasure_audit(&app).await.len(), 1);
}

// A real process, killed between the store's deletes and the rows'
// transaction: the request, made again after the restart, completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_cut_short_by_a_crash_completes_when_made_again() {
    use crate::server_process::{ServerProcess, write_config};
    let data = sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), data.path(), None, "");
    let http = reqwest::Client::new();
    let mut server = ServerProcess::start_ready(
        &config,
        &[(
            switchboard::infra::crash::CRASH_AT_ENV,
            "forget.after_store@1",
        )],
    )
    .await;
    let triaged = http
        .post(format!("{}/v1/triage", server.base))
        .bearer_auth(AGENT_TOKEN)
        .json(&json!({ "id": "ER-CRASH", "title": "VPN keeps disconnecting", "description": mentioning(ADDRESS) }))
        .send()
        .await
        .unwrap();
    assert_eq!(triaged.status(), 200);
    let cut = http
        .post(format!("{}/v1/admin/forget", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "email": ADDRESS }))
        .send()
        .await;
    assert!(cut.is_err(), "the process died before answering");
    assert!(
        server.wait_exit(Duration::from_secs(30)),
        "{:#?}",
        server.log()
    );

    let server = ServerProcess::start_ready(&config, &[]).await;
    let review = |base: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/v1/review/ER-CRASH"))
                .bearer_auth(AGENT_TOKEN)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(review(server.base.clone()).await, 200, "nothing committed");
    let again: Value = http
        .post(format!("{}/v1/admin/forget", server.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "email": ADDRESS }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["tickets"], json!(["ER-CRASH"]), "{again:#}");
    assert_eq!(review(server.base.clone()).await, 404);
}
