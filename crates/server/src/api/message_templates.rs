//! Outbound message templates (issue 20): administrators keep them; supervisors and integrations (which send from
//! them) read them and preview what they render. The work is in `switchboard_domain::outbound` (checking,
//! rendering) and `switchboard_store::message_templates`.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code,
    ids::MessageTemplateId,
    outbound::{Locale, MessageTemplate, Rendered, TemplateContent, TemplateVersion},
    role::Role,
    setup::ChannelType,
};
use switchboard_store::{message_templates, model::Page};
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
    OpenApiRouter::new()
        .routes(routes!(list_templates, create_template))
        .routes(routes!(get_template, update_template, delete_template))
        .routes(routes!(preview_template))
}

fn template_id(raw: &str) -> Result<MessageTemplateId, ApiError> {
    path_id(raw, Code::MessageTemplateNotFound)
}

/// The organization's templates, by id.
#[utoipa::path(get, path = "/v1/message-templates", tag = "outbound", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<MessageTemplate>)))]
async fn list_templates(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<MessageTemplate>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor::<MessageTemplateId>()?, who.org_id);
    let rows = app.store.read(move |tx| message_templates::list(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |t| t.id.to_string())))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    /// 1 to 100 characters, unique in the organization ignoring case.
    #[schema(example = "Case resolved")]
    pub name: String,
    /// `sms` or `whatsapp`.
    pub channel_type: ChannelType,
    /// A BCP 47 tag or a Windows LCID; one of the versions' locales.
    #[schema(value_type = String, example = "en-US")]
    pub default_locale: Locale,
    pub versions: Vec<TemplateVersion>,
}

/// Adds a template. Each version is compiled and rendered once with every placeholder filled: a template that
/// does not compile, loops for ever, reads a file or renders too much is refused here.
#[utoipa::path(post, path = "/v1/message-templates", tag = "outbound", security(("bearer" = [])),
    params(("Idempotency-Key" = Option<String>, Header)), request_body = TemplateIn,
    responses((status = 201, body = MessageTemplate), (status = 400, description = "`invalid_field`, `missing_field`"),
        (status = 409, description = "`already_exists`: the name is taken")))]
async fn create_template(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<TemplateIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/message-templates", &input);
    let now = app.clock.now();
    let TemplateIn { name, channel_type, default_locale, versions } = input;
    let content = TemplateContent { channel_type, default_locale, versions };
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            body(StatusCode::CREATED, message_templates::create(tx, org, &name, content, now)?)
        })
        .await?;
    Ok(Written(out).into_response())
}

#[utoipa::path(get, path = "/v1/message-templates/{id}", tag = "outbound", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = MessageTemplate), (status = 404, description = "`message_template_not_found`")))]
async fn get_template(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageTemplate>> {
    who.require(READERS)?;
    let (id, org) = (template_id(&id)?, who.org_id);
    Ok(Json(app.store.read(move |tx| message_templates::get(tx, org, id)).await?))
}

/// What a `PATCH` changes: the name, and what the template is made of. The fields of the content left out keep
/// their values; the content is then checked whole, as on create.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplatePatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub channel_type: Option<ChannelType>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub default_locale: Option<Locale>,
    #[serde(default)]
    pub versions: Option<Vec<TemplateVersion>>,
}

#[utoipa::path(patch, path = "/v1/message-templates/{id}", tag = "outbound", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TemplatePatch,
    responses((status = 200, body = MessageTemplate), (status = 400),
        (status = 404, description = "`message_template_not_found`"), (status = 409, description = "`already_exists`")))]
async fn update_template(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TemplatePatch>,
) -> ApiResult<Json<MessageTemplate>> {
    who.require(&[Role::Admin])?;
    let (id, org, now) = (template_id(&id)?, who.org_id, app.clock.now());
    let TemplatePatch { name, channel_type, default_locale, versions } = input;
    let changed = app
        .store
        .write(move |tx| {
            let content = if channel_type.is_some() || default_locale.is_some() || versions.is_some() {
                let now_is = message_templates::get(tx, org, id)?;
                Some(TemplateContent {
                    channel_type: channel_type.unwrap_or(now_is.channel_type),
                    default_locale: default_locale.unwrap_or(now_is.default_locale),
                    versions: versions.unwrap_or(now_is.versions),
                })
            } else {
                None
            };
            message_templates::update(tx, org, id, name.as_deref(), content, now)
        })
        .await?;
    Ok(Json(changed))
}

#[utoipa::path(delete, path = "/v1/message-templates/{id}", tag = "outbound", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "`message_template_not_found`")))]
async fn delete_template(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    who.require(&[Role::Admin])?;
    let (id, org, now) = (template_id(&id)?, who.org_id, app.clock.now());
    app.store.write(move |tx| message_templates::delete(tx, org, id, now)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewIn {
    /// The customer's locale (a BCP 47 tag or an LCID); the default locale's version when absent or unmatched.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "1036")]
    pub locale: Option<Locale>,
    /// A value for each placeholder, by name (not case-sensitive).
    #[serde(default)]
    #[schema(example = json!({"CustomerName": "Grace", "CaseName": "CAS-01042"}))]
    pub values: BTreeMap<String, String>,
}

/// Renders a template as a send with these values would: the version chosen for the locale, its text and its
/// WhatsApp parameters filled. A placeholder without a value is `400 missing_placeholder`, naming it.
#[utoipa::path(post, path = "/v1/message-templates/{id}/preview", tag = "outbound", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PreviewIn,
    responses((status = 200, body = Rendered),
        (status = 400, description = "`missing_placeholder`, `conflicting_placeholder`, `invalid_field`"),
        (status = 404, description = "`message_template_not_found`")))]
async fn preview_template(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PreviewIn>,
) -> ApiResult<Json<Rendered>> {
    who.require(READERS)?;
    let (id, org) = (template_id(&id)?, who.org_id);
    let template = app.store.read(move |tx| message_templates::get(tx, org, id)).await?;
    Ok(Json(template.render(input.locale.as_ref(), &input.values)?))
}
