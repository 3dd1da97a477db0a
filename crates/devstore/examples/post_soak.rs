//! Soak run for POST Object: N random valid forms against the real embedded
//! store, counting how many it refuses. The normal test suite runs 150 such
//! forms (`tests/post_object.rs`); this runs as many as asked, in release.
//!
//! ```sh
//! cargo run -p broker-devstore --example post_soak --release -- 1000 [SEED]
//! ```
//!
//! Sizes: 70 % log-uniform from 1 byte to 2 MiB, 30 % uniform from 2 to
//! 25 MiB; content, boundary and framing as in the test suite. Prints
//! `N refused of M` and exits non-zero when any form failed.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

#[path = "../tests/support/mod.rs"]
mod support;

use futures_util::StreamExt as _;
use support::{Case, Failure, MAX_FILE, MIB, TestStore, log_uniform, upload_case};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let count: usize = args.next().map_or(1000, |n| n.parse().expect("a number of uploads"));
    let seed: u64 = args
        .next()
        .map_or_else(|| fastrand::u64(..), |s| s.parse().expect("a numeric seed"));
    let mut rng = fastrand::Rng::with_seed(seed);
    let cases: Vec<Case> = (0..count)
        .map(|index| {
            let size = if rng.u8(0..10) < 7 {
                log_uniform(&mut rng, 2 * MIB)
            } else {
                rng.u64(2 * MIB..=MAX_FILE)
            };
            Case::random(&mut rng, index, size as usize)
        })
        .collect();
    let large = cases.iter().filter(|c| c.size as u64 >= 10 * MIB).count();
    println!("{count} uploads (seed {seed}), {large} of them 10 MiB or more");

    let store = TestStore::start().await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let results: Vec<Result<(), Failure>> = futures_util::stream::iter(&cases)
        .map(|case| upload_case(&store, &client, case))
        .buffer_unordered(4)
        .collect()
        .await;

    let mut refused = 0;
    let mut wrong = 0;
    for failure in results.iter().filter_map(|r| r.as_ref().err()) {
        match failure {
            Failure::Refused(_) => refused += 1,
            Failure::Wrong(_) => wrong += 1,
        }
        eprintln!("{failure}");
    }
    println!(
        "{refused} refused of {count}, {wrong} accepted but wrong ({:.0} s, seed {seed})",
        started.elapsed().as_secs_f64()
    );
    if refused + wrong > 0 {
        std::process::exit(1);
    }
}
