//! Sign-in, sign-out and the page shell of each view. The shell is rendered
//! here (who is signed in, which views exist, the CSRF token); the view's
//! script draws the rest from the API.

use std::sync::LazyLock;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::auth::session::{SESSION_COOKIE, Session, cookie};
use crate::auth::{Role, authenticate, constant_time_eq, generate_token};
use crate::routes::AppState;

/// The double-submit cookie that protects the sign-in form itself.
const LOGIN_COOKIE: &str = "sb_login";

/// The views, in navigation order: (path, title, what it is for).
const VIEWS: &[(&str, &str)] = &[
    ("triage", "Triage desk"),
    ("review", "Review queue"),
    ("storms", "Storms"),
    ("problems", "Problems"),
    ("approvals", "Approvals & executions"),
    ("changes", "Changes"),
    ("insights", "Insights"),
    ("runbooks", "Runbooks"),
];

/// Scripts and styles from this origin only, nothing inline, no framing, no
/// plugins, forms only back to this origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

static TEMPLATES: LazyLock<minijinja::Environment<'static>> = LazyLock::new(|| {
    let mut env = minijinja::Environment::new();
    for (name, source) in [
        ("layout.html", include_str!("../../ui/layout.html")),
        ("login.html", include_str!("../../ui/login.html")),
    ] {
        env.add_template(name, source)
            .expect("the console's templates are valid");
    }
    env
});

/// A rendered page with the console's security headers.
fn page(status: StatusCode, template: &str, context: minijinja::Value) -> Response {
    let html = match TEMPLATES
        .get_template(template)
        .and_then(|t| t.render(context))
    {
        Ok(html) => html,
        Err(e) => {
            return crate::routes::ApiError::internal(format!("rendering {template}: {e}"))
                .into_response();
        }
    };
    let mut response = (status, html).into_response();
    secure(response.headers_mut());
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The headers every console page carries.
fn secure(headers: &mut HeaderMap) {
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-frame-options", "DENY"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        ("cross-origin-opener-policy", "same-origin"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// `Set-Cookie` for the console: HttpOnly, SameSite=Strict, path `/`,
/// `Secure` when configured or when the request came over HTTPS.
fn set_cookie(
    state: &AppState,
    request: &HeaderMap,
    name: &str,
    value: &str,
    max_age: u64,
) -> HeaderValue {
    let https = request
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if state.console().secure_cookie || https {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .expect("cookie values are hex")
}

/// The signed-in session, if any.
async fn current(state: &AppState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let sessions = state.sessions().ok()?;
    match sessions.find(id, state.tokens()).await {
        Ok(session) => session.map(|s| (id.to_owned(), s)),
        Err(e) => {
            tracing::error!(error = %e, "cannot read a console session");
            None
        }
    }
}

fn disabled() -> Response {
    (
        StatusCode::NOT_FOUND,
        "the console is disabled (console.enabled = false)",
    )
        .into_response()
}

/// `GET /`: the triage desk when signed in, else the sign-in page.
pub(super) async fn root(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.console().enabled {
        return disabled();
    }
    match current(&state, &headers).await {
        Some(_) => Redirect::to("/ui/triage").into_response(),
        None => Redirect::to("/ui/login").into_response(),
    }
}

/// `GET /ui/login`.
pub(super) async fn login_form(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.console().enabled {
        return disabled();
    }
    login_page(&state, &headers, StatusCode::OK, None)
}

fn login_page(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let csrf = generate_token();
    let mut response = page(
        status,
        "login.html",
        minijinja::context! { csrf => csrf, error => error },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, headers, LOGIN_COOKIE, &csrf, 600),
    );
    response
}

/// The sign-in form.
#[derive(Deserialize)]
pub(super) struct SignIn {
    token: String,
    csrf: String,
}

/// `POST /ui/login`: a valid API token starts a session.
pub(super) async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignIn>,
) -> Response {
    if !state.console().enabled {
        return disabled();
    }
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(expected.as_bytes(), form.csrf.as_bytes()) {
        return login_page(
            &state,
            &headers,
            StatusCode::FORBIDDEN,
            Some("The sign-in form expired. Please try again."),
        );
    }
    let Some(caller) = authenticate(state.tokens(), form.token.trim()) else {
        tracing::warn!("console sign-in refused: unknown token");
        return login_page(
            &state,
            &headers,
            StatusCode::UNAUTHORIZED,
            Some("That token is not known here."),
        );
    };
    let sessions = match state.sessions() {
        Ok(sessions) => sessions,
        Err(e) => return e.into_response(),
    };
    let ttl = state.console().session_ttl_s;
    let (id, _) = match sessions
        .create(form.token.trim(), caller.clone(), ttl)
        .await
    {
        Ok(created) => created,
        Err(e) => {
            return crate::routes::ApiError::internal(format!("starting a session: {e}"))
                .into_response();
        }
    };
    tracing::info!(caller = %caller.name, role = ?caller.role, "console sign-in");
    let mut response = Redirect::to("/ui/triage").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SESSION_COOKIE, &id, ttl),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, LOGIN_COOKIE, "gone", 0),
    );
    response
}

