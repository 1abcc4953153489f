//! Request Tracker 5 through its REST2 API. RT sends no webhooks, so it is
//! polled: new ticket transactions after the last one seen (`POST
//! /transactions`, ordered by id, which needs no clock and no time zone), one
//! job per ticket that was created or resolved. Write-back is `PUT
//! /ticket/{id}` for `Queue` (by name), `Owner` (user name), `Priority` and
//! custom fields (`CF.Name`, RT's TicketSQL spelling, written by name),
//! checked by reading the ticket again (RT answers 200 with a message when it
//! refuses a value), then an internal comment carrying the note. The note's
//! `switchboard-job:` marker makes the write-back idempotent; Switchboard's own
//! transactions (its `service_user`) never start a job.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use super::client::{Client, url_escape};
use super::json::{self, text, text_at};
use super::settings::ConnectorSettings;
use super::{Changes, Connector, ConnectorError, ExternalTicket, Page, TicketUpdate};
use crate::infra::secrets::Secrets;

/// The core fields Switchboard reads and writes; custom fields are
/// `CF.Name` besides these.
const FIELDS: [&str; 3] = ["Queue", "Owner", "Priority"];
/// How a custom field's name starts in mappings (RT's TicketSQL `CF.Name`).
const CUSTOM_FIELD: &str = "CF.";
/// Transactions read per poll request.
const PAGE: usize = 100;
/// RT's owner of unowned tickets: an empty field to Switchboard.
const NOBODY: &str = "Nobody";
/// RT's own user (e-mail records, automatic status changes): neither a
/// person's change nor Switchboard's.
const RT_SYSTEM: &str = "RT_System";

/// A Request Tracker connector.
pub(super) struct RtConnector {
    client: Client,
    service_user: String,
    /// Queue id -> name (RT's ticket JSON names the queue by id only).
    queues: parking_lot::Mutex<HashMap<String, String>>,
}

/// The id of a linked object (`{"id": ..., "type": ..., "_url": ...}`).
fn link_id(json: &Value, key: &str) -> Option<String> {
    json.get(key)?.get("id").and_then(text)
}

/// A custom field's name from a mapped field (`CF.Name` or `CF.{Name}`).
fn custom_field(field: &str) -> Option<&str> {
    let name = field.strip_prefix(CUSTOM_FIELD)?;
    let name = name
        .strip_prefix('{')
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name);
    (!name.is_empty()).then_some(name)
}

/// The body of `PUT /ticket/{id}`: core fields at the top, custom fields
/// under `CustomFields` by name.
fn update_body(fields: &BTreeMap<String, String>) -> Result<Value, ConnectorError> {
    let mut body = serde_json::Map::new();
    let mut custom = serde_json::Map::new();
    for (field, value) in fields {
        if let Some(name) = custom_field(field) {
            custom.insert(name.to_owned(), json!(value));
        } else if FIELDS.contains(&field.as_str()) {
            body.insert(field.clone(), json!(value));
        } else {
            return Err(ConnectorError::Permanent(format!(
                "Request Tracker has no writable field {field:?} (Queue, Owner, Priority, CF.Name)"
            )));
        }
    }
    if !custom.is_empty() {
        body.insert("CustomFields".to_owned(), Value::Object(custom));
    }
    Ok(Value::Object(body))
}

/// The `items` of a REST2 collection.
/// Pages of a ticket's history or attachments read at most (10,000 items).
const MAX_PAGES: u64 = 100;

fn items(json: &Value) -> impl Iterator<Item = &Value> {
    json::items(json, "items")
}

fn malformed(what: &str) -> impl Fn(reqwest::Error) -> ConnectorError + '_ {
    move |e| ConnectorError::Permanent(format!("{what} is not JSON: {e}"))
}

/// One ticket's transactions within a poll.
#[derive(Default)]
struct TicketActivity {
    last: u64,
    opened: bool,
    resolved: bool,
    /// The last person (not Switchboard, not RT itself) who changed it.
    actor: Option<String>,
    /// Switchboard changed it.
    ours: bool,
}

