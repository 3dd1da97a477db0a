//! Job ids: ULIDs, so they sort by creation time and one id names the job
//! everywhere: its status record, its first apalis task, its output key and
//! the `/exports/{id}` URL.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use ulid::Ulid;

/// The id of one export job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(Ulid);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a job id is a ULID in its canonical form: 26 upper-case Crockford base32 characters")]
pub struct InvalidJobId;

impl JobId {
    /// A fresh id, later than every id made before it in this process.
    pub fn generate() -> Self {
        JobId(Ulid::generate())
    }

    /// Only the canonical spelling parses: records and keys are stored under
    /// it, so a lower-case or otherwise re-spelt id must not name the job.
    pub fn parse(raw: &str) -> Result<Self, InvalidJobId> {
        let ulid = Ulid::from_string(raw).map_err(|_| InvalidJobId)?;
        if ulid.to_string() != raw {
            return Err(InvalidJobId);
        }
        Ok(JobId(ulid))
    }

    pub(crate) fn ulid(self) -> Ulid {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for JobId {
    type Err = InvalidJobId;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        JobId::parse(raw)
    }
}

/// In the API's OpenAPI document: the canonical string [`JobId::parse`] accepts.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for JobId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "A ULID in its canonical form (26 upper-case Crockford base32 characters).",
            ))
            .pattern(Some("^[0-7][0-9A-HJKMNP-TV-Z]{25}$"))
            .examples([serde_json::json!("01JDQ8Z3M4W5X6Y7Z8A9B0C1D2")])
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for JobId {}

/// As its canonical string (queued tasks, JSON replies).
impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        JobId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_back_from_their_display_only() {
        let id = JobId::generate();
        let text = id.to_string();
        assert_eq!(text.len(), 26);
        assert_eq!(JobId::parse(&text), Ok(id));
        assert_eq!(text.parse::<JobId>(), Ok(id));
        for bad in [
            text.to_lowercase(),
            String::new(),
            "not-a-ulid".into(),
            format!("{text}0"),
        ] {
            assert_eq!(JobId::parse(&bad), Err(InvalidJobId), "{bad:?}");
        }
    }

    #[test]
    fn ids_are_strings_on_the_wire() {
        let id = JobId::generate();
        let json = serde_json::to_string(&id).expect("serialize");
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<JobId>(&json).ok(), Some(id));
        assert!(serde_json::from_str::<JobId>("\"01j9z8q4j6r6w5w6t7y8z9a0bc\"").is_err());
    }
}
