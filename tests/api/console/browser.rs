//! The console in a real headless Chromium (Debian's, through chromedriver)
//! against a real `switchboard serve` process over a copy of the sample
//! store: an agent triages, reads the evidence and corrects a label that
//! then shows in Insights; an agent requests a runbook that an approver, in
//! a second browser, approves and watches succeed; a viewer is offered no
//! action, and forged posts with its cookie are refused. Each test saves
//! screenshots to `target/screenshots/` and fails on any browser console
//! error. Run by `scripts/test-browser.sh` (`make test-browser`).

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::Value;

use super::webdriver::{Browser, Driver};
use crate::helpers::{
    ADMIN_TOKEN, AGENT_TOKEN, APPROVER_TOKEN, APPROVER2_TOKEN, CHANGE_MANAGER_TOKEN, VIEWER_TOKEN,
    assert_succeeded, repo, sample_copy, switchboard_command,
};
use crate::server_process::{ServerProcess, write_config};

const DESKTOP: (u32, u32) = (1280, 900);
const PHONE: (u32, u32) = (390, 844);

/// A real server over a copy of the sample store, with the repository's runbooks.
struct Console {
    server: ServerProcess,
    _data: tempfile::TempDir,
    _dir: tempfile::TempDir,
}

/// Writes the last eval report into `data_dir/eval` as `switchboard eval
/// --report` does: the sample incidents split in two, every other row tested.
fn write_eval_report(data_dir: &std::path::Path) {
    let sample = std::fs::read_to_string(repo().join("sample/incidents.csv")).unwrap();
    let mut lines = sample.lines();
    let header = lines.next().unwrap();
    let (mut train, mut test) = (vec![header], vec![header]);
    for (n, line) in lines.enumerate() {
        if n % 2 == 0 {
            train.push(line)
        } else {
            test.push(line)
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let (train_file, test_file) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    std::fs::write(&train_file, train.join("\n")).unwrap();
    std::fs::write(&test_file, test.join("\n")).unwrap();
    let out = switchboard_command()
        .args([
            "eval",
            "--label",
            "assignment_group",
            "--label",
            "category",
            "--target-precision",
            "0.9",
            "--calibration-folds",
            "3",
            "--train",
        ])
        .arg(&train_file)
        .arg("--test")
        .arg(&test_file)
        .arg("--report")
        .arg(data_dir.join("eval"))
        .output()
        .unwrap();
    assert_succeeded(&out);
}

impl Console {
    async fn start() -> Self {
        Self::start_with("").await
    }

    /// A console whose settings file has `extra` TOML at its top level.
    async fn start_with(extra: &str) -> Self {
        let data = sample_copy();
        write_eval_report(data.path());
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), data.path(), None, extra);
        let server = ServerProcess::start_ready(&config, &[]).await;
        Self {
            server,
            _data: data,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }
}

/// Types the VPN ticket with id `id` into the triage desk and asks for suggestions.
async fn triage_in_desk(agent: &Browser, id: &str) {
    agent
        .type_into(&agent.wait("#triage-form input[name=id]").await, id)
        .await;
    agent
        .type_into(
            &agent.wait("#triage-form input[name=title]").await,
            VPN_TITLE,
        )
        .await;
    agent
        .type_into(&agent.wait("#triage-form textarea").await, VPN_TEXT)
        .await;
    agent.click(&agent.wait("#suggest").await).await;
}

/// Saves a screenshot as `target/screenshots/NAME.png`.
async fn screenshot(browser: &Browser, name: &str) {
    let dir = repo().join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let path: PathBuf = dir.join(format!("{name}.png"));
    std::fs::write(path, browser.screenshot().await).unwrap();
}

/// Signs in through the form and lands on the triage desk.
async fn sign_in(browser: &Browser, console: &Console, token: &str) {
    browser.goto(&console.url("/ui/login")).await;
    let field = browser.wait("#token").await;
    browser.type_into(&field, token).await;
    browser.click(&browser.wait("#sign-in").await).await;
    browser.wait("#triage-form").await;
}

/// No console error so far, and no stray `null`, `undefined` or
/// `[object ...]` drawn into the view.
async fn no_console_errors(browser: &Browser) {
    no_console_errors_but(browser, &[]).await;
}

/// [`no_console_errors`], except messages containing one of `expected`
/// (a 404 the view answers by offering to make what is missing).
async fn no_console_errors_but(browser: &Browser, expected: &[&str]) {
    let errors: Vec<String> = browser
        .console_errors()
        .await
        .into_iter()
        .filter(|e| !expected.iter().any(|x| e.contains(x)))
        .collect();
    assert!(errors.is_empty(), "browser console errors: {errors:#?}");
    let text = browser
        .execute("return document.getElementById('view')?.innerText ?? ''")
        .await;
    let text = text.as_str().unwrap_or_default();
    for stray in ["null", "undefined", "[object", "NaN"] {
        assert!(
            !text.split_whitespace().any(|w| w.starts_with(stray)),
            "{stray} drawn on the page:\n{text}"
        );
    }
}

const VPN_TITLE: &str = "VPN connection drops every few minutes";
const VPN_TEXT: &str = "Since this morning the GlobalProtect VPN disconnects every 5-10 minutes while working from home. Reconnecting works but drops again.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser.sh"]
async fn browser_an_agent_triages_reads_the_evidence_and_corrects_the_group() {
    let console = Console::start().await;
    let driver = Driver::start().await;
    let agent = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&agent, &console, AGENT_TOKEN).await;

    triage_in_desk(&agent, "INC-UI-1").await;
    let group = agent
        .wait_text(
            ".suggestion[data-field=assignment_group]",
            "Network Operations",
        )
        .await;
    let card = agent.text(&group).await;
    assert!(card.contains("Why:"), "{card}");
    assert!(card.contains('%'), "a confidence is shown: {card}");
    // The words that weighed most are marked in the ticket, and none is a stop word.
    let marked: Vec<String> = {
        let mut words = Vec::new();
        for mark in agent.find_all("#ticket-text mark").await {
            words.push(agent.text(&mark).await.to_lowercase());
        }
        words
    };
    assert!(!marked.is_empty(), "no word is highlighted");
    for word in &marked {
        assert!(
            !["this", "from", "every", "the", "while", "but"].contains(&word.as_str()),
            "{word} shown as a reason"
        );
    }
    // Evidence: open an incident and read its resolution.
    agent
        .click(
            &agent
                .wait(".suggestion[data-field=assignment_group] details.evidence summary")
                .await,
        )
        .await;
    agent
        .click(
            &agent
                .wait(".suggestion[data-field=assignment_group] details.evidence button")
                .await,
        )
        .await;
    let resolution = agent.wait("dialog.incident .resolution").await;
    assert!(!agent.text(&resolution).await.is_empty());
    screenshot(&agent, "incident").await;
    agent
        .click(&agent.wait("dialog.incident form button").await)
        .await;
    screenshot(&agent, "triage").await;

    // Correct the group.
    let correct = agent.wait("#correct-assignment_group-input").await;
    agent.type_into(&correct, "Desktop Support").await;
    agent
        .click(
            &agent
                .wait(".suggestion[data-field=assignment_group] .correct button")
                .await,
        )
        .await;
    agent
        .wait_text(
            ".suggestion[data-field=assignment_group] .feedback-status",
            "Corrected to Desktop Support",
        )
        .await;
    no_console_errors(&agent).await;

    // The review queue lists it; Insights shows the correction.
    agent.goto(&console.url("/ui/review")).await;
    agent
        .wait_text(
            "#review-table tr[data-ticket='INC-UI-1']",
            "Network Operations",
        )
        .await;
    screenshot(&agent, "review").await;
    agent.goto(&console.url("/ui/insights")).await;
    let matrix = agent
        .wait_text("#corrections table.matrix", "Desktop Support")
        .await;
    assert!(agent.text(&matrix).await.contains("Network Operations"));
    agent
        .wait("#routing .field-routing[data-field=assignment_group]")
        .await;
    agent.wait("#eval svg.chart").await;
    agent.wait("#health dl").await;
    screenshot(&agent, "insights").await;
    no_console_errors(&agent).await;

    // Legible on a phone too.
    agent.resize(PHONE.0, PHONE.1).await;
    agent.goto(&console.url("/ui/triage?ticket=INC-UI-1")).await;
    agent.wait(".suggestion[data-field=assignment_group]").await;
    let overflow = agent
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
        )
        .await;
    assert!(
        overflow.as_i64().unwrap_or(0) <= 0,
        "the page scrolls sideways at 390 px: {overflow}"
    );
    screenshot(&agent, "triage-phone").await;
    no_console_errors(&agent).await;
    agent.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser.sh"]
