//! `[[connectors]]`: one entry per ticketing system Switchboard listens to and
//! writes back to.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One connector's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConnectorSettings {
    /// Name in URLs, logs and ticket ids (`[a-z0-9-]`, 1-32 characters).
    pub name: String,
    /// Which ticketing system.
    pub kind: ConnectorKind,
    /// Base URL of the ticketing system's API.
    pub base_url: String,
    /// Secret (by name) holding what Switchboard sends to the ticketing system:
    /// a token, or `user:password` for basic auth.
    #[serde(default)]
    pub credentials_secret: Option<String>,
    /// How the credentials are sent.
    #[serde(default)]
    pub auth_scheme: AuthScheme,
    /// How inbound events prove where they come from.
    #[serde(default)]
    pub inbound: InboundSettings,
    /// The ticketing system's user Switchboard writes as: events caused by it
    /// are ignored, so a write-back never triggers another triage.
    #[serde(default)]
    pub service_user: Option<String>,
    /// Attempts of a job before it is moved to `dead`.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Longest wait between two attempts of a failing job, in seconds (the
    /// wait doubles from 1 s up to this; a system's `Retry-After` wins).
    #[serde(default = "default_retry_max_s")]
    pub retry_max_s: u64,
    /// Seconds between polls for changed tickets (0: no polling; systems that
    /// send no events, like Request Tracker, need it).
    #[serde(default)]
    pub poll_interval_s: u64,
    /// Seconds between catch-ups of a connector that receives events: at
    /// start and then every this often, the tickets changed since the last
    /// catch-up are listed and what no event brought (Switchboard was down,
    /// the system gave up delivering) is queued, de-duplicated like events.
    /// 0 turns it off; kinds that cannot list changes (`generic`) skip it.
    #[serde(default = "default_reconcile_interval_s")]
    pub reconcile_interval_s: u64,
    /// Timeout of each call to the ticketing system, in seconds.
    #[serde(default = "default_timeout_s")]
    pub timeout_s: u64,
    /// Write-back policy per label field; fields not listed are not written.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldPolicy>,
    /// Tag (a label in Jira) added to tickets whose suggestions a person
    /// should review, where the system has tags (jira, zendesk, zammad).
    #[serde(default)]
    pub review_tag: Option<String>,
    /// Write the ticket's suggested resolution (see `[drafts]`) into the
    /// internal note, when there is one.
    #[serde(default)]
    pub draft_in_note: bool,
    /// PEM file of the CA that signed the system's certificate, when it is
    /// not publicly trusted (default: `[tls] ca_file`).
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Settings of the `generic` kind.
    #[serde(default)]
    pub generic: Option<GenericSettings>,
}

fn default_max_attempts() -> u32 {
    8
}

fn default_retry_max_s() -> u64 {
    300
}

fn default_timeout_s() -> u64 {
    10
}

fn default_reconcile_interval_s() -> u64 {
    300
}

/// The ticketing systems Switchboard speaks to.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    /// Any system that can send a JSON webhook and accept one JSON request back.
    Generic,
    /// django-helpdesk: its new-ticket and follow-up webhooks in, its REST API
    /// (token authentication) out.
    Helpdesk,
    /// Request Tracker 5: polled through REST2 (new transactions since the
    /// last one seen), written back through REST2 with basic authentication.
    Rt,
    /// ServiceNow: a business rule's REST message in, the Table API out
    /// (fields and `work_notes` in one PATCH of the incident).
    Servicenow,
    /// Jira Service Management: `jira:issue_*` webhooks in (`X-Hub-Signature`),
    /// issue update and an internal service-desk comment out.
    Jira,
    /// Zendesk: webhooks in (`X-Zendesk-Webhook-Signature` over timestamp +
    /// body), one ticket update with a private comment out.
    Zendesk,
    /// Zammad: trigger webhooks in (`X-Hub-Signature`, HMAC-SHA1), one ticket
    /// update with an internal note article out.
    Zammad,
}

impl ConnectorKind {
    /// The inbound settings with this system's headers and signature
    /// algorithm where the configuration leaves them out.
    pub fn with_defaults(self, inbound: &InboundSettings) -> InboundSettings {
        let mut inbound = inbound.clone();
        let (signature, timestamp, delivery, algorithm) = match self {
            Self::Jira => (
                "X-Hub-Signature",
                None,
                Some("X-Atlassian-Webhook-Identifier"),
                SignatureAlgorithm::Sha256,
            ),
            Self::Zendesk => (
                "X-Zendesk-Webhook-Signature",
                Some("X-Zendesk-Webhook-Signature-Timestamp"),
                Some("X-Zendesk-Webhook-Invocation-Id"),
                SignatureAlgorithm::Sha256,
            ),
            Self::Zammad => (
                "X-Hub-Signature",
                None,
                Some("X-Zammad-Delivery"),
                SignatureAlgorithm::Sha1,
            ),
            Self::Generic | Self::Helpdesk | Self::Rt | Self::Servicenow => (
                DEFAULT_SIGNATURE_HEADER,
                None,
                None,
                SignatureAlgorithm::Sha256,
            ),
        };
        inbound
            .signature_header
            .get_or_insert_with(|| signature.to_owned());
        if inbound.hmac_secret.is_some() && inbound.timestamp_header.is_none() {
            inbound.timestamp_header = timestamp.map(str::to_owned);
        }
        if inbound.delivery_header.is_none() {
            inbound.delivery_header = delivery.map(str::to_owned);
        }
        inbound.signature_algorithm.get_or_insert(algorithm);
        inbound
    }
}

