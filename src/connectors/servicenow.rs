//! ServiceNow: a business rule on `incident` sends a REST message (a small
//! JSON body: `sys_id`, `sys_mod_count`, `sys_updated_by`), authenticated by a
//! bearer token or a signature; the Table API reads the incident and one
//! `PATCH /api/now/table/incident/{sys_id}` sets the fields and adds the note
//! as a work note (internal, never seen by the caller), together. A work note
//! carrying the job's marker (`sys_journal_field`) means the job has written
//! already; changes by the integration user (`service_user`) start nothing.
//! Missed events are caught up on from the incidents' `sys_updated_on`.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::client::{Client, url_escape};
use super::json::{self, text, text_at};
use super::settings::ConnectorSettings;
use super::{Changes, Connector, ConnectorError, ExternalTicket, Page, TicketUpdate};
use crate::infra::secrets::Secrets;

/// Incident states meaning resolved (6) or closed (7).
const RESOLVED: [&str; 2] = ["6", "7"];
/// Incidents per import page.
const PAGE: u64 = 100;
/// The incident fields read.
const FIELDS: &str = "sys_id,number,short_description,description,state,close_code,close_notes,assignment_group,assigned_to,category,subcategory,priority,impact,urgency,contact_type,sys_updated_by,sys_mod_count";

/// A ServiceNow connector.
pub(super) struct ServiceNowConnector {
    client: Client,
    /// Whether the integration user is configured: without it a catch-up
    /// could not tell Switchboard's own updates from people's, and would
    /// triage its own write-backs again.
    knows_its_user: bool,
}

