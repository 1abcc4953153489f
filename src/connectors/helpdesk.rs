//! django-helpdesk: its new-ticket and follow-up webhooks in (authenticated by
//! a token in the webhook URL, the only thing the helpdesk can be given), its
//! REST API out with token authentication: `PATCH /api/tickets/{id}/` for the
//! fields (`queue`, `priority`, `assigned_to`, by id), then an internal
//! follow-up (`public: false`) carrying the note. The note's
//! `switchboard-job:` marker makes the write-back idempotent (a job run again
//! finds it and writes nothing) and lets the follow-up webhook our own note
//! triggers be recognised and ignored.

use serde_json::Value;

use super::client::Client;
use super::json::{self, text};
use super::settings::ConnectorSettings;
use super::{Changes, Connector, ConnectorError, ExternalTicket, Page, TicketUpdate};
use crate::infra::secrets::Secrets;

/// django-helpdesk's resolved and closed statuses.
const RESOLVED: [i64; 2] = [3, 4];
/// Its open and reopened statuses: what a catch-up lists.
const OPEN: &str = "1,2";
/// The fields a ticket carries that label fields can map to.
const FIELDS: [&str; 3] = ["queue", "priority", "assigned_to"];

/// A django-helpdesk connector.
pub(super) struct HelpdeskConnector {
    client: Client,
}

/// A ticket as the helpdesk's serializer writes it.
fn ticket_from(json: &Value) -> Result<ExternalTicket, ConnectorError> {
    let id = json
        .get("id")
        .and_then(text)
        .ok_or_else(|| ConnectorError::Permanent("the ticket has no id".into()))?;
    let status = json.get("status").and_then(Value::as_i64).unwrap_or(1);
    Ok(ExternalTicket {
        id,
        title: json.get("title").and_then(text).unwrap_or_default(),
        description: json.get("description").and_then(text).unwrap_or_default(),
        resolved: RESOLVED.contains(&status),
        resolution: json.get("resolution").and_then(text),
        fields: FIELDS
            .iter()
            .map(|field| {
                let value = json.get(*field).and_then(text).unwrap_or_default();
                ((*field).to_owned(), value)
            })
            .collect(),
        ..ExternalTicket::default()
    })
}

/// The follow-ups of a ticket.
fn followups(json: &Value) -> impl Iterator<Item = &Value> {
    json.get("followup_set")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn has_marker(followup: &Value, key: Option<&str>) -> bool {
    followup
        .get("comment")
        .and_then(Value::as_str)
        .is_some_and(|comment| json::has_marker(comment, key))
}

/// Where a catch-up got to: the highest ticket id and follow-up id seen
/// (both increase as the helpdesk makes them; it has no change times).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Seen {
    ticket: i64,
    followup: i64,
}

impl Seen {
    fn parse(cursor: &str) -> Result<Self, ConnectorError> {
        let bad = || ConnectorError::Permanent(format!("bad cursor {cursor:?}: TICKET:FOLLOWUP"));
        let (ticket, followup) = cursor.split_once(':').ok_or_else(bad)?;
        Ok(Self {
            ticket: ticket.parse().map_err(|_| bad())?,
            followup: followup.parse().map_err(|_| bad())?,
        })
    }

    fn cursor(self) -> String {
        format!("{}:{}", self.ticket, self.followup)
    }

    /// Widened to cover `ticket` and its follow-ups.
    fn covering(self, ticket: &Value) -> Self {
        let id = |v: &Value| v.get("id").and_then(Value::as_i64).unwrap_or(0);
        Self {
            ticket: self.ticket.max(id(ticket)),
            followup: followups(ticket).map(id).fold(self.followup, i64::max),
        }
    }
}

/// The event `ticket` (as the API lists it) would have sent after `since`
/// had it been delivered: its newest follow-up by a person (`followup-N`,
/// as the follow-up webhook), else its opening (`opened`, as the new-ticket
/// webhook) when the ticket itself is new. The follow-up the helpdesk makes
/// with a ticket (its lowest) is part of the opening, and Switchboard's own
/// notes are no event.
fn missed_event(ticket: &Value, since: Seen) -> Result<Option<ExternalTicket>, ConnectorError> {
    let id = |v: &Value| v.get("id").and_then(Value::as_i64).unwrap_or(0);
    let opening = followups(ticket).map(id).min();
    let newest = followups(ticket)
        .filter(|f| Some(id(f)) != opening && id(f) > since.followup && !has_marker(f, None))
        .max_by_key(|f| id(f));
    let mut event = ticket_from(ticket)?;
    match newest {
        Some(followup) => {
            event.revision = Some(format!("followup-{}", id(followup)));
            event.actor = followup.get("user").and_then(text);
        }
        None if id(ticket) > since.ticket => event.revision = Some("opened".to_owned()),
        None => return Ok(None),
    }
    Ok(Some(event))
}

