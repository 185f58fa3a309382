//! Routing configuration (reference §6.4, §6.5): the organization's presence catalogue (built-in and custom
//! presences), capacity profiles, and the profiles each agent holds. The work is in `crate::routing::catalogue`
//! and `switchboard_store::routing_config`.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error,
    ids::UserId,
    role::Role,
    routing::capacity_reset::{ProfileReset, ResetSpec},
    setup::PresenceName,
};
use switchboard_store::routing_config::{self as config, CapacityProfile, CustomPresence};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use crate::{
    AppState,
    auth::Principal,
    error::{ApiError, ApiResult},
    extract::{ApiJson, IdemKey, Written, body, path_id},
    routing::catalogue::ProfileStatus,
};

const ADMINS: &[Role] = &[Role::Admin, Role::Supervisor];
const READERS: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::Integration];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_presences, create_presence))
        .routes(routes!(update_presence, delete_presence))
        .routes(routes!(list_profiles, create_profile))
        .routes(routes!(get_profile, update_profile, delete_profile))
        .routes(routes!(get_agent_profiles, put_agent_profiles))
}

/// A presence of the organization's catalogue.
#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceEntry {
    /// What `PUT /v1/agents/{id}/presence` takes: the built-in presence's name, or the custom presence's id.
    #[schema(example = "available")]
    pub id: String,
    #[schema(example = "Available")]
    pub name: String,
    /// The base presence routing uses.
    pub base: PresenceName,
    pub built_in: bool,
    /// Whether agents may choose it; `inactive` is set by routing only.
    pub selectable: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresencesOut {
    pub data: Vec<PresenceEntry>,
}

const BUILT_IN: [(PresenceName, &str); 6] = [
    (PresenceName::Available, "Available"),
    (PresenceName::Busy, "Busy"),
    (PresenceName::BusyDnd, "Busy - DND"),
    (PresenceName::Away, "Away"),
    (PresenceName::Offline, "Offline"),
    (PresenceName::Inactive, "Inactive"),
];

/// A built-in presence's text, as the catalogue lists it.
pub(crate) fn presence_text(p: PresenceName) -> String {
    BUILT_IN.iter().find(|(b, _)| *b == p).map_or_else(|| p.as_str().to_string(), |(_, name)| (*name).to_string())
}

/// The presence catalogue: the out-of-the-box presences, then the organization's custom ones by name.
#[utoipa::path(get, path = "/v1/presences", tag = "routing", security(("bearer" = [])),
    responses((status = 200, body = PresencesOut)))]
async fn list_presences(State(app): State<AppState>, who: Principal) -> ApiResult<Json<PresencesOut>> {
    who.require(READERS)?;
    let org = who.org_id;
    let custom = app.store.read(move |tx| config::list_presences(tx, org)).await?;
    let mut data: Vec<PresenceEntry> = BUILT_IN
        .iter()
        .map(|(p, name)| PresenceEntry {
            id: p.as_str().to_string(),
            name: (*name).to_string(),
            base: if *p == PresenceName::Inactive { PresenceName::Away } else { *p },
            built_in: true,
            selectable: *p != PresenceName::Inactive,
        })
        .collect();
    data.extend(custom.into_iter().map(|c| PresenceEntry {
        id: c.id.to_string(),
        name: c.name,
        base: c.base,
        built_in: false,
        selectable: true,
    }));
    Ok(Json(PresencesOut { data }))
}

/// A custom presence to add.
// Documented under its own name: the agent's `PresenceIn` shares this Rust name, and one component replaced the
// other in the document.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[schema(as = CustomPresenceIn)]
#[serde(deny_unknown_fields)]
pub struct PresenceIn {
    /// 1 to 100 characters, unique in the organization ignoring case, not a built-in presence's name.
    #[schema(example = "Training")]
    pub name: String,
    /// `available`, `busy`, `busy_dnd`, `away` or `offline`.
    #[schema(example = "away")]
    pub base: String,
}

fn parse_base(raw: &str) -> Result<PresenceName, Error> {
    match PresenceName::parse(raw) {
        Some(PresenceName::Inactive) | None => Err(Error::field(
            Code::InvalidPresence,
            "base",
            format!("`{raw}` is not a base presence; use available, busy, busy_dnd, away or offline"),
        )),
        Some(p) => Ok(p),
    }
}

/// Adds a custom presence mapped to a base presence; agents choose it like a built-in one.
#[utoipa::path(post, path = "/v1/presences", tag = "routing", security(("bearer" = [])), request_body = PresenceIn,
    params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CustomPresence), (status = 400, description = "`invalid_presence`, `invalid_field`"),
        (status = 409, description = "`already_exists`: the name is taken")))]
