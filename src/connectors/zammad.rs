//! Zammad: a trigger's webhook in (its default payload: `ticket` and
//! `article`; `X-Hub-Signature: sha1=...`, HMAC-SHA1; `X-Zammad-Delivery`),
//! the ticket read with `GET /api/v1/tickets/{id}?expand=true` (group,
//! priority, state and owner by name) and its articles; out, one
//! `PUT /api/v1/tickets/{id}` with the fields and the note as an internal
//! `note` article together (internal articles notify no customer), after the
//! review tag where configured. An article carrying the job's marker means
//! the job has written already, and the webhook it triggers is ignored.
//! Authentication: `Authorization: Token token=<secret>` (auth_scheme
//! `token`) or a bearer OAuth token.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::client::{Client, url_escape};
use super::json::{self, text, text_at};
use super::settings::ConnectorSettings;
use super::{Changes, Connector, ConnectorError, ExternalTicket, Page, TicketUpdate};
use crate::infra::secrets::Secrets;

/// The state meaning resolved.
const CLOSED: &str = "closed";
/// Tickets per import page.
const PAGE: usize = 100;

/// A Zammad connector.
pub(super) struct ZammadConnector {
    client: Client,
    review_tag: Option<String>,
    /// Whether the user Switchboard writes as is configured: without it a
    /// catch-up could not tell its own notes from people's changes.
    knows_its_user: bool,
}

/// The text of an article's body (HTML bodies lose their tags).
fn article_text(article: &Value) -> String {
    let body = text_at(article, "body").unwrap_or_default();
    if text_at(article, "content_type").is_some_and(|t| t.contains("html")) {
        strip_html(&body)
    } else {
        body
    }
}

/// Text of simple HTML: tags dropped (block ends as line breaks), the common
/// entities decoded.
fn strip_html(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('>') else {
            rest = "";
            break;
        };
        let tag = rest[start + 1..start + end].to_ascii_lowercase();
        if tag.starts_with("br") || tag.starts_with("/p") || tag.starts_with("/div") {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// A ticket (expanded) with its articles.
fn ticket_from(ticket: &Value, articles: &[Value]) -> Result<ExternalTicket, ConnectorError> {
    let id = text_at(ticket, "id")
        .ok_or_else(|| ConnectorError::Permanent("the ticket has no id".into()))?;
    let resolved = text_at(ticket, "state").as_deref() == Some(CLOSED);
    let texts: Vec<String> = articles.iter().map(article_text).collect();
    let fields: BTreeMap<String, String> = ticket
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
        .collect();
    Ok(ExternalTicket {
        id,
        title: text_at(ticket, "title").unwrap_or_default(),
        description: texts.first().cloned().unwrap_or_default(),
        resolved,
        resolution: resolved
            .then(|| {
                texts
                    .iter()
                    .skip(1)
                    .rev()
                    .find(|t| !t.trim().is_empty() && !json::has_marker(t, None))
                    .cloned()
            })
            .flatten(),
        fields,
        ..ExternalTicket::default()
    })
}

impl ZammadConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        if settings.credentials_secret.is_none() {
            return Err(format!(
                "connectors.{}: kind zammad needs credentials_secret (an access token)",
                settings.name
            ));
        }
        Ok(Self {
            client: Client::new(settings, secrets)?.with_token_prefix("Token token="),
            review_tag: settings.review_tag.clone(),
            knows_its_user: settings.service_user.is_some(),
        })
    }

    async fn articles(&self, id: &str) -> Result<Vec<Value>, ConnectorError> {
        let path = format!("/api/v1/ticket_articles/by_ticket/{}", url_escape(id));
        let json = self.client.get_json(&path, "reading the articles").await?;
        json.as_array()
            .cloned()
            .ok_or_else(|| ConnectorError::Permanent("the articles are not a list".into()))
    }
}

