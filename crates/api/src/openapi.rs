//! The OpenAPI 3.1 description of the API, generated from the code: the
//! request and response types derive `utoipa::ToSchema`, each handler carries
//! a `#[utoipa::path]` annotation, and [`ApiDoc`] lists the handlers. It is
//! served at `GET /openapi.json` and committed as `docs/openapi.yaml`.
//!
//! Two tests keep it honest (see this module's tests):
//! - `docs/openapi.yaml` must equal the generated document;
//!   `UPDATE_OPENAPI=1 cargo test -p broker-api --lib openapi` rewrites it.
//! - the set of (method, path) pairs the actix app really answers, read from
//!   the app's registered resources, must equal the set the document lists,
//!   so a route added without an annotation (or an annotation without a
//!   route) fails, however it was registered. actix has no API that lists
//!   its resources, so the test reads the resource map's `Debug` output and
//!   then probes each path with every method; Cargo.lock pins actix-web, and
//!   the test fails loudly if that output ever stops parsing.
//!
//! A new route: annotate its handler with `#[utoipa::path(method, path =
//! "/x", operation_id, tag, responses(..))]` (`params(..)` for path segments,
//! written `{name}` as in the actix pattern; a refusal set such as
//! [`UploadRefusals`] for the refusals its family shares; in a family whose
//! routes share their tag and refusals, such as the export jobs', the admins'
//! storage routes and the webhook dead letters, the family's `macro_rules!`
//! (`job_route!`, `admin_route!`, `deliveries_route!`) writes the annotation
//! from what differs per route, and `authed_route!` (in [`super::routes`])
//! does so for the other routes that take a credential), derive `ToSchema`
//! on its body types, add the handler to `paths(..)` below (and its path to
//! `PUBLIC` if it needs no credential), register it in its family's
//! `configure` with `resource(path).route(..)` (one resource per path), and
//! regenerate the golden file.
//!
//! The golden file is YAML because the issue asked for `docs/openapi.yaml`:
//! utoipa's `yaml` feature adds serde_norway (a small pure-Rust crate) and is
//! turned on for tests only, so the served binary has no YAML code.
//!
//! Routes are registered with actix's resources (one resource per path,
//! answering other methods with a JSON 405), not with utoipa-actix-web, whose
//! one-resource-per-handler registration would turn those 405s into 404s.
//! The demo page's assets come from their own table ([`super::routes`]'s
//! demo module), so `DemoAssets` documents them from that table.
//!
//! Spec: <https://spec.openapis.org/oas/v3.1.0>.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use actix_web::HttpResponse;
use actix_web::http::header;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, PathItem};
use utoipa::openapi::response::{ResponseBuilder, ResponsesBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{Content, RefOr, Response};
use utoipa::{IntoResponses, Modify, OpenApi, ToResponse};

use crate::error::{ApiError, ErrorBody};
use crate::routes;

/// The document's root: every annotated handler, the reusable responses, the
/// security schemes and the tags.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "upload-broker",
        description = "Presigned-upload broker. Every 4xx/5xx reply is an `Error` \
            (`{\"error\": {\"code\", \"message\"}}`) with a stable `code`; docs/api.md lists the codes of each \
            operation and the store's own answers to a form POST. Every operation except the health checks, \
            this document and the demo page needs a credential (docs/auth.md): a bearer JWT, or a \
            server-to-server API key as a bearer token or `X-Api-Key`."
    ),
    paths(
        routes::uploads::sign,
        routes::uploads::complete,
        routes::uploads::download,
        routes::uploads::download_redirect,
        routes::multipart::create,
        routes::multipart::sign_parts,
        routes::multipart::status,
        routes::multipart::complete,
        routes::multipart::abort,
        routes::companion::params,
        routes::companion::create,
        routes::companion::sign_part,
        routes::companion::list_parts,
        routes::companion::complete,
        routes::companion::abort,
        routes::storage::info,
        routes::storage::usage,
        routes::storage::own_usage,
        routes::objects::list,
        routes::objects::delete,
        routes::exports::create,
        routes::exports::get,
        routes::exports::cancel,
        routes::webhooks::list,
        routes::webhooks::replay,
        routes::health::healthz,
        routes::health::readyz,
        openapi_json,
    ),
    components(responses(Unauthenticated, RateLimited)),
    security(("bearerJwt" = []), ("apiKey" = [])),
    modifiers(&SecuritySchemes, &DemoAssets, &PublicRoutes),
    tags(
        (name = "uploads", description = "Sign a browser upload, verify and promote it, download it (docs/api.md)"),
        (name = "multipart", description = "Large files in parts, bound to the principal that started them (docs/api.md)"),
        (name = "companion", description = "The Companion-compatible routes `@uppy/aws-s3` 4.x calls with `endpoint` set to the broker (docs/js-client.md)"),
        (name = "exports", description = "CSV and PDF export jobs (docs/exports.md)"),
        (name = "webhooks", description = "Signed completion webhooks: dead letters, listed and replayed (docs/webhooks.md)"),
        (name = "objects", description = "List and delete the verified objects a caller may read and write (docs/objects.md)"),
        (name = "storage", description = "The store's info and usage (admins), and a tenant's own usage"),
        (name = "health", description = "Liveness and readiness, for anyone"),
        (name = "meta", description = "This document"),
        (name = "demo", description = "The browser demo page and the JS client (docs/js-client.md)"),
    )
)]
pub struct ApiDoc;

