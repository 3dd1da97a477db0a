//! The browser demo: a static page and the dependency-free JS client, compiled
//! into the binary from `web/` so the broker serves them with no extra files.
//! `GET /` is the page; `/upload-broker.js` is the module frontends can import.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Path, content type, body.
pub(super) const ASSETS: &[(&str, &str, &str)] = &[
    ("/", HTML, include_str!("../../../../web/index.html")),
    ("/index.html", HTML, include_str!("../../../../web/index.html")),
    ("/app.js", JS, include_str!("../../../../web/app.js")),
    (
        "/upload-broker.js",
        JS,
        include_str!("../../../../web/upload-broker.js"),
    ),
    ("/style.css", CSS, include_str!("../../../../web/style.css")),
];

pub fn configure(cfg: &mut web::ServiceConfig) {
    for &(path, content_type, body) in ASSETS {
        let serve = move || async move { asset(content_type, body) };
        cfg.service(
            super::resource(path)
                .route(web::get().to(serve))
                .route(web::head().to(serve)),
        );
    }
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-cache")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .body(body)
}