async fn browser_an_agent_streams_a_cited_draft_and_says_it_was_used() {
    let console = Console::start().await;
    let driver = Driver::start().await;
    let agent = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&agent, &console, AGENT_TOKEN).await;
    triage_in_desk(&agent, "INC-UI-DRAFT").await;

    agent.click(&agent.wait("#draft-button").await).await;
    agent.wait("#draft[data-status=drafted]").await;
    let sentences = agent.find_all("#draft .draft-sentence").await;
    assert!(!sentences.is_empty());
    for sentence in &sentences {
        let text = agent.text(sentence).await;
        assert!(
            text.contains("[INC") || text.contains("[kb:"),
            "every sentence cites: {text}"
        );
    }
    agent
        .execute("document.getElementById('draft').scrollIntoView()")
        .await;
    screenshot(&agent, "draft").await;
    agent.click(&agent.wait("#draft-accept").await).await;
    agent
        .wait_text("#draft .draft-review-status", "Accepted as written")
        .await;
    no_console_errors(&agent).await;
    agent.close().await;

    // The verdict is stored with the draft.
    let stored: Value = reqwest::Client::new()
        .get(console.url("/v1/tickets/INC-UI-DRAFT/draft"))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stored["review"]["verdict"], "accepted", "{stored:#}");
    assert_eq!(stored["review"]["reviewed_by"], "agent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser.sh"]
