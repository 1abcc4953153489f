//! The service desk records Switchboard works with, and their validation rules.

mod feedback;
mod incident;
mod scrub;
pub mod text;
mod ticket;

pub use feedback::LabelFeedback;
pub use incident::{Incident, IncidentInput, LABEL_FIELDS, validate_label};
pub use scrub::{CustomPattern, KeepOriginal, PrivacySettings, Scrubber};
pub use ticket::{MAX_TEXT_CHARS, NewTicket, ValidationError, validate_id};
