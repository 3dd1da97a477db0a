//! POST Object against the real embedded store, over HTTP, with forms signed
//! by `broker_core::post_policy`: every valid form is accepted, and the answer
//! is S3's (<https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html>).

mod support;

use futures_util::StreamExt as _;
use support::{
    Answer, BUCKET, Case, Content, Framing, MAX_FILE, MIB, ORIGIN, TestStore, Transport, etag_of, log_uniform,
    post_form, upload_case,
};

/// Random content, sizes from 1 byte to 25 MiB, random boundaries (reqwest's,
/// and hand-built ones of 1 to 70 characters, quoted or not), sent with a
/// `Content-Length` or chunked in random sizes: none may be refused, and each
/// must be stored byte for byte. Unpatched s3s 0.14.1 refused 15 of these 150
/// with `SEED=42` (`InvalidRequest` and `MalformedPOSTRequest`). `SEED=n`
/// replays a run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_forms_of_every_size_are_all_accepted() {
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let store = TestStore::start().await;
    let client = reqwest::Client::new();

    // 140 small forms (log-uniform up to 2 MiB) and 10 large ones (10–25 MiB).
    let mut cases = Vec::new();
    for index in 0..150 {
        let size = if index < 140 {
            log_uniform(&mut rng, 2 * MIB)
        } else {
            rng.u64(10 * MIB..=MAX_FILE)
        };
        cases.push(Case::random(&mut rng, index, size as usize));
    }

    let failures: Vec<support::Failure> = futures_util::stream::iter(&cases)
        .map(|case| upload_case(&store, &client, case))
        .buffer_unordered(4)
        .filter_map(|result| async move { result.err() })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {} valid forms failed (SEED={seed}):\n{}",
        failures.len(),
        cases.len(),
        failures.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    );
}

/// The alignment s3s 0.14.1 refused with `BoundaryBufferTooLarge(65537,
/// 65536)`: a body chunk that ends in `\r` (the start of a possible delimiter)
/// followed by a 64 KiB chunk. A file of nothing but `\r`, sent in 64 KiB HTTP
/// chunks, puts a delimiter prefix at the end of every chunk.
#[tokio::test]
async fn a_body_chunk_ending_inside_a_possible_delimiter_is_accepted() {
    let store = TestStore::start().await;
    let client = reqwest::Client::new();
    for (index, framing) in [Framing::Chunked(vec![64 * 1024]), Framing::Length]
        .into_iter()
        .enumerate()
    {
        let case = Case {
            key: format!("staging/acme/export/carriage-returns-{index}.bin"),
            size: 8 * MIB as usize,
            content: Content::CarriageReturns,
            transport: Transport::Raw {
                boundary: "----WebKitFormBoundary7MA4YWxkTrZu0gW".into(),
                quoted: false,
                framing,
            },
            seed: 0,
        };
        if let Err(failure) = upload_case(&store, &client, &case).await {
            panic!("{failure}");
        }
    }
}

/// A first body chunk that ends inside the first boundary line, which s3s
/// 0.14.1 refused with `MalformedPOSTRequest`: one byte per HTTP chunk, and a
/// `Content-Length` body whose first 10 bytes arrive alone with the head (as
/// when the head fills most of a TCP segment).
#[tokio::test]
async fn a_first_body_chunk_ending_inside_the_boundary_line_is_accepted() {
    let store = TestStore::start().await;
    let client = reqwest::Client::new();
    for (index, framing) in [Framing::Chunked(vec![1]), Framing::LengthPausedAfter(10)]
        .into_iter()
        .enumerate()
    {
        let case = Case {
            key: format!("staging/acme/export/cut-boundary-line-{index}.bin"),
            size: 1000,
            content: Content::Random,
            transport: Transport::Raw {
                boundary: "----WebKitFormBoundary7MA4YWxkTrZu0gW".into(),
                quoted: false,
                framing,
            },
            seed: index as u64,
        };
        if let Err(failure) = upload_case(&store, &client, &case).await {
            panic!("{failure}");
        }
    }
}

