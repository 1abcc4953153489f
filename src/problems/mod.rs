//! Problem candidates: recurring clusters among the stored incidents, for a
//! problem manager looking for the causes worth removing.
//!
//! [`find_problems`] clusters the incidents' embeddings ([`cluster::dbscan`]
//! over the store's nearest neighbours) and describes each cluster: its size
//! and trend, the tickets closest to its centre, the words its members
//! share, the resolutions that recur, the groups and categories involved,
//! and the knowledge passage nearest to it (a low similarity is a knowledge
//! gap). `report` writes the result as JSON (served by `GET /v1/problems`)
//! and as an HTML page with a chart.

pub mod cluster;
pub mod report;

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::domain::Incident;
use crate::store::{Collection, PayloadRecord, Query, StoreError, VectorStore};
use crate::vectors::dot;

/// Representative tickets listed per problem.
const REPRESENTATIVES: usize = 3;
/// Shared words listed per problem.
const TERMS: usize = 6;
/// Recurring resolutions listed per problem.
const RESOLUTIONS: usize = 3;
/// Groups and categories listed per problem.
const LABELS: usize = 5;
/// A word in at least this share of a cluster's members is one it shares.
const SHARED_SHARE: f32 = 0.5;
const DAY_MS: i64 = 86_400_000;

/// How problems are looked for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ProblemOptions {
    /// Only incidents opened at or after this time (Unix ms); incidents
    /// without an opening time are then left out.
    pub since: Option<i64>,
    /// Cosine similarity at which two incidents are neighbours.
    pub similarity: f32,
    /// Incidents a cluster needs (and neighbours, itself included, a core
    /// incident needs): fewer is not a pattern.
    pub min_size: usize,
    /// Nearest neighbours looked up per incident.
    pub neighbours: usize,
    /// Below this similarity between a cluster's centre and the nearest
    /// knowledge passage, the cluster is a knowledge gap.
    pub knowledge_gap: f32,
    /// Most problems reported, largest first.
    pub max_problems: usize,
}

impl Default for ProblemOptions {
    fn default() -> Self {
        Self {
            since: None,
            similarity: 0.8,
            min_size: 5,
            neighbours: 20,
            knowledge_gap: 0.5,
            max_problems: 50,
        }
    }
}

/// A count of one label value among a problem's incidents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LabelCount {
    /// The value.
    pub label: String,
    /// Incidents with it.
    pub count: usize,
}

/// Incidents per month.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct MonthCount {
    /// `YYYY-MM`.
    pub month: String,
    /// Incidents opened in it.
    pub count: usize,
}

/// Whether a problem grows.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Trend {
    /// Incidents in the last 30 days of the data.
    pub last_30_days: usize,
    /// Incidents in the 30 days before those.
    pub previous_30_days: usize,
    /// `rising` (at least 2, and more than 1.5 times the 30 days before),
    /// `falling` (the other way round), `steady`, or `unknown` when the
    /// incidents considered span less than 60 days.
    pub direction: String,
}

/// A ticket near the centre of a problem.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Representative {
    /// Incident id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Similarity to the problem's centre.
    pub similarity: f32,
}

/// A resolution text several of a problem's incidents share.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct RecurringResolution {
    /// The resolution, as written on `example`.
    pub text: String,
    /// Incidents resolved with it (compared without case, digits and spacing).
    pub count: usize,
    /// One incident resolved with it.
    pub example: String,
}

/// The knowledge passage nearest to a problem.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct KnowledgeMatch {
    /// Article title.
    pub title: String,
    /// Section heading.
    pub heading: String,
    /// Article link, if any.
    pub url: String,
    /// Similarity to the problem's centre.
    pub similarity: f32,
}

/// A recurring cluster of incidents: a problem candidate.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Problem {
    /// Stable while its most central incident stays the same.
    pub id: String,
    /// Incidents in it.
    pub size: usize,
    /// Words most of its incidents share.
    pub terms: Vec<String>,
    /// Mean similarity of its incidents to its centre.
    pub cohesion: f32,
    /// Earliest opening time (Unix ms), when known.
    pub first_seen: Option<i64>,
    /// Latest opening time (Unix ms), when known.
    pub last_seen: Option<i64>,
    /// Incidents per month.
    pub by_month: Vec<MonthCount>,
    /// The last 30 days against the 30 before.
    pub trend: Trend,
    /// The incidents closest to its centre.
    pub representatives: Vec<Representative>,
    /// Resolutions that recur among its incidents, most frequent first.
    pub resolutions: Vec<RecurringResolution>,
    /// Incidents with a resolution text.
    pub resolved: usize,
    /// Assignment groups involved, most first.
    pub groups: Vec<LabelCount>,
    /// Categories involved, most first.
    pub categories: Vec<LabelCount>,
    /// The nearest knowledge passage, if the store has articles.
    pub knowledge: Option<KnowledgeMatch>,
    /// True when no passage is at least `knowledge_gap` similar.
    pub knowledge_gap: bool,
}

