//! Zendesk: webhooks in, signed `X-Zendesk-Webhook-Signature` =
//! base64(HMAC-SHA256(timestamp + body)): either event subscriptions
//! (`zen:event-type:ticket.*`, the ticket in `detail`) or a trigger's webhook
//! with a body `{"ticket": {"id": ..., "updated_at": ..., "updated_by": ...}}`.
//! Out: one `PUT /api/v2/tickets/{id}` with the fields, custom fields, the
//! review tag and the note as a private comment together, as a safe update
//! (`updated_stamp`: a ticket a person changed since it was read answers 409,
//! and the job reads it again). A comment carrying the job's marker means the
//! job has written already. History, and catching up on events missed while
//! Switchboard was down: the incremental cursor export.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::client::{Client, url_escape};
use super::json::{self, items, text, text_at};
use super::settings::ConnectorSettings;
use super::{Changes, Connector, ConnectorError, ExternalTicket, Page, TicketUpdate};
use crate::infra::secrets::Secrets;

/// Statuses meaning resolved.
const RESOLVED: [&str; 2] = ["solved", "closed"];
/// Custom fields appear among the ticket's fields under this prefix and id.
const CUSTOM: &str = "custom_field_";
/// The ticket fields that take ids (numbers) rather than text.
const ID_FIELDS: [&str; 5] = [
    "group_id",
    "assignee_id",
    "brand_id",
    "organization_id",
    "ticket_form_id",
];

/// A Zendesk connector.
pub(super) struct ZendeskConnector {
    client: Client,
    review_tag: Option<String>,
}

/// A ticket as the Support API returns it.
fn ticket_from(ticket: &Value) -> Result<ExternalTicket, ConnectorError> {
    let id = text_at(ticket, "id")
        .ok_or_else(|| ConnectorError::Permanent("the ticket has no id".into()))?;
    let status = text_at(ticket, "status").unwrap_or_default();
    let mut fields: BTreeMap<String, String> = ticket
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
        .collect();
    for custom in items(ticket, "custom_fields") {
        if let (Some(id), Some(value)) = (text_at(custom, "id"), text_at(custom, "value")) {
            fields.insert(format!("{CUSTOM}{id}"), value);
        }
    }
    Ok(ExternalTicket {
        id,
        title: text_at(ticket, "subject").unwrap_or_default(),
        description: text_at(ticket, "description").unwrap_or_default(),
        resolved: RESOLVED.contains(&status.as_str()),
        fields,
        ..ExternalTicket::default()
    })
}

/// A number when the text is one (Zendesk ids), else the text.
fn id_or_text(value: &str) -> Value {
    value
        .parse::<u64>()
        .map_or_else(|_| Value::String(value.to_owned()), Value::from)
}

impl ZendeskConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        if settings.credentials_secret.is_none() {
            return Err(format!(
                "connectors.{}: kind zendesk needs credentials_secret (`email/token:api-token` with auth_scheme basic, or an OAuth token)",
                settings.name
            ));
        }
        Ok(Self {
            client: Client::new(settings, secrets)?,
            review_tag: settings.review_tag.clone(),
        })
    }

    /// The ticket's comments' text and whether each is public, oldest first.
    async fn comments(&self, id: &str) -> Result<Vec<(String, bool)>, ConnectorError> {
        let path = format!("/api/v2/tickets/{}/comments", url_escape(id));
        let json = self.client.get_json(&path, "reading the comments").await?;
        Ok(items(&json, "comments")
            .map(|c| {
                (
                    text_at(c, "body").unwrap_or_default(),
                    c.get("public").and_then(Value::as_bool).unwrap_or(false),
                )
            })
            .collect())
    }

    /// Who made the ticket's latest change, and whether it was Switchboard's
    /// own note, when that change added a comment (the newest comment was
    /// created at the ticket's `updated_at`): Switchboard always writes its
    /// fields and its note in one update.
    async fn latest_change(
        &self,
        id: &str,
        updated_at: &str,
    ) -> Result<(Option<String>, bool), ConnectorError> {
        let path = format!(
            "/api/v2/tickets/{}/comments?sort_order=desc&per_page=1",
            url_escape(id)
        );
        let json = self
            .client
            .get_json(&path, "reading the newest comment")
            .await?;
        let Some(newest) = items(&json, "comments").next() else {
            return Ok((None, false));
        };
        let same = text_at(newest, "created_at")
            .and_then(|c| json::seconds_of(&c))
            .zip(json::seconds_of(updated_at))
            .is_some_and(|(c, u)| c == u);
        if !same {
            return Ok((None, false));
        }
        let body = text_at(newest, "body").unwrap_or_default();
        Ok((text_at(newest, "author_id"), json::has_marker(&body, None)))
    }

    /// A ticket with its resolution (the last public comment after the first)
    /// once it is resolved.
    async fn with_resolution(&self, json: &Value) -> Result<ExternalTicket, ConnectorError> {
        let mut ticket = ticket_from(json)?;
        if ticket.resolved {
            ticket.resolution = self
                .comments(&ticket.id)
                .await?
                .into_iter()
                .skip(1)
                .rev()
                .find(|(body, public)| *public && !json::has_marker(body, None))
                .map(|(body, _)| body);
        }
        Ok(ticket)
    }
}

