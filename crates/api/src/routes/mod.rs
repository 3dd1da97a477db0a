//! Route table and handlers. Handlers only extract, delegate and wrap.
//!
//! Every route is in the OpenAPI document ([`crate::openapi`]): a new
//! handler gets a `#[utoipa::path]` annotation and a line in `ApiDoc`'s
//! `paths(..)`, or the route test there fails.

pub(crate) mod companion;
mod demo;
pub(crate) mod exports;
pub(crate) mod health;
pub(crate) mod multipart;
pub(crate) mod objects;
pub(crate) mod storage;
pub(crate) mod uploads;

use actix_web::{HttpResponse, web};

use crate::error::ApiError;
pub use health::{Readiness, refresh_health};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/uploads/sign").route(web::post().to(uploads::sign)))
        .service(resource("/uploads/complete").route(web::post().to(uploads::complete)))
        .service(
            resource("/uploads/download")
                .route(web::post().to(uploads::download))
                .route(web::get().to(uploads::download_redirect)),
        )
        // `…/complete` before `…/{partNumber}`: the first matching resource answers.
        .service(resource("/uploads/multipart").route(web::post().to(multipart::create)))
        .service(resource("/uploads/multipart/{uploadId}/parts").route(web::post().to(multipart::sign_parts)))
        .service(resource("/uploads/multipart/{uploadId}/complete").route(web::post().to(multipart::complete)))
        .service(
            resource("/uploads/multipart/{uploadId}")
                .route(web::get().to(multipart::status))
                .route(web::delete().to(multipart::abort)),
        )
        .service(resource("/s3/params").route(web::get().to(companion::params)))
        .service(resource("/s3/multipart").route(web::post().to(companion::create)))
        .service(resource("/s3/multipart/{uploadId}/complete").route(web::post().to(companion::complete)))
        .service(resource("/s3/multipart/{uploadId}/{partNumber}").route(web::get().to(companion::sign_part)))
        .service(
            resource("/s3/multipart/{uploadId}")
                .route(web::get().to(companion::list_parts))
                .route(web::delete().to(companion::abort)),
        )
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/openapi.json").route(web::get().to(crate::openapi::openapi_json)))
        .service(resource("/storage/info").route(web::get().to(storage::info)))
        .service(resource("/storage/usage").route(web::get().to(storage::usage)))
        .service(resource("/usage").route(web::get().to(storage::own_usage)))
        .service(resource("/objects").route(web::get().to(objects::list)))
        .service(resource("/objects/delete").route(web::post().to(objects::delete)))
        .configure(demo::configure)
        .configure(exports::configure);
}

/// A resource that answers the methods it has no route for with a JSON 405.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::MethodNotAllowed) }))
}

/// The demo page's assets: path and content type.
pub(crate) fn demo_assets() -> impl Iterator<Item = (&'static str, &'static str)> {
    demo::ASSETS.iter().map(|&(path, content_type, _)| (path, content_type))
}

pub async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::RouteNotFound)
}
