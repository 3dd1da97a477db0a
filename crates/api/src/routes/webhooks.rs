//! The webhook dead letters: list and replay (an admin: every tenant's;
//! anyone else: their own tenant's); the work is in [`crate::webhooks`].

use actix_web::{HttpResponse, web};
use broker_jobs::Webhooks;

use super::{Call, no_store};
use crate::auth::audit;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::Unauthenticated;
use crate::webhooks::{self, DeliveriesQuery, DeliveryList, Replayed};

/// A dead-letter route with its `#[utoipa::path]`: the method, path,
/// operation id, parameters, success and own refusals are the route's; the
/// tag and the refusals every one of them has (401, 503) are the family's.
macro_rules! deliveries_route {
    ($method:ident $path:literal, $operation:literal, $params:tt, $ok:tt, [$($refusal:tt),*], $handler:item) => {
        #[utoipa::path(
            $method,
            path = $path,
            operation_id = $operation,
            tag = "webhooks",
            params $params,
            responses(
                $ok,
                $($refusal,)*
                (status = 401, response = Unauthenticated),
                (status = 503, description = "`queue_unavailable`", body = ErrorBody),
            )
        )]
        $handler
    };
}

deliveries_route! {
    get "/webhooks/deliveries", "listWebhookDeliveries", (DeliveriesQuery),
    (status = 200, description = "The dead letters", body = DeliveryList),
    [(status = 400, description = "`invalid_request`: a `status` other than `dead`, or an unknown parameter", body = ErrorBody)],
    /// Webhook deliveries that failed for good (dead letters)
    ///
    /// The newest 100, newest first: an admin sees every tenant's, anyone else
    /// their own tenant's. See docs/webhooks.md.
    pub async fn list(call: Call<Webhooks>, query: web::Query<DeliveriesQuery>) -> Result<HttpResponse, ApiError> {
        let work = webhooks::dead_letters(&call.service, &call.caller, &query);
        audit::audited("webhook_deliveries", &call.caller, None, work)
            .await
            .map(no_store)
    }
}

deliveries_route! {
    post "/webhooks/deliveries/{id}/replay", "replayWebhookDelivery",
    (("id" = String, Path, description = "The delivery's id (`Webhook-Id`, a ULID)")),
    (status = 202, description = "Queued again", body = Replayed),
    [
        (status = 404, description = "`delivery_not_found`: unknown id, or another tenant's delivery", body = ErrorBody),
        (status = 409, description = "`not_replayable`: the delivery is pending or delivered, not dead", body = ErrorBody)
    ],
    /// Deliver a dead letter again
    ///
    /// Queues it with fresh attempts, the same id and body; signed anew when sent.
    #[tracing::instrument(name = "webhook_replay", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn replay(call: Call<Webhooks>, id: web::Path<String>) -> Result<HttpResponse, ApiError> {
        let work = webhooks::replay(&call.service, &call.caller, &id);
        let replayed = audit::audited("webhook_replay", &call.caller, Some(&id), work).await?;
        tracing::info!(delivery = %replayed.id, "webhook delivery replayed");
        Ok(HttpResponse::Accepted().json(replayed))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/webhooks/deliveries").route(web::get().to(list)))
        .service(super::resource("/webhooks/deliveries/{id}/replay").route(web::post().to(replay)));
}
