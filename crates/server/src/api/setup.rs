//! Queues, workstreams and channels. Admins configure them; everyone in the organization may read them, channel
//! settings only admins and supervisors, and credentials no one.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error,
    account::{AccountMethod, AttachmentPermissions, ChannelBehaviours, Language},
    ids::*,
    role::Role,
    setup::{ChannelSettings, ChannelType, Distribution, QueueType, WorkstreamSettings, WorkstreamType},
    text::Name,
};
use switchboard_store::{
    messaging_accounts,
    model::{Channel, ChannelView, Page, Queue, Workstream},
    setup::{self, NewChannel, WorkstreamChange},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Principal,
    channels::accounts::channel_view,
    error::ApiResult,
    extract::{ApiJson, ApiQuery, IdemKey, PageQuery, Patch, Written, body, path_id, reveal},
};

/// A merge patch's settings object, merged into the current settings.
type SettingsPatch = Patch<serde_json::Map<String, serde_json::Value>>;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_queue, list_queues))
        .routes(routes!(get_queue))
        .routes(routes!(create_workstream, list_workstreams))
        .routes(routes!(get_workstream, patch_workstream))
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(get_channel, patch_channel))
}

pub(crate) const READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::Integration];
/// Who creates and changes queues, workstreams and channels.
pub(crate) const CONFIGURERS: &[Role] = &[Role::Admin];
/// Who reads a channel's settings (never its credentials): agents and integrations have no use for them.
pub(crate) const SETTINGS_READERS: &[Role] = &[Role::Admin, Role::Supervisor];

/// The channel as `who` may see it; `methods` are the organization's accounts' (`messaging_accounts::methods`).
pub(crate) fn shown(app: &AppState, who: &Principal, channel: &Channel, methods: &AccountMethods) -> ChannelView {
    let method = methods.get(&channel.account_id).copied();
    crate::channels::accounts::channel_view(app, channel, method, SETTINGS_READERS.contains(&who.role))
}

/// Each account's method, by account.
pub(crate) type AccountMethods = std::collections::HashMap<MessagingAccountId, AccountMethod>;

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueIn {
    pub name: Name,
    #[serde(default = "default_queue_type")]
    pub queue_type: QueueType,
    /// Lower numbers are served first (default 100).
    #[serde(default = "default_priority")]
    pub priority: i64,
}

fn default_queue_type() -> QueueType {
    QueueType::Messaging
}

fn default_priority() -> i64 {
    100
}

#[utoipa::path(post, path = "/v1/queues", tag = "setup", security(("bearer" = [])), request_body = QueueIn,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = Queue)))]
async fn create_queue(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<QueueIn>,
) -> ApiResult<Response> {
    who.require(CONFIGURERS)?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/queues", &input);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            body(
                StatusCode::CREATED,
                setup::create_queue(tx, org, input.name.as_str(), input.queue_type, input.priority, now)?,
            )
        })
        .await?;
    Ok(Written(out).into_response())
}

#[utoipa::path(get, path = "/v1/queues", tag = "setup", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Queue>)))]
async fn list_queues(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Queue>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor::<QueueId>()?, who.org_id);
    let rows = app.store.read(move |tx| setup::list_queues(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |q| q.id.to_string())))
}

