//! Memory under an unauthenticated oversized POST, alone in its test binary so
//! that the process's peak resident size belongs to this test only.

mod support;

use broker_devstore::FORM_OVERHEAD;
use support::{Announce, MAX_FILE, MIB, TestStore, memory, stream_post};

/// An unsigned form with a 200 MiB file, chunked so the store cannot know its
/// size up front, is refused with `EntityTooLarge` as soon as the bytes read
/// pass the maximum: the store neither reads all of it nor grows by more than
/// 64 MiB (s3s alone buffered the whole file before refusing it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_200_mib_chunked_post_is_refused_in_bounded_memory() {
    let store = TestStore::start().await;
    // Warm up with a small unsigned form, then restart the peak from here.
    let (warm_up, _) = stream_post(store.addr(), Announce::Chunked, 1024).await;
    assert_eq!(warm_up.expect("an answer").status, 403);
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    let (before, _) = memory();

    let (answer, written) = stream_post(store.addr(), Announce::Chunked, 200 * MIB).await;
    let (_, peak) = memory();
    let answer = answer.expect("an answer");

    assert_eq!(answer.status, 400, "{}", answer.text());
    let text = answer.text();
    assert!(text.contains("<Code>EntityTooLarge</Code>"), "{text}");
    // The body guard's answer (s3s's own file-size check would come later and say less).
    let limit = format!("<MaxSizeAllowed>{}</MaxSizeAllowed>", MAX_FILE + FORM_OVERHEAD);
    assert!(text.contains(&limit), "{text}");
    assert!(written > MAX_FILE, "refused after only {written} bytes");
    assert!(written < 100 * MIB, "{written} bytes were read before the refusal");
    let growth = peak.saturating_sub(before);
    eprintln!("peak RSS grew by {} MiB", growth / MIB);
    assert!(growth < 64 * MIB, "peak RSS grew by {} MiB", growth / MIB);
}
