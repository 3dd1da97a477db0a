//! What bounds the cost of completions: the verifier's limits, a budget on
//! the memory one image decode may take, and slots that cap how many
//! verifications run at once, in all and per tenant.
//!
//! The verifier bounds an image by its dimensions (`VERIFY_MAX_IMAGE_SIDE`,
//! `VERIFY_MAX_IMAGE_PIXELS`), but the pixel buffer it decodes into also
//! grows with the bytes per pixel: a 100-byte PNG declaring 8192×4882 at 16
//! bits per RGBA channel passes the dimension check and makes the decoder
//! allocate 320 MB before finding the data is missing. [`DecodeBudget`]
//! reads the decoded size from the header and refuses such an image first;
//! the budget is what the profile needs, `VERIFY_MAX_IMAGE_PIXELS` at 8-bit
//! RGBA with a quarter of headroom, so every image the limits describe still
//! decodes. (`broker_verifier::Limits` has no allocation bound of its own.)
//!
//! [`VerifySlots`] gate the rest: `VERIFY_CONCURRENCY` verifications at once
//! per process, of which one tenant may hold `VERIFY_TENANT_CONCURRENCY`, so
//! a burst of one tenant's completions cannot make every other tenant wait.
//!
//! [`OnePerUpload`] lets one completion of an upload run at a time: a second,
//! concurrent one waits, then finds the served object and answers from it.
//! Without it, two concurrent completes could both write and both charge the
//! quota on stores whose create-only PUT is check-then-write (the embedded
//! store) or ignored (Garage).

use std::collections::HashMap;
use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use broker_core::TenantId;
use broker_core::config::VerifySettings;
use broker_jobs::Webhooks;
use broker_verifier::{Format, Limits, Rejection};
use image::{ImageDecoder as _, ImageFormat, ImageReader};
use tokio::sync::{AcquireError, OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, SemaphorePermit};

/// Decoded bytes per pixel the profiles are sized for (8-bit RGBA).
const BUDGET_BYTES_PER_PIXEL: u64 = 4;

/// The verifier's bounds, the decode budget and the slots.
pub struct Verification {
    pub limits: Limits,
    /// Where documents are spooled while they are checked (`VERIFY_SPOOL_DIR`).
    pub spool_dir: Option<PathBuf>,
    pub budget: DecodeBudget,
    pub slots: VerifySlots,
    pub uploads: OnePerUpload,
    /// Told how each completion ended (`upload.completed`, `upload.rejected`).
    pub webhooks: Webhooks,
}

impl Verification {
    pub fn new(verify: &VerifySettings, webhooks: Webhooks) -> Self {
        let limits = Limits {
            max_image_side: verify.max_image_side,
            max_image_pixels: verify.max_image_pixels,
            ..Limits::default()
        };
        Verification {
            budget: DecodeBudget::for_limits(&limits),
            limits,
            spool_dir: verify.spool_dir.clone(),
            slots: VerifySlots::new(verify.concurrency, verify.tenant_concurrency),
            uploads: OnePerUpload::default(),
            webhooks,
        }
    }
}

/// The most bytes one image's pixels may take once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeBudget {
    max_bytes: u64,
}

impl DecodeBudget {
    /// The largest image `limits` allow at 8-bit RGBA, plus a quarter.
    pub fn for_limits(limits: &Limits) -> Self {
        let needed = limits.max_image_pixels.saturating_mul(BUDGET_BYTES_PER_PIXEL);
        DecodeBudget {
            max_bytes: needed.saturating_add(needed / 4),
        }
    }

    pub fn max_bytes(self) -> u64 {
        self.max_bytes
    }