async fn browser_an_agent_requests_a_runbook_and_an_approver_approves_it() {
    let console = Console::start().await;
    let driver = Driver::start().await;
    let dir = crate::helpers::work_root().join("ui");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("app.log");
    std::fs::write(&log, "line\n".repeat(1000)).unwrap();

    // The agent requests rotate-log from the catalog; the form checks as it is typed.
    let agent = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&agent, &console, AGENT_TOKEN).await;
    agent.goto(&console.url("/ui/runbooks")).await;
    agent
        .click(&agent.wait("#runbook-rotate-log details summary").await)
        .await;
    let input = agent.wait("#runbook-rotate-log input[name=log_file]").await;
    agent.type_into(&input, "/etc/passwd").await;
    agent
        .wait_text("#runbook-rotate-log .field-error", "log_file")
        .await;
    agent.type_into(&input, log.to_str().unwrap()).await;
    agent
        .wait_text("#runbook-rotate-log pre.plan", "app.log.rotated")
        .await;
    screenshot(&agent, "runbooks").await;
    agent
        .click(&agent.wait("#runbook-rotate-log button.request").await)
        .await;
    agent
        .wait_text("#runbook-rotate-log .request-status", "pending approval")
        .await;
    no_console_errors(&agent).await;

    // An approver, in a second browser, sees it with its plan and approves.
    let approver = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&approver, &console, APPROVER_TOKEN).await;
    approver.goto(&console.url("/ui/approvals")).await;
    let pending = approver
        .wait_text("#pending .pending-item", "rotate-log")
        .await;
    let text = approver.text(&pending).await;
    assert!(
        text.contains("Requested by agent") && text.contains("expires in"),
        "{text}"
    );
    assert!(
        text.contains(log.to_str().unwrap()),
        "the plan shows the values: {text}"
    );
    screenshot(&approver, "approvals").await;
    approver
        .type_into(
            &approver.wait("#pending .pending-item textarea").await,
            "Disk at 95%, rotating",
        )
        .await;
    approver
        .click(&approver.wait("#pending .pending-item button.approve").await)
        .await;
    approver
        .wait_text("#executions tr[data-state=succeeded]", "rotate-log")
        .await;
    approver
        .click(
            &approver
                .wait("#executions tr[data-state=succeeded] button")
                .await,
        )
        .await;
    approver
        .wait_text("#execution-detail .execution-state", "succeeded")
        .await;
    let detail = approver
        .text(&approver.wait("#execution-detail").await)
        .await;
    assert!(detail.contains("app.log"), "step output is shown: {detail}");
    approver.wait_text("#chain-state", "chain verifies").await;
    screenshot(&approver, "execution").await;
    no_console_errors(&approver).await;

    // The approver's own request offers them no approve button.
    approver.goto(&console.url("/ui/runbooks")).await;
    approver
        .click(&approver.wait("#runbook-rotate-log details summary").await)
        .await;
    let input = approver
        .wait("#runbook-rotate-log input[name=log_file]")
        .await;
    approver.type_into(&input, log.to_str().unwrap()).await;
    approver
        .wait_text("#runbook-rotate-log pre.plan", "app.log.rotated")
        .await;
    approver
        .click(&approver.wait("#runbook-rotate-log button.request").await)
        .await;
    approver
        .wait_text("#runbook-rotate-log .request-status", "pending approval")
        .await;
    approver.goto(&console.url("/ui/approvals")).await;
    approver
        .wait_text("#pending .pending-item .own-request", "another approver")
        .await;
    assert!(
        approver
            .find_all("#pending button.approve")
            .await
            .is_empty()
    );
    // A second approver can.
    let second = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&second, &console, APPROVER2_TOKEN).await;
    second.goto(&console.url("/ui/approvals")).await;
    second.wait("#pending button.approve").await;
    no_console_errors(&second).await;
    for browser in [agent, approver, second] {
        browser.close().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser.sh"]
async fn browser_a_viewer_is_offered_no_action_and_forged_posts_are_refused() {
    let console = Console::start().await;
    let driver = Driver::start().await;
    let viewer = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&viewer, &console, VIEWER_TOKEN).await;
    viewer
        .type_into(
            &viewer.wait("#triage-form input[name=title]").await,
            VPN_TITLE,
        )
        .await;
    viewer
        .type_into(&viewer.wait("#triage-form textarea").await, VPN_TEXT)
        .await;
    viewer.click(&viewer.wait("#suggest").await).await;
    viewer
        .wait(".suggestion[data-field=assignment_group]")
        .await;
    assert!(
        viewer
            .find_all(".feedback, .request-form, button.request")
            .await
            .is_empty()
    );
    viewer.goto(&console.url("/ui/runbooks")).await;
    viewer.wait("#runbook-rotate-log").await;
    assert!(
        viewer
            .find_all("button.request, .request-form")
            .await
            .is_empty()
    );
    viewer.goto(&console.url("/ui/approvals")).await;
    viewer.wait("#pending").await;
    assert!(
        viewer
            .find_all("button.approve, button.reject")
            .await
            .is_empty()
    );
    no_console_errors(&viewer).await;

    // The viewer's own cookie, taken from the browser: a forged form post and
    // a post without the CSRF token are refused, and so is one with it.
    let cookie = viewer.cookie_header().await;
    assert!(cookie.contains("sb_session="));
    let csrf = viewer
        .execute("return document.querySelector('meta[name=\"csrf-token\"]').content")
        .await;
    let http = reqwest::Client::new();
    let forged = http
        .post(console.url("/v1/executions"))
        .header("cookie", &cookie)
        .header("origin", "null")
        .form(&[("runbook", "rotate-log")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(
        forged
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body = serde_json::json!({ "runbook": "clean-old-files", "params": { "directory": crate::helpers::work_root(), "days": 9 } });
    let without = http
        .post(console.url("/v1/executions"))
        .header("cookie", &cookie)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), StatusCode::FORBIDDEN);
    let with = http
        .post(console.url("/v1/executions"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf.as_str().unwrap())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), StatusCode::FORBIDDEN);
    let error: Value = with.json().await.unwrap();
    assert_eq!(error["error"]["code"], "forbidden");

    // Signing out ends the session in the browser too.
    viewer.click(&viewer.wait("#sign-out").await).await;
    viewer.wait("#token").await;
    viewer.goto(&console.url("/ui/approvals")).await;
    viewer.wait("#token").await;
    viewer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser.sh"]
async fn browser_a_storm_shows_its_members_on_a_timeline_and_in_the_triage_desk() {
    let console = Console::start().await;
    let http = reqwest::Client::new();
    let floors = ["1st", "2nd", "3rd", "4th", "5th", "6th"];
    for (n, floor) in floors.iter().enumerate() {
        let body = serde_json::json!({
            "id": format!("MAIL-{n}"),
            "title": "Outlook cannot connect to the mail server",
            "description": format!("Outlook cannot connect to the Exchange mail server since 09:05, mails stay in the outbox. Whole {floor} floor affected."),
            "opened_at": format!("2026-11-30T09:{:02}:00Z", 5 + n),
        });
        let answer = http
            .post(console.url("/v1/triage"))
            .bearer_auth(AGENT_TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let driver = Driver::start().await;
    let lead = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&lead, &console, AGENT_TOKEN).await;
    lead.goto(&console.url("/ui/storms")).await;
    lead.wait_text("#storm-list tr[data-storm]", "MAIL-0").await;
    lead.wait("#storm-detail svg.timeline circle").await;
    let detail = lead.text(&lead.wait("#storm-detail").await).await;
    assert!(
        detail.contains("Storm of 6 tickets") && detail.contains("MAIL-5"),
        "{detail}"
    );
    // The storm names the configuration item its members mention.
    lead.wait_text("#storm-detail .storm-cis", "exchange-01")
        .await;
    screenshot(&lead, "storms").await;
    no_console_errors(&lead).await;
    // A member opened in the triage desk says which storm it is in, and which
    // item it is about with the item's owner group.
    lead.goto(&console.url("/ui/triage?ticket=MAIL-3")).await;
    lead.wait_text(".banner.storm", "MAIL-0").await;
    lead.wait_text(
        "#configuration-items tr[data-item=exchange-01]",
        "Messaging & Collaboration",
    )
    .await;
    lead.wait_text(".ci-owner", "exchange-01 is owned by").await;
    no_console_errors(&lead).await;
    lead.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser.sh"]
async fn browser_the_change_calendar_shows_freezes_windows_and_an_emergency() {
    let now = chrono::Utc::now();
    let at = |hours: i64| {
        (now + chrono::Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let extra = format!(
        "[[changes.windows]]\nname = \"web freeze\"\nkind = \"freeze\"\ntags = [\"web\"]\nstart = \"{}\"\nend = \"{}\"\n\
         [[changes.windows]]\nname = \"saturday night\"\nkind = \"maintenance\"\ntags = [\"linux\"]\ncron = \"0 22 * * SAT\"\nduration = \"4h\"\n",
        at(-24),
        at(72)
    );
    let console = Console::start_with(&extra).await;
    let http = reqwest::Client::new();
    let request = |body: Value| {
        http.post(console.url("/v1/executions"))
            .bearer_auth(AGENT_TOKEN)
            .json(&body)
            .send()
    };
    let params = serde_json::json!({ "target": "web-01", "service": "nginx" });
    let frozen =
        request(serde_json::json!({ "runbook": "restart-test-service", "params": params }))
            .await
            .unwrap();
    assert_eq!(frozen.status(), StatusCode::CONFLICT);
    let emergency = request(serde_json::json!({
        "runbook": "restart-test-service", "params": params, "emergency": true,
        "justification": "web shop down for every customer",
    }))
    .await
    .unwrap();
    assert_eq!(emergency.status(), StatusCode::CREATED);

    let driver = Driver::start().await;
    let manager = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&manager, &console, CHANGE_MANAGER_TOKEN).await;
    manager.goto(&console.url("/ui/changes")).await;
    manager
        .wait_text("#change-list tr[data-type=emergency]", "web shop down")
        .await;
    manager.wait("#change-calendar rect.window-freeze").await;
    manager
        .wait("#change-calendar rect.window-maintenance")
        .await;
    manager
        .wait("#change-calendar circle.change-emergency")
        .await;
    let row = manager
        .text(&manager.wait("#change-list tr[data-type=emergency]").await)
        .await;
    assert!(
        row.contains("during web freeze") && row.contains("pending approval"),
        "{row}"
    );
    screenshot(&manager, "changes").await;
    no_console_errors(&manager).await;
    manager.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Chromium: run scripts/test-browser.sh"]
async fn browser_an_admin_makes_and_reads_the_problem_report() {
    let console = Console::start().await;
    let driver = Driver::start().await;
    let admin = driver.browser(DESKTOP.0, DESKTOP.1).await;
    sign_in(&admin, &console, ADMIN_TOKEN).await;
    admin.goto(&console.url("/ui/problems")).await;
    admin.click(&admin.wait("#make-problems").await).await;
    admin
        .wait_text("#problem-list tbody", "Database connection pool exhausted")
        .await;
    admin
        .wait("#problem-chart svg.problems rect.problem-bar.gap")
        .await;
    let table = admin.text(&admin.wait("#problem-list").await).await;
    assert!(
        table.contains("14× Leaking connections") && table.contains("knowledge gap"),
        "{table}"
    );
    screenshot(&admin, "problems").await;
    // Before the first report, GET /v1/problems is 404 and the view offers the button.
    no_console_errors_but(
        &admin,
        &["/v1/problems - Failed to load resource: the server responded with a status of 404"],
    )
    .await;
    admin.close().await;
}
