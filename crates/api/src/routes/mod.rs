//! Route table and handlers. Handlers only extract, delegate and wrap.
//!
//! Each route family (a module here) registers its routes in its own
//! `configure`, next to its handlers; most handlers take a [`Call`] (state,
//! the family's service, the caller), and a family's shared refusals are one
//! set in [`crate::openapi`] (`UploadRefusals`, `JobRefusals`, …).
//!
//! Every route is in the OpenAPI document ([`crate::openapi`]): a new
//! handler gets a `#[utoipa::path]` annotation and a line in `ApiDoc`'s
//! `paths(..)`, or the route test there fails.

/// A route that takes a credential, with its `#[utoipa::path]`: the tag (its
/// family's), method, path, operation id, inputs (`{ params(..),
/// request_body = .. }`, or `{}`), success and own refusals are the route's;
/// the 401 every one of them has is written here. A refusal set
/// (`JsonRefusals`, `UploadRefusals`, …) stands in the refusals like a single
/// response. The upload, multipart, companion and objects families and the
/// caller's own usage use it.
macro_rules! authed_route {
    ($tag:literal $method:ident $path:literal, $operation:literal, { $($input:tt)* }, $ok:tt, [$($refusal:tt),*], $handler:item) => {
        #[utoipa::path(
            $method,
            path = $path,
            operation_id = $operation,
            tag = $tag,
            responses($ok, $($refusal,)* (status = 401, response = Unauthenticated)),
            $($input)*
        )]
        $handler
    };
}

pub(crate) mod companion;
mod demo;
pub(crate) mod exports;
pub(crate) mod health;
pub(crate) mod multipart;
pub(crate) mod objects;
pub(crate) mod storage;
pub(crate) mod uploads;
pub(crate) mod webhooks;

use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::AppState;
pub use health::{Readiness, refresh_health};

/// Every route family registers its own routes, next to its handlers.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.configure(uploads::configure)
        .configure(multipart::configure)
        .configure(companion::configure)
        .configure(health::configure)
        .service(resource("/openapi.json").route(web::get().to(crate::openapi::openapi_json)))
        .configure(storage::configure)
        .configure(objects::configure)
        .configure(demo::configure)
        .configure(exports::configure)
        .configure(webhooks::configure);
}

/// What most handlers take: the app's state, the service of their route
/// family (`S`, from the app data) and the authenticated caller, extracted in
/// that order.
pub struct Call<S: 'static> {
    pub state: web::Data<AppState>,
    pub service: web::Data<S>,
    pub caller: Caller,
}

impl<S: 'static> FromRequest for Call<S> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let state = web::Data::<AppState>::from_request(request, payload).into_inner();
        let service = web::Data::<S>::from_request(request, payload).into_inner();
        let caller = Caller::from_request(request, payload);
        Box::pin(async move {
            let (state, service) = (state?, service?);
            Ok(Self {
                state,
                service,
                caller: caller.await?,
            })
        })
    }
}

/// A 200 JSON reply that no cache may keep.
fn no_store(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
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