async fn create_presence(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<PresenceIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let base = parse_base(&input.base)?;
    let org = who.org_id;
    let key = idem.scoped(&who, "POST /v1/presences", &input);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            body(StatusCode::CREATED, config::create_presence(tx, org, &input.name, base, now)?)
        })
        .await?;
    app.routing.sync_presences(&app.routing_deps, org).await?;
    Ok(Written(out).into_response())
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresencePatch {
    #[serde(default)]
    pub name: Option<String>,
    /// A new base; agents in the presence are routed by it at once.
    #[serde(default)]
    pub base: Option<String>,
}

fn presence_id(raw: &str) -> Result<Uuid, ApiError> {
    path_id(raw, Code::PresenceNotFound)
}

/// Renames a custom presence or maps it to another base.
#[utoipa::path(patch, path = "/v1/presences/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PresencePatch,
    responses((status = 200, body = CustomPresence), (status = 400), (status = 404, description = "`presence_not_found`"),
        (status = 409, description = "`already_exists`")))]
async fn update_presence(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PresencePatch>,
) -> ApiResult<Json<CustomPresence>> {
    who.require(&[Role::Admin])?;
    let id = presence_id(&id)?;
    let base = input.base.as_deref().map(parse_base).transpose()?;
    Ok(Json(app.routing.update_presence(&app.routing_deps, who.org_id, id, input.name, base).await?))
}

/// Deletes a custom presence. While any agent is in it the answer is 409 `in_use`: they choose another first.
#[utoipa::path(delete, path = "/v1/presences/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, description = "`presence_not_found`"),
        (status = 409, description = "`in_use`: an agent is in it")))]
async fn delete_presence(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    who.require(&[Role::Admin])?;
    let id = presence_id(&id)?;
    app.routing.delete_presence(&app.routing_deps, who.org_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfilesOut {
    pub data: Vec<CapacityProfile>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileIn {
    #[schema(example = "Chat")]
    pub name: String,
    /// Conversations of this profile an agent takes at once: 0 to 1,000.
    #[schema(example = 3)]
    pub max_items: i64,
    /// While an agent has one of its conversations, nothing of another profile is offered to them.
    #[serde(default)]
    pub block_others: bool,
    /// When use comes back: `"on_release"` (the default) or `{"every_minutes": n, "time_zone": "Europe/Paris"}`
    /// (n divides 1440; the time zone defaults to `UTC`). Read as JSON here so that errors name the field.
    #[serde(default)]
    #[schema(value_type = Option<ResetSpec>)]
    pub reset: Option<serde_json::Value>,
}

/// The reset a request gives, checked; `None` when absent or `null`.
fn reset_in(raw: Option<&serde_json::Value>) -> Result<Option<ProfileReset>, ApiError> {
    Ok(raw.map(ProfileReset::from_json).transpose()?)
}

#[utoipa::path(get, path = "/v1/capacity-profiles", tag = "routing", security(("bearer" = [])),
    responses((status = 200, body = ProfilesOut)))]
async fn list_profiles(State(app): State<AppState>, who: Principal) -> ApiResult<Json<ProfilesOut>> {
    who.require(ADMINS)?;
    let org = who.org_id;
    Ok(Json(ProfilesOut { data: app.store.read(move |tx| config::list_profiles(tx, org)).await? }))
}

/// Adds a capacity profile. Workstreams consume it with `settings.routing.capacity_profile_id`; agents hold it
/// through `PUT /v1/agents/{id}/capacity-profiles`.
#[utoipa::path(post, path = "/v1/capacity-profiles", tag = "routing", security(("bearer" = [])),
    request_body = ProfileIn, params(("Idempotency-Key" = Option<String>, Header)),
    responses((status = 201, body = CapacityProfile), (status = 400, description = "`invalid_capacity`, `invalid_field`"),
        (status = 409, description = "`already_exists`")))]
async fn create_profile(
    State(app): State<AppState>,
    who: Principal,
    idem: IdemKey,
    ApiJson(input): ApiJson<ProfileIn>,
) -> ApiResult<Response> {
    who.require(&[Role::Admin])?;
    let org = who.org_id;
    let reset = reset_in(input.reset.as_ref())?.unwrap_or_default();
    let key = idem.scoped(&who, "POST /v1/capacity-profiles", &input);
    let now = app.clock.now();
    let out = app
        .store
        .write_once(org, key, now, move |tx| {
            let p = config::create_profile(tx, org, &input.name, input.max_items, input.block_others, reset, now)?;
            body(StatusCode::CREATED, p)
        })
        .await?;
    Ok(Written(out).into_response())
}