/// The sign-out form.
#[derive(Deserialize)]
pub(super) struct SignOut {
    csrf: String,
}

/// `POST /ui/logout`: ends the session (with its CSRF token).
pub(super) async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignOut>,
) -> Response {
    let Some((id, session)) = current(&state, &headers).await else {
        return Redirect::to("/ui/login").into_response();
    };
    if !constant_time_eq(session.csrf.as_bytes(), form.csrf.as_bytes()) {
        return (
            StatusCode::FORBIDDEN,
            "sign-out needs the page's CSRF token",
        )
            .into_response();
    }
    if let Ok(sessions) = state.sessions()
        && let Err(e) = sessions.delete(&id).await
    {
        return crate::routes::ApiError::internal(format!("ending a session: {e}")).into_response();
    }
    tracing::info!(caller = %session.caller.name, "console sign-out");
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SESSION_COOKIE, "gone", 0),
    );
    response
}

/// `GET /ui/{view}`: the shell of one view for the signed-in caller.
pub(super) async fn view(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(view): Path<String>,
) -> Response {
    if !state.console().enabled {
        return disabled();
    }
    let Some(&(_, title)) = VIEWS.iter().find(|(path, _)| *path == view) else {
        return (StatusCode::NOT_FOUND, "no such view").into_response();
    };
    let Some((_, session)) = current(&state, &headers).await else {
        return Redirect::to("/ui/login").into_response();
    };
    let role = session.caller.role;
    let nav: Vec<minijinja::Value> = VIEWS
        .iter()
        .map(|(path, title)| minijinja::context! { path => path, title => title, current => *path == view })
        .collect();
    page(
        StatusCode::OK,
        "layout.html",
        minijinja::context! {
            view => view,
            title => title,
            nav => nav,
            user => session.caller.name,
            role => serde_json::to_value(role).ok().and_then(|v| v.as_str().map(|r| r.replace('_', " "))).unwrap_or_default(),
            // As the page's script reads them (`data-*` attributes are text).
            can_request => (role >= Role::Agent).to_string(),
            can_approve => (role >= Role::Approver).to_string(),
            is_admin => (role >= Role::Admin).to_string(),
            csrf => session.csrf,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_view_has_its_script_and_the_templates_render() {
        for (view, _) in VIEWS {
            let script = format!("views/{view}.js");
            assert!(
                super::super::assets::ASSETS
                    .iter()
                    .any(|(name, _, _)| *name == script),
                "{script} is not embedded"
            );
        }
        for template in ["layout.html", "login.html"] {
            assert!(TEMPLATES.get_template(template).is_ok());
        }
    }

    #[test]
    fn the_layout_escapes_what_it_is_given() {
        let html = TEMPLATES
            .get_template("layout.html")
            .unwrap()
            .render(minijinja::context! { user => "<script>x</script>", csrf => "\"><b>", nav => Vec::<()>::new() })
            .unwrap();
        assert!(!html.contains("<script>x</script>") && !html.contains("\"><b>"));
    }
}
