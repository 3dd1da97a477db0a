//! `upload-broker doctor`: is the configured bucket set up the way the broker
//! and the browsers that use it need?
//!
//! Every check is answered by the store itself, through the same code the API
//! runs: a tiny upload is signed in the configured mode by
//! [`Store::presign_upload`], sent the way a browser sends it, read back by
//! HEAD and by a presigned GET, then deleted ([`probe`]). Bucket settings
//! (CORS, Block Public Access, lifecycle, versioning) are read with the S3 API
//! and judged by plain functions ([`verdict`]). The most common failure of
//! browser uploads, a CORS configuration that does not expose `ETag`, is
//! checked twice: in the rules, and in what the store actually answers.
//!
//! A check the store cannot answer (Block Public Access on Garage, lifecycle
//! on the embedded store) is a `warn` that says why, never a `fail`: only a
//! `fail` makes the command exit non-zero. With the embedded store configured,
//! doctor starts it over `DATA_DIR` exactly as `serve` does, so the checks are
//! the ones browsers meet in development.
//!
//! See docs/store-tools.md for what each check means and how to fix it.

mod probe;
pub mod verdict;

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use broker_core::Settings;
use broker_core::config::{AllowedOrigins, StoreBackend};
use broker_core::store::{CredentialInfo, Store, StoreError};
use serde::Serialize;

use crate::store::{Embedded, connect};
use probe::{Probes, RoundTrip};
use verdict::{Answer, CorsFacts, CorsRule, LifecycleRule};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Not a failure: the store could not answer, or something deserves a look.
    Warn,
    Fail,
}

impl Status {
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

impl Check {
    pub fn new(name: &'static str, status: Status, detail: impl Into<String>) -> Self {
        Check {
            name,
            status,
            detail: detail.into(),
        }
    }
}

/// What doctor found, in the order the checks ran.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Which store: `embedded (DATA_DIR …)`, an endpoint, or AWS S3 in a region.
    pub store: String,
    pub bucket: String,
    #[serde(rename = "uploadMode")]
    pub upload_mode: &'static str,
    /// No check failed.
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Report {
    fn new(store: String, bucket: String, upload_mode: &'static str, checks: Vec<Check>) -> Self {
        let ok = checks.iter().all(|c| c.status != Status::Fail);
        Report {
            store,
            bucket,
            upload_mode,
            ok,
            checks,
        }
    }

    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The report as a table for a terminal.
    pub fn table(&self) -> String {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let mut out = format!(
            "store:  {}\nbucket: {}\nupload: {}\n\n",
            self.store, self.bucket, self.upload_mode
        );
        for check in &self.checks {
            let _ = writeln!(
                out,
                "{:<4}  {:<width$}  {}",
                check.status.label(),
                check.name,
                check.detail
            );
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        let _ = write!(
            out,
            "\n{} passed, {} warned, {} failed",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail)
        );
        out
    }
}

/// The checks, by name, in the order they run.
pub const CHECKS: [&str; 11] = [
    "credentials",
    "bucket",
    "round-trip",
    "cors",
    "public-access-block",
    "public-read",
    "lifecycle",
    "encryption",
    "versioning",
    "clock-skew",
    "presign-ttl",
];

/// Connects to the configured store (starting the embedded one over
/// `DATA_DIR` when no S3 store is configured) and runs every check.
pub async fn run(settings: &Settings) -> Result<Report, String> {
    let connected = connect(settings, Embedded::Start).await.map_err(|e| e.to_string())?;
    let store_name = match &settings.store.backend {
        StoreBackend::Embedded { data_dir, .. } => format!("embedded (DATA_DIR {})", data_dir.display()),
        StoreBackend::External {
            endpoint: Some(endpoint),
            ..
        } => endpoint.clone(),
        StoreBackend::External { endpoint: None, .. } => format!("AWS S3 ({})", settings.store.region),
    };
    let bucket_url = connected
        .endpoint
        .post_url(&settings.store.bucket, &settings.store.region);
    let checks = diagnose(&connected.store, &bucket_url, &settings.allowed_origins).await;
    if let Some(devstore) = connected.devstore {
        devstore.shutdown().await;
    }
    Ok(Report::new(
        store_name,
        settings.store.bucket.clone(),
        settings.store.upload_mode.as_str(),
        checks,
    ))
}

/// Every check against `store`, whose bucket browsers reach at `bucket_url`.
pub async fn diagnose(store: &Store, bucket_url: &str, origins: &AllowedOrigins) -> Vec<Check> {
    let mut checks = Vec::with_capacity(CHECKS.len());
    let credentials = store.credential_info().await;
    checks.push(match &credentials {
        Ok(info) => Check::new("credentials", Status::Pass, describe_credentials(info)),
        Err(e) => Check::new("credentials", Status::Fail, format!("cannot sign: {e}")),
    });
    let bucket = bucket_check(store).await;
    let reachable = bucket.status == Status::Pass;
    checks.push(bucket);
    if !reachable {
        checks.extend(
            CHECKS[2..]
                .iter()
                .map(|name| Check::new(name, Status::Warn, "not checked: the bucket is not reachable")),
        );
        return checks;
    }

    let probes = match Probes::new(bucket_url, origins) {
        Ok(probes) => probes,
        Err(e) => {
            checks.extend(CHECKS[2..].iter().map(|name| Check::new(name, Status::Fail, e.clone())));
            return checks;
        }
    };
    let round_trip = probes.round_trip(store).await;
    checks.push(match &round_trip.outcome {
        Ok(summary) => Check::new("round-trip", Status::Pass, summary.clone()),
        Err(e) => Check::new("round-trip", Status::Fail, e.clone()),
    });
    checks.push(cors_check(store, &probes, &round_trip).await);
    checks.push(public_access_block_check(store).await);
    checks.push(public_read_check(store, &probes, &round_trip).await);
    checks.push(lifecycle_check(store).await);
    checks.push(encryption_check(store, &round_trip));
    checks.push(versioning_check(store).await);
    checks.push(match probes.clock_skew().await {
        Ok(skew) => verdict::clock_skew(skew),
        Err(e) => Check::new("clock-skew", Status::Warn, format!("not measured: {e}")),
    });
    checks.push(match &credentials {
        Ok(info) => verdict::presign_ttl(info, store.presign_ttl(), SystemTime::now()),
        Err(_) => Check::new("presign-ttl", Status::Fail, "no credentials to sign with"),
    });
    checks
}

fn describe_credentials(info: &CredentialInfo) -> String {
    match (info.temporary, info.expiry) {
        (false, _) => format!("long-lived keys from {}", info.source),
        (true, Some(expiry)) => format!(
            "temporary credentials from {}, valid for another {} s",
            info.source,
            expiry
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO)
                .as_secs()
        ),
        (true, None) => format!("temporary credentials from {}", info.source),
    }
}

