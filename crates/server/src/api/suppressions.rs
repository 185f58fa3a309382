//! The suppression list: phone numbers nothing is sent to on the organization's SMS and WhatsApp channels. A
//! customer's STOP puts their number on it and START takes it off (`channels::phone`); administrators can add and
//! remove numbers here too (a request received by phone or mail). Also where an agent's page reads a phone
//! conversation's state: the customer's number, whether it opted out, and when WhatsApp's window closes.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_channels::phone::E164;
use switchboard_domain::{
    Code, Error, Timestamp, ids::ConversationId, role::Role, setup::ChannelType, text::ShortText,
};
use switchboard_store::{
    conversations::{self, Access},
    model::Page,
    phone::{self, Suppression, SuppressionSource},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Principal,
    error::ApiResult,
    extract::{ApiJson, ApiQuery, IdemKey, PageQuery, Written, body, path_id},
};

const READERS: &[Role] = &[Role::Admin, Role::Supervisor];
const EVERYONE: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::Integration];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_suppressions, add_suppression))
        .routes(routes!(get_suppression, remove_suppression))
        .routes(routes!(conversation_phone))
}

/// A number as given in a path or body: any spelling of an international number, read as E.164.
fn number(raw: &str, field: &str) -> Result<E164, Error> {
    E164::parse(raw, None).map_err(|e| Error::field(Code::InvalidField, field, format!("`{raw}` {e}")))
}

/// The suppressed numbers, in order.
#[utoipa::path(get, path = "/v1/suppressions", tag = "phone", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Suppression>), (status = 400, description = "`invalid_cursor`")))]
async fn list_suppressions(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Suppression>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor.clone(), who.org_id);
    if after.as_deref().is_some_and(|a| !a.starts_with('+')) {
        return Err(Error::new(Code::InvalidCursor, "not a cursor of this list").into());
    }
    let rows = app.store.read(move |tx| phone::list_suppressions(tx, org, after.as_deref(), limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |s| s.phone.clone())))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuppressionIn {
    /// The number, in international form (`+14255550100`; spaces and dashes are read through).
    #[schema(example = "+14255550100")]
    pub phone: String,
    /// Why, for the record (up to 256 characters).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub reason: Option<ShortText>,
}

/// Puts a number on the suppression list. A number already on it is answered as it is (200), unchanged.
#[utoipa::path(post, path = "/v1/suppressions", tag = "phone", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)), request_body = SuppressionIn,
    responses((status = 201, body = Suppression), (status = 200, body = Suppression, description = "Already on the list"),
        (status = 400, description = "`invalid_field`: not a phone number")))]
async fn add_suppression(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<SuppressionIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let e164 = number(&input.phone, "phone")?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/suppressions", &input);
    let now = app.clock.now();
    let reason = input.reason.map(ShortText::into_inner);
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let (s, added) =
                phone::suppress(tx, org, e164.as_str(), SuppressionSource::Api, None, reason.as_deref(), now)?;
            body(if added { StatusCode::CREATED } else { StatusCode::OK }, s)
        })
        .await?;
    Ok(Written(out).into_response())
}

/// One number on the list.
#[utoipa::path(get, path = "/v1/suppressions/{phone}", tag = "phone", security(("bearer" = [])),
    params(("phone" = String, Path, description = "The number, `+` and digits")),
    responses((status = 200, body = Suppression), (status = 404, description = "`suppression_not_found`")))]
async fn get_suppression(
    State(app): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> ApiResult<Json<Suppression>> {
    who.require(READERS)?;
    let e164 = number(&raw, "phone").map_err(|_| Error::not_found(Code::SuppressionNotFound))?;
    let org = who.org_id;
    Ok(Json(app.store.read(move |tx| phone::get_suppression(tx, org, e164.as_str())).await?))
}

/// Takes a number off the list: messages may go to it again.
#[utoipa::path(delete, path = "/v1/suppressions/{phone}", tag = "phone", security(("bearer" = [])),
    params(("phone" = String, Path, description = "The number, `+` and digits")),
    responses((status = 204), (status = 404, description = "`suppression_not_found`")))]
async fn remove_suppression(
    State(app): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    who.require(&[Role::Admin])?;
    let e164 = number(&raw, "phone").map_err(|_| Error::not_found(Code::SuppressionNotFound))?;
    let org = who.org_id;
    if app.store.write(move |tx| phone::unsuppress(tx, org, e164.as_str())).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::not_found(Code::SuppressionNotFound).into())
    }
}

/// A phone conversation's customer as the agent's page shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ConversationPhone {
    pub channel_type: ChannelType,
    /// The customer's number (E.164).
    pub phone: String,
    /// When the customer last wrote.
    pub last_inbound_at: Timestamp,
    /// WhatsApp: when free-form replies stop being accepted (24 hours after the customer last wrote); after it, only
    /// a template. Absent on SMS.
    pub window_ends_at: Option<Timestamp>,
    /// Whether that is past: replies are refused with `whatsapp_window_closed`.
    pub window_closed: bool,
    /// Whether the number opted out: replies are refused with `recipient_opted_out`.
    pub opted_out: bool,
}

/// The phone customer of an SMS or WhatsApp conversation: their number, whether they opted out, and WhatsApp's
/// window. 404 for a conversation that is not a phone one (or whose customer never wrote).
#[utoipa::path(get, path = "/v1/conversations/{id}/phone", tag = "phone", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ConversationPhone), (status = 404)))]
async fn conversation_phone(
    State(app): State<AppState>,
    who: Principal,
    Path(raw): Path<String>,
) -> ApiResult<Json<ConversationPhone>> {
    who.require(EVERYONE)?;
    let id: ConversationId = path_id(&raw, Code::ConversationNotFound)?;
    let (org, scope, now) = (who.org_id, who.conversations(), app.clock.now());
    let out = app
        .store
        .read(move |tx| {
            conversations::check_visible(tx, org, id, scope, Access::Use)?;
            let thread = phone::thread(tx, org, id)?.ok_or_else(|| Error::not_found(Code::ConversationNotFound))?;
            let opted_out = phone::is_suppressed(tx, org, &thread.phone)?;
            let window_ends_at = thread.window_ends_at();
            Ok(ConversationPhone {
                channel_type: thread.channel_type,
                phone: thread.phone,
                last_inbound_at: thread.last_inbound_at,
                window_ends_at,
                window_closed: window_ends_at.is_some_and(|end| now >= end),
                opted_out,
            })
        })
        .await?;
    Ok(Json(out))
}
