//! The deploy files (`deploy/`, `.env.example`) checked against the code, so
//! neither drifts (docs/deploy.md):
//!
//! * **IAM**: the workspace's non-test sources are scanned for the S3
//!   operations they perform (aws-sdk-s3 fluent calls such as `.put_object()`,
//!   and the hand-signed browser uploads). Each maps to IAM actions through
//!   [`OPERATIONS`], the one table to extend, and each policy file must grant
//!   exactly the actions of the sources [`POLICIES`] attributes to it: nothing
//!   missing, nothing extra, each on the bucket or object resource it applies to.
//! * **Configuration**: every variable that `deploy/compose.yaml`, the
//!   Kubernetes manifests, the Dockerfile and `.env.example` set is one the
//!   broker reads ([`Settings::variables`], taken from the parser itself) and is
//!   in the README's configuration table; every variable the parser reads is in
//!   that table and in `.env.example`.
//!
//! * **The compose bootstrap** (`deploy/garage/bootstrap.sh`) runs against a
//!   real Garage with the compose file's environment, and the broker's
//!   configuration it completes is valid and reaches the bucket it set up.
//!
//! The YAML is read by a line scan of the blocks that set variables
//! (`environment:`, `data:`, `stringData:`, `env:`), which is all these checks
//! need; the scanners have their own tests below.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use broker_core::Settings;
use broker_core::store::{Store, StoreEndpoint};
use broker_testkit::garage::{Garage, garage_bin};
use serde_json::Value;
use sha2::{Digest, Sha256};
use upload_broker::telemetry::LOG_FILTER_VAR;

/// Where an IAM action applies: the bucket ARN, or the objects under the prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum On {
    Bucket,
    Object,
}
use On::{Bucket, Object};

const BUCKET_ARN: &str = "arn:aws:s3:::BUCKET_NAME";
const OBJECTS_ARN: &str = "arn:aws:s3:::BUCKET_NAME/KEY_PREFIX*";

/// What each S3 operation in the code needs. A pattern is the text of the
/// call: an aws-sdk-s3 fluent-builder method, or the construction of a
/// hand-signed request. An SDK call on a bucket that is not listed fails the
/// test, so a new operation cannot slip past this table.
/// Actions: <https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html>.
const OPERATIONS: &[(&str, &[(&str, On)])] = &[
    // Objects. A presigned GET is a `.get_object()` too.
    (".get_object()", &[("s3:GetObject", Object)]),
    (".head_object()", &[("s3:GetObject", Object)]),
    (
        ".get_object_attributes()",
        &[("s3:GetObject", Object), ("s3:GetObjectAttributes", Object)],
    ),
    (".put_object()", &[("s3:PutObject", Object)]),
    (".copy_object()", &[("s3:GetObject", Object), ("s3:PutObject", Object)]),
    (".delete_object()", &[("s3:DeleteObject", Object)]),
    (".delete_objects()", &[("s3:DeleteObject", Object)]),
    (".create_multipart_upload()", &[("s3:PutObject", Object)]),
    (".upload_part()", &[("s3:PutObject", Object)]),
    (
        ".upload_part_copy()",
        &[("s3:GetObject", Object), ("s3:PutObject", Object)],
    ),
    (".complete_multipart_upload()", &[("s3:PutObject", Object)]),
    (".abort_multipart_upload()", &[("s3:AbortMultipartUpload", Object)]),
    (".list_parts()", &[("s3:ListMultipartUploadParts", Object)]),
    // Browser uploads, signed by hand with the broker's credentials: the store
    // authorises them as the broker's own PutObject (crates/core/src/post_policy.rs,
    // crates/core/src/presigned_put.rs).
    ("PostPolicy {", &[("s3:PutObject", Object)]),
    ("PutRequest {", &[("s3:PutObject", Object)]),
    // The bucket. HeadBucket is authorised by s3:ListBucket.
    (".head_bucket()", &[("s3:ListBucket", Bucket)]),
    (".list_objects_v2()", &[("s3:ListBucket", Bucket)]),
    (".list_objects()", &[("s3:ListBucket", Bucket)]),
    (
        ".list_multipart_uploads()",
        &[("s3:ListBucketMultipartUploads", Bucket)],
    ),
    (".get_bucket_location()", &[("s3:GetBucketLocation", Bucket)]),
    (".get_bucket_cors()", &[("s3:GetBucketCORS", Bucket)]),
    (
        ".get_bucket_lifecycle_configuration()",
        &[("s3:GetLifecycleConfiguration", Bucket)],
    ),
    (
        ".get_public_access_block()",
        &[("s3:GetBucketPublicAccessBlock", Bucket)],
    ),
    (".get_bucket_policy()", &[("s3:GetBucketPolicy", Bucket)]),
    (".get_bucket_policy_status()", &[("s3:GetBucketPolicyStatus", Bucket)]),
    (".get_bucket_versioning()", &[("s3:GetBucketVersioning", Bucket)]),
    (".get_bucket_encryption()", &[("s3:GetEncryptionConfiguration", Bucket)]),
    (".get_bucket_acl()", &[("s3:GetBucketAcl", Bucket)]),
    (
        ".get_bucket_ownership_controls()",
        &[("s3:GetBucketOwnershipControls", Bucket)],
    ),
    // Nothing to grant: `Store::ensure_bucket` creates the bucket only in the
    // embedded store, which the broker starts with its own credentials
    // (crates/broker/src/store.rs); a real bucket is the operator's.
    (".create_bucket()", &[]),
];

