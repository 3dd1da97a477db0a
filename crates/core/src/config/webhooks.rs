//! Completion webhooks: `WEBHOOK_*`. Where each tenant's events go, the
//! secret they are signed with, which events are sent, whether private
//! addresses may receive them, and the delivery's retry policy.
//!
//! One endpoint for every tenant (`WEBHOOK_URL` + `WEBHOOK_SECRET`), and
//! per-tenant endpoints that replace it for their tenant
//! (`WEBHOOK_TENANTS=acme=https://a.example/hook;beta=https://b.example/hook`,
//! signed with `WEBHOOK_TENANT_SECRETS=acme=…;beta=…`, or with
//! `WEBHOOK_SECRET` for a tenant that has no secret of its own).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::Reader;
use crate::keys::TenantId;
use crate::secret::Secret;

/// Shortest secret accepted: a webhook secret is an HMAC key.
pub const MIN_WEBHOOK_SECRET_LEN: usize = 16;

/// The events a webhook can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WebhookEvent {
    /// An upload was verified and promoted to its served key.
    UploadCompleted,
    /// An upload was refused at completion (and deleted).
    UploadRejected,
    /// An export job finished; its file is in the store.
    ExportDone,
    /// An export job failed for good.
    ExportFailed,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 4] = [
        WebhookEvent::UploadCompleted,
        WebhookEvent::UploadRejected,
        WebhookEvent::ExportDone,
        WebhookEvent::ExportFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::UploadCompleted => "upload.completed",
            WebhookEvent::UploadRejected => "upload.rejected",
            WebhookEvent::ExportDone => "export.done",
            WebhookEvent::ExportFailed => "export.failed",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|event| event.as_str() == raw)
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one tenant's events go, and the key they are signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// An `http` or `https` URL with a host.
    pub url: http::Uri,
    pub secret: Secret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// `WEBHOOK_URL` + `WEBHOOK_SECRET`: every tenant without an endpoint of its own.
    pub default: Option<WebhookEndpoint>,
    /// `WEBHOOK_TENANTS` (+ `WEBHOOK_TENANT_SECRETS`): per-tenant endpoints.
    pub tenants: HashMap<TenantId, WebhookEndpoint>,
    /// `WEBHOOK_EVENTS`: the events sent (default: all four).
    pub events: Vec<WebhookEvent>,
    /// `WEBHOOK_ALLOW_PRIVATE`: deliver to loopback, private, link-local and
    /// other non-public addresses too (for local receivers; default false).
    pub allow_private: bool,
    /// `WEBHOOK_MAX_ATTEMPTS`: attempts before a delivery becomes a dead letter.
    pub max_attempts: u32,
    /// `WEBHOOK_RETRY_BASE`: first retry delay; doubles per attempt, plus up to half again of jitter.
    pub retry_base: Duration,
    /// `WEBHOOK_RETRY_MAX`: longest retry delay (before jitter).
    pub retry_max: Duration,
    /// `WEBHOOK_TIMEOUT`: one delivery attempt, connection included.
    pub timeout: Duration,
}

impl WebhookSettings {
    /// Where `tenant`'s `event` goes; `None` when it is not sent.
    pub fn endpoint_for(&self, tenant: &TenantId, event: WebhookEvent) -> Option<&WebhookEndpoint> {
        if !self.events.contains(&event) {
            return None;
        }
        self.tenants.get(tenant).or(self.default.as_ref())
    }
}

/// `name=value` pairs separated by `;`, as `WEBHOOK_TENANTS` and `WEBHOOK_TENANT_SECRETS` spell them.
fn pairs<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>, name: &'static str) -> Vec<(TenantId, String)> {
    let Some(raw) = env.string(name) else {
        return Vec::new();
    };
    let mut pairs = Vec::new();
    for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry
            .split_once('=')
            .and_then(|(tenant, value)| Some((TenantId::parse(tenant.trim()).ok()?, value.trim().to_owned())));
        match parsed {
            Some(pair) => pairs.push(pair),
            // The entry may hold a secret: name only its position.
            None => env.problem(format!(
                "{name} entry #{} must be tenant=value, with a valid tenant id",
                pairs.len() + 1
            )),
        }
    }
    pairs
}