/// What `switchboard problems` found.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ProblemReport {
    /// When it was made (Unix ms).
    pub generated_at: i64,
    /// The options it was made with.
    pub options: ProblemOptions,
    /// Incidents considered.
    pub incidents: usize,
    /// Of those, incidents in some cluster.
    pub clustered: usize,
    /// Clusters found (the report lists at most `options.max_problems`).
    pub clusters: usize,
    /// The problems, largest first.
    pub problems: Vec<Problem>,
    /// Time spent, in milliseconds.
    pub took_ms: f64,
}

/// Failures of problem finding.
#[derive(Debug, thiserror::Error)]
pub enum ProblemError {
    /// The options make no sense.
    #[error("{0}")]
    Options(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The report file could not be read or written.
    #[error("report file: {0}")]
    Io(#[from] std::io::Error),
    /// The report file is not a report.
    #[error("report file: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The state database failed.
    #[error("state database: {0}")]
    Database(#[from] sqlx::Error),
}

/// An incident's opening time in Unix ms, from the formats ticketing systems
/// export (RFC 3339, `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DD`).
pub fn opened_ms(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc().timestamp_millis());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_millis())
}

impl ProblemOptions {
    fn validate(&self) -> Result<(), ProblemError> {
        let bad = |m: &str| Err(ProblemError::Options(m.to_owned()));
        if !(0.0..=1.0).contains(&self.similarity) || !(0.0..=1.0).contains(&self.knowledge_gap) {
            return bad("similarity and knowledge_gap must lie in [0, 1]");
        }
        if self.min_size < 2 || self.neighbours < 1 || self.neighbours > 1000 {
            return bad("min_size must be at least 2 and neighbours between 1 and 1000");
        }
        if self.max_problems == 0 {
            return bad("max_problems must be at least 1");
        }
        Ok(())
    }
}

/// One incident as clustering sees it.
struct Member {
    incident: Incident,
    vector: Vec<f32>,
    opened: Option<i64>,
}

/// Clusters the incidents in `store` and describes the recurring clusters.
/// Runs on the calling thread plus rayon's pool (one store search per incident).
pub fn find_problems(
    store: &dyn VectorStore,
    options: &ProblemOptions,
) -> Result<ProblemReport, ProblemError> {
    options.validate()?;
    let started = Instant::now();
    let members: Vec<Member> = store
        .all(Collection::Incidents)?
        .into_iter()
        .filter_map(|point| {
            let incident = Incident::from_payload(point.payload)?;
            let opened = incident.opened_at.as_deref().and_then(opened_ms);
            let wanted = match options.since {
                Some(since) => opened.is_some_and(|at| at >= since),
                None => true,
            };
            wanted.then_some(Member {
                incident,
                vector: point.vector,
                opened,
            })
        })
        .collect();
    let index: HashMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.incident.id.as_str(), i))
        .collect();
    let neighbours = members
        .par_iter()
        .map(|m| {
            let hits = store.search(
                Collection::Incidents,
                Query::dense(&m.vector),
                options.neighbours + 1,
            )?;
            Ok(hits
                .into_iter()
                .filter_map(|h| index.get(h.id.as_str()).map(|&j| (j, h.score)))
                .collect())
        })
        .collect::<Result<Vec<cluster::Neighbours>, StoreError>>()?;
    let clusters = tighten(
        &members,
        &neighbours,
        cluster::dbscan(&neighbours, options.similarity, options.min_size),
        options,
    );
    let newest = members.iter().filter_map(|m| m.opened).max();
    let oldest = members.iter().filter_map(|m| m.opened).min();
    // A trend compares two 30-day periods: with less history it means nothing.
    let history = match (oldest, newest) {
        (Some(oldest), Some(newest)) if newest - oldest >= 60 * DAY_MS => Some(newest),
        _ => None,
    };
    let problems = clusters
        .iter()
        .take(options.max_problems)
        .map(|cluster| describe(store, &members, cluster, history, options))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ProblemReport {
        generated_at: chrono::Utc::now().timestamp_millis(),
        options: options.clone(),
        incidents: members.len(),
        clustered: clusters.iter().map(Vec::len).sum(),
        clusters: clusters.len(),
        problems,
        took_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// How much the similarity rises each time a loose cluster is split.
const SPLIT_STEP: f32 = 0.05;
/// No split above this similarity: what is left is kept as it is.
const MAX_SPLIT_SIMILARITY: f32 = 0.96;

/// Splits clusters too loose to be one problem: DBSCAN chains dense regions
/// that touch, so a cluster whose incidents are on average less similar to
/// its centre than `options.similarity` is clustered again, within itself,
/// at a similarity `SPLIT_STEP` higher (up to `MAX_SPLIT_SIMILARITY`).
/// Returns clusters of at least `min_size`, largest first.
fn tighten(
    members: &[Member],
    neighbours: &[cluster::Neighbours],
    clusters: Vec<Vec<usize>>,
    options: &ProblemOptions,
) -> Vec<Vec<usize>> {
    let mut pending: Vec<(Vec<usize>, f32)> = clusters
        .into_iter()
        .map(|c| (c, options.similarity))
        .collect();
    let mut done = Vec::new();
    while let Some((cluster, similarity)) = pending.pop() {
        if cluster.len() < options.min_size {
            continue;
        }
        let next = similarity + SPLIT_STEP;
        if cohesion(members, &cluster) >= options.similarity || next > MAX_SPLIT_SIMILARITY {
            done.push(cluster);
            continue;
        }
        for part in cluster::dbscan_within(neighbours, &cluster, next, options.min_size) {
            pending.push((part, next));
        }
    }
    done.sort_by(|a, b| b.len().cmp(&a.len()).then(a[0].cmp(&b[0])));
    done
}

/// The unit-length centre of `cluster`.
fn centre(members: &[Member], cluster: &[usize]) -> Vec<f32> {
    let mut centre = vec![0.0f32; members[cluster[0]].vector.len()];
    for &i in cluster {
        for (c, x) in centre.iter_mut().zip(&members[i].vector) {
            *c += x;
        }
    }
    let norm = centre.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    centre.iter_mut().for_each(|c| *c /= norm);
    centre
}

/// Mean similarity of a cluster's incidents to its centre.
fn cohesion(members: &[Member], cluster: &[usize]) -> f32 {
    let centre = centre(members, cluster);
    cluster
        .iter()
        .map(|&i| dot(&members[i].vector, &centre))
        .sum::<f32>()
        / cluster.len() as f32
}

fn counted(values: impl Iterator<Item = String>, limit: usize) -> Vec<LabelCount> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for value in values.filter(|v| !v.trim().is_empty()) {
        *counts.entry(value).or_default() += 1;
    }
    let mut out: Vec<LabelCount> = counts
        .into_iter()
        .map(|(label, count)| LabelCount { label, count })
        .collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
    out.truncate(limit);
    out
}

