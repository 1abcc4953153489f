//! The service desk records Switchboard works with, and their validation rules.

mod incident;
mod ticket;

pub use incident::{Incident, LABEL_FIELDS};
pub use ticket::{NewTicket, ValidationError};
