//! What every connector's HTTP calls share: one client per connector with its
//! timeout and no redirects, its credentials, `Retry-After`, and error mapping.

use std::time::Duration;

use super::ConnectorError;
use super::settings::{AuthScheme, ConnectorSettings};
use crate::infra::secrets::Secrets;

/// A connector's HTTP client and credentials.
pub(super) struct Client {
    http: reqwest::Client,
    scheme: AuthScheme,
    credentials: Option<String>,
    base_url: String,
    /// What precedes the secret in `Authorization` with the token scheme.
    token_prefix: &'static str,
}

impl Client {
    /// The client for `settings`, its credentials read from `secrets`.
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        let credentials = match &settings.credentials_secret {
            Some(name) => Some(
                secrets
                    .get(name)
                    .ok_or_else(|| {
                        format!(
                            "connectors.{}: secret {name} is not configured",
                            settings.name
                        )
                    })?
                    .to_owned(),
            ),
            None => None,
        };
        let http = crate::infra::tls::client_builder(settings.ca_file.as_deref())
            .map_err(|e| format!("connectors.{}: {e}", settings.name))?
            .timeout(Duration::from_secs(settings.timeout_s))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            scheme: settings.auth_scheme,
            credentials,
            base_url: settings.base_url.trim_end_matches('/').to_owned(),
            token_prefix: "Token ",
        })
    }

    /// The same client sending `Authorization: <prefix><secret>` with the
    /// token scheme (Zammad's is `Token token=`).
    pub fn with_token_prefix(self, token_prefix: &'static str) -> Self {
        Self {
            token_prefix,
            ..self
        }
    }

    /// A request to `path` under the base URL, with the credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        authorize(
            request,
            self.scheme,
            self.credentials.as_deref(),
            self.token_prefix,
        )
    }

    /// Sends `request`; a non-success answer is the connector error for `what`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, ConnectorError> {
        let response = request
            .send()
            .await
            .map_err(|e| ConnectorError::from_request(&e, what))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(ConnectorError::from_status(
                response.status(),
                retry_after(&response),
                what,
            ))
        }
    }
}

impl Client {
    /// GETs `path` as JSON.
    pub async fn get_json(
        &self,
        path: &str,
        what: &str,
    ) -> Result<serde_json::Value, ConnectorError> {
        let request = self.request(reqwest::Method::GET, path);
        self.send(request, what)
            .await?
            .json()
            .await
            .map_err(|e| ConnectorError::Permanent(format!("{what}: not JSON: {e}")))
    }

    /// Whether `path` exists: a success is yes, 404 no, anything else an error.
    pub async fn exists(&self, path: &str, what: &str) -> Result<bool, ConnectorError> {
        let request = self.request(reqwest::Method::GET, path);
        match self.send(request, what).await {
            Ok(_) => Ok(true),
            Err(ConnectorError::Rejected { status: 404, .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }
}

/// The `Retry-After` of an answer, in seconds.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    response
        .headers()
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

/// Adds the connector's credentials to a request.
fn authorize(
    request: reqwest::RequestBuilder,
    scheme: AuthScheme,
    credentials: Option<&str>,
    token_prefix: &str,
) -> reqwest::RequestBuilder {
    match (credentials, scheme) {
        (None, _) => request,
        (Some(secret), AuthScheme::Bearer) => request.bearer_auth(secret),
        (Some(secret), AuthScheme::Token) => request.header(
            reqwest::header::AUTHORIZATION,
            format!("{token_prefix}{secret}"),
        ),
        (Some(secret), AuthScheme::Basic) => match secret.split_once(':') {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request.basic_auth(secret, None::<&str>),
        },
    }
}

/// `text` safe inside a URL path segment.
pub(super) fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
