//! The `generic` connector: events whose body carries the ticket (found by JSON
//! pointers), and one configurable JSON request back with the fields to set,
//! the internal note and an `Idempotency-Key`.

use serde_json::Value;

use super::client::{Client, url_escape};
use super::settings::{ConnectorSettings, GenericSettings};
use super::{Connector, ConnectorError, ExternalTicket, TicketUpdate};
use crate::infra::secrets::Secrets;

/// A generic connector.
pub(super) struct GenericConnector {
    generic: GenericSettings,
    client: Client,
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

impl GenericConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        let generic = settings.generic.clone().ok_or_else(|| {
            format!(
                "connectors.{}: no [connectors.generic] table",
                settings.name
            )
        })?;
        Ok(Self {
            generic,
            client: Client::new(settings, secrets)?,
        })
    }
}

#[async_trait::async_trait]
impl Connector for GenericConnector {
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        let body = super::json::event(body)?;
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
            own_write: false,
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

    /// The receiving system dedupes by the `Idempotency-Key` header: no
    /// marker check here.
    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        let request = &self.generic.update;
        let path = request.path.replace("{id}", &url_escape(&ticket.id));
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|_| ConnectorError::Permanent(format!("bad method {}", request.method)))?;
        let body = serde_json::json!({
            "ticket": ticket.id,
            "fields": update.fields,
            "note": note,
            "review": update.review,
        });
        let call = self
            .client
            .request(method, &path)
            .header("Idempotency-Key", idempotency_key)
            .json(&body);
        self.client.send(call, "write-back").await.map(drop)
    }
}
