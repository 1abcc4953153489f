//! History import: a connector's resolved tickets, page by page, stored as
//! incidents with their final labels and resolutions. The page cursor is
//! saved after each page, so an interrupted import resumes where it stopped.
//! Run here by `switchboard connector import`, or by a running server in the
//! background (`--server`, `POST /v1/admin/connectors/{name}/import`) while
//! it goes on answering triage.

use std::sync::Arc;

use super::ConnectorService;
use super::import_state::{ImportProgress, ImportReport, ImportState, StartImportError};
use super::service::final_labels;
use crate::domain::Incident;
use crate::triage::TriageService;

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

impl ConnectorService {
    /// Starts importing connector `name`'s history in the background of a
    /// running server, into `triage` (triage goes on being answered), and
    /// retrains the head once every page is stored. Progress:
    /// [`Self::import_progress`].
    pub fn process_start_import(
        self: &Arc<Self>,
        name: &str,
        since: Option<i64>,
        triage: Arc<TriageService>,
    ) -> Result<ImportProgress, StartImportError> {
        if !self.connectors.contains_key(name) {
            return Err(StartImportError::Unknown(name.to_owned()));
        }
        let started = ImportProgress {
            state: ImportState::Running,
            done: 0,
            total: None,
            report: None,
            head_version: None,
            error: None,
        };
        {
            // Held only to look and mark, never across an await.
            let mut imports = self.imports.lock();
            if imports
                .get(name)
                .is_some_and(|p| p.state == ImportState::Running)
            {
                return Err(StartImportError::Running(name.to_owned()));
            }
            imports.insert(name.to_owned(), started.clone());
        }
        let service = Arc::clone(self);
        let name = name.to_owned();
        tokio::spawn(async move {
            let update = |f: &dyn Fn(&mut ImportProgress)| {
                if let Some(progress) = service.imports.lock().get_mut(&name) {
                    f(progress);
                }
            };
            let result = service
                .import(&name, since, &triage, |done, total| {
                    update(&|p| {
                        p.done = done;
                        p.total = total;
                    });
                })
                .await;
            let result = match result {
                Ok(report) => triage
                    .flush()
                    .await
                    .map(|()| report)
                    .map_err(|e| e.to_string()),
                Err(err) => Err(err),
            };
            match result {
                Ok(report) => {
                    let head_version = if report.imported > 0 && triage.learns_a_head() {
                        match triage.retrain().await {
                            Ok(retrained) => Some(retrained.version),
                            Err(err) => {
                                tracing::warn!(connector = %name, error = %err, "imported, but the head was not retrained");
                                None
                            }
                        }
                    } else {
                        None
                    };
                    tracing::info!(connector = %name, imported = report.imported, "history import done");
                    update(&|p| {
                        p.state = ImportState::Done;
                        p.report = Some(report.clone());
                        p.head_version = head_version;
                    });
                }
                Err(err) => {
                    tracing::warn!(connector = %name, error = %err, "history import failed; it resumes where it stopped when started again");
                    update(&|p| {
                        p.state = ImportState::Failed;
                        p.error = Some(err.clone());
                    });
                }
            }
        });
        Ok(started)
    }

    /// The last server-run import of connector `name` in this process.
    pub fn import_progress(&self, name: &str) -> Option<ImportProgress> {
        self.imports.lock().get(name).cloned()
    }
}
