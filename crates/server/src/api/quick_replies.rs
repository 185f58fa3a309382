//! Quick replies: texts agents insert into a reply instead of typing them. Administrators keep the list; agents
//! and supervisors read it. The work is in `switchboard_store::quick_replies`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code,
    role::Role,
    text::{MessageText, ShortText},
};
use switchboard_store::quick_replies::{self, QuickReply};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    AppState,
    auth::Principal,
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiQuery, IdemKey, Written, body, path_id},
};

const READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_quick_replies, create_quick_reply))
        .routes(routes!(update_quick_reply, delete_quick_reply))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QuickRepliesOut {
    pub data: Vec<QuickReply>,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QuickReplyQuery {
    /// Only quick replies whose title or text contains this, ignoring case.
    pub search: Option<ShortText>,
}

/// The organization's quick replies, by title (at most 1,000, so the list is whole).
#[utoipa::path(get, path = "/v1/quick-replies", tag = "quick-replies", security(("bearer" = [])),
    params(QuickReplyQuery), responses((status = 200, body = QuickRepliesOut)))]
async fn list_quick_replies(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(q): ApiQuery<QuickReplyQuery>,
) -> ApiResult<Json<QuickRepliesOut>> {
    who.require(READERS)?;
    let org = who.org_id;
    let search = q.search.map(ShortText::into_inner);
    let data = app.store.read(move |tx| quick_replies::list(tx, org, search.as_deref())).await?;
    Ok(Json(QuickRepliesOut { data }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickReplyIn {
    /// 1 to 100 characters, unique in the organization ignoring case.
    #[schema(example = "Opening hours")]
    pub title: String,
    /// Up to 6,000 characters.
    #[schema(value_type = String, example = "We are open Monday to Friday, 8:00 to 18:00.")]
    pub text: MessageText,
}

/// Adds a quick reply.
#[utoipa::path(post, path = "/v1/quick-replies", tag = "quick-replies", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)), request_body = QuickReplyIn,
    responses((status = 201, body = QuickReply), (status = 400, description = "`invalid_field`"),
        (status = 409, description = "`already_exists`: the title is taken; `too_many_quick_replies`")))]
async fn create_quick_reply(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<QuickReplyIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/quick-replies", &input);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            body(StatusCode::CREATED, quick_replies::create(tx, org, &input.title, input.text, now)?)
        })
        .await?;
    Ok(Written(out).into_response())
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuickReplyPatch {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub text: Option<MessageText>,
}

fn quick_reply_id(raw: &str) -> Result<Uuid, ApiError> {
    path_id(raw, Code::QuickReplyNotFound)
}

/// Changes a quick reply's title or text.
#[utoipa::path(patch, path = "/v1/quick-replies/{id}", tag = "quick-replies", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = QuickReplyPatch,
    responses((status = 200, body = QuickReply), (status = 400), (status = 404, description = "`quick_reply_not_found`"),
        (status = 409, description = "`already_exists`")))]
async fn update_quick_reply(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<QuickReplyPatch>,
) -> ApiResult<Json<QuickReply>> {
    who.require(&[Role::Admin])?;
    let (id, org, now) = (quick_reply_id(&id)?, who.org_id, app.clock.now());
    let QuickReplyPatch { title, text } = input;
    Ok(Json(app.store.write(move |tx| quick_replies::update(tx, org, id, title.as_deref(), text, now)).await?))
}

/// Deletes a quick reply.
#[utoipa::path(delete, path = "/v1/quick-replies/{id}", tag = "quick-replies", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 204), (status = 404, description = "`quick_reply_not_found`")))]
async fn delete_quick_reply(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(&[Role::Admin])?;
    let (id, org, now) = (quick_reply_id(&id)?, who.org_id, app.clock.now());
    app.store.write(move |tx| quick_replies::delete(tx, org, id, now)).await?;
    Ok(StatusCode::NO_CONTENT)
}