impl RtConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        if settings.credentials_secret.is_none() {
            return Err(format!(
                "connectors.{}: kind rt needs credentials_secret (`user:password` of the RT user Switchboard writes as)",
                settings.name
            ));
        }
        let service_user = settings
            .service_user
            .clone()
            .ok_or_else(|| format!("connectors.{}: kind rt needs service_user", settings.name))?;
        Ok(Self {
            client: Client::new(settings, secrets)?,
            service_user,
            queues: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Transactions on tickets matching `after` (JSON search), `order`ed by id.
    async fn transactions(
        &self,
        after: Option<u64>,
        order: &str,
        per_page: usize,
    ) -> Result<Vec<Value>, ConnectorError> {
        let mut search = vec![json!({ "field": "ObjectType", "value": "RT::Ticket" })];
        if let Some(id) = after {
            search.push(json!({ "field": "id", "operator": ">", "value": id }));
        }
        let path = format!(
            "/transactions?fields=ObjectId,Type,Field,NewValue,Creator&orderby=id&order={order}&per_page={per_page}"
        );
        let request = self
            .client
            .request(reqwest::Method::POST, &path)
            .json(&search);
        let json: Value = self
            .client
            .send(request, "reading transactions")
            .await?
            .json()
            .await
            .map_err(malformed("the transaction list"))?;
        json.get("items")
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| ConnectorError::Permanent("the transaction list has no items".into()))
    }

    /// A queue's name from its id (cached; queues are rarely renamed).
    async fn queue_name(&self, id: &str) -> Result<String, ConnectorError> {
        if let Some(name) = self.queues.lock().get(id) {
            return Ok(name.clone());
        }
        let json = self
            .client
            .get_json(&format!("/queue/{}", url_escape(id)), "reading a queue")
            .await?;
        let name = json
            .get("Name")
            .and_then(text)
            .ok_or_else(|| ConnectorError::Permanent(format!("queue {id} has no name")))?;
        self.queues.lock().insert(id.to_owned(), name.clone());
        Ok(name)
    }

    /// The ticket's fields as Switchboard names them.
    async fn fields_of(&self, json: &Value) -> Result<BTreeMap<String, String>, ConnectorError> {
        let queue = match link_id(json, "Queue") {
            Some(id) => self.queue_name(&id).await?,
            None => String::new(),
        };
        let owner = link_id(json, "Owner")
            .filter(|o| o != NOBODY)
            .unwrap_or_default();
        let priority = json.get("Priority").and_then(text).unwrap_or_default();
        let mut fields = BTreeMap::from([
            ("Queue".to_owned(), queue),
            ("Owner".to_owned(), owner),
            ("Priority".to_owned(), priority),
        ]);
        // `[{"name": ..., "values": [...]}]`; a multi-value field reads as
        // its values joined.
        for field in json::items(json, "CustomFields") {
            let Some(name) = field.get("name").and_then(text) else {
                continue;
            };
            let values: Vec<String> = json::items(field, "values").filter_map(text).collect();
            fields.insert(format!("{CUSTOM_FIELD}{name}"), values.join(", "));
        }
        Ok(fields)
    }

    /// The text people wrote on a ticket (its creation, replies and
    /// comments, not RT's own e-mail records), oldest first.
    /// Every item of a REST2 collection at `path` (which has a query),
    /// page by page: a long ticket has more than one page of history and
    /// attachments, and a marker on a later page must be found too.
    async fn all_items(&self, path: &str, what: &str) -> Result<Vec<Value>, ConnectorError> {
        let mut all = Vec::new();
        for page in 1..=MAX_PAGES {
            let json = self
                .client
                .get_json(&format!("{path}&per_page=100&page={page}"), what)
                .await?;
            all.extend(items(&json).cloned());
            let pages = json.get("pages").and_then(Value::as_u64).unwrap_or(1);
            if page >= pages {
                return Ok(all);
            }
        }
        Err(ConnectorError::Permanent(format!(
            "{what}: more than {MAX_PAGES} pages"
        )))
    }

    async fn texts(&self, id: &str) -> Result<Vec<String>, ConnectorError> {
        let id = url_escape(id);
        let history = self
            .all_items(
                &format!("/ticket/{id}/history?fields=Type,Creator"),
                "reading the ticket's history",
            )
            .await?;
        let written: HashSet<String> = history
            .iter()
            .filter(|t| {
                matches!(
                    t.get("Type").and_then(Value::as_str),
                    Some("Create" | "Correspond" | "Comment")
                ) && link_id(t, "Creator").as_deref() != Some(RT_SYSTEM)
            })
            .filter_map(|t| t.get("id").and_then(text))
            .collect();
        let attachments = self
            .all_items(
                &format!("/ticket/{id}/attachments?fields=Content,ContentType,TransactionId&orderby=id&order=ASC"),
                "reading the ticket's messages",
            )
            .await?;
        Ok(attachments
            .iter()
            .filter(|a| a.get("ContentType").and_then(Value::as_str) == Some("text/plain"))
            .filter(|a| {
                a.get("TransactionId")
                    .and_then(text)
                    .is_some_and(|t| written.contains(&t))
            })
            .filter_map(|a| a.get("Content").and_then(text))
            .filter(|c| !c.trim().is_empty())
            .collect())
    }

    /// A ticket (from its JSON) with its first message as the description and,
    /// once resolved, its last message that is not Switchboard's as the resolution.
    async fn ticket_from(&self, json: &Value) -> Result<ExternalTicket, ConnectorError> {
        let id = json
            .get("id")
            .and_then(text)
            .ok_or_else(|| ConnectorError::Permanent("the ticket has no id".into()))?;
        let resolved = json.get("Status").and_then(Value::as_str) == Some("resolved");
        let texts = self.texts(&id).await?;
        let resolution = if resolved {
            texts
                .iter()
                .skip(1)
                .rev()
                .find(|t| !json::has_marker(t, None))
                .cloned()
        } else {
            None
        };
        Ok(ExternalTicket {
            title: json.get("Subject").and_then(text).unwrap_or_default(),
            description: texts.first().cloned().unwrap_or_default(),
            resolved,
            resolution,
            fields: self.fields_of(json).await?,
            id,
            ..ExternalTicket::default()
        })
    }

    async fn ticket_json(&self, id: &str) -> Result<Value, ConnectorError> {
        self.client
            .get_json(&format!("/ticket/{}", url_escape(id)), "reading the ticket")
            .await
    }
}