/// The signature header of kinds that do not name their own.
pub const DEFAULT_SIGNATURE_HEADER: &str = "X-Hub-Signature-256";

/// The hash of an inbound HMAC signature.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SignatureAlgorithm {
    /// HMAC-SHA256 (every system but Zammad).
    Sha256,
    /// HMAC-SHA1 (Zammad's `X-Hub-Signature`).
    Sha1,
}

/// How credentials are sent to the ticketing system.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AuthScheme {
    /// `Authorization: Bearer <secret>`.
    #[default]
    Bearer,
    /// `Authorization: Basic base64(<secret>)`, the secret being `user:password`.
    Basic,
    /// `Authorization: Token <secret>` (Django REST framework).
    Token,
}

/// How inbound events are authenticated: an HMAC signature, a bearer token, or both.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct InboundSettings {
    /// Secret (by name) keying the HMAC-SHA256 signature of each delivery.
    pub hmac_secret: Option<String>,
    /// Header carrying the signature: hex or base64, optionally
    /// `sha256=`/`sha1=`-prefixed (default: the kind's, else `X-Hub-Signature-256`).
    pub signature_header: Option<String>,
    /// The signature's hash (default: the kind's; `sha1` for Zammad only).
    pub signature_algorithm: Option<SignatureAlgorithm>,
    /// Header carrying the delivery's timestamp (Unix seconds or RFC 3339);
    /// when set, the signature covers `timestamp + body` and stale deliveries
    /// are refused (Zendesk's by default).
    pub timestamp_header: Option<String>,
    /// Oldest (or most future) timestamp accepted, in seconds.
    pub max_skew_s: u64,
    /// Secret (by name) of a bearer token inbound calls must present.
    pub bearer_secret: Option<String>,
    /// Secret (by name) of a token inbound calls carry as the `token` query
    /// parameter, for systems that can only be given a URL (django-helpdesk).
    pub query_token_secret: Option<String>,
    /// Header carrying the delivery id, which makes a redelivery one job
    /// (default: the kind's, where it sends one).
    pub delivery_header: Option<String>,
}

impl Default for InboundSettings {
    fn default() -> Self {
        Self {
            hmac_secret: None,
            signature_header: None,
            signature_algorithm: None,
            timestamp_header: None,
            max_skew_s: 300,
            bearer_secret: None,
            query_token_secret: None,
            delivery_header: None,
        }
    }
}

/// What Switchboard may do with one label field of a ticket.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FieldPolicy {
    /// `off`, `note` (say it in the internal note only), `suggest` (note, and
    /// the review tag when configured) or `apply` (set the field when the
    /// suggestion is routed `auto`; otherwise as `suggest`). Default `note`:
    /// nothing is changed until a field's threshold is calibrated.
    #[serde(default)]
    pub mode: WriteMode,
    /// When a value a ticket already has may be replaced. Unset (the
    /// default): on the ticket's first triage (a new ticket's queue or
    /// priority, which the system always fills, is routed), and afterwards
    /// only when empty, so a person's later change stands. `true`: only
    /// when empty, even on the first triage. `false`: on every triage.
    #[serde(default)]
    pub only_if_empty: Option<bool>,
    /// The ticketing system's name of the field (default: the label field's).
    #[serde(default)]
    pub target: Option<String>,
    /// Label -> the system's value (a group id, queue name...). A label not in
    /// the map is never written, and is reported. Empty: labels are written as they are.
    #[serde(default)]
    pub map: BTreeMap<String, String>,
}

/// Write-back mode of a field.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum WriteMode {
    /// Not mentioned, not written.
    Off,
    /// Mentioned in the internal note.
    #[default]
    Note,
    /// Mentioned, and the ticket tagged for review.
    Suggest,
    /// Set when routed `auto`.
    Apply,
}

