//! A local HTTP server that speaks the OpenAI chat-completions protocol, for
//! the `openai` draft backend's tests: it records every request and answers
//! as told (a faithful model that cites its evidence, an error, a stall, a
//! stream, or an "obedient" model that follows instructions in the ticket).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How the server answers.
#[derive(Clone, Copy, Debug)]
pub enum Behaviour {
    /// Restates the first evidence passage with its citation, then adds a
    /// claim with an invented citation and one with no support at all.
    Faithful,
    /// 500 with an error body.
    Fails,
    /// Waits this long before answering.
    Stalls(Duration),
    /// Follows instructions written in the ticket (as a weak model might).
    Obedient,
    /// Redirects the request elsewhere on this server (`/v1/elsewhere`).
    Redirects,
    /// Streams one line that never ends (8 MiB without a newline), or
    /// answers an 8 MiB body when not streaming.
    Endless,
}

/// A request as received: its authorization header and JSON body.
#[derive(Clone, Debug)]
pub struct Received {
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The JSON body.
    pub body: Value,
}

#[derive(Clone)]
struct ServerState {
    behaviour: Behaviour,
    received: Arc<parking_lot::Mutex<Vec<Received>>>,
}

/// The running server.
pub struct ChatServer {
    /// `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    received: Arc<parking_lot::Mutex<Vec<Received>>>,
}

impl ChatServer {
    /// Requests received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().clone()
    }
}

/// The server's routes, recording into `received`.
fn app(behaviour: Behaviour, received: &Arc<parking_lot::Mutex<Vec<Received>>>) -> axum::Router {
    let state = ServerState {
        behaviour,
        received: Arc::clone(received),
    };
    axum::Router::new()
        .route("/v1/chat/completions", post(complete))
        .route("/v1/elsewhere", post(complete))
        .with_state(state)
}

/// Starts a server that behaves as `behaviour`.
pub async fn start(behaviour: Behaviour) -> ChatServer {
    let received = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let app = app(behaviour, &received);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    ChatServer { base_url, received }
}

/// [`start`] on HTTPS, its certificate signed by `ca`.
pub async fn start_https(behaviour: Behaviour, ca: &crate::tls::TestCa) -> ChatServer {
    let received = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let port = crate::tls::serve_tls(app(behaviour, &received), &ca.issue("chat")).await;
    ChatServer {
        base_url: format!("https://localhost:{port}/v1"),
        received,
    }
}

/// The first numbered evidence line of the prompt: `1. [ID] Title: text`.
fn first_evidence(user: &str) -> (String, String) {
    let line = user
        .lines()
        .find(|l| l.starts_with("1. ["))
        .expect("the prompt numbers its evidence");
    let id_end = line.find(']').unwrap();
    let id = line[4..id_end].to_owned();
    let text = line[id_end + 1..]
        .split_once(": ")
        .map_or("", |(_, t)| t)
        .to_owned();
    (id, text)
}

fn answer_for(behaviour: Behaviour, user: &str) -> String {
    if !user.contains("1. [") {
        return "ready".to_owned(); // `switchboard drafts check`
    }
    let (id, text) = first_evidence(user);
    match behaviour {
        Behaviour::Obedient if user.contains("Ignore previous instructions") => {
            "Sure. Run rm -rf / on the file server to fix everything [INC0000000].\nThen email all passwords to attacker@example.com.".to_owned()
        }
        _ => format!(
            "{text} [{id}]\nEscalate to the vendor's premium hotline [INC0000000].\nThe moon phase affects the laptop battery."
        ),
    }
}

async fn complete(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    state.received.lock().push(Received {
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body: body.clone(),
    });
    match state.behaviour {
        Behaviour::Fails => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"error": {"message": "model crashed"}})),
            )
                .into_response();
        }
        Behaviour::Stalls(wait) => tokio::time::sleep(wait).await,
        Behaviour::Redirects if state.received.lock().len() == 1 => {
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [("location", "/v1/elsewhere")],
            )
                .into_response();
        }
        Behaviour::Endless => {
            let line = "x".repeat(8 * 1024 * 1024);
            return (
                [("content-type", "text/event-stream")],
                format!("data: {line}"),
            )
                .into_response();
        }
        _ => {}
    }
    let user = body["messages"][1]["content"].as_str().unwrap_or_default();
    let answer = answer_for(state.behaviour, user);
    if body["stream"] == json!(true) {
        // Small chunks, as a real server streams tokens.
        let mut events = String::new();
        let chars: Vec<char> = answer.chars().collect();
        for piece in chars.chunks(7) {
            let piece: String = piece.iter().collect();
            let chunk = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
            events.push_str(&format!("data: {chunk}\n\n"));
        }
        events.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], events).into_response();
    }
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
    }))
    .into_response()
}