#[utoipa::path(get, path = "/v1/queues/{id}", tag = "setup", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Queue), (status = 404)))]
async fn get_queue(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<Json<Queue>> {
    who.require(READERS)?;
    let (id, org) = (path_id(&id, Code::QueueNotFound)?, who.org_id);
    Ok(Json(app.store.read(move |tx| setup::get_queue(tx, org, id)).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkstreamIn {
    pub name: Name,
    #[serde(default = "default_workstream_type")]
    pub workstream_type: WorkstreamType,
    #[serde(default = "default_distribution")]
    pub distribution: Distribution,
    /// Where conversations go when no routing rule matches.
    #[serde(default)]
    pub fallback_queue_id: Option<QueueId>,
    #[serde(default)]
    pub settings: WorkstreamSettings,
}

fn default_workstream_type() -> WorkstreamType {
    WorkstreamType::Messaging
}

fn default_distribution() -> Distribution {
    Distribution::Push
}

#[utoipa::path(post, path = "/v1/workstreams", tag = "setup", security(("bearer" = [])), request_body = WorkstreamIn,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = Workstream), (status = 404)))]
async fn create_workstream(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<WorkstreamIn>,
) -> ApiResult<Response> {
    who.require(CONFIGURERS)?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/workstreams", &input);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let w = setup::create_workstream(
                tx,
                org,
                input.workstream_type,
                WorkstreamChange {
                    name: input.name.as_str().into(),
                    distribution: input.distribution,
                    fallback_queue_id: input.fallback_queue_id,
                    settings: input.settings,
                },
                now,
            )?;
            body(StatusCode::CREATED, w)
        })
        .await?;
    Ok(Written(out).into_response())
}

#[utoipa::path(get, path = "/v1/workstreams", tag = "setup", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Workstream>)))]
async fn list_workstreams(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<Workstream>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor::<WorkstreamId>()?, who.org_id);
    let rows = app.store.read(move |tx| setup::list_workstreams(tx, org, after, limit + 1)).await?;
    Ok(Json(Page::from_rows(rows, limit, |w| w.id.to_string())))
}

#[utoipa::path(get, path = "/v1/workstreams/{id}", tag = "setup", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = Workstream), (status = 404)))]
async fn get_workstream(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<Workstream>> {
    who.require(READERS)?;
    let (id, org) = (path_id(&id, Code::WorkstreamNotFound)?, who.org_id);
    Ok(Json(app.store.read(move |tx| setup::get_workstream(tx, org, id)).await?))
}

/// A JSON merge patch (RFC 7396) of a workstream: fields left out keep their value, `null` removes a value (the
/// default applies, as on create), `settings` merges member by member.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkstreamPatch {
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    pub name: Patch<Name>,
    #[serde(default)]
    #[schema(value_type = Option<Distribution>)]
    pub distribution: Patch<Distribution>,
    /// `null` leaves the workstream without a fallback queue.
    #[serde(default)]
    #[schema(value_type = Option<QueueId>)]
    pub fallback_queue_id: Patch<QueueId>,
    /// Only the members to change, e.g. `{"routing": {"affinity": true}}`; checked whole, as on create.
    #[serde(default)]
    #[schema(value_type = Option<WorkstreamSettings>)]
    pub settings: SettingsPatch,
    /// Refused: conversations already hold their workstream's type.
    #[serde(default)]
    #[schema(ignore)]
    pub workstream_type: Patch<serde::de::IgnoredAny>,
}

impl WorkstreamPatch {
    fn apply(self, current: &Workstream) -> Result<setup::WorkstreamChange, Error> {
        Ok(setup::WorkstreamChange {
            name: self.name.required("name", Name::from_stored(current.name.clone()))?.into_inner(),
            // Removed, it is the create default again, as a merge patch on the created resource would make it.
            distribution: match self.distribution {
                Patch::Remove => default_distribution(),
                other => other.required("distribution", current.distribution)?,
            },
            fallback_queue_id: self.fallback_queue_id.optional(current.fallback_queue_id),
            settings: self.settings.merge("settings", &current.settings)?,
        })
    }
}

/// Changes a workstream. New conversations and routing use the new values at once; conversations already
/// queued stay where they are.
#[utoipa::path(patch, path = "/v1/workstreams/{id}", tag = "setup", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = WorkstreamPatch,
    responses((status = 200, body = Workstream),
        (status = 400, description = "`invalid_field`, `unknown_field` (also for `workstream_type`, which cannot \
            change), `missing_field` (`null` for `name`); `field` names the path"),
        (status = 404, description = "`workstream_not_found`; `queue_not_found` or `capacity_profile_not_found` \
            with the `field` that names it")))]
