//! Prometheus metrics: one process-wide registry the layers record into and
//! `GET /metrics` renders in the text exposition format.
//!
//! What is recorded: request latency by route and status (HTTP middleware), texts per
//! model pass, queue depth, texts embedded and requests refused for overload (embedding
//! worker), suggestions by route decision (triage service) and executions by state
//! (read from the state database when scraped). Embeddings per second is
//! `rate(switchboard_embeddings_total[1m])`.

use std::sync::LazyLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels of an HTTP request sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// The route template (`/v1/executions/{id}`), never the raw path.
    pub route: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of a suggestion sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SuggestionLabels {
    /// The field suggested (`assignment_group`, `category`, ...).
    pub field: String,
    /// The route decision: `auto` or `suggest`.
    pub decision: String,
}

/// Labels of an execution-count sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// Execution state (`pending_approval`, `succeeded`, ...).
    pub state: String,
}

/// Labels of a connector event sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorLabels {
    /// Connector name.
    pub connector: String,
    /// What happened: `queued`, `duplicate`, `ignored`, `refused`, `malformed`
    /// (events); `done`, `retry`, `dead` (job attempts).
    pub outcome: String,
}

/// Labels of a connector job-count sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorJobLabels {
    /// Connector name.
    pub connector: String,
    /// Job state.
    pub state: String,
}

/// Labels naming where requests were refused (`executions`, `connector:NAME`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SurfaceLabels {
    /// The surface.
    pub surface: String,
}

/// Labels naming one connector.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectorName {
    /// Connector name.
    pub connector: String,
}

/// Labels of a draft sample.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DraftLabels {
    /// `extractive`, `candle` or `openai`.
    pub backend: String,
    /// `drafted`, `no_draft`, `failed` or `timeout`.
    pub outcome: String,
}

/// Labels naming a draft backend.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DraftBackendLabel {
    /// `extractive`, `candle` or `openai`.
    pub backend: String,
}

/// Every metric the service exports.
pub struct Metrics {
    registry: Registry,
    /// Request latency in seconds by method, route and status.
    pub requests: Family<RequestLabels, Histogram>,
    /// Texts the model thread embedded together in one batch.
    pub batch_size: Histogram,
    /// Embedding requests waiting for the model thread.
    pub queue_depth: Gauge,
    /// Texts embedded since start.
    pub embeddings: Counter,
    /// Embedding requests refused because the queue was full.
    pub overloaded: Counter,
    /// Suggestions made, by field and route decision.
    pub suggestions: Family<SuggestionLabels, Counter>,
    /// Executions per state, refreshed from the state database on every scrape.
    pub executions: Family<StateLabels, Gauge>,
    /// Connector events received and job attempts, by outcome.
    pub connector_events: Family<ConnectorLabels, Counter>,
    /// Connector jobs per state, refreshed from the state database on every scrape.
    pub connector_jobs: Family<ConnectorJobLabels, Gauge>,
    /// Seconds from an event's arrival to its write-back, per connector.
    pub connector_latency: Family<ConnectorName, Histogram>,
    /// Unix time of each polled connector's last successful poll: alert when
    /// it falls behind (`time() - switchboard_connector_last_poll_seconds`).
    pub connector_last_poll: Family<ConnectorName, Gauge>,
    /// Storms (bursts of similar tickets) opened since start.
    pub storms_opened: Counter,
    /// Requests refused for their credentials, by surface (the audit chain
    /// holds a sample of them: one entry a minute at most).
    pub refusals: Family<SurfaceLabels, Counter>,
    /// Drafts asked for, by backend and outcome.
    pub drafts: Family<DraftLabels, Counter>,
    /// Seconds a draft took, by backend.
    pub draft_duration: Family<DraftBackendLabel, Histogram>,
    /// Sentences the grounding filter dropped and citations it removed, by
    /// backend: a generator that starts inventing shows here first.
    pub draft_sentences_dropped: Family<DraftBackendLabel, Counter>,
    /// Citations to ids that were not among the evidence, by backend.
    pub draft_invented_citations: Family<DraftBackendLabel, Counter>,
}

fn draft_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.01, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ])
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
    ])
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("switchboard");
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by method, route and status",
            requests.clone(),
        );
        let batch_size = Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]);
        registry.register(
            "embed_batch_size",
            "Texts the model thread embedded together in one batch",
            batch_size.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "embed_queue_depth",
            "Embedding requests waiting for the model thread",
            queue_depth.clone(),
        );
        let embeddings = Counter::default();
        registry.register("embeddings", "Texts embedded", embeddings.clone());
        let overloaded = Counter::default();
        registry.register(
            "embed_overloaded",
            "Embedding requests refused because the queue was full (answered 503)",
            overloaded.clone(),
        );
        let suggestions = Family::<SuggestionLabels, Counter>::default();
        registry.register(
            "suggestions",
            "Suggestions made, by field and route decision",
            suggestions.clone(),
        );
        let executions = Family::<StateLabels, Gauge>::default();
        registry.register(
            "executions",
            "Runbook executions by state",
            executions.clone(),
        );
        let connector_events = Family::<ConnectorLabels, Counter>::default();
        registry.register(
            "connector_events",
            "Connector events received and job attempts, by outcome",
            connector_events.clone(),
        );
        let connector_jobs = Family::<ConnectorJobLabels, Gauge>::default();
        registry.register(
            "connector_jobs",
            "Connector jobs by state",
            connector_jobs.clone(),
        );
        let connector_latency = Family::<ConnectorName, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "connector_writeback_seconds",
            "Seconds from an event's arrival to its write-back",
            connector_latency.clone(),
        );
        let connector_last_poll = Family::<ConnectorName, Gauge>::default();
        registry.register(
            "connector_last_poll_seconds",
            "Unix time of a polled connector's last successful poll",
            connector_last_poll.clone(),
        );
        let storms_opened = Counter::default();
        registry.register(
            "storms_opened",
            "Storms (bursts of similar tickets: an outage) opened",
            storms_opened.clone(),
        );
        let refusals = Family::<SurfaceLabels, Counter>::default();
        registry.register(
            "refusals",
            "Requests refused for a missing or wrong token or signature, by surface",
            refusals.clone(),
        );
        let drafts = Family::<DraftLabels, Counter>::default();
        registry.register(
            "drafts",
            "Suggested resolutions asked for, by backend and outcome",
            drafts.clone(),
        );
        let draft_duration = Family::<DraftBackendLabel, Histogram>::new_with_constructor(
            draft_histogram as fn() -> Histogram,
        );
        registry.register(
            "draft_duration_seconds",
            "Seconds a draft took, by backend",
            draft_duration.clone(),
        );
        let draft_sentences_dropped = Family::<DraftBackendLabel, Counter>::default();
        registry.register(
            "draft_sentences_dropped",
            "Sentences a draft backend wrote that no retrieved passage supports",
            draft_sentences_dropped.clone(),
        );
        let draft_invented_citations = Family::<DraftBackendLabel, Counter>::default();
        registry.register(
            "draft_invented_citations",
            "Citations a draft backend wrote to ids that were not among the evidence",
            draft_invented_citations.clone(),
        );
        Self {
            drafts,
            draft_duration,
            draft_sentences_dropped,
            draft_invented_citations,
            storms_opened,
            refusals,
            connector_last_poll,
            connector_events,
            connector_jobs,
            connector_latency,
            registry,
            requests,
            batch_size,
            queue_depth,
            embeddings,
            overloaded,
            suggestions,
            executions,
        }
    }

    /// The registry in Prometheus' text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("cannot encode metrics");
        }
        out
    }
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}