/// An incident as the Table API returns it (`sysparm_exclude_reference_link`:
/// references are plain sys_ids).
fn ticket_from(json: &Value) -> Result<ExternalTicket, ConnectorError> {
    let id = text_at(json, "sys_id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ConnectorError::Permanent("the incident has no sys_id".into()))?;
    let state = text_at(json, "state").unwrap_or_default();
    let fields: BTreeMap<String, String> = json
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
        .collect();
    Ok(ExternalTicket {
        id,
        title: text_at(json, "short_description").unwrap_or_default(),
        description: text_at(json, "description").unwrap_or_default(),
        resolved: RESOLVED.contains(&state.as_str()),
        resolution: text_at(json, "close_notes").filter(|n| !n.trim().is_empty()),
        fields,
        ..ExternalTicket::default()
    })
}

impl ServiceNowConnector {
    pub fn new(settings: &ConnectorSettings, secrets: &Secrets) -> Result<Self, String> {
        if settings.credentials_secret.is_none() {
            return Err(format!(
                "connectors.{}: kind servicenow needs credentials_secret (`user:password` with auth_scheme basic, or an OAuth token)",
                settings.name
            ));
        }
        Ok(Self {
            client: Client::new(settings, secrets)?,
            knows_its_user: settings.service_user.is_some(),
        })
    }

    async fn get(&self, path: &str, what: &str) -> Result<(Value, Option<u64>), ConnectorError> {
        let request = self.client.request(reqwest::Method::GET, path);
        let response = self.client.send(request, what).await?;
        let total = response
            .headers()
            .get("x-total-count")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let json: Value = response
            .json()
            .await
            .map_err(|e| ConnectorError::Permanent(format!("{what}: not JSON: {e}")))?;
        let result = json
            .get("result")
            .cloned()
            .ok_or_else(|| ConnectorError::Permanent(format!("{what}: no result")))?;
        Ok((result, total))
    }
}

#[async_trait::async_trait]
impl Connector for ServiceNowConnector {
    fn parse_event(&self, body: &[u8]) -> Result<ExternalTicket, ConnectorError> {
        let event = super::json::event(body)?;
        let id = text_at(&event, "sys_id")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| ConnectorError::Permanent("the event has no sys_id".into()))?;
        Ok(ExternalTicket {
            id,
            revision: text_at(&event, "sys_mod_count"),
            actor: text_at(&event, "sys_updated_by"),
            own_write: event
                .get("work_notes")
                .and_then(Value::as_str)
                .is_some_and(|n| json::has_marker(n, None)),
            ..ExternalTicket::default()
        })
    }

    async fn fetch(&self, event: &ExternalTicket) -> Result<ExternalTicket, ConnectorError> {
        let path = format!(
            "/api/now/table/incident/{}?sysparm_fields={FIELDS}&sysparm_exclude_reference_link=true",
            url_escape(&event.id)
        );
        let (json, _) = self.get(&path, "reading the incident").await?;
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
        // The journal is searched for the marker line instead of read whole.
        let marker = json::marker_line(idempotency_key);
        let query = format!(
            "element_id={}^element=work_notes^valueLIKE{marker}",
            ticket.id
        );
        let path = format!(
            "/api/now/table/sys_journal_field?sysparm_query={}&sysparm_fields=sys_id&sysparm_limit=1",
            url_escape(&query)
        );
        let (found, _) = self.get(&path, "looking for the work note").await?;
        Ok(found.as_array().is_some_and(|a| !a.is_empty()))
    }

    async fn apply(
        &self,
        ticket: &ExternalTicket,
        update: &TicketUpdate,
        note: &str,
        _idempotency_key: &str,
    ) -> Result<(), ConnectorError> {
        let mut body: Map<String, Value> = update
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        body.insert("work_notes".into(), json!(note));
        let path = format!("/api/now/table/incident/{}", url_escape(&ticket.id));
        let request = self
            .client
            .request(reqwest::Method::PATCH, &path)
            .json(&body);
        self.client
            .send(request, "updating the incident")
            .await
            .map(drop)
    }

    async fn whoami(&self) -> Result<String, ConnectorError> {
        let (rows, _) = self
            .get(
                "/api/now/table/incident?sysparm_limit=1&sysparm_fields=sys_id",
                "reading incidents",
            )
            .await?;
        Ok(format!(
            "the Table API answers ({} incident read)",
            rows.as_array().map_or(0, Vec::len)
        ))
    }

    async fn value_exists(&self, field: &str, value: &str) -> Result<Option<bool>, ConnectorError> {
        let table = match field {
            "assignment_group" => "sys_user_group",
            "assigned_to" => "sys_user",
            _ => return Ok(None),
        };
        let path = format!("/api/now/table/{table}/{}", url_escape(value));
        self.client
            .exists(&path, "looking the value up")
            .await
            .map(Some)
    }

    async fn resolved_page(
        &self,
        cursor: Option<&str>,
        since: Option<i64>,
    ) -> Result<Page, ConnectorError> {
        let offset: u64 = cursor
            .map_or(Ok(0), str::parse)
            .map_err(|_| ConnectorError::Permanent(format!("bad cursor {cursor:?}: an offset")))?;
        let mut query = "stateIN6,7".to_owned();
        if let Some(since) = since {
            query.push_str(&format!("^resolved_at>={}", json::utc_datetime(since)));
        }
        query.push_str("^ORDERBYsys_created_on");
        let path = format!(
            "/api/now/table/incident?sysparm_query={}&sysparm_fields={FIELDS}&sysparm_exclude_reference_link=true&sysparm_limit={PAGE}&sysparm_offset={offset}",
            url_escape(&query)
        );
        let (json, total) = self.get(&path, "listing resolved incidents").await?;
        let rows = json
            .as_array()
            .ok_or_else(|| ConnectorError::Permanent("the incident list is not a list".into()))?;
        Ok(Page {
            tickets: rows.iter().map(ticket_from).collect::<Result<_, _>>()?,
            next: (rows.len() as u64 == PAGE).then(|| (offset + PAGE).to_string()),
            total,
        })
    }

    fn lists_changes(&self) -> bool {
        self.knows_its_user
    }

    /// Incidents updated at or after the cursor (`sys_updated_on`, UTC, as
    /// ServiceNow writes it), oldest first, a page at a time, each with the
    /// revision (`sys_mod_count`) and actor (`sys_updated_by`) its business
    /// rule's event carries. Those at the cursor itself come again and are
    /// duplicates of their jobs.
    async fn changes(&self, cursor: Option<&str>) -> Result<Changes, ConnectorError> {
        let Some(since) = cursor else {
            let (rows, _) = self
                .get(
                    "/api/now/table/incident?sysparm_query=ORDERBYDESCsys_updated_on&sysparm_fields=sys_updated_on&sysparm_limit=1",
                    "reading the newest change",
                )
                .await?;
            let rows = rows.as_array().ok_or_else(|| {
                ConnectorError::Permanent("the incident list is not a list".into())
            })?;
            let newest = rows
                .first()
                .and_then(|row| text_at(row, "sys_updated_on"))
                .unwrap_or_else(|| json::utc_datetime(crate::infra::clock::now_ms() / 1000));
            return Ok(Changes {
                tickets: Vec::new(),
                cursor: newest,
                more: false,
            });
        };
        let query = format!("sys_updated_on>={since}^ORDERBYsys_updated_on");
        let path = format!(
            "/api/now/table/incident?sysparm_query={}&sysparm_fields={FIELDS},sys_updated_on&sysparm_exclude_reference_link=true&sysparm_limit={PAGE}",
            url_escape(&query)
        );
        let (json, _) = self.get(&path, "listing changed incidents").await?;
        let rows = json
            .as_array()
            .ok_or_else(|| ConnectorError::Permanent("the incident list is not a list".into()))?;
        let mut newest = since.to_owned();
        let mut tickets = Vec::with_capacity(rows.len());
        for row in rows {
            let mut ticket = ticket_from(row)?;
            ticket.revision = text_at(row, "sys_mod_count");
            ticket.actor = text_at(row, "sys_updated_by");
            if let Some(at) = text_at(row, "sys_updated_on")
                && at > newest
            {
                newest = at;
            }
            tickets.push(ticket);
        }
        // A full page whose last time moved on: more may follow it.
        let more = rows.len() as u64 == PAGE && newest.as_str() != since;
        Ok(Changes {
            tickets,
            cursor: newest,
            more,
        })
    }
}
