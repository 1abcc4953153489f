//! Infrastructure every feature stands on, and none of it knows a feature:
//! the state database and its migrations ([`db`]), time as a seam
//! ([`clock`]), named secrets ([`secrets`]), the keyed and anchored audit
//! chain ([`audit`]), TLS for every client and the server ([`tls`]), this
//! process's id among replicas ([`replica`]), the keyed index of who each
//! ticket is about ([`subjects`]) and the crash points tests arm ([`crash`]). Features import these modules; these
//! modules never import a feature.

pub mod audit;
pub mod clock;
pub mod crash;
pub mod db;
pub mod replica;
pub mod secrets;
pub mod subjects;
pub mod tls;
