//! Jira Service Management: `jira:issue_created` / `jira:issue_updated` /
//! `comment_created` webhooks in (signed `X-Hub-Signature: sha256=...`), the
//! issue read with `GET /rest/api/2/issue/{key}`, fields set with one `PUT`
//! (the review label added in the same request), then the note as an internal
//! service-desk comment (`POST /rest/servicedeskapi/request/{key}/comment`,
//! `public: false`). A comment carrying the job's marker means the job has
//! written already, and a `comment_created` event for it is ignored. History
//! comes from `POST /rest/api/3/search/jql` pages (`nextPageToken`); so do
//! the changes missed while Switchboard was down (`updated` since the last
//! one seen, with each issue's changelog to tell who changed it last).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::client::{Client, url_escape};
use super::json::{self, items, plain_text, text, text_at};
use super::settings::ConnectorSettings;
use super::{Changes, Connector, ConnectorError, ExternalTicket, Page, TicketUpdate};
use crate::infra::secrets::Secrets;

/// Issues per import page.
const PAGE: u64 = 100;

/// A Jira Service Management connector.
pub(super) struct JiraConnector {
    client: Client,
    review_label: Option<String>,
}

/// A field's value as text: strings as they are, objects by their name,
/// value, account id or key, lists joined by commas.
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::Object(_) => ["name", "value", "accountId", "key", "id"]
            .iter()
            .find_map(|k| text_at(value, k)),
        Value::Array(list) => {
            let parts: Vec<String> = list.iter().filter_map(field_text).collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        other => text(other),
    }
}

/// The JSON Jira takes for setting `field` to `value`: JSON as given (an
/// object or list in the mapping), else the shape of Jira's standard fields.
fn field_value(field: &str, value: &str) -> Value {
    if let Ok(parsed @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(value) {
        return parsed;
    }
    match field {
        "priority" | "issuetype" | "resolution" => json!({ "name": value }),
        "assignee" | "reporter" => json!({ "accountId": value }),
        "components" | "fixVersions" | "versions" => json!([{ "name": value }]),
        "labels" => json!([value]),
        f if f.starts_with("customfield_") => json!({ "value": value }),
        _ => Value::String(value.to_owned()),
    }
}

/// The comments of an issue's `fields`, as text.
fn comments(fields: &Value) -> Vec<String> {
    fields
        .get("comment")
        .map(|c| {
            items(c, "comments")
                .map(|c| plain_text(&c["body"]))
                .collect()
        })
        .unwrap_or_default()
}

/// Unix ms of a Jira time (`2026-11-30T10:00:00.000+0000`, or RFC 3339).
fn jira_ms(time: &str) -> Option<i64> {
    chrono::DateTime::parse_from_str(time.trim(), "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(time.trim()))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The revision, actor and own-write mark a searched issue's latest change
/// has, as its webhook would carry them: a comment added last is
/// `comment-ID` by its author (Switchboard's own when it holds the marker),
/// anything else the issue's `updated` by the author of its newest
/// changelog entry (its creator when it has none).
fn latest_change(issue: &Value) -> (Option<String>, Option<String>, bool) {
    let fields = issue.get("fields").cloned().unwrap_or_default();
    let at = |v: &Value| text_at(v, "created").and_then(|c| jira_ms(&c));
    let newest_history = issue
        .pointer("/changelog/histories")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .max_by_key(|h| at(h));
    let newest_comment = fields
        .get("comment")
        .map(|c| items(c, "comments").max_by_key(|c| at(c)))
        .unwrap_or_default();
    if let Some(comment) = newest_comment
        && at(comment) >= newest_history.and_then(at)
    {
        return (
            text_at(comment, "id").map(|id| format!("comment-{id}")),
            comment.pointer("/author/accountId").and_then(text),
            json::has_marker(&plain_text(&comment["body"]), None),
        );
    }
    let actor = newest_history
        .and_then(|h| h.pointer("/author/accountId"))
        .or_else(|| fields.pointer("/creator/accountId"))
        .and_then(text);
    (text_at(&fields, "updated"), actor, false)
}

/// An issue (v2 or v3: descriptions and comments may be documents).
fn ticket_from(issue: &Value) -> Result<ExternalTicket, ConnectorError> {
    let id = text_at(issue, "key")
        .or_else(|| text_at(issue, "id"))
        .ok_or_else(|| ConnectorError::Permanent("the issue has no key".into()))?;
    let fields = issue.get("fields").cloned().unwrap_or(Value::Null);
    let resolved = fields
        .pointer("/status/statusCategory/key")
        .and_then(Value::as_str)
        == Some("done");
    let resolution = resolved
        .then(|| {
            comments(&fields)
                .into_iter()
                .rev()
                .find(|c| !c.trim().is_empty() && !json::has_marker(c, None))
                .or_else(|| fields.pointer("/resolution/name").and_then(text))
        })
        .flatten();
    let values: BTreeMap<String, String> = fields
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "description" && *k != "comment")
        .filter_map(|(k, v)| Some((k.clone(), field_text(v)?)))
        .collect();
    Ok(ExternalTicket {
        id,
        title: text_at(&fields, "summary").unwrap_or_default(),
        description: fields
            .get("description")
            .map(plain_text)
            .unwrap_or_default(),
        resolved,
        resolution,
        fields: values,
        ..ExternalTicket::default()
    })
}

impl JiraConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        if settings.credentials_secret.is_none() {
            return Err(format!(
                "connectors.{}: kind jira needs credentials_secret (`email:api-token` with auth_scheme basic)",
                settings.name
            ));
        }
        Ok(Self {
            client: Client::new(settings, secrets)?,
            review_label: settings.review_tag.clone(),
        })
    }

    /// One page of `POST /rest/api/3/search/jql`.
    async fn search(&self, body: &Value, what: &str) -> Result<Value, ConnectorError> {
        let request = self
            .client
            .request(reqwest::Method::POST, "/rest/api/3/search/jql")
            .json(body);
        self.client
            .send(request, what)
            .await?
            .json()
            .await
            .map_err(|e| ConnectorError::Permanent(format!("the search is not JSON: {e}")))
    }

    async fn issue(&self, key: &str) -> Result<Value, ConnectorError> {
        let path = format!("/rest/api/2/issue/{}", url_escape(key));
        self.client.get_json(&path, "reading the issue").await
    }
}

