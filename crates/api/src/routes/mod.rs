//! Route table and handlers. Handlers only extract, delegate and wrap.

mod demo;
mod exports;
mod health;
mod uploads;

use actix_web::web;

use crate::error::ApiError;
pub use health::Readiness;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(post_only("/uploads/sign", uploads::sign))
        .service(post_only("/uploads/complete", uploads::complete))
        .service(post_only("/uploads/download", uploads::download))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
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
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed)
        }))
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}