/// A resolution as compared with others: lower case, digits as `#`, single spaces.
fn resolution_key(text: &str) -> String {
    text.to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end_matches(['.', '!', ' '])
        .to_owned()
}

fn describe(
    store: &dyn VectorStore,
    members: &[Member],
    cluster: &[usize],
    newest: Option<i64>,
    options: &ProblemOptions,
) -> Result<Problem, ProblemError> {
    let centre = centre(members, cluster);
    let mut closeness: Vec<(usize, f32)> = cluster
        .iter()
        .map(|&i| (i, dot(&members[i].vector, &centre)))
        .collect();
    let cohesion = closeness.iter().map(|c| c.1).sum::<f32>() / cluster.len() as f32;
    closeness.sort_by(|a, b| b.1.total_cmp(&a.1));
    let representatives: Vec<Representative> = closeness
        .iter()
        .take(REPRESENTATIVES)
        .map(|&(i, similarity)| Representative {
            id: members[i].incident.id.clone(),
            title: members[i].incident.title.clone(),
            similarity,
        })
        .collect();

    let mut words: BTreeMap<String, usize> = BTreeMap::new();
    let mut months: BTreeMap<String, usize> = BTreeMap::new();
    let mut resolutions: HashMap<String, (usize, String, String)> = HashMap::new();
    let mut resolved = 0;
    let (mut recent, mut previous) = (0, 0);
    for &i in cluster {
        let incident = &members[i].incident;
        for term in crate::storms::ticket_terms(&incident.title, &incident.description) {
            *words.entry(term).or_default() += 1;
        }
        if let Some(at) = members[i].opened {
            if let Some(day) = chrono::DateTime::from_timestamp_millis(at) {
                *months.entry(day.format("%Y-%m").to_string()).or_default() += 1;
            }
            if let Some(newest) = newest {
                if at > newest - 30 * DAY_MS {
                    recent += 1;
                } else if at > newest - 60 * DAY_MS {
                    previous += 1;
                }
            }
        }
        if let Some(text) = incident
            .resolution
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            resolved += 1;
            let entry = resolutions
                .entry(resolution_key(text))
                .or_insert_with(|| (0, text.trim().to_owned(), incident.id.clone()));
            entry.0 += 1;
        }
    }
    let needed = ((cluster.len() as f32) * SHARED_SHARE).ceil().max(2.0) as usize;
    let mut terms: Vec<(String, usize)> = words.into_iter().filter(|(_, n)| *n >= needed).collect();
    terms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut recurring: Vec<RecurringResolution> = resolutions
        .into_values()
        .filter(|(count, _, _)| *count >= 2)
        .map(|(count, text, example)| RecurringResolution {
            text,
            count,
            example,
        })
        .collect();
    recurring.sort_by(|a, b| b.count.cmp(&a.count).then(a.example.cmp(&b.example)));
    recurring.truncate(RESOLUTIONS);
    let direction = if newest.is_none() {
        "unknown"
    } else if recent >= 2 && recent as f32 > 1.5 * previous as f32 {
        "rising"
    } else if previous >= 2 && previous as f32 > 1.5 * recent as f32 {
        "falling"
    } else {
        "steady"
    };
    let knowledge = store
        .search(Collection::Knowledge, Query::dense(&centre), 1)?
        .into_iter()
        .next()
        .map(|hit| {
            let field = |key: &str| {
                hit.payload
                    .get(key)
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            KnowledgeMatch {
                title: field("title"),
                heading: field("heading"),
                url: field("url"),
                similarity: hit.score,
            }
        });
    let opened: Vec<i64> = cluster.iter().filter_map(|&i| members[i].opened).collect();
    Ok(Problem {
        id: format!(
            "problem-{}",
            &uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, representatives[0].id.as_bytes())
                .simple()
                .to_string()[..12]
        ),
        size: cluster.len(),
        terms: terms.into_iter().take(TERMS).map(|(t, _)| t).collect(),
        cohesion,
        first_seen: opened.iter().min().copied(),
        last_seen: opened.iter().max().copied(),
        by_month: months
            .into_iter()
            .map(|(month, count)| MonthCount { month, count })
            .collect(),
        trend: Trend {
            last_30_days: recent,
            previous_30_days: previous,
            direction: direction.to_owned(),
        },
        representatives,
        resolutions: recurring,
        resolved,
        groups: counted(
            cluster
                .iter()
                .filter_map(|&i| members[i].incident.labels.get("assignment_group").cloned()),
            LABELS,
        ),
        categories: counted(
            cluster
                .iter()
                .filter_map(|&i| members[i].incident.labels.get("category").cloned()),
            LABELS,
        ),
        knowledge_gap: knowledge
            .as_ref()
            .is_none_or(|k| k.similarity < options.knowledge_gap),
        knowledge,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolutions_compare_without_case_digits_or_spacing() {
        assert_eq!(
            resolution_key("Restarted  the service on node 4."),
            resolution_key("restarted the service on node 7")
        );
    }

    #[test]
    fn opening_times_parse_from_common_exports() {
        let at = opened_ms("2026-09-08T08:15:00Z").unwrap();
        assert_eq!(opened_ms("2026-09-08 08:15:00"), Some(at));
        assert_eq!(opened_ms("2026-09-08"), Some(at - (8 * 60 + 15) * 60_000));
        assert_eq!(opened_ms("last tuesday"), None);
    }

    #[test]
    fn bad_options_are_refused() {
        for options in [
            ProblemOptions {
                similarity: 1.5,
                ..Default::default()
            },
            ProblemOptions {
                min_size: 1,
                ..Default::default()
            },
            ProblemOptions {
                neighbours: 0,
                ..Default::default()
            },
        ] {
            assert!(options.validate().is_err());
        }
    }
}
