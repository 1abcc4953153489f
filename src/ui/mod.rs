//! The web console: server-rendered page shells (sign-in, navigation, the
//! caller's role and CSRF token) with one small script per view that draws
//! it from the JSON API, all compiled into the binary (`ui/`), no CDN, no
//! Node toolchain. Every page carries a strict Content-Security-Policy
//! (scripts and styles only from this origin, no inline code), and state
//! changes from the page go to the same `/v1` API as any client, with the
//! session cookie and its CSRF token; the API enforces roles, the page only
//! hides what a role cannot do.
//!
//! - sessions in the state database, cookie and CSRF helpers: `crate::auth::session`.
//! - `pages`: sign-in, sign-out and the view shells.
//! - `assets`: the embedded scripts and styles.

mod assets;
mod pages;

use axum::Router;
use axum::routing::get;

use crate::routes::AppState;

/// The console's routes: `/` and `/ui/...`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::root))
        .route("/ui", get(pages::root))
        .route("/ui/", get(pages::root))
        .route("/ui/login", get(pages::login_form).post(pages::sign_in))
        .route("/ui/logout", axum::routing::post(pages::sign_out))
        .route("/ui/assets/{*file}", get(assets::asset))
        .route("/ui/{view}", get(pages::view))
}
