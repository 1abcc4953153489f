//! `GET /openapi.json`: the API description, generated from the handlers'
//! `#[utoipa::path]` attributes and the types' `ToSchema` derives, so it cannot drift
//! from the code.

use axum::Json;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, Required};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::executions::DecisionBody;
use super::runbooks::PlanPreview;
use crate::automation::{Change, ChangeList};
use crate::automation::{Decision, Execution, ExecutionRequest, ExecutionState};
use crate::changes::{ChangeType, WindowKind, WindowOccurrence};
use crate::classify::TermWeight;
use crate::connectors::{Accepted, Job, JobState};
use crate::domain::{Incident, IncidentInput, LabelFeedback, NewTicket};
use crate::drafts::{
    Draft, DraftReview, DraftSentence, DraftStats, DraftStatus, EvidenceRef, GroundingChecks,
    ReviewRequest, Verdict,
};
use crate::infra::audit::AuditEntry;
use crate::inventory::CiMention;
use crate::problems::{
    KnowledgeMatch, LabelCount, MonthCount, Problem, ProblemOptions, ProblemReport,
    RecurringResolution, Representative, Trend,
};
use crate::review::{
    FieldRouting, Insights, LoggedSuggestion, OriginalText, ReviewItem, VolumePoint,
};
use crate::runbook::{Risk, RunbookMatch, StepResult, StepStatus};
use crate::storms::{DuplicateRef, Storm, StormMember, StormRef};
use crate::triage::{
    Alternative, CiOwner, DerivedPriority, Evidence, FeedbackEntry, FeedbackReceipt, FeedbackStats,
    FieldFeedback, FieldSuggestion, HeadSummary, KnowledgeHit, PingPong, Reassignment,
    RetrainReport, Route, ScoreSources, ServiceStats, SimilarIncident, Triage,
};

/// Every endpoint and schema of the HTTP API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard",
        description = "Self-hosted AI triage and runbook automation for IT service desks. \
                       Mutating endpoints need `Authorization: Bearer <token>` with a role \
                       of viewer < agent < approver < change_manager < admin. Errors are \
                       `{ \"error\": { \"code\", \"message\", \"field\"? } }`."
    ),
    paths(
        super::triage::triage,
        super::incidents::put_incident,
        super::incidents::put_incidents,
        super::incidents::get_incident,
        super::feedback::post_feedback,
        super::feedback::stats,
        super::feedback::retrain,
        super::privacy::forget,
        super::imports::start_import,
        super::imports::import_progress,
        super::privacy::retention,
        super::drafts::post_draft,
        super::drafts::get_draft,
        super::drafts::review_draft,
        super::drafts::draft_stats,
        super::executions::create_execution,
        super::executions::list_executions,
        super::executions::get_execution,
        super::executions::approve_execution,
        super::executions::reject_execution,
        super::executions::cancel_execution,
        super::executions::execution_audit,
        super::hooks::receive_event,
        super::hooks::list_jobs,
        super::hooks::requeue_job,
        super::review::list_review,
        super::review::get_review,
        super::review::insights,
        super::runbooks::list_runbooks,
        super::runbooks::plan_runbook,
        super::runbooks::verify_audit,
        super::changes::list_changes,
        super::problems::last_problems,
        super::problems::make_problems,
        super::storms::list_storms,
        super::storms::get_storm,
        super::health::healthz,
        super::health::readyz,
        super::metrics::metrics,
        openapi,
    ),
    components(schemas(
        ErrorBody, ErrorDetail, NewTicket, Triage, FieldSuggestion, Route, Alternative,
        Evidence, ScoreSources, TermWeight, SimilarIncident, KnowledgeHit, DerivedPriority,
        RunbookMatch, Incident, IncidentInput, LabelFeedback, FeedbackReceipt, FeedbackEntry,
        ServiceStats, HeadSummary, FeedbackStats, FieldFeedback, Reassignment, PingPong,
        RetrainReport, ExecutionRequest, Execution, ExecutionState, StepResult, StepStatus,
        AuditEntry, DecisionBody, Decision, Accepted, Job, JobState, ReviewItem,
        LoggedSuggestion, Insights, FieldRouting, VolumePoint, PlanPreview, Storm, StormMember,
        StormRef, DuplicateRef, Change, ChangeList, ChangeType, WindowOccurrence, WindowKind,
        Risk, CiMention, CiOwner, ProblemReport, ProblemOptions, Problem, Trend, MonthCount,
        LabelCount, Representative, RecurringResolution, KnowledgeMatch, OriginalText,
        Draft, DraftStatus, DraftSentence, EvidenceRef, GroundingChecks, DraftReview, Verdict,
        ReviewRequest, DraftStats, crate::privacy::ForgetRequest, crate::privacy::ForgetReport,
        crate::privacy::RetentionReport, super::incidents::IncidentBatch, super::incidents::BatchReceipt,
        super::imports::ImportRequest, crate::connectors::ImportProgress, crate::connectors::ImportState,
        crate::connectors::ImportReport,
    )),
    modifiers(&BearerToken, &BodyErrors),
    tags(
        (name = "triage", description = "Suggestions for a new ticket"),
        (name = "incidents", description = "Resolved incidents the suggestions learn from"),
        (name = "feedback", description = "Agents' corrections, statistics, retraining"),
        (name = "drafts", description = "Suggested resolutions citing their evidence, and agents' reviews"),
        (name = "executions", description = "Approved runbook automations"),
        (name = "connectors", description = "Events from ticketing systems and the jobs they become"),
        (name = "storms", description = "Outages: bursts of similar tickets"),
        (name = "problems", description = "Problem candidates: recurring clusters of incidents"),
        (name = "review", description = "The review queue and routing insights for the console"),
        (name = "privacy", description = "Erasure on request and retention of ticket text"),
        (name = "operations", description = "Health, readiness, metrics, this description"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme the `security(("bearer" = []))` entries refer to.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Adds the answers every request body can get before its handler runs, from
/// the extractor and the body limit, so no operation has to list them by hand:
/// 413 for any body; 400, 415 and 422 for a required JSON body; 422 for an
/// optional one.
struct BodyErrors;

impl BodyErrors {
    fn add(operation: &mut utoipa::openapi::path::Operation) {
        let Some(body) = &operation.request_body else {
            return;
        };
        let required = matches!(body.required, Some(Required::True));
        let mut answers = vec![(
            "413",
            "Body larger than `server.body_limit_bytes` (`body_too_large`)",
        )];
        if required {
            answers.extend([
                ("400", "Body is not valid JSON (`malformed_json`)"),
                (
                    "415",
                    "Body not sent as `application/json` (`unsupported_media_type`)",
                ),
                (
                    "422",
                    "Body does not have this shape (`invalid_body`) or breaks a rule; `field` names the culprit",
                ),
            ]);
        } else {
            answers.push((
                "422",
                "Body is neither empty, `null` nor this shape (`invalid_body`)",
            ));
        }
        for (status, description) in answers {
            operation
                .responses
                .responses
                .entry(status.to_owned())
                .or_insert_with(|| {
                    ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                        )
                        .build()
                        .into()
                });
        }
    }
}

impl Modify for BodyErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for operation in [&mut item.post, &mut item.put, &mut item.patch]
                .into_iter()
                .flatten()
            {
                Self::add(operation);
            }
        }
    }
}

