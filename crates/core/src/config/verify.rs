//! Bounds on completion checks: `VERIFY_*`.

use std::path::PathBuf;

use super::Reader;

/// Bounds on completion checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySettings {
    /// `VERIFY_MAX_IMAGE_SIDE`: widest or tallest image accepted, in pixels.
    pub max_image_side: u32,
    /// `VERIFY_MAX_IMAGE_PIXELS`: largest width × height accepted.
    pub max_image_pixels: u64,
    /// `VERIFY_CONCURRENCY`: verifications running at once per process; the
    /// rest wait, so a burst cannot exhaust memory.
    pub concurrency: usize,
    /// `VERIFY_TENANT_CONCURRENCY`: how many of those one tenant may hold
    /// (default: half, at least 1), so one tenant's burst cannot stall the others.
    pub tenant_concurrency: usize,
    /// `VERIFY_SPOOL_DIR`: where documents are spooled while they are
    /// checked (as large as the largest document); the system's temporary
    /// directory when unset.
    pub spool_dir: Option<PathBuf>,
}

pub(super) fn parse<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>) -> VerifySettings {
    let concurrency: usize = env.parse_or("VERIFY_CONCURRENCY", "4", "a whole number of at least 1");
    let verify = VerifySettings {
        max_image_side: env.parse_or("VERIFY_MAX_IMAGE_SIDE", "8192", "a number of pixels"),
        max_image_pixels: env.parse_or("VERIFY_MAX_IMAGE_PIXELS", "40000000", "a number of pixels"),
        concurrency,
        tenant_concurrency: env.parse_or(
            "VERIFY_TENANT_CONCURRENCY",
            &(concurrency / 2).max(1).to_string(),
            "a whole number of at least 1",
        ),
        spool_dir: env.string("VERIFY_SPOOL_DIR").map(PathBuf::from),
    };
    if verify.concurrency == 0 {
        env.problem("VERIFY_CONCURRENCY must be at least 1".into());
    }
    if !(1..=verify.concurrency.max(1)).contains(&verify.tenant_concurrency) {
        env.problem(format!(
            "VERIFY_TENANT_CONCURRENCY must be between 1 and VERIFY_CONCURRENCY ({})",
            verify.concurrency
        ));
    }
    verify
}

#[cfg(test)]
mod tests {
    use crate::config::tests::parse;

    #[test]
    fn a_tenant_gets_half_the_verification_slots_by_default() {
        let verify = |vars: &[(&str, &str)]| parse(vars).map(|s| (s.verify.concurrency, s.verify.tenant_concurrency));
        assert_eq!(verify(&[]).expect("defaults"), (4, 2));
        assert_eq!(verify(&[("VERIFY_CONCURRENCY", "1")]).expect("valid"), (1, 1));
        assert_eq!(
            verify(&[("VERIFY_CONCURRENCY", "8"), ("VERIFY_TENANT_CONCURRENCY", "8")]).expect("valid"),
            (8, 8)
        );
        for bad in ["0", "5"] {
            let err = verify(&[("VERIFY_TENANT_CONCURRENCY", bad)]).expect_err("out of range");
            assert!(err.to_string().contains("VERIFY_TENANT_CONCURRENCY"), "{err}");
        }
    }
}