/// The generated document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as served: rendered once, on first use.
static JSON: LazyLock<Option<String>> = LazyLock::new(|| {
    document()
        .to_json()
        .inspect_err(|e| tracing::error!(error = %e, "the OpenAPI document cannot be rendered"))
        .ok()
});

/// This document (OpenAPI 3.1)
///
/// Generated from the code; `docs/openapi.yaml` is the same document, committed.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json"))
)]
pub async fn openapi_json() -> Result<HttpResponse, ApiError> {
    let json = JSON.as_ref().ok_or(ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(json.clone()))
}

/// `401 unauthenticated`, with `WWW-Authenticate: Bearer`.
pub struct Unauthenticated;

impl<'r> ToResponse<'r> for Unauthenticated {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = error_response(
            "`unauthenticated`: no credential, two credentials, or a malformed, expired, not-yet-valid, wrongly \
             signed, wrong-issuer or wrong-audience token, or an unknown API key (docs/auth.md)",
        )
        .header(
            "WWW-Authenticate",
            HeaderBuilder::new().schema(string_enum(&["Bearer"])).build(),
        );
        ("Unauthenticated", response.build().into())
    }
}

/// `429 rate_limited`, with `Retry-After`.
pub struct RateLimited;

impl<'r> ToResponse<'r> for RateLimited {
    fn response() -> (&'r str, RefOr<Response>) {
        let response = error_response("`rate_limited`: the caller's token bucket for this action is empty").header(
            "Retry-After",
            HeaderBuilder::new()
                .description(Some("Seconds until the next request is allowed"))
                .schema(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(1)))
                .build(),
        );
        ("RateLimited", response.build().into())
    }
}

/// Declares the refusal sets several routes share: each a type that a
/// route's `responses(..)` takes (utoipa wants a type per set), listing each
/// status with a reusable response or the description of its `Error` reply.
macro_rules! refusal_sets {
    ($($(#[$doc:meta])* $name:ident { $($status:literal => $response:expr),+ $(,)? })+) => {$(
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                BTreeMap::from([$(($status.to_owned(), $response)),+])
            }
        }
    )+};
}

