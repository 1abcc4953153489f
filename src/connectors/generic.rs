//! The `generic` connector: events whose body carries the ticket (found by JSON
//! pointers), and one configurable JSON request back with the fields to set,
//! the internal note and an `Idempotency-Key`.

use std::time::Duration;

use serde_json::Value;

use super::settings::{AuthScheme, ConnectorSettings, GenericSettings};
use super::{Connector, ConnectorError, ExternalTicket, TicketUpdate};
use crate::runbook::Secrets;

/// A generic connector.
pub(super) struct GenericConnector {
    settings: ConnectorSettings,
    generic: GenericSettings,
    client: reqwest::Client,
    credentials: Option<String>,
}

/// A JSON pointer's value as text (strings as they are, numbers and booleans printed).
fn text_at(body: &Value, pointer: Option<&String>) -> Option<String> {
    match body.pointer(pointer?)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The `Retry-After` of an answer, in seconds.
pub(super) fn retry_after(response: &reqwest::Response) -> Option<Duration> {
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
pub(super) fn authorize(
    request: reqwest::RequestBuilder,
    scheme: AuthScheme,
    credentials: Option<&str>,
) -> reqwest::RequestBuilder {
    match (credentials, scheme) {
        (None, _) => request,
        (Some(secret), AuthScheme::Bearer) => request.bearer_auth(secret),
        (Some(secret), AuthScheme::Token) => {
            request.header(reqwest::header::AUTHORIZATION, format!("Token {secret}"))
        }
        (Some(secret), AuthScheme::Basic) => match secret.split_once(':') {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request.basic_auth(secret, None::<&str>),
        },
    }
}

impl GenericConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        let generic = settings.generic.clone().ok_or_else(|| {
            format!(
                "connectors.{}: no [connectors.generic] table",
                settings.name
            )
        })?;
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
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_s))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            settings: settings.clone(),
            generic,
            client,
            credentials,
        })
    }
}

#[async_trait::async_trait]
impl Connector for GenericConnector {
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        let body: Value = serde_json::from_slice(body)
            .map_err(|e| ConnectorError::Permanent(format!("the event is not JSON: {e}")))?;
        let g = &self.generic;
        let id = text_at(&body, Some(&g.id)).ok_or_else(|| {
            ConnectorError::Permanent(format!("the event has no ticket id at {}", g.id))
        })?;
        let status = text_at(&body, g.status.as_ref());
        Ok(ExternalTicket {
            id,
            title: text_at(&body, g.title.as_ref()).unwrap_or_default(),
            description: text_at(&body, g.description.as_ref()).unwrap_or_default(),
            revision: text_at(&body, g.revision.as_ref()),
            actor: text_at(&body, g.actor.as_ref()),
            resolved: status.is_some_and(|s| {
                g.resolved_statuses
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(&s))
            }),
            resolution: text_at(&body, g.resolution.as_ref()),
            fields: g
                .fields
                .iter()
                .filter_map(|(field, pointer)| {
                    Some((field.clone(), text_at(&body, Some(pointer))?))
                })
                .collect(),
        })
    }

    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
        // The event carries the ticket as it was when it was sent.
        Ok(event.clone())
    }

    async fn write_back(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        let request = &self.generic.update;
        let path = request.path.replace("{id}", &url_escape(&ticket.id));
        let url = format!("{}{}", self.settings.base_url.trim_end_matches('/'), path);
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| ConnectorError::Permanent(format!("bad method {}", request.method)))?;
        let body = serde_json::json!({
            "ticket": ticket.id,
            "fields": update.fields,
            "note": update.note,
            "review": update.review,
        });
        let call = self
            .client
            .request(method, url)
            .header("Idempotency-Key", idempotency_key)
            .json(&body);
        let response = authorize(call, self.settings.auth_scheme, self.credentials.as_deref())
            .send()
            .await
            .map_err(|e| ConnectorError::from_request(&e, "write-back"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(ConnectorError::from_status(
                response.status(),
                retry_after(&response),
                "write-back",
            ))
        }
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
