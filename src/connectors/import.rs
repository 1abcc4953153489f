//! History import: a connector's resolved tickets, page by page, stored as
//! incidents with their final labels and resolutions. The page cursor is
//! saved after each page, so an interrupted import resumes where it stopped.

use super::ConnectorService;
use super::service::final_labels;
use crate::domain::Incident;
use crate::triage::TriageService;

/// What a history import did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    /// Resolved tickets stored as incidents.
    pub imported: usize,
    /// Tickets skipped (no text).
    pub skipped: usize,
    /// Pages read.
    pub pages: usize,
}

impl ConnectorService {
    /// Imports connector `name`'s resolved tickets (since `since`, Unix
    /// seconds, when given) as incidents with their final labels and
    /// resolutions, page by page from where an interrupted import stopped;
    /// `progress` sees the count so far and the total, when known.
    /// The caller retrains the classifier head afterwards.
    pub async fn import(
        &self,
        name: &str,
        since: Option<i64>,
        triage: &TriageService,
        mut progress: impl FnMut(usize, Option<u64>),
    ) -> Result<ImportReport, String> {
        let registered = self
            .connectors
            .get(name)
            .ok_or_else(|| format!("no connector {name:?}"))?;
        let cursors = super::outbox::Cursors::new(self.outbox.pool());
        let mut cursor = cursors
            .get(name, "import")
            .await
            .map_err(|e| e.to_string())?;
        if let Some(at) = &cursor {
            tracing::info!(connector = name, cursor = %at, "resuming an interrupted import");
        }
        let mut report = ImportReport::default();
        loop {
            let page = registered
                .connector
                .resolved_page(cursor.as_deref(), since)
                .await
                .map_err(|e| e.to_string())?;
            report.pages += 1;
            let mut incidents = Vec::new();
            for ticket in &page.tickets {
                if ticket.title.trim().is_empty() && ticket.description.trim().is_empty() {
                    report.skipped += 1;
                    continue;
                }
                incidents.push(
                    Incident {
                        id: format!("{name}:{}", ticket.id),
                        title: ticket.title.clone(),
                        description: ticket.description.clone(),
                        resolution: ticket.resolution.clone(),
                        labels: final_labels(&registered.settings, ticket),
                        ..Incident::default()
                    }
                    .without_blank_labels(),
                );
            }
            report.imported += incidents.len();
            triage
                .store_incidents(incidents)
                .await
                .map_err(|e| e.to_string())?;
            progress(report.imported + report.skipped, page.total);
            match page.next {
                Some(next) => {
                    cursors
                        .set(name, "import", &next)
                        .await
                        .map_err(|e| e.to_string())?;
                    cursor = Some(next);
                }
                None => {
                    cursors
                        .clear(name, "import")
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(report);
                }
            }
        }
    }
}