fn profile_id(raw: &str) -> Result<Uuid, ApiError> {
    path_id(raw, Code::CapacityProfileNotFound)
}

#[utoipa::path(get, path = "/v1/capacity-profiles/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = CapacityProfile), (status = 404, description = "`capacity_profile_not_found`")))]
async fn get_profile(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<CapacityProfile>> {
    who.require(ADMINS)?;
    let (id, org) = (profile_id(&id)?, who.org_id);
    Ok(Json(app.store.read(move |tx| config::get_profile(tx, org, id)).await?))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub max_items: Option<i64>,
    #[serde(default)]
    pub block_others: Option<bool>,
    /// A new reset (see `ProfileIn`); changing it starts a new period, counting what was assigned in it already.
    #[serde(default)]
    #[schema(value_type = Option<ResetSpec>)]
    pub reset: Option<serde_json::Value>,
}

/// Changes a profile; agents holding it get the new limit (unless they have their own) at once. Lowering a limit
/// takes nothing away; it only stops new offers.
#[utoipa::path(patch, path = "/v1/capacity-profiles/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = ProfilePatch,
    responses((status = 200, body = CapacityProfile), (status = 400, description = "`invalid_capacity`"),
        (status = 404), (status = 409, description = "`already_exists`")))]
async fn update_profile(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ProfilePatch>,
) -> ApiResult<Json<CapacityProfile>> {
    who.require(&[Role::Admin])?;
    let id = profile_id(&id)?;
    let change = config::ProfileChange {
        reset: reset_in(input.reset.as_ref())?,
        name: input.name,
        max_items: input.max_items,
        block_others: input.block_others,
    };
    let p = app.routing.update_profile(&app.routing_deps, who.org_id, id, change).await?;
    Ok(Json(p))
}

/// Deletes a profile that no agent holds, no workstream consumes and no custom assignment rule names (409
/// `in_use` otherwise).
#[utoipa::path(delete, path = "/v1/capacity-profiles/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 204), (status = 404), (status = 409, description = "`in_use`")))]
async fn delete_profile(State(app): State<AppState>, who: Principal, Path(id): Path<String>) -> ApiResult<StatusCode> {
    who.require(&[Role::Admin])?;
    let id = profile_id(&id)?;
    app.routing.delete_profile(&app.routing_deps, who.org_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentProfileIn {
    pub profile_id: Uuid,
    /// The agent's own limit (0 to 1,000); the profile's when absent.
    #[serde(default)]
    pub max_items: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentProfilesIn {
    /// Replaces the profiles the agent holds.
    pub profiles: Vec<AgentProfileIn>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentProfilesOut {
    pub data: Vec<ProfileStatus>,
}

fn agent_id(who: &Principal, raw: &str, roles: &[Role]) -> Result<UserId, ApiError> {
    who.require(roles)?;
    let id: UserId = path_id(raw, Code::AgentNotFound)?;
    if who.role == Role::Agent && who.agent() != Some(id) {
        return Err(Error::not_found(Code::AgentNotFound).into());
    }
    Ok(id)
}

/// The capacity profiles the agent holds and how much of each is in use.
#[utoipa::path(get, path = "/v1/agents/{id}/capacity-profiles", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AgentProfilesOut), (status = 404)))]
async fn get_agent_profiles(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentProfilesOut>> {
    let id = agent_id(&who, &id, &[Role::Admin, Role::Supervisor, Role::Agent])?;
    let status = app.routing.agent(&app.routing_deps, who.org_id, id).await?;
    Ok(Json(AgentProfilesOut { data: status.capacity_profiles }))
}

/// Replaces the capacity profiles the agent holds, each with an optional limit of their own.
#[utoipa::path(put, path = "/v1/agents/{id}/capacity-profiles", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AgentProfilesIn,
    responses((status = 200, body = AgentProfilesOut),
        (status = 400, description = "`invalid_capacity`, `invalid_field` (a profile listed twice)"),
        (status = 404, description = "`agent_not_found`, `capacity_profile_not_found`")))]
async fn put_agent_profiles(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AgentProfilesIn>,
) -> ApiResult<Json<AgentProfilesOut>> {
    let id = agent_id(&who, &id, ADMINS)?;
    if input.profiles.len() > 100 {
        return Err(Error::field(Code::InvalidField, "profiles", "at most 100 profiles").into());
    }
    let profiles = input.profiles.into_iter().map(|p| (p.profile_id, p.max_items)).collect();
    app.routing.set_agent_profiles(&app.routing_deps, who.org_id, id, profiles).await?;
    let status = app.routing.agent(&app.routing_deps, who.org_id, id).await?;
    Ok(Json(AgentProfilesOut { data: status.capacity_profiles }))
}