async fn patch_workstream(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<WorkstreamPatch>,
) -> ApiResult<Json<Workstream>> {
    who.require(CONFIGURERS)?;
    let (id, org) = (path_id(&id, Code::WorkstreamNotFound)?, who.org_id);
    patch.workstream_type.fixed("workstream_type", "its conversations already hold it")?;
    let now = app.clock.now();
    Ok(Json(app.store.write(move |tx| setup::update_workstream(tx, org, id, now, |w| patch.apply(w))).await?))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelIn {
    pub name: Name,
    pub channel_type: ChannelType,
    pub workstream_id: WorkstreamId,
    /// Per-type settings: for `messaging_api`, the webhook URL, app id and customer-token keys. The keys are
    /// write-only: reads say `customer_token_set`.
    #[serde(default)]
    pub settings: ChannelSettings,
    /// The messaging account to add the channel to (of the channel's type); without it, the channel gets an
    /// account of its own, named after it.
    #[serde(default)]
    pub account_id: Option<MessagingAccountId>,
    #[serde(default)]
    pub language: Language,
    #[serde(default)]
    pub behaviours: ChannelBehaviours,
    #[serde(default)]
    pub attachments: AttachmentPermissions,
}

#[utoipa::path(post, path = "/v1/channels", tag = "setup", security(("bearer" = [])), request_body = ChannelIn,
    params(("Idempotency-Key" = Option<String>, Header)), responses((status = 201, body = ChannelView), (status = 404)))]
async fn create_channel(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<ChannelIn>,
) -> ApiResult<Response> {
    who.require(CONFIGURERS)?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/channels", &input);
    let new = NewChannel {
        account_id: input.account_id,
        channel_type: input.channel_type,
        name: input.name.into_inner(),
        workstream_id: input.workstream_id,
        settings: input.settings,
        language: input.language,
        behaviours: input.behaviours,
        attachments: input.attachments,
    };
    create_and_answer(&app, org, key, new).await
}

/// Creates a channel and answers it: a Direct Line channel with its two secrets, made with it and shown in this
/// answer only (never in a replay, whose stored answer holds no credential).
pub(crate) async fn create_and_answer(
    app: &AppState,
    org: OrgId,
    key: Option<switchboard_store::IdempotencyKey>,
    new: NewChannel,
) -> ApiResult<Response> {
    let secrets = match new.channel_type {
        ChannelType::DirectLine => Some(crate::direct_line::NewSecrets::generate(&app.auth.secrets)?),
        _ => None,
    };
    let shown = secrets.as_ref().map(crate::direct_line::NewSecrets::shown);
    let now = app.clock.now();
    let state = app.clone();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let channel = setup::create_channel_in(tx, org, new, now)?;
            if let Some(secrets) = &secrets {
                secrets.store(tx, org, channel.id, now)?;
            }
            let method = switchboard_store::messaging_accounts::methods(tx, org)?.get(&channel.account_id).copied();
            body(StatusCode::CREATED, channel_view(&state, &channel, method, true))
        })
        .await?;
    app.deliveries.targets_changed();
    match shown {
        Some(shown) => {
            let value = serde_json::to_value(shown).map_err(Error::internal)?;
            Ok(Written(reveal(out, "direct_line_secrets", value)?).into_response())
        }
        None => Ok(Written(out).into_response()),
    }
}