#[async_trait::async_trait]
impl Connector for ZammadConnector {
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        let event = super::json::event(body)?;
        let ticket = event
            .get("ticket")
            .ok_or_else(|| ConnectorError::Permanent("the event has no ticket".into()))?;
        let id = text_at(ticket, "id")
            .ok_or_else(|| ConnectorError::Permanent("the ticket has no id".into()))?;
        // `updated_by` is the user's object in the default payload, a login in
        // a custom one.
        let actor = ticket
            .get("updated_by")
            .and_then(|u| text_at(u, "login").or_else(|| text(u)));
        Ok(ExternalTicket {
            id,
            revision: text_at(ticket, "updated_at"),
            actor,
            own_write: event
                .get("article")
                .is_some_and(|a| json::has_marker(&article_text(a), None)),
            ..ExternalTicket::default()
        })
    }

    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
        let path = format!("/api/v1/tickets/{}?expand=true", url_escape(&event.id));
        let ticket = self.client.get_json(&path, "reading the ticket").await?;
        let articles = self.articles(&event.id).await?;
        Ok(ExternalTicket {
            revision: event.revision.clone(),
            actor: event.actor.clone(),
            own_write: event.own_write,
            ..ticket_from(&ticket, &articles)?
        })
    }

    async fn already_written(
        &self,
        ticket: &ExternalTicket,
        idempotency_key: &str,
    ) -> Result<bool, ConnectorError> {
        let articles = self.articles(&ticket.id).await?;
        Ok(articles
            .iter()
            .any(|a| json::has_marker(&article_text(a), Some(idempotency_key))))
    }

    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        _idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        if let Some(tag) = self.review_tag.as_ref().filter(|_| update.review) {
            // Adding a tag twice is harmless; the marked article goes last.
            let body = json!({ "object": "Ticket", "o_id": ticket.id.parse::<u64>().map_or_else(|_| json!(ticket.id), Value::from), "item": tag });
            let request = self
                .client
                .request(reqwest::Method::POST, "/api/v1/tags/add")
                .json(&body);
            self.client.send(request, "tagging the ticket").await?;
        }
        let mut body: Map<String, Value> = update
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        body.insert(
            "article".into(),
            json!({
                "body": note,
                "type": "note", "internal": true, "content_type": "text/plain",
            }),
        );
        let path = format!("/api/v1/tickets/{}", url_escape(&ticket.id));
        let request = self.client.request(reqwest::Method::PUT, &path).json(&body);
        self.client
            .send(request, "updating the ticket")
            .await
            .map(drop)
    }

    async fn whoami(&self) -> Result<String, ConnectorError> {
        let me = self
            .client
            .get_json("/api/v1/users/me", "reading the signed-in user")
            .await?;
        Ok(format!(
            "signed in as {}",
            text_at(&me, "login").unwrap_or_default()
        ))
    }

    async fn value_exists(&self, field: &str, value: &str) -> Result<Option<bool>, ConnectorError> {
        let path = match field {
            "group" => "/api/v1/groups",
            "priority" => "/api/v1/ticket_priorities",
            "state" => "/api/v1/ticket_states",
            _ => return Ok(None),
        };
        let list = self.client.get_json(path, "listing values").await?;
        Ok(Some(
            list.as_array()
                .into_iter()
                .flatten()
                .any(|v| text_at(v, "name").as_deref() == Some(value)),
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
        // The ticket list needs no search index; closed tickets are picked here.
        let path = format!("/api/v1/tickets?expand=true&page={page}&per_page={PAGE}");
        let json = self.client.get_json(&path, "listing tickets").await?;
        let list = json
            .as_array()
            .ok_or_else(|| ConnectorError::Permanent("the ticket list is not a list".into()))?;
        let mut tickets = Vec::new();
        for ticket in list {
            let closed = text_at(ticket, "state").as_deref() == Some(CLOSED);
            let recent = since.is_none_or(|since| {
                text_at(ticket, "close_at")
                    .or_else(|| text_at(ticket, "updated_at"))
                    .and_then(|t| json::seconds_of(&t))
                    .is_some_and(|t| t >= since)
            });
            if closed && recent {
                let id = text_at(ticket, "id").unwrap_or_default();
                tickets.push(ticket_from(ticket, &self.articles(&id).await?)?);
            }
        }
        Ok(Page {
            tickets,
            next: (list.len() == PAGE).then(|| (page + 1).to_string()),
            total: None,
        })
    }

    fn lists_changes(&self) -> bool {
        self.knows_its_user
    }

    /// Tickets updated after the cursor (`updated_at`), from the ticket list
    /// newest first (it needs no search index), each with the revision
    /// (`updated_at`) and actor (`updated_by`'s login) a trigger's webhook
    /// carries. Its times are in milliseconds: what was updated at the
    /// cursor's own time was seen.
    async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ConnectorError> {
        let mut newest = cursor.map(str::to_owned);
        let mut tickets = Vec::new();
        let mut page = 1u64;
        'pages: loop {
            let path = format!(
                "/api/v1/tickets?expand=true&sort_by=updated_at&order_by=desc&page={page}&per_page={PAGE}"
            );
            let json = self
                .client
                .get_json(&path, "listing changed tickets")
                .await?;
            let list = json
                .as_array()
                .ok_or_else(|| ConnectorError::Permanent("the ticket list is not a list".into()))?;
            for listed in list {
                let Some(at) = text_at(listed, "updated_at") else {
                    continue;
                };
                let Some(since) = cursor else {
                    // The first look only notes where things are.
                    newest = Some(at);
                    break 'pages;
                };
                if at.as_str() <= since {
                    break 'pages;
                }
                if newest.as_deref().is_none_or(|n| at.as_str() > n) {
                    newest = Some(at.clone());
                }
                let id = text_at(listed, "id").unwrap_or_default();
                let mut ticket = ticket_from(listed, &self.articles(&id).await?)?;
                ticket.revision = Some(at);
                ticket.actor = listed
                    .get("updated_by")
                    .and_then(|u| text_at(u, "login").or_else(|| text(u)));
                tickets.push(ticket);
            }
            if list.len() < PAGE {
                break;
            }
            page += 1;
        }
        Ok(Changes {
            tickets,
            cursor: newest.unwrap_or_else(|| {
                chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
            more: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_articles_read_as_text() {
        assert_eq!(
            strip_html("<div>VPN drops&nbsp;again</div><div>since <b>Monday</b> &amp; today</div>"),
            "VPN drops again\nsince Monday & today"
        );
    }
}
