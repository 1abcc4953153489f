//! The evidence a draft may cite: past incidents' resolutions and knowledge
//! passages close enough to the ticket, each under the id it is cited by.

use super::model::EvidenceRef;
use crate::triage::Retrieved;

/// What a piece of evidence is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// A past incident: its resolution is the passage.
    Incident,
    /// A knowledge article chunk.
    Knowledge,
}

/// One citable passage.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// Citation id: the incident id, or `kb:<chunk id>`.
    pub id: String,
    /// Incident or article.
    pub kind: EvidenceKind,
    /// The incident's or article's title (with the section heading).
    pub title: String,
    /// The passage itself: a resolution or a chunk's text.
    pub text: String,
    /// Cosine similarity of its incident or chunk to the ticket.
    pub similarity: f32,
    /// Link or path of an article.
    pub url: Option<String>,
}

impl Evidence {
    /// The public description of this evidence.
    pub fn to_ref(&self) -> EvidenceRef {
        EvidenceRef {
            id: self.id.clone(),
            kind: match self.kind {
                EvidenceKind::Incident => "incident",
                EvidenceKind::Knowledge => "knowledge",
            }
            .to_owned(),
            title: self.title.clone(),
            similarity: self.similarity,
            url: self.url.clone(),
        }
    }
}

/// A citation id must survive being written in brackets.
fn citable(id: &str) -> bool {
    !id.is_empty() && !id.contains(['[', ']', ',', ';']) && !id.chars().any(char::is_whitespace)
}

/// The evidence for a draft, best first, at most `max`: incidents with a
/// resolution and knowledge chunks, each at least `min_similarity` similar.
/// `Err` says why there is not enough to draft from.
pub fn gather(
    retrieved: &Retrieved,
    min_similarity: f32,
    max: usize,
) -> Result<Vec<Evidence>, String> {
    let best = retrieved
        .incidents
        .iter()
        .map(|(s, _)| *s)
        .chain(retrieved.articles.iter().map(|(s, _)| *s))
        .fold(f32::NEG_INFINITY, f32::max);
    if best == f32::NEG_INFINITY {
        return Err("no similar incidents or knowledge articles are stored".to_owned());
    }
    if best < min_similarity {
        return Err(format!(
            "the closest incident or article is only {best:.2} similar to this ticket (drafts need {min_similarity:.2}): too weak to suggest a fix"
        ));
    }
    let mut evidence: Vec<Evidence> = Vec::new();
    for (similarity, incident) in &retrieved.incidents {
        let resolution = incident.resolution.as_deref().unwrap_or("").trim();
        if *similarity < min_similarity || resolution.is_empty() || !citable(&incident.id) {
            continue;
        }
        evidence.push(Evidence {
            id: incident.id.clone(),
            kind: EvidenceKind::Incident,
            title: incident.title.clone(),
            text: resolution.to_owned(),
            similarity: *similarity,
            url: None,
        });
    }
    for (similarity, chunk) in &retrieved.articles {
        let id = format!("kb:{}", chunk.id);
        if *similarity < min_similarity || chunk.text.trim().is_empty() || !citable(&id) {
            continue;
        }
        let title = if chunk.heading.is_empty() || chunk.heading == chunk.title {
            chunk.title.clone()
        } else {
            format!("{}: {}", chunk.title, chunk.heading)
        };
        evidence.push(Evidence {
            id,
            kind: EvidenceKind::Knowledge,
            title,
            text: chunk.text.trim().to_owned(),
            similarity: *similarity,
            url: (!chunk.url.is_empty()).then(|| chunk.url.clone()),
        });
    }
    if evidence.is_empty() {
        return Err(
            "the similar incidents have no recorded resolution and no knowledge article is close enough"
                .to_owned(),
        );
    }
    evidence.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
    evidence.truncate(max.max(1));
    Ok(evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Incident;
    use crate::triage::{KnowledgeChunk, RememberedTicket};

    fn incident(id: &str, resolution: Option<&str>) -> Incident {
        Incident {
            id: id.into(),
            title: format!("title of {id}"),
            resolution: resolution.map(Into::into),
            ..Incident::default()
        }
    }

    fn chunk(id: &str, text: &str) -> KnowledgeChunk {
        KnowledgeChunk {
            id: id.into(),
            article_id: "vpn".into(),
            title: "VPN".into(),
            heading: "Reset".into(),
            url: "kb/vpn.md".into(),
            tags: vec![],
            text: text.into(),
        }
    }

    fn retrieved(
        incidents: Vec<(f32, Incident)>,
        articles: Vec<(f32, KnowledgeChunk)>,
    ) -> Retrieved {
        Retrieved {
            ticket: RememberedTicket::default(),
            incidents,
            articles,
        }
    }

    #[test]
    fn nothing_stored_is_no_evidence() {
        let err = gather(&retrieved(vec![], vec![]), 0.5, 5).unwrap_err();
        assert!(err.contains("no similar"), "{err}");
    }

    #[test]
    fn weak_similarity_is_refused_with_the_figure() {
        let r = retrieved(vec![(0.31, incident("INC1", Some("Restart it")))], vec![]);
        let err = gather(&r, 0.5, 5).unwrap_err();
        assert!(err.contains("0.31"), "{err}");
    }

    #[test]
    fn incidents_without_resolution_are_not_evidence() {
        let r = retrieved(
            vec![
                (0.9, incident("INC1", None)),
                (0.8, incident("INC2", Some("  "))),
            ],
            vec![],
        );
        let err = gather(&r, 0.5, 5).unwrap_err();
        assert!(err.contains("no recorded resolution"), "{err}");
    }

    #[test]
    fn evidence_is_ranked_capped_and_cited_by_id() {
        let r = retrieved(
            vec![
                (0.7, incident("INC1", Some("Cleared the cache."))),
                (0.4, incident("INC2", Some("Too far away."))),
                (0.6, incident("bad id]", Some("Cannot be cited."))),
            ],
            vec![(0.8, chunk("vpn#2", "Reset the VPN profile."))],
        );
        let evidence = gather(&r, 0.5, 5).unwrap();
        let ids: Vec<_> = evidence.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["kb:vpn#2", "INC1"]);
        assert_eq!(evidence[0].title, "VPN: Reset");
        assert_eq!(gather(&r, 0.5, 1).unwrap().len(), 1);
    }
}