#[async_trait::async_trait]
impl Connector for JiraConnector {
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        let event = super::json::event(body)?;
        let kind = event
            .get("webhookEvent")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !(kind.starts_with("jira:issue_") || kind.starts_with("comment_")) {
            return Err(ConnectorError::Permanent(format!(
                "not an issue or comment event: {kind:?}"
            )));
        }
        let issue = event
            .get("issue")
            .ok_or_else(|| ConnectorError::Permanent("the event has no issue".into()))?;
        let id = text_at(issue, "key")
            .ok_or_else(|| ConnectorError::Permanent("the issue has no key".into()))?;
        let comment = event.get("comment");
        Ok(ExternalTicket {
            id,
            revision: comment
                .and_then(|c| text_at(c, "id"))
                .map(|c| format!("comment-{c}"))
                .or_else(|| issue.pointer("/fields/updated").and_then(text))
                .or_else(|| text_at(&event, "timestamp")),
            actor: event.pointer("/user/accountId").and_then(text),
            own_write: comment.is_some_and(|c| json::has_marker(&plain_text(&c["body"]), None)),
            ..ExternalTicket::default()
        })
    }

    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
        let issue = self.issue(&event.id).await?;
        Ok(ExternalTicket {
            revision: event.revision.clone(),
            actor: event.actor.clone(),
            own_write: event.own_write,
            ..ticket_from(&issue)?
        })
    }

    async fn already_written(
        &self,
        ticket: &ExternalTicket,
        idempotency_key: &str,
    ) -> Result<bool, ConnectorError> {
        let issue = self.issue(&ticket.id).await?;
        Ok(issue
            .get("fields")
            .map(comments)
            .unwrap_or_default()
            .iter()
            .any(|c| json::has_marker(c, Some(idempotency_key))))
    }

    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        _idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        let fields: Map<String, Value> = update
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), field_value(k, v)))
            .collect();
        let label = self.review_label.as_ref().filter(|_| update.review);
        if !fields.is_empty() || label.is_some() {
            let mut body = json!({ "fields": fields });
            if let Some(label) = label {
                body["update"] = json!({ "labels": [{ "add": label }] });
            }
            let path = format!("/rest/api/2/issue/{}", url_escape(&ticket.id));
            let request = self.client.request(reqwest::Method::PUT, &path).json(&body);
            self.client.send(request, "updating the issue").await?;
        }
        let path = format!(
            "/rest/servicedeskapi/request/{}/comment",
            url_escape(&ticket.id)
        );
        let body = json!({ "body": note, "public": false });
        let request = self
            .client
            .request(reqwest::Method::POST, &path)
            .json(&body);
        self.client
            .send(request, "adding the internal comment")
            .await
            .map(drop)
    }

    async fn whoami(&self) -> Result<String, ConnectorError> {
        let me = self
            .client
            .get_json("/rest/api/2/myself", "reading the signed-in user")
            .await?;
        Ok(format!(
            "signed in as {} ({})",
            text_at(&me, "displayName").unwrap_or_default(),
            text_at(&me, "accountId").unwrap_or_default()
        ))
    }

    async fn value_exists(&self, field: &str, value: &str) -> Result<Option<bool>, ConnectorError> {
        match field {
            "priority" => {
                let list = self
                    .client
                    .get_json("/rest/api/2/priority", "listing priorities")
                    .await?;
                Ok(Some(
                    list.as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| text_at(p, "name").as_deref() == Some(value)),
                ))
            }
            "assignee" => {
                let path = format!("/rest/api/2/user?accountId={}", url_escape(value));
                self.client
                    .exists(&path, "looking the user up")
                    .await
                    .map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Its own writes are told by the note's marker on the newest comment
    /// (and by `service_user`, the account that wrote), so it always can.
    fn lists_changes(&self) -> bool {
        true
    }

    /// Issues updated since the cursor (Unix ms of the newest `updated`
    /// seen). JQL reads absolute times in the searching user's time zone,
    /// so the search asks for a relative one (`updated >= "-Nm"`, with five
    /// minutes to spare for clock skew) and keeps what is not older than the
    /// cursor. Each comes with the revision and actor its webhook carries
    /// (see [`latest_change`]). The first look only notes the newest change.
    async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ConnectorError> {
        let Some(since) = cursor.and_then(|c| c.parse::<i64>().ok()) else {
            let page = self
                .search(
                    &json!({ "jql": "ORDER BY updated DESC", "maxResults": 1, "fields": ["updated"] }),
                    "reading the newest change",
                )
                .await?;
            let newest = items(&page, "issues")
                .next()
                .and_then(|i| i.pointer("/fields/updated"))
                .and_then(text)
                .and_then(|u| jira_ms(&u))
                .unwrap_or_else(crate::infra::clock::now_ms);
            return Ok(Changes {
                tickets: Vec::new(),
                cursor: newest.to_string(),
                more: false,
            });
        };
        let minutes = (crate::infra::clock::now_ms() - since).max(0) / 60_000 + 5;
        let mut body = json!({
            "jql": format!("updated >= \"-{minutes}m\" ORDER BY updated ASC"),
            "maxResults": PAGE,
            "fields": ["*navigable", "comment"],
            "expand": "changelog",
        });
        let mut newest = since;
        let mut tickets = Vec::new();
        loop {
            let page = self.search(&body, "searching changed issues").await?;
            for issue in items(&page, "issues") {
                let Some(updated) = issue
                    .pointer("/fields/updated")
                    .and_then(text)
                    .and_then(|u| jira_ms(&u))
                else {
                    continue;
                };
                if updated < since {
                    continue;
                }
                newest = newest.max(updated);
                let (revision, actor, own_write) = latest_change(issue);
                tickets.push(ExternalTicket {
                    revision,
                    actor,
                    own_write,
                    ..ticket_from(issue)?
                });
            }
            let last = page.get("isLast").and_then(Value::as_bool).unwrap_or(true);
            match page.get("nextPageToken").and_then(text) {
                Some(token) if !last => body["nextPageToken"] = json!(token),
                _ => break,
            }
        }
        Ok(Changes {
            tickets,
            cursor: newest.to_string(),
            more: false,
        })
    }

    async fn resolved_page(
        &self,
        cursor: Option<&str>,
        since: Option<i64>,
    ) -> Result<Page, ConnectorError> {
        let mut jql = "statusCategory = Done".to_owned();
        if let Some(since) = since {
            // JQL reads dates in the user's time zone; minutes are its finest unit.
            let at = json::utc_datetime(since);
            jql.push_str(&format!(" AND resolved >= \"{}\"", &at[..16]));
        }
        jql.push_str(" ORDER BY created ASC");
        let mut body = json!({
            "jql": jql, "maxResults": PAGE,
            "fields": ["*navigable", "comment"],
        });
        if let Some(token) = cursor {
            body["nextPageToken"] = json!(token);
        }
        let page = self.search(&body, "searching resolved issues").await?;
        let tickets = items(&page, "issues")
            .map(ticket_from)
            .collect::<Result<_, _>>()?;
        let last = page.get("isLast").and_then(Value::as_bool).unwrap_or(true);
        Ok(Page {
            tickets,
            next: if last {
                None
            } else {
                page.get("nextPageToken").and_then(text)
            },
            total: None,
        })
    }
}
