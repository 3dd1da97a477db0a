//! Limits against unauthenticated abuse, against the real embedded store over
//! TCP: oversized POST bodies, slow or silent clients, too many connections.

mod support;

use std::time::{Duration, Instant};

use broker_devstore::{ConnectionLimits, FORM_OVERHEAD};
use support::{Announce, MAX_FILE, MIB, TestStore, Transport, post_form, read_response, stream_post};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request head cut off in a header line.
const UNFINISHED_HEAD: &[u8] = b"POST /uploads HTTP/1.1\r\nHost: store\r\nContent-Type: multipart/form-da";

/// A whole request head, then the first bytes of a body announced as 100,000.
const STALLED_BODY: &[u8] =
    b"POST /uploads HTTP/1.1\r\nHost: store\r\nContent-Type: multipart/form-data; boundary=b\r\n\
    Content-Length: 100000\r\nConnection: close\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nk";

/// A store as the broker starts it, but for the connection limits `change` makes.
async fn store_with(change: impl FnOnce(&mut ConnectionLimits)) -> TestStore {
    let mut limits = ConnectionLimits::default();
    change(&mut limits);
    TestStore::start_with(MAX_FILE + FORM_OVERHEAD, limits).await
}

/// A connection to `store` that has sent `bytes` (nothing, for a silent one).
#[allow(clippy::expect_used, reason = "test helper")]
async fn connect(store: &TestStore, bytes: &[u8]) -> TcpStream {
    let mut connection = TcpStream::connect(store.addr()).await.expect("connects");
    connection.write_all(bytes).await.expect("writes");
    connection
}

/// How long until the peer closes `connection` (whatever it sends first).
async fn closed_after(connection: &mut TcpStream, patience: Duration) -> Duration {
    let started = Instant::now();
    let mut sink = [0u8; 4096];
    loop {
        match tokio::time::timeout(patience, connection.read(&mut sink)).await {
            Err(_) => panic!("the store kept the connection open for {patience:?}"),
            Ok(Ok(0) | Err(_)) => return started.elapsed(),
            Ok(Ok(_)) => {}
        }
    }
}

/// A POST that announces a body above the maximum is refused with S3's
/// `EntityTooLarge` before its body is read: the client is still sending.
#[tokio::test]
async fn a_post_announcing_too_large_a_body_is_refused_unread() {
    let store = TestStore::start().await;
    let (answer, written) = stream_post(store.addr(), Announce::Length, 200 * MIB).await;
    let answer = answer.expect("an answer");

    assert_eq!(answer.status, 400, "{}", answer.text());
    let text = answer.text();
    assert!(text.contains("<Code>EntityTooLarge</Code>"), "{text}");
    assert!(
        text.contains(&format!(
            "<MaxSizeAllowed>{}</MaxSizeAllowed>",
            MAX_FILE + FORM_OVERHEAD
        )),
        "{text}"
    );
    assert_eq!(answer.header("connection"), Some("close"));
    // Only what the sockets' buffers absorbed was sent; the store read none of it.
    assert!(written < 32 * MIB, "{written} bytes were sent before the refusal");
}

/// A signed form whose file is above its policy's maximum is refused with
/// `EntityTooLarge` (s3s's own check, as on AWS) and not stored.
#[tokio::test]
async fn a_signed_form_above_its_policy_maximum_is_refused() {
    let store = TestStore::start().await;
    let key = "staging/acme/avatar/too-big.png";
    let post = store.sign(key, 1024);
    let answer = post_form(
        &store,
        &reqwest::Client::new(),
        &post,
        &[7u8; 1025],
        &Transport::Reqwest,
    )
    .await
    .expect("an answer");

    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("<Code>EntityTooLarge</Code>"), "{}", answer.body);
    assert!(store.stored(key).is_err());
}

/// A slow loris (a request head that is never finished) and a connection
/// that sends nothing are both closed once the header read timeout passes.
#[tokio::test]
async fn unfinished_request_heads_are_closed_after_the_header_timeout() {
    let timeout = Duration::from_secs(1);
    let store = store_with(|l| l.header_read_timeout = timeout).await;

    let mut loris = connect(&store, UNFINISHED_HEAD).await;
    let mut silent = connect(&store, b"").await;

    for connection in [&mut loris, &mut silent] {
        let elapsed = closed_after(connection, Duration::from_secs(10)).await;
        assert!(elapsed < Duration::from_secs(5), "closed only after {elapsed:?}");
    }
    // Closed by the timeout, not at once: a fresh connection is still served.
    let mut fresh = connect(
        &store,
        b"GET /uploads HTTP/1.1\r\nHost: store\r\nConnection: close\r\n\r\n",
    )
    .await;
    let answer = read_response(&mut fresh).await.expect("an answer");
    assert_eq!(answer.status, 403, "{}", answer.text());
}

/// The slow loris is not closed before its time either.
#[tokio::test]
async fn the_header_timeout_is_not_cut_short() {
    let timeout = Duration::from_secs(2);
    let store = store_with(|l| l.header_read_timeout = timeout).await;
    let mut loris = connect(&store, b"POST /uploads HTTP/1.1\r\n").await;
    let elapsed = closed_after(&mut loris, Duration::from_secs(10)).await;
    assert!(
        elapsed >= timeout - Duration::from_millis(100),
        "closed after {elapsed:?}"
    );
}

/// A body that stops arriving is refused with S3's `RequestTimeout` once the
/// body idle timeout passes.
#[tokio::test]
async fn a_stalled_body_is_refused_after_the_idle_timeout() {
    let idle = Duration::from_secs(1);
    let store = store_with(|l| l.body_idle_timeout = idle).await;
    let mut client = connect(&store, STALLED_BODY).await;
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(10), read_response(&mut client))
        .await
        .expect("an answer within 10 s")
        .expect("an answer");

    assert!(started.elapsed() >= idle - Duration::from_millis(100));
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert!(
        answer.text().contains("<Code>RequestTimeout</Code>"),
        "{}",
        answer.text()
    );
}

/// Beyond `max_connections`, a connection is not served until a slot frees.
#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let store = store_with(|l| l.max_connections = 2).await;
    let mut holders = Vec::new();
    for _ in 0..2 {
        holders.push(connect(&store, b"GET /uploads HTTP/1.1\r\n").await);
    }
    let mut third = TcpStream::connect(store.addr()).await.expect("the kernel queues it");
    third
        .write_all(b"GET /uploads HTTP/1.1\r\nHost: store\r\nConnection: close\r\n\r\n")
        .await
        .expect("writes");
    let early = tokio::time::timeout(Duration::from_secs(1), read_response(&mut third)).await;
    assert!(
        early.is_err(),
        "a third connection was served beyond the cap: {early:?}"
    );

    drop(holders.pop());
    let answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut third))
        .await
        .expect("served once a slot is free")
        .expect("an answer");
    assert_eq!(answer.status, 403, "{}", answer.text());
}
