//! Signed completion webhooks, the API's side: emitting `upload.completed`
//! and `upload.rejected` when a completion ends (every completion path goes
//! through [`crate::uploads::complete::complete`], which calls
//! [`completion`]), and the dead letters' routes' work: list and replay,
//! an admin's over every tenant, anyone else's over their own tenant.
//! Deliveries themselves are the workers' (see docs/webhooks.md).

use broker_core::config::WebhookEvent;
use broker_core::metrics::CompleteOutcome;
use broker_core::{ObjectKey, StagedUpload};
use broker_jobs::webhook::{Delivery, DeliveryStatus, ReplayOutcome, parse_delivery_id};
use broker_jobs::{QueueError, Webhooks};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::auth::audit::Audited;
use crate::error::ApiError;
use crate::uploads::complete::CompleteResponse;

/// Emits the webhook of a completion that verified a new object
/// (`upload.completed`) or refused and deleted one (`upload.rejected`);
/// nothing for a repeated completion or a failure that says nothing about
/// the upload. Waits only for the enqueue, which never fails the completion.
pub(crate) async fn completion(
    webhooks: &Webhooks,
    caller: &Caller,
    upload: &StagedUpload,
    staging_key: &ObjectKey,
    result: &Result<(CompleteResponse, CompleteOutcome), ApiError>,
    outcome: CompleteOutcome,
) {
    let profile = upload.profile.name.as_str();
    let (event, object_key, details) = match (result, outcome) {
        (Ok((done, _)), CompleteOutcome::Verified) => (
            WebhookEvent::UploadCompleted,
            done.object_key.clone(),
            serde_json::json!({
                "profile": profile,
                "contentType": done.content_type,
                "size": done.size,
                "sha256": done.sha256,
                "filename": done.filename,
                "removed": done.removed,
            }),
        ),
        (Err(error), CompleteOutcome::Refused) => (
            WebhookEvent::UploadRejected,
            staging_key.to_string(),
            serde_json::json!({
                "profile": profile,
                "code": error.code(),
                "message": error.to_string(),
            }),
        ),
        _ => return,
    };
    webhooks.emit(event, &caller.tenant, Some(object_key), details).await;
}

/// `GET /webhooks/deliveries?status=dead`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesQuery {
    /// Only `dead` (the default): deliveries that ran out of attempts or were refused.
    pub status: Option<String>,
}

/// The newest dead letters (at most 100), newest first.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryList {
    pub deliveries: Vec<Delivery>,
}

impl Audited for DeliveryList {}

/// `POST /webhooks/deliveries/{id}/replay`: queued again, with fresh attempts.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Replayed {
    pub id: String,
    pub status: DeliveryStatus,
}

impl Audited for Replayed {}

fn unavailable(error: QueueError) -> ApiError {
    tracing::warn!(%error, "webhook deliveries unavailable");
    ApiError::QueueUnavailable
}

/// The tenant a caller's view is limited to (`None`: an admin sees every tenant's).
fn visible_tenant(caller: &Caller) -> Option<&broker_core::TenantId> {
    (!caller.admin).then_some(&caller.tenant)
}

pub async fn dead_letters(
    webhooks: &Webhooks,
    caller: &Caller,
    query: &DeliveriesQuery,
) -> Result<DeliveryList, ApiError> {
    match query.status.as_deref() {
        None | Some("dead") => {}
        Some(_) => {
            return Err(ApiError::InvalidRequest(
                "status: only `dead` deliveries are listed".into(),
            ));
        }
    }
    let deliveries = webhooks
        .dead_letters(visible_tenant(caller))
        .await
        .map_err(unavailable)?;
    Ok(DeliveryList { deliveries })
}

pub async fn replay(webhooks: &Webhooks, caller: &Caller, id: &str) -> Result<Replayed, ApiError> {
    let id = parse_delivery_id(id).ok_or(ApiError::DeliveryNotFound)?;
    match webhooks
        .replay(&id, visible_tenant(caller))
        .await
        .map_err(unavailable)?
    {
        ReplayOutcome::Replayed => Ok(Replayed {
            id,
            status: DeliveryStatus::Pending,
        }),
        ReplayOutcome::NotFound => Err(ApiError::DeliveryNotFound),
        ReplayOutcome::NotDead(status) => Err(ApiError::NotReplayable(status.as_str())),
    }
}