async fn bucket_check(store: &Store) -> Check {
    let (status, detail) = match store.ping().await {
        Ok(()) => (
            Status::Pass,
            format!("{} exists and answers HeadBucket", store.bucket()),
        ),
        Err(StoreError::NotFound) => (Status::Fail, format!("{} does not exist", store.bucket())),
        Err(e) => (Status::Fail, format!("{} is not reachable: {e}", store.bucket())),
    };
    Check::new("bucket", status, detail)
}

async fn cors_check(store: &Store, probes: &Probes, round_trip: &RoundTrip) -> Check {
    let rules = ask(store, &["NoSuchCORSConfiguration"], |s3, bucket| {
        s3.get_bucket_cors().bucket(bucket).send()
    })
    .await
    .map(|output| output.cors_rules().iter().map(CorsRule::from_sdk).collect());
    let mode = store.upload_mode();
    let facts = CorsFacts {
        rules,
        preflights: probes.preflights(mode, &round_trip.signed_headers).await,
        upload_response: round_trip.upload_cors.clone(),
    };
    verdict::cors(&facts, probes.origins(), mode)
}

async fn public_access_block_check(store: &Store) -> Check {
    let name = "public-access-block";
    match ask(store, &["NoSuchPublicAccessBlockConfiguration"], |s3, bucket| {
        s3.get_public_access_block().bucket(bucket).send()
    })
    .await
    {
        Answer::Yes(output) => {
            let config = output.public_access_block_configuration();
            let settings = [
                ("BlockPublicAcls", config.and_then(|c| c.block_public_acls())),
                ("IgnorePublicAcls", config.and_then(|c| c.ignore_public_acls())),
                ("BlockPublicPolicy", config.and_then(|c| c.block_public_policy())),
                (
                    "RestrictPublicBuckets",
                    config.and_then(|c| c.restrict_public_buckets()),
                ),
            ];
            let off: Vec<&str> = settings
                .iter()
                .filter(|(_, on)| *on != Some(true))
                .map(|(name, _)| *name)
                .collect();
            if off.is_empty() {
                Check::new(name, Status::Pass, "all four settings are on")
            } else {
                Check::new(name, Status::Warn, format!("off: {}", off.join(", ")))
            }
        }
        Answer::Missing(_) => Check::new(
            name,
            Status::Warn,
            "the bucket has no Block Public Access configuration (account-level settings may still apply)",
        ),
        Answer::Unanswered(reason) => Check::new(name, Status::Warn, format!("the store cannot answer: {reason}")),
    }
}