refusal_sets! {
    /// The refusals a start of a multipart upload shares in both route families:
    /// 401, 403 `quota_exceeded`, 429, 503.
    CreateRefusals {
        "401" => reference::<Unauthenticated>(),
        "403" => error("`quota_exceeded`"),
        "429" => reference::<RateLimited>(),
        "503" => error("`store_unavailable`, `quota_unavailable`, `sessions_unavailable`"),
    }
    /// The refusals of a route that takes a JSON body: 413 `payload_too_large`,
    /// 415 `unsupported_media_type`.
    JsonRefusals {
        "413" => error("`payload_too_large`: body over 64 KiB"),
        "415" => error("`unsupported_media_type`: not `application/json`"),
    }
    /// The refusals both forms of a download share: 403 `forbidden_key`, 404
    /// `not_found`, 503.
    DownloadRefusals {
        "403" => error("`forbidden_key`: staging, another tenant, or outside the served areas"),
        "404" => error("`not_found`: no such object"),
        "503" => error("`store_unavailable`"),
    }
    /// The refusals of the admins' routes: 401, 403 `admin_required`.
    AdminRefusals {
        "401" => reference::<Unauthenticated>(),
        "403" => error(
            "`admin_required`: the caller is not an admin (`ADMIN_API_KEYS`, the admin JWT claim, or \
             `AUTH_MODE=none` on loopback)",
        ),
    }
    /// The refusals a call on a started multipart upload shares in both route
    /// families: 401, 404 `upload_not_found`, 503.
    UploadRefusals {
        "401" => reference::<Unauthenticated>(),
        "404" => error("`upload_not_found`"),
        "503" => error("`store_unavailable`, `sessions_unavailable`"),
    }
    /// The refusals of a call on an export job (status, cancel): 401, 404
    /// `job_not_found`, 503.
    JobRefusals {
        "401" => reference::<Unauthenticated>(),
        "404" => error("`job_not_found`: unknown id, or another tenant's job"),
        "503" => error("`queue_unavailable`, `store_unavailable`"),
    }
}

/// A reference to the reusable response `R` (`components(responses(…))`).
fn reference<'r, R: ToResponse<'r>>() -> RefOr<Response> {
    RefOr::Ref(utoipa::openapi::Ref::from_response_name(R::response().0))
}

/// An `Error` reply described by `description`.
fn error(description: &str) -> RefOr<Response> {
    error_response(description).build().into()
}

fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).content(
        "application/json",
        Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            <ErrorBody as utoipa::ToSchema>::name(),
        )))),
    )
}

/// A string schema that takes one of `values`.
pub(crate) fn string_enum(values: &[&str]) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
}

/// The credentials of docs/auth.md.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerJwt",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "`Authorization: Bearer <JWT>`: HS256 (`AUTH_HS256_SECRET`) or RS256/ES256 \
                         (`AUTH_JWKS_URL`); exp, nbf, iss and aud are checked. A server-to-server API key \
                         is also accepted as the bearer token.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "A server-to-server key bound to one tenant (`API_KEYS`); also accepted as \
                 `Authorization: Bearer <key>`, but not both.",
            ))),
        );
    }
}

/// The routes that answer anyone, without a credential: the health checks and
/// this document (the demo page's assets are [`DemoAssets`]). Their
/// `security` is `[{}]`, not [`ApiDoc`]'s default.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/openapi.json"];

struct PublicRoutes;

impl Modify for PublicRoutes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for path in PUBLIC {
            let operation = openapi.paths.paths.get_mut(*path).and_then(|item| item.get.as_mut());
            if let Some(operation) = operation {
                operation.security = Some(vec![SecurityRequirement::default()]);
            }
        }
    }
}

/// `GET` and `HEAD` of each asset of the demo page, from the table that registers them.
struct DemoAssets;

