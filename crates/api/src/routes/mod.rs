//! Route table and handlers. Handlers only extract, delegate and wrap.

mod demo;
mod exports;
mod health;
mod storage;
mod uploads;

use actix_web::web;

use crate::error::ApiError;
pub use health::{Readiness, refresh_health};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only("/uploads/sign", uploads::sign))
        .service(post_only("/uploads/complete", uploads::complete))
        .service(
            web::resource("/uploads/download")
                .route(web::post().to(uploads::download))
                .route(web::get().to(uploads::download_redirect))
                .default_service(method_not_allowed()),
        )
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .service(get_only("/storage/info", storage::info))
        .service(get_only("/storage/usage", storage::usage))
        .service(get_only("/usage", storage::own_usage))
        .configure(demo::configure)
        .configure(exports::configure);
}

/// A POST route that answers other methods with a JSON 405.
fn post_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::post().to(handler))
        .default_service(method_not_allowed())
}

/// A GET route that answers other methods with a JSON 405.
fn get_only<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(web::get().to(handler))
        .default_service(method_not_allowed())
}

fn method_not_allowed() -> actix_web::Route {
    web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed) })
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}