    /// Refuses an image whose decoded pixels would not fit, from its header
    /// alone. A header that cannot be read passes: the verifier refuses it
    /// with the precise reason.
    pub fn check(self, format: Format, bytes: &[u8]) -> Result<(), Rejection> {
        let image_format = match format {
            Format::Jpeg => ImageFormat::Jpeg,
            Format::Png => ImageFormat::Png,
            Format::WebP => ImageFormat::WebP,
            _ => return Ok(()),
        };
        let Ok(decoder) = ImageReader::with_format(Cursor::new(bytes), image_format).into_decoder() else {
            return Ok(());
        };
        if decoder.total_bytes() > self.max_bytes {
            let (width, height) = decoder.dimensions();
            return Err(Rejection::DimensionsTooLarge { width, height });
        }
        Ok(())
    }
}

/// Verification slots: `total` at once, at most `per_tenant` of them for one tenant.
pub struct VerifySlots {
    total: Semaphore,
    per_tenant: usize,
    /// One semaphore per tenant with a verification running or waiting.
    tenants: Mutex<HashMap<TenantId, Arc<Semaphore>>>,
}

/// A held slot; dropping it frees it.
pub struct Slot<'a> {
    _total: SemaphorePermit<'a>,
    _tenant: OwnedSemaphorePermit,
}

impl VerifySlots {
    pub fn new(total: usize, per_tenant: usize) -> Self {
        VerifySlots {
            total: Semaphore::new(total),
            per_tenant: per_tenant.clamp(1, total.max(1)),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    /// Waits for one of the tenant's slots, then for one of the process's:
    /// a tenant at its share waits without holding a slot others could use.
    pub async fn acquire(&self, tenant: &TenantId) -> Result<Slot<'_>, AcquireError> {
        let semaphore = {
            let mut tenants = self.tenants.lock().unwrap_or_else(PoisonError::into_inner);
            // A semaphore only the map holds has no holder and no waiter.
            tenants.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
            tenants
                .entry(tenant.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant)))
                .clone()
        };
        let tenant_slot = semaphore.acquire_owned().await?;
        let total_slot = self.total.acquire().await?;
        Ok(Slot {
            _total: total_slot,
            _tenant: tenant_slot,
        })
    }
}

/// One completion per upload at a time, in this process.
#[derive(Default)]
pub struct OnePerUpload {
    /// One lock per upload being completed (or waited for).
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl OnePerUpload {
    /// Waits until no other completion of `key` runs; the guard lets the next one in.
    pub async fn lock(&self, key: &str) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            // A lock only the map holds has no holder and no waiter.
            locks.retain(|_, lock| Arc::strong_count(lock) > 1);
            locks.entry(key.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tenant(name: &str) -> TenantId {
        TenantId::parse(name).expect("tenant")
    }

    async fn acquired<'a>(slots: &'a VerifySlots, name: &str) -> Option<Slot<'a>> {
        tokio::time::timeout(Duration::from_millis(50), slots.acquire(&tenant(name)))
            .await
            .ok()
            .map(|slot| slot.expect("open"))
    }

    #[tokio::test]
    async fn one_tenant_cannot_take_every_slot() {
        let slots = VerifySlots::new(4, 2);
        let first = acquired(&slots, "acme").await.expect("a slot");
        let _second = acquired(&slots, "acme").await.expect("a second slot");
        assert!(acquired(&slots, "acme").await.is_none(), "acme holds its share");
        let _globex = acquired(&slots, "globex").await.expect("another tenant still verifies");
        drop(first);
        assert!(acquired(&slots, "acme").await.is_some(), "a freed slot is acme's again");
    }

    #[tokio::test]
    async fn the_process_total_still_applies() {
        let slots = VerifySlots::new(2, 2);
        let _a = acquired(&slots, "a").await.expect("slot");
        let _b = acquired(&slots, "b").await.expect("slot");
        assert!(acquired(&slots, "c").await.is_none());
    }

    #[test]
    fn the_budget_fits_the_largest_allowed_8_bit_image() {
        let budget = DecodeBudget::for_limits(&Limits::default());
        assert_eq!(budget.max_bytes(), 200_000_000);
        assert!(budget.max_bytes() >= 8192 * 4882 * 4, "RGBA8 at the limits decodes");
        assert!(budget.max_bytes() < 8192 * 4882 * 8, "RGBA16 at the limits does not");
    }
}
