//! Judging what the store said: plain functions from facts to a [`Check`].
//!
//! Nothing here does I/O, so every rule of what counts as pass, warn and
//! fail is tested below without a store. CORS follows the matching S3 does
//! (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html>): the
//! first rule whose origin, method and headers match answers, and an origin
//! or header pattern may hold one `*`. Lifecycle rules are read as
//! <https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html>:
//! a prefix filter covers every key that starts with it.

use std::time::{Duration, SystemTime};

use broker_core::KeyLayout;
use broker_core::config::UploadMode;
use broker_core::store::CredentialInfo;

use super::{Check, Status};

/// A bucket setting as the store answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Yes(T),
    /// Not configured (the S3 error code that says so).
    Missing(String),
    /// The store could not answer: not supported, denied, or failed.
    Unanswered(String),
}

impl<T> Answer<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Yes(value) => Answer::Yes(f(value)),
            Answer::Missing(code) => Answer::Missing(code),
            Answer::Unanswered(reason) => Answer::Unanswered(reason),
        }
    }
}

/// One CORS rule of the bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorsRule {
    pub origins: Vec<String>,
    pub methods: Vec<String>,
    pub headers: Vec<String>,
    pub expose: Vec<String>,
}

impl CorsRule {
    pub(super) fn from_sdk(rule: &aws_sdk_s3::types::CorsRule) -> Self {
        CorsRule {
            origins: rule.allowed_origins().to_vec(),
            methods: rule.allowed_methods().to_vec(),
            headers: rule.allowed_headers().to_vec(),
            expose: rule.expose_headers().to_vec(),
        }
    }

    fn answers(&self, origin: &str, method: &str, headers: &[&str]) -> bool {
        self.origins.iter().any(|o| wildcard_match(o, origin))
            && self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
            && headers
                .iter()
                .all(|h| self.headers.iter().any(|pattern| wildcard_match(pattern, h)))
    }
}

/// A preflight's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    pub origin: String,
    pub method: &'static str,
    pub status: Result<u16, String>,
    pub allow_origin: Option<String>,
    pub allow_methods: Option<String>,
}

/// The CORS headers on the answer to an upload sent with `Origin: origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadCors {
    pub origin: String,
    pub allow_origin: Option<String>,
    pub expose: Option<String>,
}

#[derive(Debug, Clone)]
pub struct CorsFacts {
    pub rules: Answer<Vec<CorsRule>>,
    pub preflights: Vec<Preflight>,
    /// `None` when the round trip failed before uploading.
    pub upload_response: Option<UploadCors>,
}

/// Headers browser code reads from an upload's answer (Uppy waits for `ETag`).
const EXPOSED: [&str; 2] = ["ETag", "Location"];
/// Headers a browser sends with a presigned PUT, so the rules must allow them.
const PUT_HEADERS: [&str; 2] = ["content-type", "x-amz-meta-profile"];

fn upload_method(mode: UploadMode) -> &'static str {
    match mode {
        UploadMode::Post => "POST",
        UploadMode::Put => "PUT",
    }
}