#[async_trait::async_trait]
impl Connector for ZendeskConnector {
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        let event = super::json::event(body)?;
        // An event subscription's ticket is in `detail`; a trigger's body is ours.
        let (ticket, actor) = match (event.get("detail"), event.get("ticket")) {
            (Some(detail), _) => (detail, detail.get("actor_id").and_then(text)),
            (None, Some(ticket)) => (ticket, text_at(ticket, "updated_by")),
            (None, None) => {
                return Err(ConnectorError::Permanent(
                    "the event has neither detail nor ticket".into(),
                ));
            }
        };
        let id = text_at(ticket, "id")
            .ok_or_else(|| ConnectorError::Permanent("the event's ticket has no id".into()))?;
        let comment = event.pointer("/event/comment/body").and_then(Value::as_str);
        Ok(ExternalTicket {
            id,
            revision: text_at(ticket, "updated_at").or_else(|| text_at(&event, "id")),
            actor,
            own_write: comment.is_some_and(|c| json::has_marker(c, None)),
            ..ExternalTicket::default()
        })
    }

    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
        let path = format!("/api/v2/tickets/{}", url_escape(&event.id));
        let json = self.client.get_json(&path, "reading the ticket").await?;
        let ticket = json
            .get("ticket")
            .ok_or_else(|| ConnectorError::Permanent("no ticket in the answer".into()))?;
        Ok(ExternalTicket {
            revision: event.revision.clone(),
            actor: event.actor.clone(),
            own_write: event.own_write,
            ..self.with_resolution(ticket).await?
        })
    }

    async fn already_written(
        &self,
        ticket: &ExternalTicket,
        idempotency_key: &str,
    ) -> Result<bool, ConnectorError> {
        let comments = self.comments(&ticket.id).await?;
        Ok(comments
            .iter()
            .any(|(body, _)| json::has_marker(body, Some(idempotency_key))))
    }

    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        _idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        let mut body = Map::new();
        let mut custom = Vec::new();
        for (field, value) in &update.fields {
            if let Some(id) = field.strip_prefix(CUSTOM) {
                custom.push(json!({ "id": id_or_text(id), "value": value }));
            } else if ID_FIELDS.contains(&field.as_str()) {
                body.insert(field.clone(), id_or_text(value));
            } else {
                body.insert(field.clone(), json!(value));
            }
        }
        if !custom.is_empty() {
            body.insert("custom_fields".into(), json!(custom));
        }
        if let Some(tag) = self.review_tag.as_ref().filter(|_| update.review) {
            body.insert("additional_tags".into(), json!([tag]));
        }
        body.insert("comment".into(), json!({ "body": note, "public": false }));
        if let Some(stamp) = ticket.fields.get("updated_at") {
            body.insert("safe_update".into(), json!(true));
            body.insert("updated_stamp".into(), json!(stamp));
        }
        let path = format!("/api/v2/tickets/{}", url_escape(&ticket.id));
        let request = self
            .client
            .request(reqwest::Method::PUT, &path)
            .json(&json!({ "ticket": body }));
        match self.client.send(request, "updating the ticket").await {
            // Changed by a person since it was read: read it again next attempt.
            Err(ConnectorError::Rejected {
                status: 409,
                message,
            }) => Err(ConnectorError::Transient {
                message: format!("{message} (changed since it was read)"),
                retry_after: None,
            }),
            other => other.map(drop),
        }
    }

    async fn whoami(&self) -> Result<String, ConnectorError> {
        let me = self
            .client
            .get_json("/api/v2/users/me", "reading the signed-in user")
            .await?;
        let user = &me["user"];
        match text_at(user, "role").as_deref() {
            Some("agent" | "admin") => Ok(format!(
                "signed in as {} (id {}, {})",
                text_at(user, "name").unwrap_or_default(),
                text_at(user, "id").unwrap_or_default(),
                text_at(user, "role").unwrap_or_default()
            )),
            // Zendesk answers an anonymous user when the credentials are wrong.
            _ => Err(ConnectorError::Permanent(
                "not signed in as an agent: check credentials_secret".into(),
            )),
        }
    }

    async fn value_exists(&self, field: &str, value: &str) -> Result<Option<bool>, ConnectorError> {
        let path = match field {
            "group_id" => format!("/api/v2/groups/{}", url_escape(value)),
            "assignee_id" => format!("/api/v2/users/{}", url_escape(value)),
            _ => return Ok(None),
        };
        self.client
            .exists(&path, "looking the value up")
            .await
            .map(Some)
    }

    /// Its own writes are told by the note's marker on the newest comment
    /// (and by `service_user`, the comment's author), so it always can.
    fn lists_changes(&self) -> bool {
        true
    }

    /// Tickets updated since the cursor, from the incremental cursor export
    /// (Zendesk's cursor: asked again, it gives the same tickets), each with
    /// the revision (`updated_at`) an event carries and the author of its
    /// latest change when that added a comment. The first look starts a
    /// minute ago (the export's earliest allowed start) and only notes where
    /// the stream is.
    async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ConnectorError> {
        let path = match cursor {
            Some(cursor) => format!(
                "/api/v2/incremental/tickets/cursor?cursor={}",
                url_escape(cursor)
            ),
            None => format!(
                "/api/v2/incremental/tickets/cursor?start_time={}",
                crate::infra::clock::now_ms() / 1000 - 60
            ),
        };
        let json = self
            .client
            .get_json(&path, "exporting changed tickets")
            .await?;
        let end = json
            .get("end_of_stream")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let next = json.get("after_cursor").and_then(text);
        let Some(cursor) = cursor else {
            return Ok(Changes {
                tickets: Vec::new(),
                cursor: next
                    .ok_or_else(|| ConnectorError::Permanent("the export gave no cursor".into()))?,
                more: false,
            });
        };
        let mut tickets = Vec::new();
        for listed in items(&json, "tickets") {
            if text_at(listed, "status").as_deref() == Some("deleted") {
                continue;
            }
            let mut ticket = ticket_from(listed)?;
            let Some(updated_at) = text_at(listed, "updated_at") else {
                continue;
            };
            let (actor, own_write) = self.latest_change(&ticket.id, &updated_at).await?;
            ticket.revision = Some(updated_at);
            ticket.actor = actor;
            ticket.own_write = own_write;
            tickets.push(ticket);
        }
        Ok(Changes {
            tickets,
            cursor: next.unwrap_or_else(|| cursor.to_owned()),
            more: !end,
        })
    }

    async fn resolved_page(
        &self,
        cursor: Option<&str>,
        since: Option<i64>,
    ) -> Result<Page, ConnectorError> {
        let path = match cursor {
            Some(cursor) => format!(
                "/api/v2/incremental/tickets/cursor?cursor={}",
                url_escape(cursor)
            ),
            None => format!(
                "/api/v2/incremental/tickets/cursor?start_time={}",
                since.unwrap_or(0).max(0)
            ),
        };
        let json = self.client.get_json(&path, "exporting tickets").await?;
        let mut tickets = Vec::new();
        for ticket in items(&json, "tickets") {
            let status = text_at(ticket, "status").unwrap_or_default();
            if RESOLVED.contains(&status.as_str()) {
                tickets.push(self.with_resolution(ticket).await?);
            }
        }
        let end = json
            .get("end_of_stream")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        Ok(Page {
            tickets,
            next: if end {
                None
            } else {
                json.get("after_cursor").and_then(text)
            },
            total: None,
        })
    }
}
