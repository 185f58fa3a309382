//! The organization's event feed: every change, in commit order of its id.

use axum::{Json, extract::State};
use switchboard_domain::role::Role;
use switchboard_store::{
    events,
    model::{Event, Page},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Principal,
    error::ApiResult,
    extract::{ApiQuery, PageQuery},
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[utoipa::path(get, path = "/v1/events", tag = "events", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Event>)))]
async fn list_events(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Event>>> {
    who.require(&[Role::Admin, Role::Supervisor, Role::Integration])?;
    let (limit, after) = (page.limit()?, page.position()?);
    let org = who.org_id;
    let rows = app.store.read(move |tx| events::list(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |e| e.id.to_string())))
}
