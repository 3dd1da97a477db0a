//! Server-to-server API keys (`API_KEYS=tenant:sha256hex[:label],...`).
//!
//! Only the SHA-256 of each key is configured. A presented key is hashed and
//! compared with every configured hash in constant time, so neither the
//! configuration nor the timing of a refusal tells anything about a key.

use broker_core::config::ApiKey;
use sha2::{Digest, Sha256};

use super::Caller;

pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

impl ApiKeys {
    pub fn new(keys: Vec<ApiKey>) -> Self {
        ApiKeys { keys }
    }

    /// The principal of a valid key: its tenant, and `apikey:{label}` as subject.
    pub fn find(&self, presented: &str) -> Option<Caller> {
        if presented.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for key in &self.keys {
            if constant_time_eq(&key.sha256, &digest) {
                found = Some(key);
            }
        }
        found.map(|key| Caller {
            tenant: key.tenant.clone(),
            subject: format!("apikey:{}", key.label),
            admin: key.admin,
            teams: Vec::new(),
            tenant_wide: true,
        })
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use broker_core::TenantId;

    use super::*;

    #[test]
    fn a_key_is_found_by_its_hash_only() {
        let sha256: [u8; 32] = Sha256::digest(b"s3cr3t-key").into();
        let keys = ApiKeys::new(vec![ApiKey {
            tenant: TenantId::parse("acme").expect("tenant"),
            sha256,
            label: "billing".into(),
            admin: false,
        }]);
        let caller = keys.find("s3cr3t-key").expect("valid key");
        assert_eq!(
            (caller.tenant.as_str(), caller.subject.as_str()),
            ("acme", "apikey:billing")
        );
        assert!(keys.find("s3cr3t-kez").is_none());
        assert!(keys.find("").is_none());
        let hex: String = sha256.iter().map(|b| format!("{b:02x}")).collect();
        assert!(keys.find(&hex).is_none(), "the hash itself is not a key");
        assert!(!caller.admin);
        assert!(caller.tenant_wide, "an API key acts for its whole tenant");
    }
}
