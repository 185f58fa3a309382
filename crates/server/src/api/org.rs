use axum::{Json, extract::State};
use switchboard_store::{access, model::Org};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, auth::Principal, error::ApiResult};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_org))
}

/// The caller's organization.
#[utoipa::path(get, path = "/v1/org", tag = "organization", security(("bearer" = [])),
    responses((status = 200, body = Org), (status = 401, description = "No or bad credentials")))]
async fn get_org(State(app): State<AppState>, who: Principal) -> ApiResult<Json<Org>> {
    let org = who.org_id;
    Ok(Json(app.store.read(move |tx| access::get_org(tx, org)).await?))
}
