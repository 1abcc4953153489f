//! The service desk records Switchboard works with, and their validation rules.

mod incident;
pub mod text;
mod ticket;

pub use incident::{Incident, IncidentInput, LABEL_FIELDS};
pub use ticket::{NewTicket, ValidationError};
