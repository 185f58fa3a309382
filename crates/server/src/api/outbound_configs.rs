//! Outbound configurations (issue 20): administrators name a channel and a template once, and sends name the
//! configuration (`msdyn_ocoutboundconfigurationid`). Supervisors and integrations read them. The work is in
//! `switchboard_store::outbound_configs`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code,
    ids::{ChannelId, MessageTemplateId, OutboundConfigId},
    outbound::OutboundConfig,
    role::Role,
    setup::ChannelType,
};
use switchboard_store::{
    model::Page,
    outbound_configs::{self, ConfigContent},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Principal,
    error::{ApiError, ApiResult},
    extract::{ApiJson, ApiQuery, IdemKey, PageQuery, Written, body, path_id},
};

const READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Integration];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_configs, create_config)).routes(routes!(
        get_config,
        update_config,
        delete_config
    ))
}

fn config_id(raw: &str) -> Result<OutboundConfigId, ApiError> {
    path_id(raw, Code::OutboundConfigNotFound)
}

/// The organization's outbound configurations, by id.
#[utoipa::path(get, path = "/v1/outbound-configs", tag = "outbound", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<OutboundConfig>)))]
async fn list_configs(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<OutboundConfig>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor::<OutboundConfigId>()?, who.org_id);
    let rows = app.store.read(move |tx| outbound_configs::list(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |c| c.id.to_string())))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigIn {
    /// 1 to 100 characters, unique in the organization ignoring case.
    #[schema(example = "Case resolved SMS")]
    pub name: String,
    /// Record each message as an activity on the record it regards: yes for messages a record's event sends, no
    /// for bulk sends.
    #[serde(default)]
    pub show_in_timeline: bool,
    /// `sms` or `whatsapp`.
    pub channel_type: ChannelType,
    /// A channel of that type.
    pub channel_id: ChannelId,
    /// A template for that type.
    pub template_id: MessageTemplateId,
}

/// Adds a configuration; its id is what sends name.
#[utoipa::path(post, path = "/v1/outbound-configs", tag = "outbound", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)), request_body = ConfigIn,
    responses((status = 201, body = OutboundConfig),
        (status = 400, description = "`invalid_field`: a channel or template of another type"),
        (status = 404, description = "`channel_not_found` or `message_template_not_found`, with `field`"),
        (status = 409, description = "`already_exists`: the name is taken")))]
async fn create_config(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<ConfigIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/outbound-configs", &input);
    let now = app.clock.now();
    let ConfigIn { name, show_in_timeline, channel_type, channel_id, template_id } = input;
    let content = ConfigContent { name, show_in_timeline, channel_type, channel_id, template_id };
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            body(StatusCode::CREATED, outbound_configs::create(tx, org, content, now)?)
        })
        .await?;
    Ok(Written(out).into_response())
}

#[utoipa::path(get, path = "/v1/outbound-configs/{id}", tag = "outbound", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = OutboundConfig), (status = 404, description = "`outbound_config_not_found`")))]
async fn get_config(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<OutboundConfig>> {
    who.require(READERS)?;
    let (id, org) = (config_id(&id)?, who.org_id);
    Ok(Json(app.store.read(move |tx| outbound_configs::get(tx, org, id)).await?))
}

/// What a `PATCH` changes; what is left out keeps its value, and the whole is checked again.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub show_in_timeline: Option<bool>,
    #[serde(default)]
    pub channel_type: Option<ChannelType>,
    #[serde(default)]
    pub channel_id: Option<ChannelId>,
    #[serde(default)]
    pub template_id: Option<MessageTemplateId>,
}

#[utoipa::path(patch, path = "/v1/outbound-configs/{id}", tag = "outbound", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ConfigPatch,
    responses((status = 200, body = OutboundConfig), (status = 400),
        (status = 404, description = "`outbound_config_not_found`, or the channel or template with `field`"),
        (status = 409, description = "`already_exists`")))]
async fn update_config(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ConfigPatch>,
) -> ApiResult<Json<OutboundConfig>> {
    who.require(&[Role::Admin])?;
    let (id, org, now) = (config_id(&id)?, who.org_id, app.clock.now());
    let changed = app
        .store
        .write(move |tx| {
            outbound_configs::update(
                tx,
                org,
                id,
                |c| {
                    let ConfigPatch { name, show_in_timeline, channel_type, channel_id, template_id } = patch;
                    c.name = name.unwrap_or(std::mem::take(&mut c.name));
                    c.show_in_timeline = show_in_timeline.unwrap_or(c.show_in_timeline);
                    c.channel_type = channel_type.unwrap_or(c.channel_type);
                    c.channel_id = channel_id.unwrap_or(c.channel_id);
                    c.template_id = template_id.unwrap_or(c.template_id);
                },
                now,
            )
        })
        .await?;
    Ok(Json(changed))
}

#[utoipa::path(delete, path = "/v1/outbound-configs/{id}", tag = "outbound", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "`outbound_config_not_found`")))]
async fn delete_config(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    who.require(&[Role::Admin])?;
    let (id, org, now) = (config_id(&id)?, who.org_id, app.clock.now());
    app.store.write(move |tx| outbound_configs::delete(tx, org, id, now)).await?;
    Ok(StatusCode::NO_CONTENT)
}
