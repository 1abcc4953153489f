//! Writing the store: incidents and knowledge articles embedded and stored
//! (insert or replace by id), removed, read back, flushed. The read side,
//! triage itself, is `service.rs`.

use std::sync::Arc;

use super::model::{KnowledgeChunk, TriageError};
use super::service::{TriageService, blocking};
use crate::domain::Incident;
use crate::store::{Collection, PayloadRecord, StoredPoint};

/// Most neighbours [`TriageService::history_share`] counts.
const HISTORY_SHARE_CAP: usize = 1024;

impl TriageService {
    /// Validates, embeds and stores incidents (insert or replace by id).
    pub async fn store_incidents(&self, incidents: Vec<Incident>) -> Result<(), TriageError> {
        for incident in &incidents {
            incident.validate()?;
        }
        let texts: Vec<String> = incidents.iter().map(|i| self.incident_text(i)).collect();
        let vectors = self.embedder.embed(texts).await?;
        self.store_embedded_incidents(incidents, vectors).await
    }

    /// Validates and stores incidents whose embeddings are already known
    /// (`vectors[i]` belongs to `incidents[i]`).
    pub async fn store_embedded_incidents(
        &self,
        incidents: Vec<Incident>,
        vectors: Vec<Vec<f32>>,
    ) -> Result<(), TriageError> {
        for incident in &incidents {
            incident.validate()?;
        }
        for incident in &incidents {
            let texts = [
                incident.title.as_str(),
                incident.description.as_str(),
                incident.resolution.as_deref().unwrap_or(""),
            ];
            self.record_subjects(&incident.id, &texts).await?;
        }
        let ids: Vec<String> = incidents.iter().map(|i| i.id.clone()).collect();
        self.date_stored(Collection::Incidents, &ids).await?;
        let points = incidents
            .iter()
            .zip(vectors)
            .map(|(incident, vector)| self.incident_point(incident, vector))
            .collect();
        let store = Arc::clone(&self.store);
        blocking(move || store.upsert(Collection::Incidents, points)).await
    }

    /// Removes stored incidents by id (ids not stored are ignored); the
    /// classifier head forgets them at its next retrain.
    pub async fn delete_incidents(&self, ids: Vec<String>) -> Result<(), TriageError> {
        let store = Arc::clone(&self.store);
        blocking(move || {
            ids.iter()
                .try_for_each(|id| store.delete_where(Collection::Incidents, "id", id))
        })
        .await
    }

    /// The stored incident with `id`, if any.
    pub async fn incident(&self, id: &str) -> Result<Option<Incident>, TriageError> {
        let store = Arc::clone(&self.store);
        let id = id.to_owned();
        let point = blocking(move || store.get(Collection::Incidents, &id)).await?;
        Ok(point.and_then(|p| Incident::from_payload(p.payload)))
    }

    /// Replaces every stored chunk of `article_id` with `chunks`.
    pub async fn store_article(
        &self,
        article_id: &str,
        chunks: Vec<KnowledgeChunk>,
    ) -> Result<(), TriageError> {
        let points = self
            .embed_points(
                &chunks,
                |c| self.prompts.passage(&c.title, &c.text),
                |c| &c.id,
            )
            .await?;
        let store = Arc::clone(&self.store);
        let article_id = article_id.to_owned();
        blocking(move || {
            store.delete_where(Collection::Knowledge, "article_id", &article_id)?;
            store.upsert(Collection::Knowledge, points)
        })
        .await
    }

    /// Embeds `records` (text from `text`) into store points carrying the record as payload.
    async fn embed_points<T: PayloadRecord>(
        &self,
        records: &[T],
        text: impl Fn(&T) -> String,
        id: impl Fn(&T) -> &String,
    ) -> Result<Vec<StoredPoint>, TriageError> {
        let texts: Vec<String> = records.iter().map(text).collect();
        let vectors = self.embedder.embed(texts.clone()).await?;
        Ok(records
            .iter()
            .zip(vectors)
            .zip(texts)
            .map(|((record, vector), text)| StoredPoint {
                id: id(record).clone(),
                vector,
                text: Some(text),
                payload: record.to_payload(),
            })
            .collect())
    }

    /// The share (0-1) of stored incidents at least `threshold` similar to
    /// `vector`: how common its topic is in the desk's history (counted
    /// among the nearest 1,024; 0 with nothing stored).
    pub async fn history_share(&self, vector: &[f32], threshold: f32) -> Result<f32, TriageError> {
        let store = Arc::clone(&self.store);
        let vector = vector.to_vec();
        let (similar, total) = blocking(move || {
            let hits = store.search(
                Collection::Incidents,
                crate::store::Query::dense(&vector),
                HISTORY_SHARE_CAP,
            )?;
            let similar = hits.iter().filter(|h| h.score >= threshold).count();
            Ok((similar, store.count(Collection::Incidents)?))
        })
        .await?;
        Ok(if total == 0 {
            0.0
        } else {
            similar as f32 / total as f32
        })
    }

    /// Makes stored data durable and builds indexes; call after bulk loads.
    pub async fn flush(&self) -> Result<(), TriageError> {
        let store = Arc::clone(&self.store);
        blocking(move || store.flush()).await
    }
}