/// The default answer: `204` with the quoted MD5 as `ETag` and the object's
/// URL (key percent-encoded, `/` too, as AWS does) as `Location`, both
/// readable by browser code through CORS.
#[tokio::test]
async fn a_successful_post_answers_204_with_etag_and_location() {
    let store = TestStore::start().await;
    let key = "staging/acme/avatar/0199-a.png";
    let post = store.sign(key, MAX_FILE);
    let file = b"\x89PNG not really".to_vec();

    let mut form = reqwest::multipart::Form::new();
    for (name, value) in &post.fields {
        form = form.text(name.clone(), value.clone());
    }
    let form = form.part("file", reqwest::multipart::Part::bytes(file.clone()).file_name("a.png"));
    let response = reqwest::Client::new()
        .post(&post.url)
        .header("origin", ORIGIN)
        .multipart(form)
        .send()
        .await
        .expect("the store answers");

    assert_eq!(response.status(), 204);
    let header = |name: &str| response.headers()[name].to_str().expect("ascii").to_owned();
    assert_eq!(header("etag"), etag_of(&file));
    assert_eq!(
        header("location"),
        format!(
            "{}/{BUCKET}/staging%2Facme%2Favatar%2F0199-a.png",
            store.store.endpoint()
        )
    );
    assert_eq!(header("access-control-allow-origin"), ORIGIN);
    let exposed = header("access-control-expose-headers");
    for name in ["ETag", "Location"] {
        assert!(exposed.split(", ").any(|h| h == name), "{name} not exposed: {exposed}");
    }
    assert_eq!(store.stored(key).expect("stored"), file);
}

/// POSTs `file` to `key` of a new store with a form whose policy allows, and
/// which asks for, `success_action_status` `status`; asserts that status.
#[allow(clippy::expect_used, reason = "test helper")]
async fn post_with_success_status(key: &str, status: u16, file: &[u8]) -> (TestStore, Answer) {
    let store = TestStore::start().await;
    let post = store.sign_with(key, MAX_FILE, &[("success_action_status", &status.to_string())]);
    let answer = post_form(&store, &reqwest::Client::new(), &post, file, &Transport::Reqwest)
        .await
        .expect("the store answers");
    assert_eq!(answer.status, status, "{}", answer.body);
    (store, answer)
}

/// `success_action_status=201`, when the policy allows it, answers S3's
/// `PostResponse` XML.
#[tokio::test]
async fn success_action_status_201_answers_the_post_response_document() {
    let key = "staging/acme/export/report.csv";
    let file = b"a,b\n1,2\n".to_vec();
    let (store, answer) = post_with_success_status(key, 201, &file).await;

    let etag = etag_of(&file);
    let location = store.object_url(key);
    assert_eq!(answer.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(answer.location.as_deref(), Some(location.as_str()));
    // s3s escapes the ETag's quotes as `&quot;`: the same XML text as AWS's literal quotes.
    let document = answer.body.replace("&quot;", "\"");
    let expected = format!(
        "<PostResponse><Location>{location}</Location><Bucket>{BUCKET}</Bucket><Key>{key}</Key><ETag>{etag}</ETag></PostResponse>"
    );
    assert!(document.contains(&expected), "{document}\ndoes not contain\n{expected}");
    assert_eq!(store.stored(key).expect("stored"), file);
}

/// `success_action_status=200` answers an empty `200`, still with the headers.
#[tokio::test]
async fn success_action_status_200_answers_empty() {
    let key = "staging/acme/export/empty-answer.json";
    let file = b"{}".to_vec();
    let (store, answer) = post_with_success_status(key, 200, &file).await;

    assert_eq!(answer.body, "");
    assert_eq!(answer.etag, Some(etag_of(&file)));
    assert_eq!(answer.location, Some(store.object_url(key)));
}

/// A `success_action_status` the policy does not cover is refused, as every
/// field outside the policy is (AWS: 403 AccessDenied), and nothing is stored.
#[tokio::test]
async fn success_action_status_outside_the_policy_is_refused() {
    let store = TestStore::start().await;
    let key = "staging/acme/export/unlisted.csv";
    let mut post = store.sign(key, MAX_FILE);
    post.fields.insert("success_action_status".into(), "201".into());
    let answer = post_form(&store, &reqwest::Client::new(), &post, b"x", &Transport::Reqwest)
        .await
        .expect("the store answers");

    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("<Code>AccessDenied</Code>"), "{}", answer.body);
    assert!(store.stored(key).is_err(), "a refused form stored its file");
}

/// `success_action_redirect` (policy-covered) is s3s's own behaviour: `303`
/// to the URL with `bucket`, `key` and `etag` appended, as AWS does.
#[tokio::test]
async fn success_action_redirect_redirects_with_bucket_key_and_etag() {
    let store = TestStore::start().await;
    let key = "staging/acme/export/redirected.csv";
    let target = "http://app.example/uploaded";
    let post = store.sign_with(key, MAX_FILE, &[("success_action_redirect", target)]);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let answer = post_form(&store, &client, &post, b"a,b\n", &Transport::Reqwest)
        .await
        .expect("the store answers");

    assert_eq!(answer.status, 303, "{}", answer.body);
    let location = answer.location.expect("a Location");
    assert!(
        location.starts_with(&format!("{target}?bucket={BUCKET}&key=")),
        "{location}"
    );
    let etag = etag_of(b"a,b\n");
    assert!(
        location.ends_with(&format!("&etag={}", etag.trim_matches('"'))),
        "{location}"
    );
}
