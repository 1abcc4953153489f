//! A ticket to triage, as it arrives from a ticketing system.

use serde::Deserialize;

/// Longest title or description accepted, in characters; longer text is refused, not truncated.
pub const MAX_TEXT_CHARS: usize = 100_000;

/// An incoming ticket: at least a title or a description is required.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicket {
    /// The ticketing system's id, when the ticket already has one.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 128,
        pattern = r"^[^\s\x00-\x1f\x7f-\x9f]+$"
    )]
    pub id: Option<String>,
    /// Short description.
    #[serde(default)]
    #[schema(max_length = 100_000)]
    pub title: String,
    /// Full text of the ticket.
    #[serde(default)]
    #[schema(max_length = 100_000)]
    pub description: String,
    /// Who raised it.
    #[serde(default)]
    pub caller: Option<String>,
    /// The affected business service, if known.
    #[serde(default)]
    pub service: Option<String>,
    /// When it was opened in the ticketing system (RFC 3339); storm and
    /// duplicate detection place it in time by this, else by its arrival.
    #[serde(default)]
    #[schema(format = DateTime)]
    pub opened_at: Option<String>,
}

/// A rule an input broke, naming the field so clients can show it.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error("{message}")]
pub struct ValidationError {
    /// The offending field, when one is to blame.
    pub field: Option<&'static str>,
    /// What is wrong, in words a client can show.
    pub message: String,
}

impl ValidationError {
    /// A validation failure on `field`.
    pub fn new(field: Option<&'static str>, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Checks an optional caller-supplied id: printable, no whitespace, at most 128 bytes.
pub fn validate_id(id: &str) -> Result<(), ValidationError> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id.chars().all(|c| !c.is_control() && !c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            Some("id"),
            "id must be 1 to 128 characters without whitespace or control characters",
        ))
    }
}

pub(crate) fn validate_text_lengths(title: &str, description: &str) -> Result<(), ValidationError> {
    if title.trim().is_empty() && description.trim().is_empty() {
        return Err(ValidationError::new(
            Some("title"),
            "title or description is required and must not be blank",
        ));
    }
    for (field, text) in [("title", title), ("description", description)] {
        if text.chars().count() > MAX_TEXT_CHARS {
            return Err(ValidationError::new(
                Some(field),
                format!("{field} is longer than {MAX_TEXT_CHARS} characters"),
            ));
        }
    }
    Ok(())
}

impl NewTicket {
    /// Rejects blank tickets, oversized text and malformed ids.
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_text_lengths(&self.title, &self.description)?;
        if let Some(id) = &self.id {
            validate_id(id)?;
        }
        self.opened_at_ms()?;
        Ok(())
    }

    /// `opened_at` as Unix milliseconds, if given; an unreadable one is refused.
    pub fn opened_at_ms(&self) -> Result<Option<i64>, ValidationError> {
        self.opened_at
            .as_deref()
            .map(|at| {
                chrono::DateTime::parse_from_rfc3339(at)
                    .map(|t| t.timestamp_millis())
                    .map_err(|_| {
                        ValidationError::new(
                            Some("opened_at"),
                            "opened_at must be an RFC 3339 time, e.g. 2026-11-30T09:15:00Z",
                        )
                    })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_ticket_is_refused_with_field() {
        let ticket = NewTicket {
            title: "  ".into(),
            description: "\n".into(),
            ..Default::default()
        };
        let err = ticket.validate().unwrap_err();
        assert_eq!(err.field, Some("title"));
    }

    #[test]
    fn description_alone_is_enough() {
        let ticket = NewTicket {
            description: "printer jammed".into(),
            ..Default::default()
        };
        assert!(ticket.validate().is_ok());
    }

    #[test]
    fn ids_with_whitespace_are_refused() {
        assert!(validate_id("INC 1").is_err());
        assert!(validate_id("").is_err());
        assert!(validate_id("INC0012345").is_ok());
    }
}
