//! The web console over HTTP: sign-in sessions (cookie flags, expiry,
//! sign-out), CSRF on every cookie-authenticated state change, roles, the
//! security headers of its pages, and the API endpoints its views read.
//! `browser` drives the same console in a real Chromium.

mod browser;
mod webdriver;

use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};

use crate::helpers::{AGENT_TOKEN, APPROVER_TOKEN, TestApp, VIEWER_TOKEN, spawn_app, work_root};

/// A console sign-in: the session cookie and the page's CSRF token.
pub struct Signed {
    pub cookie: String,
    pub csrf: String,
}

/// A client that follows no redirects (the tests look at them).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The value of `name="csrf" value="..."` or `<meta name="csrf-token" content="...">`.
fn csrf_in(html: &str) -> String {
    for marker in ["name=\"csrf\" value=\"", "name=\"csrf-token\" content=\""] {
        if let Some(start) = html.find(marker) {
            let rest = &html[start + marker.len()..];
            return rest[..rest.find('"').unwrap()].to_owned();
        }
    }
    panic!("no CSRF token in {html}");
}

/// The `name=value` of a Set-Cookie header named `name`.
fn set_cookie<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

/// Posts the sign-in form with `token`; the raw answer.
async fn post_sign_in(app: &TestApp, token: &str) -> reqwest::Response {
    let form = client()
        .get(format!("{}/ui/login", app.address))
        .send()
        .await
        .unwrap();
    let login_cookie = set_cookie(&form, "sb_login")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let csrf = csrf_in(&form.text().await.unwrap());
    client()
        .post(format!("{}/ui/login", app.address))
        .header(COOKIE, login_cookie)
        .form(&[("token", token), ("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap()
}

/// Signs in with `token` through the form, as a browser would.
pub async fn sign_in(app: &TestApp, token: &str) -> Signed {
    let answer = post_sign_in(app, token).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&answer, "sb_session")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = client()
        .get(format!("{}/ui/triage", app.address))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    Signed {
        csrf: csrf_in(&page.text().await.unwrap()),
        cookie,
    }
}

/// A JSON request with the session cookie and, when given, a CSRF token.
async fn with_cookie(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    signed: &Signed,
    csrf: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = client()
        .request(method, format!("{}{path}", app.address))
        .header(COOKIE, &signed.cookie);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn signing_in_sets_an_httponly_samesite_strict_cookie_with_an_expiry() {
    let app = spawn_app().await;
    let answer = post_sign_in(&app, AGENT_TOKEN).await;
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    assert_eq!(answer.headers()["location"], "/ui/triage");
    let cookie = set_cookie(&answer, "sb_session").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
        assert!(cookie.contains(flag), "{cookie} lacks {flag}");
    }
    assert!(!cookie.contains(AGENT_TOKEN), "the cookie is not the token");
}

#[tokio::test]
async fn an_unknown_token_or_a_missing_form_token_does_not_sign_in() {
    let app = spawn_app().await;
    let answer = post_sign_in(&app, "not-a-token").await;
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&answer, "sb_session").is_none());
    // The sign-in form itself is protected: no login cookie, no session.
    let forged = client()
        .post(format!("{}/ui/login", app.address))
        .form(&[("token", AGENT_TOKEN), ("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&forged, "sb_session").is_none());
}

#[tokio::test]
async fn console_pages_need_a_session_and_carry_a_strict_csp() {
    let app = spawn_app().await;
    let anonymous = client()
        .get(format!("{}/ui/triage", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()["location"], "/ui/login");
    let signed = sign_in(&app, AGENT_TOKEN).await;
    for view in ["triage", "review", "approvals", "insights", "runbooks"] {
        let page = client()
            .get(format!("{}/ui/{view}", app.address))
            .header(COOKIE, &signed.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), StatusCode::OK, "{view}");
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        let html = page.text().await.unwrap();
        assert!(!html.contains("<script>"), "no inline script in {view}");
    }
    let asset = client()
        .get(format!("{}/ui/assets/app.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(
        asset.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
}

#[tokio::test]
async fn a_cookie_state_change_without_the_csrf_token_is_refused() {
    let app = spawn_app().await;
    let agent = sign_in(&app, AGENT_TOKEN).await;
    let body = json!({ "runbook": "clean-old-files", "params": { "directory": work_root().join("csrf"), "days": 7 } });
    let missing = with_cookie(
        &app,
        reqwest::Method::POST,
        "/v1/executions",
        &agent,
        None,
        Some(body.clone()),
    )
    .await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&missing.json().await.unwrap()), "csrf_failed");
    let wrong = with_cookie(
        &app,
        reqwest::Method::POST,
        "/v1/executions",
        &agent,
        Some("guess"),
        Some(body),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    // A forged cross-site form (form-encoded, no header) is refused the same way.
    let forged = client()
        .post(format!("{}/v1/executions", app.address))
        .header(COOKIE, &agent.cookie)
        .form(&[("runbook", "clean-old-files")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let executions: Value = app
        .get_as(VIEWER_TOKEN, "/v1/executions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        executions.as_array().unwrap().len(),
        0,
        "nothing was requested"
    );
}

#[tokio::test]
async fn a_viewer_session_with_its_csrf_token_still_cannot_request_or_approve() {
    let app = spawn_app().await;
    let viewer = sign_in(&app, VIEWER_TOKEN).await;
    let csrf = viewer.csrf.clone();
    let body = json!({ "runbook": "clean-old-files", "params": { "directory": work_root().join("csrf"), "days": 7 } });
    let request = with_cookie(
        &app,
        reqwest::Method::POST,
        "/v1/executions",
        &viewer,
        Some(&csrf),
        Some(body),
    )
    .await;
    assert_eq!(request.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(&request.json().await.unwrap()), "forbidden");
    // Reads work with the cookie alone.
    let list = with_cookie(
        &app,
        reqwest::Method::GET,
        "/v1/executions",
        &viewer,
        None,
        None,
    )
    .await;
    assert_eq!(list.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_agent_session_with_its_csrf_token_may_request() {
    let app = spawn_app().await;
    let agent = sign_in(&app, AGENT_TOKEN).await;
    let csrf = agent.csrf.clone();
    let dir = tempfile::tempdir_in(work_root()).unwrap();
    let body = json!({ "runbook": "clean-old-files", "dry_run": true, "params": { "directory": dir.path(), "days": 7 } });
    let created = with_cookie(
        &app,
        reqwest::Method::POST,
        "/v1/executions",
        &agent,
        Some(&csrf),
        Some(body),
    )
    .await;
    let status = created.status();
    let execution: Value = created.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{execution}");
    assert_eq!(execution["requested_by"], "agent");
}

#[tokio::test]
async fn signing_out_ends_the_session_everywhere() {
    let app = spawn_app().await;
    let agent = sign_in(&app, AGENT_TOKEN).await;
    let out = client()
        .post(format!("{}/ui/logout", app.address))
        .header(COOKIE, &agent.cookie)
        .form(&[("csrf", agent.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(
        set_cookie(&out, "sb_session")
            .unwrap()
            .contains("Max-Age=0")
    );
    // The old cookie, replayed, is worth nothing.
    let replay = with_cookie(
        &app,
        reqwest::Method::GET,
        "/v1/executions",
        &agent,
        None,
        None,
    )
    .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    let page = client()
        .get(format!("{}/ui/triage", app.address))
        .header(COOKIE, &agent.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn sign_out_without_the_csrf_token_keeps_the_session() {
    let app = spawn_app().await;
    let agent = sign_in(&app, AGENT_TOKEN).await;
    let forged = client()
        .post(format!("{}/ui/logout", app.address))
        .header(COOKIE, &agent.cookie)
        .form(&[("csrf", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let still = with_cookie(
        &app,
        reqwest::Method::GET,
        "/v1/executions",
        &agent,
        None,
        None,
    )
    .await;
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn foreign_origins_get_no_cors_headers_from_the_console_or_the_api() {
    let app = spawn_app().await;
    for origin in ["null", "https://evil.example"] {
        for path in ["/ui/login", "/v1/executions", "/ui/assets/app.js"] {
            let answer = client()
                .request(reqwest::Method::OPTIONS, format!("{}{path}", app.address))
                .header("origin", origin)
                .header("access-control-request-method", "POST")
                .send()
                .await
                .unwrap();
            assert!(
                answer
                    .headers()
                    .keys()
                    .all(|k| !k.as_str().starts_with("access-control-")),
                "{path} from {origin}: {:?}",
                answer.headers()
            );
        }
    }
}

#[tokio::test]
async fn a_triaged_ticket_with_an_id_joins_the_review_queue_and_filters_apply() {
    let app = crate::helpers::spawn_app_on(crate::helpers::sample_copy(), |s| {
        s.triage.anonymous = switchboard::triage::AnonymousTriage::Full;
    })
    .await;
    let ticket = json!({ "id": "REV-1", "title": "VPN connection drops every few minutes", "description": "GlobalProtect VPN disconnects every 5-10 minutes." });
    assert_eq!(
        app.post_json("/v1/triage", &ticket).await.status(),
        StatusCode::OK
    );
    // Anonymous triage is not remembered and not queued.
    let anonymous = json!({ "id": "REV-2", "title": "Printer jam", "description": "Paper stuck" });
    assert_eq!(
        app.post_json_as(None, "/v1/triage", &anonymous)
            .await
            .status(),
        StatusCode::OK
    );
    let queue: Value = app
        .get_as(VIEWER_TOKEN, "/v1/review")
        .await
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["ticket_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["REV-1"]);
    let item = &queue[0];
    assert_eq!(item["source"], "api");
    assert_eq!(
        item["suggestions"]["assignment_group"]["label"],
        "Network Operations"
    );
    let route = item["suggestions"]["assignment_group"]["route"]
        .as_str()
        .unwrap();
    let other = if route == "auto" { "suggest" } else { "auto" };
    let same: Value = app
        .get_as(
            VIEWER_TOKEN,
            &format!("/v1/review?route={route}&field=assignment_group"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(same.as_array().unwrap().len(), 1);
    let none: Value = app
        .get_as(
            VIEWER_TOKEN,
            &format!("/v1/review?route={other}&field=assignment_group&connector=api"),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none.as_array().unwrap().len(), 0);
    let one: Value = app
        .get_as(VIEWER_TOKEN, "/v1/review/REV-1")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(one["title"], "VPN connection drops every few minutes");
    assert_eq!(
        app.get_anonymously("/v1/review").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn insights_count_auto_routing_and_the_corrections_agents_made() {
    let app = spawn_app().await;
    let ticket = json!({ "id": "INS-1", "title": "VPN connection drops every few minutes", "description": "GlobalProtect VPN disconnects every 5-10 minutes." });
    app.post_json("/v1/triage", &ticket).await;
    let correction =
        json!({ "field": "assignment_group", "label": "Desktop Support", "agent": "agent" });
    assert_eq!(
        app.post_json("/v1/tickets/INS-1/feedback", &correction)
            .await
            .status(),
        StatusCode::OK
    );
    let insights: Value = app
        .get_as(VIEWER_TOKEN, "/v1/insights")
        .await
        .json()
        .await
        .unwrap();
    let group = &insights["fields"]["assignment_group"];
    assert_eq!(group["triaged"], 1);
    assert_eq!(group["corrected"], 1);
    let moves = insights["feedback"]["fields"]["assignment_group"]["reassignments"]
        .as_array()
        .unwrap();
    assert!(
        moves
            .iter()
            .any(|m| m["from"] == "Network Operations" && m["to"] == "Desktop Support"),
        "{moves:?}"
    );
    assert!(
        insights["volume"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["label"] == "Network Operations")
    );
}

#[tokio::test]
async fn a_plan_preview_validates_parameters_by_the_request_rules() {
    let app = spawn_app().await;
    let bad = app
        .post_json(
            "/v1/runbooks/rotate-log/plan",
            &json!({ "log_file": "/etc/passwd" }),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::OK);
    let bad: Value = bad.json().await.unwrap();
    assert_eq!(bad["valid"], false);
    assert_eq!(bad["field"], "params.log_file");
    assert!(
        bad["message"]
            .as_str()
            .unwrap()
            .contains(&work_root().display().to_string()),
        "{bad}"
    );
    let good: Value = app
        .post_json(
            "/v1/runbooks/rotate-log/plan",
            &json!({ "log_file": work_root().join("app.log") }),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(good["valid"], true);
    assert_eq!(
        good["plan"]["steps"][0]["argv"][3],
        work_root().join("app.log").display().to_string(),
        "{good}"
    );
    let unknown = app.post_json("/v1/runbooks/no-such/plan", &json!({})).await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let catalog: Value = app
        .get_as(VIEWER_TOKEN, "/v1/runbooks")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        catalog
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "rotate-log")
    );
    let executions: Value = app
        .get_as(VIEWER_TOKEN, "/v1/executions")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        executions.as_array().unwrap().len(),
        0,
        "a preview creates nothing"
    );
}

#[tokio::test]
async fn the_audit_chain_verifies_through_the_api() {
    let app = spawn_app().await;
    let report: Value = app
        .get_as(APPROVER_TOKEN, "/v1/audit/verify")
        .await
        .json()
        .await
        .unwrap();
    assert!(report["broken"].is_null(), "{report}");
    assert!(report["entries"].is_number());
}