/// Every origin may upload (in the configured mode) and GET, and the upload's
/// answer exposes `ETag` and `Location`: in the rules, in preflights, and on a
/// real upload's answer.
pub fn cors(facts: &CorsFacts, origins: &[String], mode: UploadMode) -> Check {
    let upload = upload_method(mode);
    let mut problems = Vec::new();
    let mut note = None;
    match &facts.rules {
        Answer::Yes(rules) => {
            for origin in origins {
                for method in [upload, "GET"] {
                    let headers: &[&str] = if method == "PUT" { &PUT_HEADERS } else { &[] };
                    match rules.iter().find(|r| r.answers(origin, method, headers)) {
                        None if headers.is_empty() => problems.push(format!("no rule lets {origin} {method}")),
                        None => problems.push(format!(
                            "no rule lets {origin} {method} with the headers {}",
                            headers.join(", ")
                        )),
                        Some(rule) if method == upload => {
                            let missing: Vec<&str> = EXPOSED
                                .into_iter()
                                .filter(|h| !rule.expose.iter().any(|e| e.eq_ignore_ascii_case(h)))
                                .collect();
                            if !missing.is_empty() {
                                problems.push(format!(
                                    "the rule for {origin} {method} does not expose {}",
                                    missing.join(", ")
                                ));
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Answer::Missing(_) => problems.push("the bucket has no CORS configuration".into()),
        Answer::Unanswered(reason) => {
            note = Some(format!(
                "the rules could not be read ({reason}), judged by the store's answers"
            ));
        }
    }
    for preflight in &facts.preflights {
        let allowed = preflight
            .allow_origin
            .as_deref()
            .is_some_and(|a| a == "*" || a.eq_ignore_ascii_case(&preflight.origin));
        let ok = matches!(preflight.status, Ok(200..=299)) && allowed;
        if !ok {
            let answer = match &preflight.status {
                Ok(status) => format!("HTTP {status}"),
                Err(e) => e.clone(),
            };
            problems.push(format!(
                "a {} preflight from {} is refused ({answer})",
                preflight.method, preflight.origin
            ));
        }
    }
    if let Some(upload) = &facts.upload_response {
        let allowed = upload
            .allow_origin
            .as_deref()
            .is_some_and(|a| a == "*" || a.eq_ignore_ascii_case(&upload.origin));
        if !allowed {
            problems.push(format!(
                "the {} answer has no Access-Control-Allow-Origin for {}",
                upload_method(mode),
                upload.origin
            ));
        } else {
            let exposed = upload.expose.as_deref().unwrap_or("");
            let listed: Vec<&str> = exposed.split(',').map(str::trim).collect();
            let missing: Vec<&str> = EXPOSED
                .into_iter()
                .filter(|h| !listed.iter().any(|l| *l == "*" || l.eq_ignore_ascii_case(h)))
                .collect();
            if !missing.is_empty() {
                problems.push(format!(
                    "the {} answer does not expose {}",
                    upload_method(mode),
                    missing.join(", ")
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Check::new(
            "cors",
            Status::Fail,
            format!(
                "CORS: {}; apply deploy/s3-cors.json with ALLOWED_ORIGINS",
                problems.join("; ")
            ),
        );
    }
    let mut detail = format!(
        "{} may {upload} and GET; ETag and Location are exposed",
        origins.join(", ")
    );
    if let Some(note) = note {
        detail.push_str("; ");
        detail.push_str(&note);
    }
    Check::new("cors", Status::Pass, detail)
}

/// S3's patterns: case-insensitive, at most one `*` standing for any text.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    let (pattern, value) = (pattern.to_ascii_lowercase(), value.to_ascii_lowercase());
    match pattern.split_once('*') {
        None => pattern == value,
        Some((head, tail)) => {
            value.len() >= head.len() + tail.len() && value.starts_with(head) && value.ends_with(tail)
        }
    }
}

/// Nobody reads without a signature: the policy status is not public, and
/// unsigned requests to list the bucket and to read an object are refused.
pub fn public_read(
    policy_public: &Answer<bool>,
    anonymous_list: Result<u16, String>,
    anonymous_get: Option<Result<u16, String>>,
) -> Check {
    let mut problems = Vec::new();
    let policy = match policy_public {
        Answer::Yes(true) => {
            problems.push("the bucket policy is public".to_owned());
            "public".to_owned()
        }
        Answer::Yes(false) => "not public".to_owned(),
        Answer::Missing(_) => "no bucket policy".to_owned(),
        Answer::Unanswered(reason) => format!("not readable ({reason})"),
    };
    let mut describe = |what: &str, label: &str, probe: &Option<Result<u16, String>>| match probe {
        Some(Ok(status @ 200..=299)) => {
            problems.push(format!("anyone can {what} (an unsigned request answered {status})"));
            format!("{label}: {status}")
        }
        Some(Ok(status)) => format!("{label}: refused ({status})"),
        Some(Err(e)) => format!("{label}: no answer ({e})"),
        None => format!("{label}: not tried (the round trip failed)"),
    };
    let list = describe("list the bucket", "unsigned listing", &Some(anonymous_list));
    let read = describe("read an object", "unsigned GET of the test object", &anonymous_get);
    if problems.is_empty() {
        Check::new("public-read", Status::Pass, format!("{list}; {read}; policy: {policy}"))
    } else {
        Check::new("public-read", Status::Fail, problems.join("; "))
    }
}

/// One lifecycle rule, reduced to what the broker cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LifecycleRule {
    pub id: String,
    pub enabled: bool,
    /// The keys it covers; `None` when a tag or size filter narrows it.
    pub prefix: Option<String>,
    pub expiration_days: Option<i32>,
    pub abort_multipart_days: Option<i32>,
}

impl LifecycleRule {
    pub(super) fn from_sdk(rule: &aws_sdk_s3::types::LifecycleRule) -> Self {
        #[allow(deprecated)] // the rule-level `Prefix` of older configurations
        let legacy_prefix = rule.prefix();
        let prefix = match rule.filter() {
            None => Some(legacy_prefix.unwrap_or("").to_owned()),
            Some(filter) => {
                let narrowed = filter.tag().is_some()
                    || filter.object_size_greater_than().is_some()
                    || filter.object_size_less_than().is_some()
                    || filter.and().is_some_and(|and| {
                        !and.tags().is_empty()
                            || and.object_size_greater_than().is_some()
                            || and.object_size_less_than().is_some()
                    });
                (!narrowed).then(|| {
                    filter
                        .prefix()
                        .or_else(|| filter.and().and_then(|and| and.prefix()))
                        .unwrap_or("")
                        .to_owned()
                })
            }
        };
        LifecycleRule {
            id: rule.id().unwrap_or("(no id)").to_owned(),
            enabled: rule.status().as_str() == "Enabled",
            prefix,
            expiration_days: rule.expiration().and_then(|e| e.days()),
            abort_multipart_days: rule
                .abort_incomplete_multipart_upload()
                .and_then(|a| a.days_after_initiation()),
        }
    }
}

const DAY: u64 = 86_400;

/// Staging objects expire (not before a signed upload may still arrive, and
/// without taking served objects along), and incomplete multipart uploads
/// are aborted everywhere the broker writes.
pub fn lifecycle(rules: &Answer<Vec<LifecycleRule>>, layout: &KeyLayout, presign_ttl: Duration) -> Check {
    let name = "lifecycle";
    let rules = match rules {
        Answer::Yes(rules) => rules,
        Answer::Missing(_) => {
            return Check::new(
                name,
                Status::Warn,
                "no lifecycle rules: staging objects stay until `upload-broker cleanup` removes them; \
                 apply deploy/s3-lifecycle.json",
            );
        }
        Answer::Unanswered(reason) => {
            return Check::new(
                name,
                Status::Warn,
                format!("the store cannot answer ({reason}): run `upload-broker cleanup` on a schedule"),
            );
        }
    };
    let staging = layout.staging_prefix();
    let root = layout.root();
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let enabled: Vec<(&LifecycleRule, &str)> = rules
        .iter()
        .filter(|r| r.enabled)
        .filter_map(|r| r.prefix.as_deref().map(|p| (r, p)))
        .collect();

    let expiring: Vec<(&LifecycleRule, &str, i32)> = enabled
        .iter()
        .filter_map(|(r, p)| r.expiration_days.map(|d| (*r, *p, d)))
        .collect();
    for (rule, prefix, _) in &expiring {
        // Broader than staging and containing it: served objects expire too.
        if staging.starts_with(prefix) && prefix.len() < staging.len() {
            problems.push(format!(
                "rule {:?} expires everything under {prefix:?}, served objects included",
                rule.id
            ));
        }
    }
    let staging_rule = expiring.iter().find(|(_, p, _)| *p == staging);
    match staging_rule {
        None => warnings.push(format!("no rule expires {staging}")),
        Some((rule, _, days)) if u64::try_from(*days).unwrap_or(0) * DAY < presign_ttl.as_secs() => {
            problems.push(format!(
                "rule {:?} expires staging after {days} day(s), before a signed upload's S3_PRESIGN_TTL ({} s) ends",
                rule.id,
                presign_ttl.as_secs()
            ));
        }
        Some(_) => {}
    }

    let aborts = |covers: &dyn Fn(&str) -> bool| {
        enabled
            .iter()
            .any(|(r, p)| r.abort_multipart_days.is_some() && covers(p))
    };
    if aborts(&|p| root.starts_with(p)) {
        // Everything under the prefix, exports included.
    } else if aborts(&|p| staging.starts_with(p)) {
        warnings.push("incomplete multipart uploads are aborted in staging only, not in exports".into());
    } else {
        warnings.push("no rule aborts incomplete multipart uploads".into());
    }

    let (status, detail) = if !problems.is_empty() {
        (Status::Fail, problems.join("; "))
    } else if !warnings.is_empty() {
        (
            Status::Warn,
            format!("{}; see deploy/s3-lifecycle.json", warnings.join("; ")),
        )
    } else {
        let days = staging_rule.map_or(0, |(_, _, d)| *d);
        (
            Status::Pass,
            format!("{staging} expires after {days} day(s); incomplete multipart uploads are aborted"),
        )
    };
    Check::new(name, status, detail)
}

/// Within 30 s passes; a few minutes is worth a look; beyond five minutes
/// signatures and POST policies are judged against a clock far from ours.
pub fn clock_skew(store_minus_ours: i64) -> Check {
    let skew = store_minus_ours.unsigned_abs();
    let direction = if store_minus_ours >= 0 { "ahead of" } else { "behind" };
    let detail = format!("the store's clock is {skew} s {direction} this host's");
    let status = match skew {
        0..=30 => Status::Pass,
        31..=300 => Status::Warn,
        _ => Status::Fail,
    };
    if status == Status::Pass {
        return Check::new("clock-skew", status, detail);
    }
    Check::new(
        "clock-skew",
        status,
        format!("{detail}: signed URLs and POST policies expire early or late; sync the clock (NTP)"),
    )
}

/// A presigned URL stops working when the credentials that signed it expire.
/// They rotate `refresh_margin` before expiry, so with temporary credentials
/// a URL may live only that long, whatever `S3_PRESIGN_TTL` says.
pub fn presign_ttl(info: &CredentialInfo, ttl: Duration, now: SystemTime) -> Check {
    let name = "presign-ttl";
    let ttl_secs = ttl.as_secs();
    if !info.temporary {
        return Check::new(
            name,
            Status::Pass,
            format!("long-lived credentials: URLs live the full S3_PRESIGN_TTL ({ttl_secs} s)"),
        );
    }
    let margin = info.refresh_margin.as_secs();
    match info.expiry {
        Some(expiry) if ttl <= info.refresh_margin => Check::new(
            name,
            Status::Pass,
            format!(
                "temporary credentials (valid for {} s more) outlive every URL: S3_PRESIGN_TTL {ttl_secs} s ≤ {margin} s",
                expiry.duration_since(now).unwrap_or_default().as_secs()
            ),
        ),
        Some(expiry) => Check::new(
            name,
            Status::Warn,
            format!(
                "temporary credentials (valid for {} s more, rotated {margin} s before expiry): a URL signed \
                 just before a rotation lives as little as {margin} s, not S3_PRESIGN_TTL {ttl_secs} s",
                expiry.duration_since(now).unwrap_or_default().as_secs()
            ),
        ),
        None => Check::new(
            name,
            Status::Warn,
            format!(
                "temporary credentials with no known expiry: URLs may stop working before S3_PRESIGN_TTL {ttl_secs} s"
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const APP: &str = "https://app.example";

    fn rule(origins: &[&str], methods: &[&str], headers: &[&str], expose: &[&str]) -> CorsRule {
        let own = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        CorsRule {
            origins: own(origins),
            methods: own(methods),
            headers: own(headers),
            expose: own(expose),
        }
    }

    fn good_answers(mode: UploadMode) -> (Vec<Preflight>, Option<UploadCors>) {
        let preflights = [upload_method(mode), "GET"]
            .into_iter()
            .map(|method| Preflight {
                origin: APP.into(),
                method,
                status: Ok(200),
                allow_origin: Some(APP.into()),
                allow_methods: Some(method.into()),
            })
            .collect();
        let upload = UploadCors {
            origin: APP.into(),
            allow_origin: Some(APP.into()),
            expose: Some("ETag, Location".into()),
        };
        (preflights, Some(upload))
    }

    fn judge(rules: Answer<Vec<CorsRule>>, mode: UploadMode) -> Check {
        let (preflights, upload_response) = good_answers(mode);
        let facts = CorsFacts {
            rules,
            preflights,
            upload_response,
        };
        cors(&facts, &[APP.to_owned()], mode)
    }

    #[test]
    fn cors_passes_with_the_deploy_rule_and_names_what_is_missing() {
        let deploy = rule(&[APP], &["GET", "POST", "PUT", "HEAD"], &["*"], &["ETag", "Location"]);
        for mode in [UploadMode::Post, UploadMode::Put] {
            assert_eq!(judge(Answer::Yes(vec![deploy.clone()]), mode).status, Status::Pass);
        }

        let no_expose = rule(&[APP], &["GET", "POST"], &["*"], &[]);
        let check = judge(Answer::Yes(vec![no_expose]), UploadMode::Post);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check.detail.contains("does not expose ETag, Location"),
            "{}",
            check.detail
        );

        let no_put_headers = rule(&[APP], &["GET", "PUT"], &["authorization"], &["ETag", "Location"]);
        let check = judge(Answer::Yes(vec![no_put_headers]), UploadMode::Put);
        assert!(check.detail.contains("with the headers"), "{}", check.detail);

        let other_origin = rule(
            &["https://other.example"],
            &["GET", "POST"],
            &["*"],
            &["ETag", "Location"],
        );
        let check = judge(Answer::Yes(vec![other_origin]), UploadMode::Post);
        assert!(
            check.detail.contains("no rule lets https://app.example POST"),
            "{}",
            check.detail
        );

        let check = judge(Answer::Missing("NoSuchCORSConfiguration".into()), UploadMode::Post);
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.starts_with("CORS: the bucket has no CORS configuration"));

        let check = judge(Answer::Unanswered("NotImplemented (HTTP 501)".into()), UploadMode::Post);
        assert_eq!(check.status, Status::Pass, "the answers decide: {}", check.detail);
        assert!(check.detail.contains("could not be read"));
    }

    #[test]
    fn cors_fails_on_what_the_store_answers() {
        let deploy = rule(&["*"], &["GET", "POST"], &["*"], &["ETag", "Location"]);
        let (mut preflights, upload) = good_answers(UploadMode::Post);
        preflights[1].status = Ok(403);
        let facts = CorsFacts {
            rules: Answer::Yes(vec![deploy.clone()]),
            preflights,
            upload_response: upload.clone().map(|u| UploadCors {
                expose: Some("ETag".into()),
                ..u
            }),
        };
        let check = cors(&facts, &[APP.to_owned()], UploadMode::Post);
        assert_eq!(check.status, Status::Fail);
        assert!(
            check
                .detail
                .contains("a GET preflight from https://app.example is refused (HTTP 403)")
        );
        assert!(
            check.detail.contains("the POST answer does not expose Location"),
            "{}",
            check.detail
        );
    }

    #[test]
    fn patterns_hold_one_wildcard() {
        assert!(wildcard_match("*", "https://x"));
        assert!(wildcard_match("https://*.example.com", "https://app.example.com"));
        assert!(!wildcard_match("https://*.example.com", "https://example.org"));
        assert!(wildcard_match("x-amz-*", "X-Amz-Meta-Profile"));
        assert!(!wildcard_match("https://a.example", "https://a.example.evil"));
    }

    #[test]
    fn public_read_fails_when_anyone_can_read() {
        let private = public_read(&Answer::Unanswered("NotImplemented".into()), Ok(403), Some(Ok(403)));
        assert_eq!(private.status, Status::Pass, "{}", private.detail);
        let open = public_read(&Answer::Yes(false), Ok(403), Some(Ok(200)));
        assert_eq!(open.status, Status::Fail);
        assert!(open.detail.contains("anyone can read an object"));
        let policy = public_read(&Answer::Yes(true), Ok(403), None);
        assert_eq!(policy.status, Status::Fail);
    }

    fn lifecycle_rule(id: &str, prefix: &str, expire: Option<i32>, abort: Option<i32>) -> LifecycleRule {
        LifecycleRule {
            id: id.into(),
            enabled: true,
            prefix: Some(prefix.into()),
            expiration_days: expire,
            abort_multipart_days: abort,
        }
    }

    #[test]
    fn lifecycle_wants_staging_expired_and_multipart_aborted() {
        let layout = KeyLayout::new("").expect("layout");
        let ttl = Duration::from_secs(3600);
        // deploy/s3-lifecycle.json
        let deploy = vec![
            lifecycle_rule("staging", "staging/", Some(1), Some(1)),
            lifecycle_rule("abort", "", None, Some(1)),
        ];
        assert_eq!(
            lifecycle(&Answer::Yes(deploy.clone()), &layout, ttl).status,
            Status::Pass
        );

        let prefixed = KeyLayout::new("prod").expect("layout");
        let check = lifecycle(&Answer::Yes(deploy), &prefixed, ttl);
        assert_eq!(
            check.status,
            Status::Warn,
            "the rule misses prod/staging/: {}",
            check.detail
        );
        assert!(check.detail.contains("no rule expires prod/staging/"));

        let staging_only = vec![lifecycle_rule("staging", "staging/", Some(1), Some(1))];
        let check = lifecycle(&Answer::Yes(staging_only), &layout, ttl);
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("staging only"));

        let everything = vec![lifecycle_rule("all", "", Some(1), Some(1))];
        let check = lifecycle(&Answer::Yes(everything), &layout, ttl);
        assert_eq!(check.status, Status::Fail);
        assert!(check.detail.contains("served objects included"));

        let too_soon = vec![lifecycle_rule("staging", "staging/", Some(1), None)];
        let week = Duration::from_secs(7 * DAY);
        assert_eq!(lifecycle(&Answer::Yes(too_soon), &layout, week).status, Status::Fail);

        let mut disabled = lifecycle_rule("staging", "staging/", Some(1), Some(1));
        disabled.enabled = false;
        assert_eq!(
            lifecycle(&Answer::Yes(vec![disabled]), &layout, ttl).status,
            Status::Warn
        );
        for unanswered in [
            Answer::Missing("NoSuchLifecycleConfiguration".into()),
            Answer::Unanswered("NotImplemented".into()),
        ] {
            assert_eq!(lifecycle(&unanswered, &layout, ttl).status, Status::Warn);
        }
    }

    #[test]
    fn clock_skew_thresholds() {
        assert_eq!(clock_skew(0).status, Status::Pass);
        assert_eq!(clock_skew(-30).status, Status::Pass);
        assert_eq!(clock_skew(31).status, Status::Warn);
        let far = clock_skew(-600);
        assert_eq!(far.status, Status::Fail);
        assert!(far.detail.contains("600 s behind"));
    }

    #[test]
    fn temporary_credentials_shorten_urls() {
        let now = SystemTime::now();
        let margin = Duration::from_secs(300);
        let long_lived = CredentialInfo {
            source: "S3_ACCESS_KEY",
            temporary: false,
            expiry: None,
            refresh_margin: margin,
        };
        assert_eq!(
            presign_ttl(&long_lived, Duration::from_secs(3600), now).status,
            Status::Pass
        );
        let session = CredentialInfo {
            temporary: true,
            expiry: Some(now + Duration::from_secs(3000)),
            ..long_lived
        };
        let check = presign_ttl(&session, Duration::from_secs(3600), now);
        assert_eq!(check.status, Status::Warn);
        assert!(check.detail.contains("as little as 300 s"), "{}", check.detail);
        assert_eq!(
            presign_ttl(&session, Duration::from_secs(300), now).status,
            Status::Pass
        );
    }
}
