//! The typed record codec: a Rust type kept as a point's payload is written
//! and read through serde here, in one place, so no caller builds payload
//! maps or picks fields out of them by hand. Both store backends keep the
//! payload as it is given, so a record reads back the same from either.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A record stored as a point's payload.
pub trait PayloadRecord: Serialize + DeserializeOwned {
    /// The record as a payload.
    fn to_payload(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        }
    }

    /// The record a payload holds; `None` when it holds another kind (or a
    /// damaged one). Keys starting with `_` are bookkeeping kept next to the
    /// record (e.g. how much feedback an incident reflects), not its fields.
    fn from_payload(mut payload: Map<String, Value>) -> Option<Self> {
        payload.retain(|key, _| !key.starts_with('_'));
        serde_json::from_value(Value::Object(payload)).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, serde::Deserialize)]
    struct Note {
        title: String,
        tags: Vec<String>,
    }
    impl PayloadRecord for Note {}

    #[test]
    fn a_record_reads_back_from_its_payload_with_bookkeeping_beside_it() {
        let note = Note {
            title: "VPN".into(),
            tags: vec!["network".into()],
        };
        let mut payload = note.to_payload();
        payload.insert("_seen".into(), Value::from(3));
        assert_eq!(Note::from_payload(payload), Some(note));
    }

    #[test]
    fn a_payload_of_another_kind_is_not_a_record() {
        let payload = serde_json::json!({ "title": 5 })
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(Note::from_payload(payload), None);
    }
}
