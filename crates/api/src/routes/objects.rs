//! `GET /objects` and `POST /objects/delete`; the work is in [`crate::objects`].

use actix_web::{HttpResponse, web};

use super::Call;
use crate::auth::{Auth, Caller, audit};
use crate::error::{ApiError, ErrorBody};
use crate::objects::{self, DeleteRequest, DeleteResponse, ListQuery, ObjectPage};
use crate::openapi::{JsonRefusals, Unauthenticated};
use crate::state::AppState;

authed_route! {
    "objects" get "/objects", "listObjects", { params(ListQuery) },
    (status = 200, description = "One page of objects", body = ObjectPage),
    [
        (status = 400, description = "`invalid_scope`; `invalid_request`: a bad `area`, `limit` or `cursor` \
            (a cursor of another listing), or an unknown parameter", body = ErrorBody),
        (status = 403, description = "`forbidden_scope`: a team the caller is not a member of", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody)
    ],
    /// The verified objects the caller may read
    ///
    /// One page of the served objects of the caller's tenant in the scopes they
    /// may read (their own `user` scope, their teams, the `tenant` scope; an API
    /// key reads every scope), backed by ListObjectsV2 over the scopes' prefixes.
    #[tracing::instrument(name = "list_objects", skip_all, fields(tenant = %caller.tenant))]
    pub async fn list(
        state: web::Data<AppState>,
        caller: Caller,
        query: web::Query<ListQuery>,
    ) -> Result<HttpResponse, ApiError> {
        let page: ObjectPage = audit::audited("list", &caller, None, objects::list(&state.store, &caller, &query)).await?;
        Ok(HttpResponse::Ok().json(page))
    }
}

authed_route! {
    "objects" post "/objects/delete", "deleteObject", { request_body = DeleteRequest },
    (status = 200, description = "Deleted", body = DeleteResponse),
    [
        (status = 400, description = "`invalid_key`; `invalid_json`, `invalid_request`", body = ErrorBody),
        (status = 403, description = "`forbidden_key`: staging, an export, outside the served areas, or an object \
            of a shared scope the caller did not sign", body = ErrorBody),
        (status = 404, description = "`not_found`: no such object, or one of another tenant, team or user", body = ErrorBody),
        (status = 503, description = "`store_unavailable`, `quota_unavailable`", body = ErrorBody),
        JsonRefusals
    ],
    /// Delete a verified upload
    ///
    /// The caller may delete the objects of their own `user` scope, the ones
    /// they signed in a team or the tenant scope, and (an API key) any of the
    /// tenant's. The object's size, from a HEAD, is given back to the tenant's
    /// quota. On a versioned bucket the store keeps the bytes as a noncurrent
    /// version until its lifecycle removes them (docs/objects.md).
    #[tracing::instrument(name = "delete_object", skip_all, fields(tenant = %call.caller.tenant, object_key = audit::loggable_key(&body.object_key)))]
    pub async fn delete(call: Call<Auth>, body: web::Json<DeleteRequest>) -> Result<HttpResponse, ApiError> {
        let Call { state, service: auth, caller } = &call;
        let work = objects::delete(&state.store, &state.verification, &auth.quotas, caller, &body);
        let response: DeleteResponse = audit::audited("delete", caller, Some(&body.object_key), work).await?;
        Ok(HttpResponse::Ok().json(response))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/objects").route(web::get().to(list)))
        .service(super::resource("/objects/delete").route(web::post().to(delete)));
}