async fn public_read_check(store: &Store, probes: &Probes, round_trip: &RoundTrip) -> Check {
    let policy_public = match ask(store, &["NoSuchBucketPolicy"], |s3, bucket| {
        s3.get_bucket_policy_status().bucket(bucket).send()
    })
    .await
    {
        Answer::Yes(output) => Answer::Yes(output.policy_status().and_then(|s| s.is_public()).unwrap_or(false)),
        Answer::Missing(code) => Answer::Missing(code),
        Answer::Unanswered(reason) => Answer::Unanswered(reason),
    };
    let anonymous_list = probes.anonymous_list().await;
    verdict::public_read(&policy_public, anonymous_list, round_trip.anonymous_get.clone())
}

async fn lifecycle_check(store: &Store) -> Check {
    let rules = ask(store, &["NoSuchLifecycleConfiguration"], |s3, bucket| {
        s3.get_bucket_lifecycle_configuration().bucket(bucket).send()
    })
    .await
    .map(|output| output.rules().iter().map(LifecycleRule::from_sdk).collect::<Vec<_>>());
    verdict::lifecycle(&rules, store.layout(), store.presign_ttl())
}

fn encryption_check(store: &Store, round_trip: &RoundTrip) -> Check {
    let name = "encryption";
    let applied = round_trip.sse.as_ref();
    match (store.encryption(), applied) {
        (Some(wanted), Some(applied)) if applied.as_deref() == Some(wanted.algorithm()) => Check::new(
            name,
            Status::Pass,
            format!("S3_SSE={}: the test object's HEAD shows it", wanted.algorithm()),
        ),
        (Some(wanted), Some(applied)) => Check::new(
            name,
            Status::Fail,
            format!(
                "S3_SSE={} but the test object's HEAD shows {}",
                wanted.algorithm(),
                applied.as_deref().unwrap_or("no encryption")
            ),
        ),
        (Some(_), None) => Check::new(name, Status::Fail, "not verified: the round trip did not get to HEAD"),
        (None, applied) => Check::new(
            name,
            Status::Pass,
            format!(
                "S3_SSE is not set; the test object's HEAD shows {}",
                applied.and_then(Option::as_deref).unwrap_or("no encryption")
            ),
        ),
    }
}

async fn versioning_check(store: &Store) -> Check {
    let name = "versioning";
    match ask(store, &[], |s3, bucket| {
        s3.get_bucket_versioning().bucket(bucket).send()
    })
    .await
    {
        Answer::Yes(output) => match output.status().map(|s| s.as_str()) {
            Some("Enabled") => Check::new(
                name,
                Status::Pass,
                "enabled: deleted staging objects stay as noncurrent versions; expire them with a \
                 NoncurrentVersionExpiration rule",
            ),
            Some(other) => Check::new(name, Status::Pass, other.to_ascii_lowercase()),
            None => Check::new(name, Status::Pass, "never enabled"),
        },
        Answer::Missing(code) | Answer::Unanswered(code) => {
            Check::new(name, Status::Warn, format!("the store cannot answer: {code}"))
        }
    }
}

/// [`answer`] to a question about the store's bucket: `call` sends it with
/// the store's client, for the bucket's name.
async fn ask<T, E, F, Fut>(store: &Store, missing: &[&str], call: F) -> Answer<T>
where
    F: FnOnce(&aws_sdk_s3::Client, &str) -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    answer(call(store.client(), store.bucket()).await, missing)
}

/// An S3 call's answer: the value, one of the error codes meaning "not
/// configured", or why the store could not answer (unsupported, denied, down).
fn answer<T, E>(result: Result<T, SdkError<E, aws_sdk_s3::config::http::HttpResponse>>, missing: &[&str]) -> Answer<T>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match result {
        Ok(value) => Answer::Yes(value),
        Err(error) => match error.code() {
            Some(code) if missing.contains(&code) => Answer::Missing(code.to_owned()),
            Some(code) => {
                let status = error.raw_response().map(|r| r.status().as_u16()).unwrap_or(0);
                Answer::Unanswered(format!("{code} (HTTP {status})"))
            }
            None => Answer::Unanswered(DisplayErrorContext(&error).to_string()),
        },
    }
}