/// The OpenAPI 3.1 description of this API: [`ApiDoc`] plus two rules the
/// derives cannot state: a ticket or incident needs a title or a description
/// that is not blank (an `anyOf` of `required` beside the properties), and an
/// incident's extra label names and values follow the label rules.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the API description serialises");
    // Each alternative restates the property's type and length so generators
    // (schemathesis) need not merge it with the base schema.
    let not_blank = |name: &str| {
        serde_json::json!({
            "required": [name],
            "properties": { name: {
                "type": "string",
                "maxLength": crate::domain::MAX_TEXT_CHARS,
                "pattern": "\\S",
            } },
        })
    };
    let title_or_description = serde_json::json!([not_blank("title"), not_blank("description")]);
    for schema in ["NewTicket", "IncidentInput"] {
        doc["components"]["schemas"][schema]["anyOf"] = title_or_description.clone();
    }
    let label_name =
        doc["components"]["schemas"]["LabelFeedback"]["properties"]["field"]["pattern"].clone();
    let labels = &mut doc["components"]["schemas"]["IncidentInput"]["properties"]["labels"];
    labels["propertyNames"] = serde_json::json!({ "pattern": label_name });
    labels["additionalProperties"] = serde_json::json!({ "type": "string", "maxLength": 256 });
    doc
}

/// The OpenAPI 3.1 description of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<serde_json::Value> {
    static DOCUMENT: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(document);
    Json(DOCUMENT.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{LabelFeedback, NewTicket};

    fn pattern(schema: &serde_json::Value) -> regex::Regex {
        regex::Regex::new(schema["pattern"].as_str().expect("a pattern")).unwrap()
    }

    #[test]
    fn schema_patterns_accept_exactly_what_the_validators_accept() {
        let doc = document();
        let schemas = &doc["components"]["schemas"];
        let id = pattern(&schemas["NewTicket"]["properties"]["id"]);
        let feedback_path = &doc["paths"]["/v1/tickets/{id}/feedback"]["post"]["parameters"][0];
        for other in [
            &schemas["IncidentInput"]["properties"]["id"],
            &feedback_path["schema"],
        ] {
            assert_eq!(other["pattern"], id.as_str(), "{other}");
        }
        let label_names = &schemas["IncidentInput"]["properties"]["labels"]["propertyNames"];
        assert_eq!(
            label_names["pattern"],
            schemas["LabelFeedback"]["properties"]["field"]["pattern"]
        );
        let feedback = &schemas["LabelFeedback"]["properties"];
        let (field, agent) = (pattern(&feedback["field"]), pattern(&feedback["agent"]));
        for schema in ["NewTicket", "IncidentInput"] {
            for text in ["title", "description"] {
                let max = &schemas[schema]["properties"][text]["maxLength"];
                assert_eq!(*max, crate::domain::MAX_TEXT_CHARS, "{schema}.{text}");
            }
        }
        let ids = [
            "INC0012345",
            "INC 1",
            "",
            "a\u{7}b",
            "a\u{85}b",
            "é-ü_1",
            "x\ty",
        ];
        for sample in ids {
            let ticket = NewTicket {
                id: Some(sample.to_owned()),
                title: "t".into(),
                ..Default::default()
            };
            assert_eq!(
                id.is_match(sample),
                ticket.validate().is_ok(),
                "id {sample:?}"
            );
        }
        let agents = [
            "ana",
            " ana ",
            "",
            "   ",
            "a\u{1}b",
            "Ana Lopez (L2)",
            "x\u{9f}",
        ];
        let fields = ["assignment_group", "a-b", "", "a b", "é", &"x".repeat(65)];
        for (f, a) in fields
            .iter()
            .flat_map(|f| agents.iter().map(move |a| (*f, *a)))
        {
            let feedback = LabelFeedback {
                field: f.into(),
                label: "Network".into(),
                agent: a.into(),
            };
            assert_eq!(
                field.is_match(f) && agent.is_match(a),
                feedback.validate().is_ok(),
                "field {f:?}, agent {a:?}"
            );
        }
    }
}