impl Modify for DemoAssets {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, content_type) in routes::demo_assets() {
            let operation = |summary: &str| {
                let ok = ResponseBuilder::new().description(format!("`{content_type}`")).content(
                    content_type,
                    Content::new(Some(ObjectBuilder::new().schema_type(Type::String))),
                );
                OperationBuilder::new()
                    .tag("demo")
                    .summary(Some(format!("{summary} {path}")))
                    .security(SecurityRequirement::default())
                    .responses(ResponsesBuilder::new().response("200", ok))
                    .build()
            };
            let mut item = PathItem::new(HttpMethod::Get, operation("The demo's"));
            item.head = Some(operation("Headers of"));
            openapi.paths.paths.insert(path.to_owned(), item);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    use actix_web::http::{Method, StatusCode};
    use actix_web::test as actix_test;
    use actix_web::{App, HttpRequest, web};

    use super::*;

    const UPDATE: &str = "UPDATE_OPENAPI";

    fn golden_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.yaml")
    }

    /// `docs/openapi.yaml` is the generated document; `UPDATE_OPENAPI=1` rewrites it.
    #[test]
    fn openapi_yaml_is_the_generated_document() {
        let generated = document().to_yaml().expect("render YAML");
        let path = golden_path();
        if std::env::var_os(UPDATE).is_some() {
            std::fs::write(&path, &generated).expect("write docs/openapi.yaml");
            return;
        }
        let committed = std::fs::read_to_string(&path).expect("read docs/openapi.yaml");
        if committed != generated {
            let line = committed
                .lines()
                .zip(generated.lines())
                .position(|(a, b)| a != b)
                .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
            panic!(
                "docs/openapi.yaml is not the document the code generates (first difference at line {}).\n\
                 Regenerate it with `{UPDATE}=1 cargo test -p broker-api --lib openapi` and commit it.",
                line + 1
            );
        }
    }

    /// Every (method, path) pair the document lists.
    fn documented(document: &serde_json::Value) -> BTreeSet<(String, String)> {
        let paths = document["paths"].as_object().expect("paths");
        paths
            .iter()
            .flat_map(|(path, item)| {
                let methods = item.as_object().expect("path item");
                methods
                    .keys()
                    .filter(|m| {
                        ["get", "head", "post", "put", "patch", "delete", "options", "trace"].contains(&m.as_str())
                    })
                    .map(|m| (m.to_uppercase(), path.clone()))
            })
            .collect()
    }

    /// The full path of every leaf resource of actix's resource map, read
    /// from its pretty `Debug` output (actix has no other way to list them):
    /// nodes nest by indentation, a scope's pattern prefixes its children's,
    /// and `named` holds copies of named resources, which are skipped.
    fn resource_paths(map: &str) -> Vec<String> {
        struct Node {
            indent: usize,
            pattern: Option<String>,
            leaf: bool,
        }
        let mut stack: Vec<Node> = Vec::new();
        let mut skip_until: Option<usize> = None;
        let mut paths = Vec::new();
        let mut lines = map.lines();
        while let Some(line) = lines.next() {
            let indent = line.len() - line.trim_start().len();
            let text = line.trim();
            if let Some(until) = skip_until {
                if indent == until && text.starts_with('}') {
                    skip_until = None;
                }
                continue;
            }
            if text == "ResourceMap {" {
                stack.push(Node {
                    indent,
                    pattern: None,
                    leaf: false,
                });
                continue;
            }
            let Some(node) = stack.last_mut() else { continue };
            if indent == node.indent + 4 && text == "named: {" {
                skip_until = Some(indent);
            } else if indent == node.indent + 4 && text == "nodes: None," {
                node.leaf = true;
            } else if indent == node.indent + 8 && text == "patterns: Single(" && node.pattern.is_none() {
                let literal = lines.next().expect("a pattern").trim().trim_end_matches(',');
                let pattern = literal
                    .strip_prefix('"')
                    .and_then(|l| l.strip_suffix('"'))
                    .expect("a string");
                assert!(!pattern.contains('\\'), "an escaped pattern: {literal}");
                node.pattern = Some(pattern.to_owned());
            } else if indent == node.indent + 8 && text.starts_with("patterns: List(") {
                panic!("a resource with several patterns: list each path as its own resource");
            } else if indent == node.indent && text.starts_with('}') {
                let full: String = stack.iter().filter_map(|n| n.pattern.as_deref()).collect();
                if stack.last().is_some_and(|n| n.leaf) {
                    paths.push(full);
                }
                stack.pop();
            }
        }
        assert!(stack.is_empty(), "the resource map did not parse:\n{map}");
        paths
    }

    /// A concrete path that `pattern` matches: `x` for each `{segment}`.
    fn instance(pattern: &str) -> String {
        let mut out = String::new();
        let mut rest = pattern;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').expect("a closed segment") + start;
            out.push('x');
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    const UNMATCHED: &str = "x-unmatched";

    /// Every (method, path) the app built by [`routes::configure`] answers
    /// with something else than a 405 (the method is not routed) or its
    /// default service (no resource). Handlers run without app data and stop
    /// at their first extractor, so nothing is done.
    async fn registered() -> BTreeSet<(String, String)> {
        let app = actix_test::init_service(App::new().configure(routes::configure).default_service(web::to(
            |request: HttpRequest| async move {
                HttpResponse::NotFound()
                    .insert_header((UNMATCHED, "1"))
                    .body(format!("{:#?}", request.resource_map()))
            },
        )))
        .await;
        let probe = actix_test::TestRequest::get().uri("/__no_such_route__").to_request();
        let map = actix_test::call_and_read_body(&app, probe).await;
        let patterns = resource_paths(std::str::from_utf8(&map).expect("UTF-8"));
        assert!(
            patterns.iter().any(|p| p == "/uploads/sign"),
            "the resource map was not read: {patterns:?}"
        );
        let methods = [
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
            Method::TRACE,
        ];
        let mut found = BTreeSet::new();
        for pattern in patterns {
            let uri = instance(&pattern);
            let mut reached = false;
            for method in &methods {
                let request = actix_test::TestRequest::default()
                    .method(method.clone())
                    .uri(&uri)
                    .to_request();
                let response = actix_test::call_service(&app, request).await;
                if response.headers().contains_key(UNMATCHED) {
                    continue;
                }
                reached = true;
                if response.status() != StatusCode::METHOD_NOT_ALLOWED {
                    found.insert((method.to_string(), pattern.clone()));
                }
            }
            assert!(reached, "no request reaches the resource {pattern} (as {uri})");
        }
        found
    }

    /// A route added to the app without a `#[utoipa::path]` listed in
    /// [`ApiDoc`] (or a documented route the app does not serve) fails here.
    #[actix_web::test]
    async fn every_route_is_documented_and_every_documented_route_exists() {
        let document = serde_json::to_value(document()).expect("JSON");
        let documented = documented(&document);
        let registered = registered().await;
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let missing: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty() && missing.is_empty(),
            "routes the app serves but the OpenAPI document lacks: {undocumented:?}\n\
             routes the document lists but the app does not serve: {missing:?}\n\
             Annotate the handler with #[utoipa::path(..)] and list it in `ApiDoc`'s paths (crates/api/src/openapi.rs)."
        );
        assert!(registered.contains(&("GET".into(), "/openapi.json".into())));
        assert!(registered.contains(&("DELETE".into(), "/exports/{jobId}".into())));
    }

    #[test]
    fn the_error_envelope_is_documented_as_served() {
        let document = serde_json::to_value(document()).expect("JSON");
        let error = &document["components"]["schemas"]["Error"];
        assert_eq!(error["required"], serde_json::json!(["error"]));
        let detail = &document["components"]["schemas"]["ErrorDetail"];
        assert_eq!(detail["required"], serde_json::json!(["code", "message"]));
        let served = serde_json::to_value(ErrorBody {
            error: crate::error::ErrorDetail {
                code: ApiError::NotFound.code(),
                message: ApiError::NotFound.to_string(),
            },
        })
        .expect("JSON");
        assert_eq!(
            served,
            serde_json::json!({"error": {"code": "not_found", "message": "the object does not exist"}})
        );
    }
}
