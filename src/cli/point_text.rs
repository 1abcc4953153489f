//! The texts a stored point was made from, rebuilt from its payload with the
//! templates ingest and triage use: what `migrate-store` indexes lexically and
//! what `reembed` runs through the new encoder.

use crate::configuration::Settings;
use crate::domain::Incident;
use crate::domain::text::model_text;
use crate::prompts::Prompts;
use crate::store::{Collection, PayloadRecord, StoredPoint};

/// The text a point's lexical index is built from, as ingest writes it;
/// `None` for remembered tickets, which are looked up by id only.
pub(super) fn lexical_text(
    settings: &Settings,
    prompts: &Prompts,
    collection: Collection,
    point: &StoredPoint,
) -> Option<String> {
    match collection {
        Collection::Tickets => None,
        _ => embedding_text(settings, prompts, collection, point),
    }
}

/// The text a point's vector is the embedding of; `None` when its payload
/// lacks the fields (the caller must not drop such a point silently).
pub(super) fn embedding_text(
    settings: &Settings,
    prompts: &Prompts,
    collection: Collection,
    point: &StoredPoint,
) -> Option<String> {
    match collection {
        Collection::Incidents => {
            let incident = Incident::from_payload(point.payload.clone())?;
            Some(model_text(
                prompts,
                &incident.title,
                &incident.description,
                settings.triage.clean_text,
            ))
        }
        Collection::Knowledge => {
            let field = |key: &str| point.payload.get(key).and_then(|v| v.as_str());
            Some(prompts.passage(field("title")?, field("text")?))
        }
        Collection::Tickets => {
            let ticket = crate::triage::RememberedTicket::from_payload(point.payload.clone())?;
            Some(model_text(
                prompts,
                &ticket.title,
                &ticket.description,
                settings.triage.clean_text,
            ))
        }
    }
}