#[async_trait::async_trait]
impl Connector for RtConnector {
    fn parse_event(&self, _body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        Err(ConnectorError::Permanent(
            "Request Tracker is polled; it sends no events".into(),
        ))
    }

    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
        let json = self.ticket_json(&event.id).await?;
        Ok(ExternalTicket {
            revision: event.revision.clone(),
            actor: event.actor.clone(),
            own_write: event.own_write,
            ..self.ticket_from(&json).await?
        })
    }

    async fn already_written(
        &self,
        ticket: &ExternalTicket,
        idempotency_key: &str,
    ) -> Result<bool, ConnectorError> {
        let texts = self.texts(&ticket.id).await?;
        Ok(texts
            .iter()
            .any(|t| json::has_marker(t, Some(idempotency_key))))
    }

    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        _idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        if !update.fields.is_empty() {
            let body = update_body(&update.fields)?;
            let path = format!("/ticket/{}", url_escape(&ticket.id));
            let request = self.client.request(reqwest::Method::PUT, &path).json(&body);
            let messages: Value = self
                .client
                .send(request, "updating the ticket")
                .await?
                .json()
                .await
                .map_err(malformed("RT's answer"))?;
            // RT answers 200 whether or not it took each value (an unknown
            // custom field is silently skipped); read it back.
            let now = self.ticket_json(&ticket.id).await?;
            let fields = self.fields_of(&now).await?;
            let refused: Vec<&String> = update
                .fields
                .iter()
                .filter(|(field, value)| {
                    let field = custom_field(field)
                        .map_or_else(|| (*field).clone(), |n| format!("{CUSTOM_FIELD}{n}"));
                    fields.get(&field) != Some(*value)
                })
                .map(|(field, _)| field)
                .collect();
            if !refused.is_empty() {
                return Err(ConnectorError::Permanent(format!(
                    "RT did not set {refused:?}: {messages}"
                )));
            }
        }
        let path = format!("/ticket/{}/comment", url_escape(&ticket.id));
        let request = self
            .client
            .request(reqwest::Method::POST, &path)
            .json(&json!({ "Content": note, "ContentType": "text/plain" }));
        self.client
            .send(request, "adding the internal comment")
            .await
            .map(drop)
    }

    async fn whoami(&self) -> Result<String, ConnectorError> {
        let path = format!("/user/{}", url_escape(&self.service_user));
        let user = self
            .client
            .get_json(&path, "reading the service user")
            .await?;
        Ok(format!(
            "signed in; service user {} is {}",
            self.service_user,
            if text_at(&user, "Privileged").as_deref() == Some("1") {
                "privileged"
            } else {
                "NOT privileged (it cannot work on tickets)"
            }
        ))
    }

    async fn value_exists(&self, field: &str, value: &str) -> Result<Option<bool>, ConnectorError> {
        let path = match field {
            "Queue" => format!("/queue/{}", url_escape(value)),
            "Owner" => format!("/user/{}", url_escape(value)),
            _ => return Ok(None),
        };
        self.client
            .exists(&path, "looking the value up")
            .await
            .map(Some)
    }

    fn lists_changes(&self) -> bool {
        true
    }

    async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ConnectorError> {
        let Some(cursor) = cursor else {
            // Start from the newest transaction: what came before is history.
            let newest = self.transactions(None, "DESC", 1).await?;
            let last = newest.first().and_then(|t| t.get("id")).and_then(text);
            return Ok(Changes {
                cursor: last.unwrap_or_else(|| "0".to_owned()),
                ..Changes::default()
            });
        };
        let after: u64 = cursor.parse().map_err(|_| {
            ConnectorError::Permanent(format!("bad cursor {cursor:?}: a transaction id"))
        })?;
        let items = self.transactions(Some(after), "ASC", PAGE).await?;
        let mut activity: BTreeMap<String, TicketActivity> = BTreeMap::new();
        let mut last = after;
        for item in &items {
            let id = item
                .get("id")
                .and_then(text)
                .and_then(|i| i.parse::<u64>().ok())
                .ok_or_else(|| ConnectorError::Permanent("a transaction has no id".into()))?;
            last = last.max(id);
            let Some(ticket) = item.get("ObjectId").and_then(text) else {
                continue;
            };
            let kind = item.get("Type").and_then(Value::as_str).unwrap_or_default();
            let creator = link_id(item, "Creator");
            let entry = activity.entry(ticket).or_default();
            entry.last = id;
            entry.opened |= kind == "Create";
            entry.resolved |= kind == "Status"
                && item.get("NewValue").and_then(Value::as_str) == Some("resolved");
            match creator {
                Some(user) if user == self.service_user => entry.ours = true,
                Some(user) if user == RT_SYSTEM => {}
                other => entry.actor = other,
            }
        }
        let tickets = activity
            .into_iter()
            .filter(|(_, a)| a.opened || a.resolved)
            .map(|(id, a)| ExternalTicket {
                id,
                revision: Some(format!("txn-{}", a.last)),
                own_write: a.ours && a.actor.is_none(),
                actor: a.actor,
                ..ExternalTicket::default()
            })
            .collect();
        Ok(Changes {
            tickets,
            cursor: last.to_string(),
            more: items.len() == PAGE,
        })
    }

    async fn resolved_page(
        &self,
        cursor: Option<&str>,
        since: Option<i64>,
    ) -> Result<Page, ConnectorError> {
        let page: u64 = cursor.map_or(Ok(1), str::parse).map_err(|_| {
            ConnectorError::Permanent(format!("bad cursor {cursor:?}: a page number"))
        })?;
        // RT reads the date in its own time zone.
        let query = match since {
            Some(since) => format!(
                "Status = 'resolved' AND Resolved >= '{}'",
                json::utc_datetime(since)
            ),
            None => "Status = 'resolved'".to_owned(),
        };
        let path = format!(
            "/tickets?query={}&fields=Subject,Status,Queue,Owner,Priority,CustomFields&orderby=id&order=ASC&page={page}&per_page=50",
            url_escape(&query)
        );
        let json = self
            .client
            .get_json(&path, "listing resolved tickets")
            .await?;
        let mut tickets = Vec::new();
        for item in json
            .get("items")
            .and_then(Value::as_array)
            .ok_or_else(|| ConnectorError::Permanent("the ticket list has no items".into()))?
        {
            tickets.push(self.ticket_from(item).await?);
        }
        let pages = json.get("pages").and_then(Value::as_f64).unwrap_or(0.0);
        Ok(Page {
            tickets,
            next: ((page as f64) < pages).then(|| (page + 1).to_string()),
            total: json.get("total").and_then(Value::as_u64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RT whose ticket 7 has 150 messages: two pages of history and of
    /// attachments, the job's marked note on the second.
    async fn long_ticket() -> String {
        use axum::extract::Query;
        async fn history(Query(q): Query<BTreeMap<String, String>>) -> axum::Json<Value> {
            let page: u64 = q["page"].parse().unwrap();
            let items: Vec<Value> = (1..=150)
                .skip(((page - 1) * 100) as usize)
                .take(100)
                .map(|n| json!({ "id": n.to_string(), "Type": "Comment", "Creator": { "id": "switchboard" } }))
                .collect();
            axum::Json(json!({ "page": page, "pages": 2, "items": items }))
        }
        async fn attachments(Query(q): Query<BTreeMap<String, String>>) -> axum::Json<Value> {
            let page: u64 = q["page"].parse().unwrap();
            let items: Vec<Value> = (1..=150)
                .skip(((page - 1) * 100) as usize)
                .take(100)
                .map(|n| {
                    let content = if n == 150 {
                        format!("Suggested: Network\n{}", json::marker_line("job-1"))
                    } else {
                        format!("message {n}")
                    };
                    json!({ "ContentType": "text/plain", "TransactionId": n.to_string(), "Content": content })
                })
                .collect();
            axum::Json(json!({ "page": page, "pages": 2, "items": items }))
        }
        let app = axum::Router::new()
            .route("/ticket/7/history", axum::routing::get(history))
            .route("/ticket/7/attachments", axum::routing::get(attachments));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    #[tokio::test]
    async fn a_note_past_the_first_page_of_a_long_ticket_is_found() {
        let settings: ConnectorSettings = serde_json::from_value(json!({
            "name": "rt", "kind": "rt", "base_url": long_ticket().await,
            "credentials_secret": "RT", "service_user": "switchboard", "poll_interval_s": 30,
        }))
        .unwrap();
        let secrets = Secrets::from_map(BTreeMap::from([("RT".to_owned(), "u:p".to_owned())]));
        let rt = RtConnector::new(&settings, &secrets).unwrap();
        let ticket = ExternalTicket {
            id: "7".into(),
            ..ExternalTicket::default()
        };
        assert!(rt.already_written(&ticket, "job-1").await.unwrap());
        assert!(!rt.already_written(&ticket, "job-2").await.unwrap());
    }

    #[test]
    fn custom_fields_are_named_as_in_ticketsql() {
        assert_eq!(custom_field("CF.Category"), Some("Category"));
        assert_eq!(
            custom_field("CF.{Business service}"),
            Some("Business service")
        );
        assert_eq!(custom_field("CF."), None);
        assert_eq!(custom_field("Queue"), None);
    }

    #[test]
    fn an_update_puts_custom_fields_under_their_names() {
        let fields = BTreeMap::from([
            ("Queue".to_owned(), "Network".to_owned()),
            ("CF.{Category}".to_owned(), "network".to_owned()),
        ]);
        assert_eq!(
            update_body(&fields).unwrap(),
            json!({ "Queue": "Network", "CustomFields": { "Category": "network" } })
        );
    }

    #[test]
    fn an_unknown_core_field_is_refused_before_anything_is_sent() {
        let fields = BTreeMap::from([("Status".to_owned(), "resolved".to_owned())]);
        assert!(matches!(
            update_body(&fields),
            Err(ConnectorError::Permanent(_))
        ));
    }
}
