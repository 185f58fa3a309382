//! The organization's event feed: every change, in commit order of its id.

use axum::{Json, extract::State};
use serde::Deserialize;
use switchboard_domain::{Code, Error, limits, role::Role};
use switchboard_store::{
    events,
    model::{Event, Page},
};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{AppState, auth::Principal, error::ApiResult, extract::ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Items per page, 1 to 250 (default 50).
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page (an event id).
    pub cursor: Option<String>,
}

/// Parses `limit` and an integer cursor (event ids, message sequence numbers).
pub fn numbered_page(limit: Option<usize>, cursor: Option<&str>) -> Result<(usize, i64), Error> {
    let limit = match limit {
        None => limits::DEFAULT_PAGE_SIZE,
        Some(n) if (1..=limits::MAX_PAGE_SIZE).contains(&n) => n,
        Some(n) => {
            return Err(Error::field(
                Code::InvalidQuery,
                "limit",
                format!("`limit` must be between 1 and {}, got {n}", limits::MAX_PAGE_SIZE),
            ));
        }
    };
    let after =
        match cursor {
            None => 0,
            Some(c) => c.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::field(Code::InvalidCursor, "cursor", "this cursor was not issued by this list")
            })?,
        };
    Ok((limit, after))
}

#[utoipa::path(get, path = "/v1/events", tag = "events", security(("bearer" = [])), params(EventQuery),
    responses((status = 200, body = Page<Event>)))]
async fn list_events(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> ApiResult<Json<Page<Event>>> {
    who.require(&[Role::Admin, Role::Supervisor, Role::Integration])?;
    let (limit, after) = numbered_page(q.limit, q.cursor.as_deref())?;
    let org = who.org_id;
    let rows = app.store.read(move |tx| events::list(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |e| e.id.to_string())))
}