/// Which policy grants the calls of which sources; the first match wins. A
/// source matches when a directory or file stem in its path is the name
/// (`""` matches every source). `upload-broker doctor`'s bucket-configuration
/// reads belong to the operator who checks a bucket, not to the running broker.
const POLICIES: &[(&str, &str)] = &[
    ("doctor", "deploy/iam-policy-doctor.json"),
    ("", "deploy/iam-policy.json"),
];

/// Crates whose sources are not clients of the bucket.
const NOT_CLIENTS: &[(&str, &str)] = &[
    ("devstore", "the embedded store: it serves the S3 API, it calls none"),
    ("testkit", "the test harness"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

fn read(path: &str) -> String {
    fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// One S3 operation found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Call {
    file: String,
    line: usize,
    pattern: &'static str,
}

/// `source` without its `#[cfg(test)]` items (test modules, test-only helpers).
fn without_tests(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let end = match (item.find('{'), item.find(';')) {
            (Some(open), semi) if semi.is_none_or(|semi| open < semi) => matching_brace(item, open),
            (_, Some(semi)) => semi + 1,
            _ => item.len(),
        };
        // Keep the line count, so that line numbers still point at the source.
        out.extend(item[..end].chars().filter(|c| *c == '\n'));
        rest = &item[end..];
    }
    out.push_str(rest);
    out
}

/// The index just past the brace that closes the one at `open`.
fn matching_brace(text: &str, open: usize) -> usize {
    let mut depth = 0usize;
    for (i, c) in text[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return open + i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

/// The S3 operations in one (test-free) source. Any `.name()` directly followed
/// by `.bucket(` is an SDK operation, and must be in [`OPERATIONS`].
fn calls_in(file: &str, source: &str) -> Result<Vec<Call>, String> {
    let line_of = |at: usize| source[..at].matches('\n').count() + 1;
    let mut calls = Vec::new();
    for (pattern, _) in OPERATIONS {
        for (at, _) in source.match_indices(pattern) {
            calls.push(Call {
                file: file.to_owned(),
                line: line_of(at),
                pattern,
            });
        }
    }
    for (at, _) in source.match_indices(".bucket(") {
        let before = source[..at].trim_end();
        let Some(before) = before.strip_suffix("()") else {
            continue;
        };
        let name_start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        if before[..name_start].ends_with('.') {
            let call = format!(".{}()", &before[name_start..]);
            if !OPERATIONS.iter().any(|(pattern, _)| *pattern == call) {
                return Err(format!(
                    "{file}:{}: S3 operation {call} is not in OPERATIONS (crates/broker/tests/deploy.rs): \
                     add it with the IAM actions it needs",
                    line_of(at)
                ));
            }
        }
    }
    calls.sort_by_key(|call| call.line);
    Ok(calls)
}

/// The policy file that grants `file`'s calls.
fn policy_for(file: &str) -> &'static str {
    let parts: Vec<&str> = file
        .split('/')
        .map(|part| part.strip_suffix(".rs").unwrap_or(part))
        .collect();
    POLICIES
        .iter()
        .find(|(name, _)| name.is_empty() || parts.contains(name))
        .map(|(_, policy)| *policy)
        .expect("the last policy matches every source")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// Every S3 operation of the workspace's non-test sources (`crates/*/src`).
fn workspace_calls() -> Vec<Call> {
    let root = repo();
    let mut files = Vec::new();
    for krate in fs::read_dir(root.join("crates")).expect("crates/") {
        let krate = krate.expect("crate").path();
        let name = krate.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if NOT_CLIENTS.iter().any(|(skip, _)| *skip == name) || !krate.join("src").is_dir() {
            continue;
        }
        rust_files(&krate.join("src"), &mut files);
    }
    let mut calls = Vec::new();
    for path in files {
        let relative = path
            .strip_prefix(&root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        let source = fs::read_to_string(&path).expect("a source file");
        calls.extend(calls_in(&relative, &without_tests(&source)).unwrap_or_else(|e| panic!("{e}")));
    }
    calls
}

/// `(action, resource)` pairs a policy's Allow statements grant.
fn granted(policy: &Value, name: &str) -> BTreeSet<(String, String)> {
    let list = |value: &Value| -> Vec<String> {
        match value {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        }
    };
    let statements = policy["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("{name}: no Statement list"));
    let mut grants = BTreeSet::new();
    for statement in statements {
        assert_eq!(statement["Effect"], "Allow", "{name}: only Allow statements expected");
        for action in list(&statement["Action"]) {
            assert!(!action.contains('*'), "{name}: wildcard action {action}");
            for resource in list(&statement["Resource"]) {
                grants.insert((action.clone(), resource));
            }
        }
    }
    grants
}

#[test]
fn each_iam_policy_grants_exactly_the_s3_operations_its_sources_perform() {
    let calls = workspace_calls();
    assert!(
        calls.iter().any(|call| call.pattern == "PostPolicy {"),
        "the scan found no browser upload signing: {calls:?}"
    );

    let mut needed: BTreeMap<&str, BTreeMap<(String, String), Vec<String>>> = BTreeMap::new();
    for call in &calls {
        let (_, actions) = OPERATIONS
            .iter()
            .find(|(pattern, _)| *pattern == call.pattern)
            .expect("a pattern of the table");
        for (action, on) in *actions {
            let resource = match on {
                Bucket => BUCKET_ARN,
                Object => OBJECTS_ARN,
            };
            needed
                .entry(policy_for(&call.file))
                .or_default()
                .entry(((*action).to_owned(), resource.to_owned()))
                .or_default()
                .push(format!("{}:{} {}", call.file, call.line, call.pattern));
        }
    }

    let mut problems = Vec::new();
    for (_, policy) in POLICIES {
        let path = repo().join(policy);
        let Some(needs) = needed.get(policy) else {
            if path.exists() {
                problems.push(format!("{policy} exists, but no source it covers calls S3: remove it"));
            }
            continue;
        };
        if !path.exists() {
            problems.push(format!("{policy} is missing; its sources need {:?}", needs.keys()));
            continue;
        }
        let document: Value = serde_json::from_str(&read(policy)).unwrap_or_else(|e| panic!("{policy}: {e}"));
        let grants = granted(&document, policy);
        for (grant, sites) in needs {
            if !grants.contains(grant) {
                problems.push(format!(
                    "{policy} lacks {} on {}, needed by {sites:?}",
                    grant.0, grant.1
                ));
            }
        }
        for grant in grants.iter().filter(|grant| !needs.contains_key(*grant)) {
            problems.push(format!(
                "{policy} grants {} on {}, which no call needs",
                grant.0, grant.1
            ));
        }
    }
    for entry in fs::read_dir(repo().join("deploy")).expect("deploy/") {
        let name = format!("deploy/{}", entry.expect("entry").file_name().to_string_lossy());
        if name.starts_with("deploy/iam-policy") && !POLICIES.iter().any(|(_, policy)| *policy == name) {
            problems.push(format!("{name} is not in POLICIES, so nothing checks it"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_bucket_policy_denies_every_request_without_tls() {
    let policy: Value = serde_json::from_str(&read("deploy/bucket-policy.json")).expect("JSON");
    let statements = policy["Statement"].as_array().expect("statements");
    let deny = statements
        .iter()
        .find(|s| s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
        .expect("a statement on aws:SecureTransport = false");
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Principal"], "*");
    assert_eq!(deny["Action"], "s3:*");
    let resources: BTreeSet<&str> = broker_testkit::strings(&deny["Resource"], "resources");
    let bucket_objects = format!("{BUCKET_ARN}/*");
    assert_eq!(resources, BTreeSet::from([BUCKET_ARN, bucket_objects.as_str()]));
}

#[test]
fn the_scanner_finds_sdk_calls_and_hand_signed_uploads_and_skips_tests() {
    let source = "fn a(c: &Client) {\n    c.get_object()\n        .bucket(b)\n        .key(k);\n    let p = PostPolicy { url };\n}\n\
                  #[cfg(test)]\nmod tests {\n    fn t() { c.delete_object().bucket(b); }\n}\n\
                  fn z() { c.head_bucket().bucket(b); }\n";
    let calls = calls_in("crates/x/src/lib.rs", &without_tests(source)).expect("known operations");
    let found: Vec<(usize, &str)> = calls.iter().map(|c| (c.line, c.pattern)).collect();
    assert_eq!(
        found,
        [(2, ".get_object()"), (5, "PostPolicy {"), (11, ".head_bucket()")]
    );

    let unknown = calls_in("crates/x/src/lib.rs", "c.put_bucket_cors()\n    .bucket(b)");
    assert!(
        unknown.is_err_and(|e| e.contains(".put_bucket_cors()") && e.contains("lib.rs:2")),
        "an operation missing from the table fails"
    );

    assert_eq!(
        policy_for("crates/broker/src/doctor.rs"),
        "deploy/iam-policy-doctor.json"
    );
    assert_eq!(
        policy_for("crates/broker/src/doctor/cors.rs"),
        "deploy/iam-policy-doctor.json"
    );
    assert_eq!(policy_for("crates/core/src/store.rs"), "deploy/iam-policy.json");
}

// ---- configuration -----------------------------------------------------------

/// A variable set somewhere, with where (and its value, where the scanners read it).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Set {
    name: String,
    value: String,
    at: String,
}

/// Variables set in YAML: the keys of `environment:` (compose, map or
/// `- NAME=value` list), `data:` and `stringData:` (ConfigMap, Secret)
/// mappings, and the `- name:` items of `env:` lists (containers).
fn yaml_variables(file: &str, text: &str) -> Vec<Set> {
    let mut found = Vec::new();
    // The open block: its header's indent, its kind, and its children's indent once seen.
    let mut block: Option<(usize, &str, Option<usize>)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if let Some((header, kind, children)) = block {
            if indent <= header {
                block = None;
            } else {
                let children = children.unwrap_or(indent);
                block = Some((header, kind, Some(children)));
                if indent == children {
                    let entry = match (kind, trimmed.strip_prefix("- ")) {
                        ("env", Some(item)) => item.strip_prefix("name:").map(|name| (name, "")),
                        ("env", None) => None,
                        (_, Some(item)) => item.split_once('='),
                        (_, None) => trimmed.split_once(':'),
                    };
                    if let Some((name, value)) = entry.map(|(n, v)| (n.trim().trim_matches('"'), v))
                        && name != "<<"
                    {
                        let value = value.split(" #").next().unwrap_or_default().trim();
                        found.push(Set {
                            name: name.to_owned(),
                            value: value.trim_matches('"').to_owned(),
                            at: format!("{file}:{}", number + 1),
                        });
                    }
                }
                continue;
            }
        }
        let key = trimmed.trim_start_matches("- ");
        for kind in ["environment", "data", "stringData", "env"] {
            if let Some(value) = key.strip_prefix(kind).and_then(|rest| rest.strip_prefix(':')) {
                // `environment: *alias` sets nothing new; `environment: &anchor` opens a block.
                let value = value.split(" #").next().unwrap_or_default().trim();
                if value.is_empty() || value.starts_with('&') {
                    block = Some((indent, kind, None));
                }
            }
        }
    }
    found
}

/// `NAME=` and commented-out `#NAME=` lines of a dotenv file.
fn dotenv_variables(file: &str, text: &str) -> Vec<Set> {
    text.lines()
        .enumerate()
        .filter_map(|(number, line)| {
            let (name, value) = line.strip_prefix('#').unwrap_or(line).split_once('=')?;
            is_variable_name(name).then(|| Set {
                name: name.to_owned(),
                value: value.to_owned(),
                at: format!("{file}:{}", number + 1),
            })
        })
        .collect()
}

/// `ENV NAME=value` lines of a Dockerfile.
fn dockerfile_variables(file: &str, text: &str) -> Vec<Set> {
    text.lines()
        .enumerate()
        .filter_map(|(number, line)| {
            let (name, value) = line.strip_prefix("ENV ")?.trim().split_once('=')?;
            Some(Set {
                name: name.to_owned(),
                value: value.to_owned(),
                at: format!("{file}:{}", number + 1),
            })
        })
        .collect()
}

fn is_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The variables named in the first column of the README's configuration table.
fn readme_variables() -> BTreeSet<String> {
    let readme = read("README.md");
    let section = readme
        .split_once("\n## Configuration\n")
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .expect("a Configuration section in README.md");
    section
        .lines()
        .filter_map(|line| line.strip_prefix('|')?.split('|').next())
        .flat_map(|cell| cell.split('`').skip(1).step_by(2))
        .filter(|name| is_variable_name(name))
        .map(str::to_owned)
        .collect()
}

fn known_variables() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = Settings::variables().into_iter().map(str::to_owned).collect();
    known.insert(LOG_FILTER_VAR.to_owned());
    known
}

/// Every file that sets variables, with what it sets.
fn deploy_variables() -> Vec<(String, Vec<Set>)> {
    let mut files = vec!["deploy/compose.yaml".to_owned()];
    let mut manifests: Vec<String> = fs::read_dir(repo().join("deploy/k8s"))
        .expect("deploy/k8s")
        .map(|entry| format!("deploy/k8s/{}", entry.expect("entry").file_name().to_string_lossy()))
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    manifests.sort();
    files.extend(manifests);
    let mut sets: Vec<(String, Vec<Set>)> = files
        .into_iter()
        .map(|file| {
            let found = yaml_variables(&file, &read(&file));
            (file, found)
        })
        .collect();
    sets.push((
        "deploy/Dockerfile".into(),
        dockerfile_variables("deploy/Dockerfile", &read("deploy/Dockerfile")),
    ));
    sets.push((
        ".env.example".into(),
        dotenv_variables(".env.example", &read(".env.example")),
    ));
    sets
}

#[test]
fn every_variable_the_deploy_files_set_is_read_by_the_broker_and_documented() {
    let known = known_variables();
    let documented = readme_variables();
    let sets = deploy_variables();
    let mut problems = Vec::new();
    for (_, found) in &sets {
        for set in found {
            if !known.contains(&set.name) {
                problems.push(format!("{}: {} is not a variable the broker reads", set.at, set.name));
            }
            if !documented.contains(&set.name) {
                problems.push(format!(
                    "{}: {} is not in the README's configuration table",
                    set.at, set.name
                ));
            }
        }
    }
    let example: BTreeSet<&str> = sets
        .iter()
        .filter(|(file, _)| file == ".env.example")
        .flat_map(|(_, found)| found.iter().map(|set| set.name.as_str()))
        .collect();
    for name in &known {
        if !documented.contains(name) {
            problems.push(format!("{name} is read but not in the README's configuration table"));
        }
        if !example.contains(name.as_str()) {
            problems.push(format!("{name} is read but not in .env.example"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn compose_and_kubernetes_configure_a_real_store_redis_and_a_reachable_api() {
    let sets = deploy_variables();
    let names_in = |prefix: &str| -> BTreeMap<String, Vec<String>> {
        let mut names: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (_, found) in sets.iter().filter(|(file, _)| file.starts_with(prefix)) {
            for set in found {
                names.entry(set.name.clone()).or_default().push(set.at.clone());
            }
        }
        names
    };
    for prefix in ["deploy/compose.yaml", "deploy/k8s/"] {
        let names = names_in(prefix);
        for needed in [
            "BIND_ADDR",
            "S3_ENABLED",
            "S3_REGION",
            "S3_BUCKET",
            "REDIS_URL",
            "ALLOWED_ORIGINS",
            "EXPORT_DRAIN_TIMEOUT",
        ] {
            assert!(names.contains_key(needed), "{prefix} sets no {needed}: {names:?}");
        }
    }
    // The API port is the same everywhere: the image, compose, the pods.
    for (file, line) in [
        ("deploy/Dockerfile", "ENV BIND_ADDR=0.0.0.0:8080"),
        ("deploy/Dockerfile", "EXPOSE 8080 9464"),
        ("deploy/compose.yaml", "BIND_ADDR: 0.0.0.0:8080"),
        ("deploy/compose.yaml", "\"127.0.0.1:8080:8080\""),
        ("deploy/k8s/configmap.yaml", "BIND_ADDR: \"0.0.0.0:8080\""),
        ("deploy/k8s/api-deployment.yaml", "containerPort: 8080"),
        ("deploy/k8s/api-deployment.yaml", "path: /readyz"),
        ("deploy/k8s/api-deployment.yaml", "path: /healthz"),
    ] {
        assert!(read(file).contains(line), "{file} has no `{line}`");
    }
}

#[test]
fn the_yaml_scanner_reads_maps_lists_anchors_and_container_env() {
    let compose = "x: &x\n  environment: &env\n    A_ONE: \"1\"\n    # comment\n    B_TWO: two # note\n  depends_on:\n    \
                   C_NOT: x\nservices:\n  s:\n    <<: *x\n    environment:\n      <<: *env\n      D_FOUR: 4\n  t:\n    \
                   environment: *env\n  u:\n    environment:\n      - E_FIVE=5\n";
    let sets: Vec<(String, String)> = yaml_variables("c", compose)
        .into_iter()
        .map(|s| (s.name, s.value))
        .collect();
    let expected = [("A_ONE", "1"), ("B_TWO", "two"), ("D_FOUR", "4"), ("E_FIVE", "5")];
    assert_eq!(sets, expected.map(|(n, v)| (n.to_owned(), v.to_owned())));

    let k8s = "data:\n  F_SIX: \"6\"\nspec:\n  containers:\n    - name: api\n      env:\n        - name: G_SEVEN\n          \
               value: \"7\"\n        - name: H_EIGHT\n          valueFrom:\n            secretKeyRef:\n              \
               name: s\n      ports:\n        - name: http\n";
    let names: Vec<String> = yaml_variables("k", k8s).into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["F_SIX", "G_SEVEN", "H_EIGHT"]);

    let dotenv: Vec<String> = dotenv_variables("e", "# A comment=1\nI_NINE=9\n#J_TEN=10\n")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(dotenv, ["I_NINE", "J_TEN"]);
}

// ---- the compose Garage bootstrap ----------------------------------------------

/// Runs `deploy/garage/bootstrap.sh setup` against `garage`, as compose does,
/// with the compose file's broker environment; returns its stdout.
fn bootstrap(garage: &Garage, environment: &BTreeMap<String, String>, env_dir: &Path) -> String {
    let output = Command::new("bash")
        .arg(repo().join("deploy/garage/bootstrap.sh"))
        .arg("setup")
        .envs(environment)
        .env("S3_ENDPOINT", garage.endpoint())
        .env("GARAGE_BIN", garage_bin())
        .env("GARAGE_CONFIG", garage.dir().join("garage.toml"))
        .env("BROKER_ENV_DIR", env_dir)
        .env("BROKER_UID", fs::metadata(env_dir).expect("env dir").uid().to_string())
        .env("CORS_FILE", repo().join("deploy/s3-cors.json"))
        .env("LIFECYCLE_FILE", repo().join("deploy/s3-lifecycle.json"))
        .output()
        .expect("bash runs (the AWS CLI, `aws`, must be installed: scripts/test.sh installs awscli)");
    assert!(
        output.status.success(),
        "bootstrap.sh failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// `NAME=value` lines of the `.env` the bootstrap writes.
fn dotenv_values(path: &Path) -> BTreeMap<String, String> {
    let text = fs::read_to_string(path).expect("the bootstrap's .env");
    dotenv_variables(".env", &text)
        .into_iter()
        .filter(|set| !text.contains(&format!("#{}=", set.name)))
        .map(|set| (set.name, set.value))
        .collect()
}

#[tokio::test]
async fn the_compose_garage_bootstrap_prepares_a_bucket_the_broker_runs_with() {
    let garage = Garage::start().await;
    let env_dir = tempfile::tempdir().expect("temp dir");
    // The broker environment compose gives the API, the workers and the bootstrap.
    let mut compose: BTreeMap<String, String> = yaml_variables("compose.yaml", &read("deploy/compose.yaml"))
        .into_iter()
        .map(|set| (set.name, set.value))
        .collect();
    let bucket = "compose-uploads";
    compose.insert("S3_BUCKET".into(), bucket.into());

    let first = bootstrap(&garage, &compose, env_dir.path());
    let api_key = first.trim();
    assert!(
        api_key.len() == 64 && api_key.chars().all(|c| c.is_ascii_hexdigit()),
        "the API key is printed once: {first:?}"
    );
    let env_file = env_dir.path().join(".env");
    let written = dotenv_values(&env_file);
    let hash = hex(&Sha256::digest(api_key.as_bytes()));
    assert_eq!(written["API_KEYS"], format!("demo:{hash}:compose"));
    assert!(written["S3_ACCESS_KEY"].starts_with("GK"), "{written:?}");
    assert_eq!(
        fs::metadata(&env_file).expect(".env").permissions().mode() & 0o777,
        0o600
    );

    // Compose's environment plus the .env is a complete, valid configuration,
    // and its credentials own the bucket, which has the CORS rule for ALLOWED_ORIGINS.
    let mut settings_env = compose.clone();
    settings_env.extend(written.clone());
    settings_env.insert("S3_ENDPOINT".into(), garage.endpoint().into());
    let settings = Settings::from_lookup(|name| settings_env.get(name).cloned()).expect("a valid configuration");
    let endpoint = StoreEndpoint::resolve(&settings.store, None).expect("an endpoint");
    let store = Store::connect(&settings.store, endpoint).await;
    store.ping().await.expect("the bucket answers the broker's credentials");
    let cors = store
        .client()
        .get_bucket_cors()
        .bucket(bucket)
        .send()
        .await
        .expect("the bucket has CORS");
    let origins: Vec<&str> = cors.cors_rules()[0]
        .allowed_origins()
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(origins.join(","), compose["ALLOWED_ORIGINS"]);
    let lifecycle = store
        .client()
        .get_bucket_lifecycle_configuration()
        .bucket(bucket)
        .send()
        .await
        .expect("the bucket has a lifecycle");
    assert_eq!(lifecycle.rules().len(), 2);

    // A second run finds everything in place: no new key, no new API key.
    let second = bootstrap(&garage, &compose, env_dir.path());
    assert_eq!(second, "", "nothing printed the second time");
    assert_eq!(dotenv_values(&env_file), written);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