/// The `generic` connector: where things are in the events it receives and
/// the one request it sends back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenericSettings {
    /// JSON pointer to the ticket id in an event (e.g. `/ticket/id`).
    pub id: String,
    /// JSON pointer to the title.
    #[serde(default)]
    pub title: Option<String>,
    /// JSON pointer to the description.
    #[serde(default)]
    pub description: Option<String>,
    /// JSON pointer to a revision or update time (with the id, it makes a
    /// redelivery of the same change one job).
    #[serde(default)]
    pub revision: Option<String>,
    /// JSON pointer to who caused the event.
    #[serde(default)]
    pub actor: Option<String>,
    /// JSON pointer to the status, and the statuses that mean resolved.
    #[serde(default)]
    pub status: Option<String>,
    /// Statuses meaning the ticket is resolved or closed.
    #[serde(default)]
    pub resolved_statuses: Vec<String>,
    /// JSON pointer to the resolution text.
    #[serde(default)]
    pub resolution: Option<String>,
    /// System field -> JSON pointer to its current value in the event.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The request sent back: method and path under `base_url` (`{id}` replaced).
    /// Its JSON body is `{ "ticket": id, "fields": {..}, "note": "...", "review": bool }`
    /// and it carries `Idempotency-Key: <job id>`.
    pub update: GenericRequest,
}

/// One HTTP request of the generic connector.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenericRequest {
    /// HTTP method.
    #[serde(default = "default_method")]
    pub method: String,
    /// Path under the base URL; `{id}` is the ticket id (URL-encoded).
    pub path: String,
}

fn default_method() -> String {
    "POST".to_owned()
}

impl ConnectorSettings {
    /// Checks names, URLs and what the kind needs.
    pub fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !name_ok {
            return Err(format!(
                "connectors: name {:?} must be 1-32 characters of [a-z0-9-]",
                self.name
            ));
        }
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| format!("connectors.{}: base_url: {e}", self.name))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "connectors.{}: base_url must be http or https",
                self.name
            ));
        }
        crate::infra::secrets::no_credentials_in(
            &url,
            &format!("connectors.{}.base_url", self.name),
        )?;
        let inbound = &self.inbound;
        let polled = self.kind == ConnectorKind::Rt;
        if polled && (self.poll_interval_s == 0 || self.service_user.is_none()) {
            return Err(format!(
                "connectors.{}: kind rt sends no events: set poll_interval_s, and service_user (the RT user Switchboard writes as, whose changes are not polled)",
                self.name
            ));
        }
        if !polled && self.poll_interval_s != 0 {
            return Err(format!(
                "connectors.{}: poll_interval_s is for kind rt; kind {:?} sends events",
                self.name, self.kind
            ));
        }
        if !polled
            && inbound.hmac_secret.is_none()
            && inbound.bearer_secret.is_none()
            && inbound.query_token_secret.is_none()
        {
            return Err(format!(
                "connectors.{}: inbound needs hmac_secret, bearer_secret or query_token_secret (events are never accepted unauthenticated)",
                self.name
            ));
        }
        if self.max_attempts == 0 || self.timeout_s == 0 || self.retry_max_s == 0 {
            return Err(format!(
                "connectors.{}: max_attempts, timeout_s and retry_max_s must be at least 1",
                self.name
            ));
        }
        match self.kind {
            ConnectorKind::Generic if self.generic.is_none() => Err(format!(
                "connectors.{}: kind generic needs a [connectors.generic] table",
                self.name
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> ConnectorSettings {
        serde_json::from_value(serde_json::json!({
            "name": "rt", "kind": "rt", "base_url": "https://rt.example.test/REST/2.0",
            "credentials_secret": "RT_CREDENTIALS", "auth_scheme": "basic",
            "service_user": "switchboard", "poll_interval_s": 30,
        }))
        .unwrap()
    }

    #[test]
    fn request_tracker_is_polled_as_its_service_user_without_inbound_secrets() {
        assert_eq!(rt().validate(), Ok(()));
        let unpolled = ConnectorSettings {
            poll_interval_s: 0,
            ..rt()
        };
        assert!(unpolled.validate().unwrap_err().contains("poll_interval_s"));
        let anonymous = ConnectorSettings {
            service_user: None,
            ..rt()
        };
        assert!(anonymous.validate().unwrap_err().contains("service_user"));
    }

    #[test]
    fn credentials_in_the_base_url_are_refused_and_not_repeated() {
        let with_password = ConnectorSettings {
            base_url: "https://svc:hunter2-secret@rt.example.test/REST/2.0".into(),
            ..rt()
        };
        let reason = with_password.validate().unwrap_err();
        assert!(reason.contains("connectors.rt.base_url"), "{reason}");
        assert!(!reason.contains("hunter2"), "{reason}");
    }

    #[test]
    fn only_request_tracker_is_polled() {
        let webhooks = ConnectorSettings {
            kind: ConnectorKind::Helpdesk,
            inbound: InboundSettings {
                query_token_secret: Some("HOOK".into()),
                ..InboundSettings::default()
            },
            ..rt()
        };
        assert!(webhooks.validate().unwrap_err().contains("poll_interval_s"));
        let helpdesk = ConnectorSettings {
            poll_interval_s: 0,
            ..webhooks
        };
        assert_eq!(helpdesk.validate(), Ok(()));
    }
}
