//! `GET /openapi.json`: the API description, generated from the handlers'
//! `#[utoipa::path]` attributes and the types' `ToSchema` derives, so it cannot drift
//! from the code.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorDetail};
use super::executions::DecisionBody;
use crate::automation::{AuditEntry, Decision, Execution, ExecutionRequest, ExecutionState};
use crate::classify::TermWeight;
use crate::domain::{Incident, IncidentInput, LabelFeedback, NewTicket};
use crate::runbook::{RunbookMatch, StepResult, StepStatus};
use crate::triage::{
    Alternative, DerivedPriority, Evidence, FeedbackEntry, FeedbackReceipt, FeedbackStats,
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
                       of viewer < agent < approver < admin. Errors are \
                       `{ \"error\": { \"code\", \"message\", \"field\"? } }`."
    ),
    paths(
        super::triage::triage,
        super::incidents::put_incident,
        super::incidents::get_incident,
        super::feedback::post_feedback,
        super::feedback::stats,
        super::feedback::retrain,
        super::executions::create_execution,
        super::executions::list_executions,
        super::executions::get_execution,
        super::executions::approve_execution,
        super::executions::reject_execution,
        super::executions::cancel_execution,
        super::executions::execution_audit,
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
        AuditEntry, DecisionBody, Decision,
    )),
    modifiers(&BearerToken),
    tags(
        (name = "triage", description = "Suggestions for a new ticket"),
        (name = "incidents", description = "Resolved incidents the suggestions learn from"),
        (name = "feedback", description = "Agents' corrections, statistics, retraining"),
        (name = "executions", description = "Approved runbook automations"),
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

/// The OpenAPI 3.1 description of this API.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3.1 document")))]
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