fn url<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>, what: &str, raw: &str) -> Option<http::Uri> {
    let parsed = raw
        .parse::<http::Uri>()
        .ok()
        .filter(|uri| matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some_and(|h| !h.is_empty()));
    if parsed.is_none() {
        env.problem(format!(
            "{what} must be an http:// or https:// URL with a host (got {raw:?})"
        ));
    }
    parsed
}

fn secret<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>, what: &str, value: &str) -> Option<Secret> {
    if value.len() < MIN_WEBHOOK_SECRET_LEN {
        env.problem(format!("{what} must be at least {MIN_WEBHOOK_SECRET_LEN} characters"));
        return None;
    }
    Some(Secret::new(value))
}

pub(super) fn parse<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>) -> WebhookSettings {
    let default_url = env.string("WEBHOOK_URL");
    let default_secret = env.string("WEBHOOK_SECRET");
    let default_secret = default_secret.and_then(|s| secret(env, "WEBHOOK_SECRET", &s));
    let default = match default_url {
        Some(raw) => {
            let parsed = url(env, "WEBHOOK_URL", &raw);
            if default_secret.is_none() {
                env.problem("WEBHOOK_URL needs WEBHOOK_SECRET (at least 16 characters) to sign with".into());
            }
            parsed
                .zip(default_secret.clone())
                .map(|(url, secret)| WebhookEndpoint { url, secret })
        }
        None => None,
    };

    let tenant_urls = pairs(env, "WEBHOOK_TENANTS");
    let mut tenant_secrets = HashMap::new();
    for (tenant, value) in pairs(env, "WEBHOOK_TENANT_SECRETS") {
        let what = format!("the WEBHOOK_TENANT_SECRETS secret of {tenant}");
        if let Some(secret) = secret(env, &what, &value) {
            tenant_secrets.insert(tenant, secret);
        }
    }
    let mut tenants = HashMap::new();
    for (tenant, raw) in tenant_urls {
        let parsed = url(env, &format!("the WEBHOOK_TENANTS URL of {tenant}"), &raw);
        let secret = tenant_secrets.remove(&tenant).or_else(|| default_secret.clone());
        if secret.is_none() {
            env.problem(format!(
                "the webhook of {tenant} needs a secret: WEBHOOK_TENANT_SECRETS or WEBHOOK_SECRET"
            ));
        }
        if let Some((url, secret)) = parsed.zip(secret) {
            tenants.insert(tenant, WebhookEndpoint { url, secret });
        }
    }
    for tenant in tenant_secrets.keys() {
        env.problem(format!(
            "WEBHOOK_TENANT_SECRETS names {tenant}, which WEBHOOK_TENANTS does not"
        ));
    }

    let events = match env.string("WEBHOOK_EVENTS") {
        None => WebhookEvent::ALL.to_vec(),
        Some(raw) => {
            let mut events = Vec::new();
            for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                match WebhookEvent::parse(name) {
                    Some(event) if !events.contains(&event) => events.push(event),
                    Some(_) => {}
                    None => env.problem(format!(
                        "WEBHOOK_EVENTS: unknown event {name:?} (known: upload.completed, upload.rejected, export.done, export.failed)"
                    )),
                }
            }
            events
        }
    };
    let settings = WebhookSettings {
        default,
        tenants,
        events,
        allow_private: env.bool_or("WEBHOOK_ALLOW_PRIVATE", false),
        max_attempts: env.parse_or("WEBHOOK_MAX_ATTEMPTS", "8", "a whole number of at least 1"),
        retry_base: env.secs_or("WEBHOOK_RETRY_BASE", "10"),
        retry_max: env.secs_or("WEBHOOK_RETRY_MAX", "3600"),
        timeout: env.secs_or("WEBHOOK_TIMEOUT", "10"),
    };
    for (name, value) in [
        ("WEBHOOK_MAX_ATTEMPTS", u64::from(settings.max_attempts)),
        ("WEBHOOK_RETRY_BASE", settings.retry_base.as_secs()),
        ("WEBHOOK_TIMEOUT", settings.timeout.as_secs()),
    ] {
        if value == 0 {
            env.problem(format!("{name} must be at least 1"));
        }
    }
    if settings.retry_max < settings.retry_base {
        env.problem("WEBHOOK_RETRY_MAX must not be shorter than WEBHOOK_RETRY_BASE".into());
    }
    settings
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::tests::{parse, reported_problems};

    /// Where `settings` send `event` for the tenant `name`.
    fn endpoint<'a>(settings: &'a WebhookSettings, name: &str, event: WebhookEvent) -> Option<&'a WebhookEndpoint> {
        settings.endpoint_for(&TenantId::parse(name).expect("tenant"), event)
    }

    #[test]
    fn webhooks_are_off_by_default_with_every_event_and_public_addresses_only() {
        let settings = parse(&[]).expect("defaults are valid").webhooks;
        assert!(settings.default.is_none() && settings.tenants.is_empty());
        assert_eq!(settings.events, WebhookEvent::ALL);
        assert!(!settings.allow_private);
        assert_eq!(settings.max_attempts, 8);
        assert_eq!(settings.retry_base, Duration::from_secs(10));
        assert_eq!(endpoint(&settings, "acme", WebhookEvent::UploadCompleted), None);
    }

    #[test]
    fn a_tenant_endpoint_replaces_the_global_one_and_events_filter() {
        let settings = parse(&[
            ("WEBHOOK_URL", "https://hooks.example.com/all"),
            ("WEBHOOK_SECRET", "global-secret-0123456789"),
            (
                "WEBHOOK_TENANTS",
                "acme=https://acme.example/hook; beta=http://beta.example:8080/h",
            ),
            ("WEBHOOK_TENANT_SECRETS", "acme=acme-secret-0123456789"),
            ("WEBHOOK_EVENTS", "upload.completed, export.failed"),
        ])
        .expect("valid")
        .webhooks;
        let acme = endpoint(&settings, "acme", WebhookEvent::UploadCompleted).expect("acme");
        assert_eq!(acme.url.to_string(), "https://acme.example/hook");
        assert_eq!(acme.secret.expose(), "acme-secret-0123456789");
        let beta = endpoint(&settings, "beta", WebhookEvent::ExportFailed).expect("beta");
        assert_eq!(
            beta.secret.expose(),
            "global-secret-0123456789",
            "falls back to WEBHOOK_SECRET"
        );
        let other = endpoint(&settings, "other", WebhookEvent::UploadCompleted).expect("global");
        assert_eq!(other.url.to_string(), "https://hooks.example.com/all");
        assert_eq!(endpoint(&settings, "acme", WebhookEvent::UploadRejected), None);
    }

    #[test]
    fn every_webhook_problem_is_reported_at_once_without_the_secrets() {
        let text = reported_problems(
            &[
                ("WEBHOOK_URL", "ftp://hooks.example.com"),
                ("WEBHOOK_SECRET", "short-secret"),
                ("WEBHOOK_TENANTS", "acme=https://a.example/h;not a pair"),
                ("WEBHOOK_TENANT_SECRETS", "ghost=ghost-secret-0123456789"),
                ("WEBHOOK_EVENTS", "upload.completed,upload.deleted"),
                ("WEBHOOK_MAX_ATTEMPTS", "0"),
                ("WEBHOOK_RETRY_BASE", "20"),
                ("WEBHOOK_RETRY_MAX", "10"),
            ],
            &[
                "WEBHOOK_URL must be an http:// or https:// URL",
                "WEBHOOK_SECRET must be at least 16",
                "WEBHOOK_URL needs WEBHOOK_SECRET",
                "WEBHOOK_TENANTS entry #2",
                "the webhook of acme needs a secret",
                "names ghost",
                "unknown event \"upload.deleted\"",
                "WEBHOOK_MAX_ATTEMPTS must be at least 1",
                "WEBHOOK_RETRY_MAX must not be shorter",
            ],
            9,
        );
        assert!(
            !text.contains("short-secret") && !text.contains("ghost-secret"),
            "{text}"
        );
    }
}