#[utoipa::path(get, path = "/v1/channels", tag = "setup", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<ChannelView>)))]
async fn list_channels(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<ChannelView>>> {
    who.require(READERS)?;
    let (limit, after, org) = (page.limit()?, page.cursor::<ChannelId>()?, who.org_id);
    let (rows, methods) = app
        .store
        .read(move |tx| Ok((setup::list_channels(tx, org, after, limit + 1)?, messaging_accounts::methods(tx, org)?)))
        .await?;
    let rows = rows.iter().map(|c| shown(&app, &who, c, &methods)).collect();
    Ok(Json(Page::from_rows(rows, limit, |c| c.id.to_string())))
}

#[utoipa::path(get, path = "/v1/channels/{id}", tag = "setup", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = ChannelView), (status = 404)))]
async fn get_channel(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<ChannelView>> {
    who.require(READERS)?;
    let (id, org) = (path_id(&id, Code::ChannelNotFound)?, who.org_id);
    let (channel, methods) =
        app.store.read(move |tx| Ok((setup::get_channel(tx, org, id)?, messaging_accounts::methods(tx, org)?))).await?;
    Ok(Json(shown(&app, &who, &channel, &methods)))
}

/// A JSON merge patch (RFC 7396) of a channel: fields left out keep their value, `settings` merges member by
/// member and `null` removes a setting. Credentials are the exception: `customer_token` given replaces the keys
/// whole (they cannot be read back to be merged into), left out keeps them, `null` removes them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelPatch {
    #[serde(default)]
    #[schema(value_type = Option<Name>)]
    pub name: Patch<Name>,
    /// Where new conversations go; those already started keep their workstream.
    #[serde(default)]
    #[schema(value_type = Option<WorkstreamId>)]
    pub workstream_id: Patch<WorkstreamId>,
    /// Only the settings to change, e.g. `{"webhook_url": "https://…", "app_id": "…"}`; checked whole, as on
    /// create.
    #[serde(default)]
    #[schema(value_type = Option<ChannelSettings>)]
    pub settings: SettingsPatch,
    /// `null` is `en-US` again.
    #[serde(default)]
    #[schema(value_type = Option<Language>)]
    pub language: Patch<Language>,
    /// Only the behaviours to change, e.g. `{"wait_time_message": false}`.
    #[serde(default)]
    #[schema(value_type = Option<ChannelBehaviours>)]
    pub behaviours: SettingsPatch,
    /// Only the permissions to change, e.g. `{"customers": false}`.
    #[serde(default)]
    #[schema(value_type = Option<AttachmentPermissions>)]
    pub attachments: SettingsPatch,
    /// Refused: the channel's provider set-up is its account's.
    #[serde(default)]
    #[schema(ignore)]
    pub account_id: Patch<serde::de::IgnoredAny>,
    /// Refused: a channel's settings, conversations and provider set-up are those of its type.
    #[serde(default)]
    #[schema(ignore)]
    pub channel_type: Patch<serde::de::IgnoredAny>,
}

impl ChannelPatch {
    fn apply(self, current: &Channel) -> Result<setup::ChannelChange, Error> {
        let mut settings = current.settings.clone();
        if matches!(&self.settings, Patch::Set(members) if members.get("customer_token").is_some_and(|v| !v.is_null()))
        {
            settings.customer_token = None;
        }
        Ok(setup::ChannelChange {
            name: self.name.required("name", Name::from_stored(current.name.clone()))?.into_inner(),
            workstream_id: self.workstream_id.required("workstream_id", current.workstream_id)?,
            settings: self.settings.merge("settings", &settings)?,
            language: match self.language {
                Patch::Remove => Language::default(),
                other => other.required("language", current.language.clone())?,
            },
            behaviours: self.behaviours.merge("behaviours", &current.behaviours)?,
            attachments: self.attachments.merge("attachments", &current.attachments)?,
        })
    }
}

/// Changes a channel. A new webhook URL or app id applies to the events committed after the answer.
#[utoipa::path(patch, path = "/v1/channels/{id}", tag = "setup", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ChannelPatch,
    responses((status = 200, body = ChannelView),
        (status = 400, description = "`invalid_field` (a setting the channel's type does not use, a bad URL), \
            `unknown_field` (also for `channel_type`, which cannot change), `missing_field`; `field` names the path"),
        (status = 404, description = "`channel_not_found`; `workstream_not_found` with `field` `workstream_id`")))]
async fn patch_channel(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(patch): ApiJson<ChannelPatch>,
) -> ApiResult<Json<ChannelView>> {
    who.require(CONFIGURERS)?;
    let (id, org) = (path_id(&id, Code::ChannelNotFound)?, who.org_id);
    patch.channel_type.fixed("channel_type", "its settings and conversations are those of its type")?;
    patch.account_id.fixed("account_id", "its provider set-up is its account's")?;
    let now = app.clock.now();
    let (channel, methods) = app
        .store
        .write(move |tx| {
            let channel = setup::update_channel(tx, org, id, now, |c| patch.apply(c))?;
            Ok((channel, messaging_accounts::methods(tx, org)?))
        })
        .await?;
    // After the commit, so that the engine's reload sees the new webhook URL and app id; it applies them to every
    // event it has not yet fanned out, and so to every event committed after this answer.
    app.deliveries.targets_changed();
    Ok(Json(channel_view(&app, &channel, methods.get(&channel.account_id).copied(), true)))
}