impl HelpdeskConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        if settings.credentials_secret.is_none() {
            return Err(format!(
                "connectors.{}: kind helpdesk needs credentials_secret (an API token of a staff user)",
                settings.name
            ));
        }
        Ok(Self {
            client: Client::new(settings, secrets)?,
        })
    }

    async fn ticket_json(&self, id: &str) -> Result<Value, ConnectorError> {
        let path = format!("/api/tickets/{}/", super::client::url_escape(id));
        self.client.get_json(&path, "reading the ticket").await
    }
}

#[async_trait::async_trait]
impl Connector for HelpdeskConnector {
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        let event = super::json::event(body)?;
        let json = event
            .get("ticket")
            .ok_or_else(|| ConnectorError::Permanent("the event has no ticket".into()))?;
        let mut ticket = ticket_from(json)?;
        match event.get("followup_id").and_then(Value::as_i64) {
            Some(followup) => {
                ticket.revision = Some(format!("followup-{followup}"));
                let this =
                    followups(json).find(|f| f.get("id").and_then(Value::as_i64) == Some(followup));
                ticket.actor = this.and_then(|f| f.get("user")).and_then(text);
                ticket.own_write = this.is_some_and(|f| has_marker(f, None));
            }
            None => ticket.revision = Some("opened".to_owned()),
        }
        Ok(ticket)
    }

    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
        let json = self.ticket_json(&event.id).await?;
        Ok(ExternalTicket {
            revision: event.revision.clone(),
            actor: event.actor.clone(),
            own_write: event.own_write,
            ..ticket_from(&json)?
        })
    }

    async fn already_written(
        &self,
        ticket: &ExternalTicket,
        idempotency_key: &str,
    ) -> Result<bool, ConnectorError> {
        let current = self.ticket_json(&ticket.id).await?;
        Ok(followups(&current).any(|f| has_marker(f, Some(idempotency_key))))
    }

    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        _idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        if !update.fields.is_empty() {
            let mut fields = serde_json::Map::new();
            for (field, value) in &update.fields {
                if !FIELDS.contains(&field.as_str()) {
                    return Err(ConnectorError::Permanent(format!(
                        "django-helpdesk has no writable field {field:?} (queue, priority, assigned_to)"
                    )));
                }
                let value = value.parse::<i64>().map(Value::from).map_err(|_| {
                    ConnectorError::Permanent(format!("{field} takes an id, not {value:?}"))
                })?;
                fields.insert(field.clone(), value);
            }
            let path = format!("/api/tickets/{}/", super::client::url_escape(&ticket.id));
            let request = self
                .client
                .request(reqwest::Method::PATCH, &path)
                .json(&fields);
            self.client.send(request, "updating the ticket").await?;
        }
        let followup = serde_json::json!({
            "ticket": ticket.id.parse::<i64>().map(Value::from).unwrap_or(Value::String(ticket.id.clone())),
            "comment": note,
            "public": false,
        });
        let request = self
            .client
            .request(reqwest::Method::POST, "/api/followups/")
            .json(&followup);
        self.client
            .send(request, "adding the internal note")
            .await
            .map(drop)
    }

    async fn whoami(&self) -> Result<String, ConnectorError> {
        let json = self
            .client
            .get_json("/api/tickets/?page_size=1", "listing tickets")
            .await?;
        Ok(format!(
            "the ticket API answers ({} tickets visible)",
            json.get("count").and_then(Value::as_u64).unwrap_or(0)
        ))
    }

    async fn resolved_page(
        &self,
        cursor: Option<&str>,
        since: Option<i64>,
    ) -> Result<Page, ConnectorError> {
        let page: u64 = cursor.map_or(Ok(1), str::parse).map_err(|_| {
            ConnectorError::Permanent(format!("bad cursor {cursor:?}: a page number"))
        })?;
        let path = format!("/api/tickets/?status=3,4&page={page}&page_size=100");
        let request = self.client.request(reqwest::Method::GET, &path);
        let json: Value = self
            .client
            .send(request, "listing resolved tickets")
            .await?
            .json()
            .await
            .map_err(|e| ConnectorError::Permanent(format!("the ticket list is not JSON: {e}")))?;
        // The API filters by status only: `since` is the last follow-up's date
        // (the one that resolved or closed the ticket).
        let recent = |ticket: &Value| {
            since.is_none_or(|since| {
                followups(ticket)
                    .filter_map(|f| f.get("date").and_then(Value::as_str))
                    .filter_map(json::seconds_of)
                    .max()
                    .is_some_and(|last| last >= since)
            })
        };
        let tickets = json
            .get("results")
            .and_then(Value::as_array)
            .ok_or_else(|| ConnectorError::Permanent("the ticket list has no results".into()))?
            .iter()
            .filter(|t| recent(t))
            .map(ticket_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            tickets,
            next: json
                .get("next")
                .filter(|n| !n.is_null())
                .map(|_| (page + 1).to_string()),
            total: json.get("count").and_then(Value::as_u64),
        })
    }

    fn lists_changes(&self) -> bool {
        true
    }

    /// Every open or reopened ticket, page by page (the API filters by
    /// status only), and what of each came after the cursor.
    async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ConnectorError> {
        let since = cursor.map(Seen::parse).transpose()?;
        let mut seen = since.unwrap_or_default();
        let mut tickets = Vec::new();
        let mut page = 1u64;
        loop {
            let path = format!("/api/tickets/?status={OPEN}&page={page}&page_size=100");
            let json = self.client.get_json(&path, "listing open tickets").await?;
            let listed = json
                .get("results")
                .and_then(Value::as_array)
                .ok_or_else(|| {
                    ConnectorError::Permanent("the ticket list has no results".into())
                })?;
            for ticket in listed {
                seen = seen.covering(ticket);
                // Without a cursor this is the first look: it only notes where
                // things are.
                if let Some(since) = since
                    && let Some(event) = missed_event(ticket, since)?
                {
                    tickets.push(event);
                }
            }
            if json.get("next").is_none_or(Value::is_null) {
                break;
            }
            page += 1;
        }
        Ok(Changes {
            tickets,
            cursor: seen.cursor(),
            more: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn ticket(id: i64, followups: Value) -> Value {
        json!({ "id": id, "title": "VPN", "description": "drops", "status": 1, "queue": 1, "followup_set": followups })
    }

    const SINCE: Seen = Seen {
        ticket: 10,
        followup: 100,
    };

    #[test]
    fn a_ticket_opened_after_the_cursor_is_its_opening_event() {
        let new = ticket(11, json!([{ "id": 101, "comment": "drops", "user": null }]));
        let event = missed_event(&new, SINCE).unwrap().unwrap();
        assert_eq!(event.revision.as_deref(), Some("opened"));
    }

    #[test]
    fn a_persons_later_follow_up_is_a_follow_up_event() {
        let commented = ticket(
            7,
            json!([{ "id": 50, "comment": "opened" }, { "id": 102, "comment": "still broken", "user": 3 }]),
        );
        let event = missed_event(&commented, SINCE).unwrap().unwrap();
        assert_eq!(event.revision.as_deref(), Some("followup-102"));
        assert_eq!(event.actor.as_deref(), Some("3"));
    }

    #[test]
    fn seen_tickets_and_switchboards_own_notes_are_no_event() {
        let old = ticket(7, json!([{ "id": 50, "comment": "opened" }]));
        assert_eq!(missed_event(&old, SINCE).unwrap(), None);
        let noted = ticket(
            8,
            json!([{ "id": 60, "comment": "opened" }, { "id": 103, "comment": "routed\nswitchboard-job: j1" }]),
        );
        assert_eq!(missed_event(&noted, SINCE).unwrap(), None);
    }

    #[test]
    fn the_cursor_covers_every_ticket_and_follow_up_seen() {
        let seen = Seen::default()
            .covering(&ticket(4, json!([{ "id": 9 }])))
            .covering(&ticket(2, json!([{ "id": 12 }])));
        assert_eq!(seen.cursor(), "4:12");
        assert_eq!(Seen::parse("4:12").unwrap(), seen);
        assert!(Seen::parse("4").is_err());
    }
}
