//! Unified routing: agents' presence, capacity and skills, queue members and settings, workstream rules, offers,
//! queue positions, and the representative-availability actions (reference §1.8, §6). The work is in
//! `crate::routing`; these handlers check input and roles and map results.

use std::collections::BTreeMap;

use axum::{
    Json,
    extract::{Path, State},
    http::HeaderMap,
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{
    Code, Error, Timestamp,
    ids::*,
    role::Role,
    routing::{
        agent_attributes::{AgentAttribute, check_attributes},
        calendar::CalendarSpec,
        rules::Value,
    },
    setup::{AssignmentMethodName, OverflowSettings, PresenceName, QueueRouting},
};
use switchboard_store::{
    model::Conversation,
    routing::{AgentSkillEntry, Member, Offer, QueueEntry, RulesDocument},
};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    auth::Principal,
    error::{ApiError, ApiResult},
    extract::{ApiJson, OptionalJson, path_id},
    routing::{
        AgentStatus, OverflowAnswer, PresenceReport, QueueAvailability, QueuePosition, catalogue::PresenceChoice,
    },
};

const ADMINS: &[Role] = &[Role::Admin, Role::Supervisor];
const STAFF: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent];
const AVAILABILITY: &[Role] = &[Role::Admin, Role::Supervisor, Role::Integration];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_presence, put_presence))
        .routes(routes!(get_agent_routing, put_agent_routing))
        .routes(routes!(get_members, put_members))
        .routes(routes!(patch_queue))
        .routes(routes!(get_queue_routing))
        .routes(routes!(get_rules, put_rules))
        .routes(routes!(agent_offers))
        .routes(routes!(accept_offer))
        .routes(routes!(reject_offer))
        .routes(routes!(queue_position))
        .routes(routes!(availability_before))
        .routes(routes!(availability_for))
        .routes(routes!(callback_requests))
        .routes(routes!(get_presence_action))
        .routes(routes!(modify_presence_action))
}

/// An agent may read and change their own routing state; admins and supervisors anyone's.
fn agent_in_path(who: &Principal, raw: &str, roles: &[Role]) -> Result<UserId, ApiError> {
    who.require(roles)?;
    let id: UserId = path_id(raw, Code::AgentNotFound)?;
    if who.role == Role::Agent && who.agent() != Some(id) {
        // Another agent's state is not theirs to see: the same answer as an unknown agent.
        return Err(Error::not_found(Code::AgentNotFound).into());
    }
    Ok(id)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceIn {
    /// `available`, `busy`, `busy_dnd`, `away` or `offline`, or a custom presence's id or name (see
    /// `/v1/presences`).
    #[schema(example = "available")]
    pub presence: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PresenceOut {
    pub user_id: UserId,
    /// The base presence routing sees.
    pub presence: PresenceName,
    /// The custom presence the agent chose, if any.
    pub custom_presence: Option<crate::routing::catalogue::PresenceRef>,
}

#[utoipa::path(get, path = "/v1/agents/{id}/presence", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = PresenceOut), (status = 404)))]
async fn get_presence(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<PresenceOut>> {
    let id = agent_in_path(&who, &id, STAFF)?;
    let status = app.routing.agent(&app.routing_deps, who.org_id, id).await?;
    Ok(Json(PresenceOut { user_id: id, presence: status.presence, custom_presence: status.custom_presence }))
}

/// Sets the agent's presence. Routing offers work only to agents whose presence the workstream allows.
#[utoipa::path(put, path = "/v1/agents/{id}/presence", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PresenceIn,
    responses((status = 200, body = PresenceOut), (status = 400, description = "`invalid_presence`"), (status = 404)))]
async fn put_presence(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<PresenceIn>,
) -> ApiResult<Json<PresenceOut>> {
    let id = agent_in_path(&who, &id, STAFF)?;
    let choice = app.routing.resolve_presence(&app.routing_deps, who.org_id, &input.presence).await?;
    let status = app.routing.set_presence(&app.routing_deps, who.org_id, id, choice).await?;
    Ok(Json(PresenceOut { user_id: id, presence: status.presence, custom_presence: status.custom_presence }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentRoutingIn {
    /// Total capacity units, a whole number, zero or more.
    #[serde(default)]
    pub capacity_units: Option<i64>,
    /// Replaces the agent's skills.
    #[serde(default)]
    pub skills: Option<Vec<AgentSkillEntry>>,
    /// Replaces the agent's attributes, which custom assignment rules read: at most 50, each named with 1 to 100
    /// letters, digits and underscores, valued text (up to 256 characters), a number or a boolean.
    #[serde(default)]
    #[schema(example = json!({ "Region": "EU", "Seniority": 3, "Certified": true }))]
    pub attributes: Option<BTreeMap<String, AgentAttribute>>,
    /// The agent's working hours, in the format of a queue's operating hours, for `is_working` rules; `null`:
    /// always working.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CalendarSpec>)]
    pub calendar: Option<Option<CalendarSpec>>,
    /// The presence the agent is put in when they sign in: a built-in presence (`available`, `busy`, `busy_dnd`,
    /// `away`, `offline`) or a custom one's id or name; `null`: Available.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "busy")]
    pub default_presence: Option<Option<String>>,
}

#[utoipa::path(get, path = "/v1/agents/{id}/routing", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = AgentStatus), (status = 404)))]
async fn get_agent_routing(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentStatus>> {
    let id = agent_in_path(&who, &id, STAFF)?;
    Ok(Json(app.routing.agent(&app.routing_deps, who.org_id, id).await?))
}

/// Sets the agent's capacity, skills, attributes and working hours (admins and supervisors); fields left out
/// keep their value.
#[utoipa::path(put, path = "/v1/agents/{id}/routing", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = AgentRoutingIn,
    responses((status = 200, body = AgentStatus), (status = 400, description = "`invalid_capacity`, `invalid_field` \
        (`field` names the skill or `attributes.<Name>`), `invalid_calendar`, `invalid_presence` (`default_presence`)"),
        (status = 404)))]
async fn put_agent_routing(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AgentRoutingIn>,
) -> ApiResult<Json<AgentStatus>> {
    let id = agent_in_path(&who, &id, ADMINS)?;
    if let Some(units) = input.capacity_units
        && !(0..=i64::from(u32::MAX)).contains(&units)
    {
        return Err(Error::field(
            Code::InvalidCapacity,
            "capacity_units",
            "capacity is a whole number of units, zero or more",
        )
        .into());
    }
    for (i, s) in input.skills.iter().flatten().enumerate() {
        if s.proficiency > 10 {
            return Err(
                Error::field(Code::InvalidField, format!("skills[{i}].proficiency"), "proficiency is 0 to 10").into()
            );
        }
        if s.name.trim().is_empty() || s.name.chars().count() > switchboard_domain::routing::rules::MAX_SKILL_NAME {
            return Err(Error::field(
                Code::InvalidField,
                format!("skills[{i}].name"),
                "a skill name is 1 to 100 characters",
            )
            .into());
        }
    }
    if let Some(attributes) = &input.attributes {
        check_attributes(attributes)?;
    }
    if let Some(calendar) = &input.calendar {
        crate::routing::checked_calendar(calendar.as_ref())?;
    }
    let default_presence = match &input.default_presence {
        Some(Some(raw)) => {
            let choice = app
                .routing
                .resolve_presence(&app.routing_deps, who.org_id, raw)
                .await
                .map_err(|e| Error { field: Some("default_presence".to_string()), ..e })?;
            Some(Some(match choice {
                PresenceChoice::BuiltIn(p) => p.as_str().to_string(),
                PresenceChoice::Custom(id, _) => id.to_string(),
            }))
        }
        Some(None) => Some(None),
        None => None,
    };
    let status = app
        .routing
        .update_agent(&app.routing_deps, who.org_id, id, move |a| {
            if let Some(units) = input.capacity_units {
                a.capacity_units = units;
            }
            if let Some(skills) = input.skills {
                a.skills = skills;
            }
            if let Some(attributes) = input.attributes {
                a.attributes = attributes;
            }
            if let Some(calendar) = input.calendar {
                a.calendar = calendar;
            }
            if let Some(default) = default_presence {
                a.default_presence = default;
            }
        })
        .await?;
    Ok(Json(status))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembersIn {
    /// The agents who serve the queue; round robin takes them in the order they joined.
    pub user_ids: Vec<UserId>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MembersOut {
    pub data: Vec<Member>,
}

fn queue_id(raw: &str) -> Result<QueueId, ApiError> {
    path_id(raw, Code::QueueNotFound)
}

#[utoipa::path(get, path = "/v1/queues/{id}/members", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = MembersOut), (status = 404)))]
async fn get_members(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<MembersOut>> {
    who.require(ADMINS)?;
    let (id, org) = (queue_id(&id)?, who.org_id);
    let data = app
        .store
        .read(move |tx| {
            switchboard_store::setup::get_queue(tx, org, id)?;
            switchboard_store::routing::list_members(tx, org, Some(id))
        })
        .await?;
    Ok(Json(MembersOut { data }))
}

/// Replaces the queue's members. Members who stay keep their place in round robin.
#[utoipa::path(put, path = "/v1/queues/{id}/members", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = MembersIn,
    responses((status = 200, body = MembersOut), (status = 404, description = "Unknown queue or agent")))]
async fn put_members(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<MembersIn>,
) -> ApiResult<Json<MembersOut>> {
    who.require(ADMINS)?;
    let id = queue_id(&id)?;
    if input.user_ids.len() > 10_000 {
        return Err(Error::field(Code::InvalidField, "user_ids", "at most 10,000 members").into());
    }
    let data = app.routing.set_members(&app.routing_deps, who.org_id, id, input.user_ids).await?;
    Ok(Json(MembersOut { data }))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueuePatch {
    #[serde(default)]
    pub assignment_method: Option<AssignmentMethodName>,
    /// Operating hours; `null` makes the queue always open.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<switchboard_domain::routing::calendar::CalendarSpec>)]
    pub calendar: Option<Option<switchboard_domain::routing::calendar::CalendarSpec>>,
    #[serde(default)]
    pub overflow: Option<OverflowSettings>,
    /// The rulesets of the `custom` method (see docs/routing.md); `null` removes them.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<switchboard_domain::routing::assignment_rules::CustomAssignmentSpec>)]
    pub custom: Option<Option<switchboard_domain::routing::assignment_rules::CustomAssignmentSpec>>,
}

/// A field that is present (even as `null`) is `Some`, so that `null` can clear it.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueRoutingOut {
    pub id: QueueId,
    pub routing: QueueRouting,
}

/// Changes the queue's assignment method, operating hours or overflow; fields left out keep their value. Concurrent
/// changes of different fields all take; a change that leaves everything as it was records no event.
#[utoipa::path(patch, path = "/v1/queues/{id}", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = QueuePatch,
    responses((status = 200, body = QueueRoutingOut), (status = 400, description = "`invalid_calendar`, \
        `invalid_overflow` (a range, a repeated condition, an unknown target queue or a loop; `field` names it)"),
        (status = 404)))]
async fn patch_queue(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<QueuePatch>,
) -> ApiResult<Json<QueueRoutingOut>> {
    who.require(ADMINS)?;
    let (id, org) = (queue_id(&id)?, who.org_id);
    let change = move |current: &QueueRouting| Ok(input.apply(current.clone()));
    let QueueEntry { id, routing, .. } = app.routing.set_queue_routing(&app.routing_deps, org, id, change).await?;
    Ok(Json(QueueRoutingOut { id, routing }))
}

/// The queue's assignment method, operating hours and overflow as saved: what `PATCH /v1/queues/{id}` changes,
/// for a form that edits them.
#[utoipa::path(get, path = "/v1/queues/{id}/routing", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = QueueRoutingOut), (status = 404)))]
async fn get_queue_routing(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<QueueRoutingOut>> {
    who.require(ADMINS)?;
    let (id, org) = (queue_id(&id)?, who.org_id);
    let QueueEntry { id, routing, .. } =
        app.store.read(move |tx| switchboard_store::routing::get_queue(tx, org, id)).await?;
    Ok(Json(QueueRoutingOut { id, routing }))
}

impl QueuePatch {
    /// The queue's routing with this patch applied; fields left out keep their value.
    fn apply(self, mut routing: QueueRouting) -> QueueRouting {
        if let Some(m) = self.assignment_method {
            routing.assignment_method = m;
        }
        if let Some(c) = self.calendar {
            routing.calendar = c;
        }
        if let Some(o) = self.overflow {
            routing.overflow = o;
        }
        match self.custom {
            Some(custom) => routing.custom = custom,
            // Leaving the custom method drops its rulesets unless the request sends them (which is then refused).
            None if routing.assignment_method != AssignmentMethodName::Custom => routing.custom = None,
            None => {}
        }
        routing
    }
}

fn workstream_id(raw: &str) -> Result<WorkstreamId, ApiError> {
    path_id(raw, Code::WorkstreamNotFound)
}

#[utoipa::path(get, path = "/v1/workstreams/{id}/rules", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = RulesDocument), (status = 404)))]
async fn get_rules(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<RulesDocument>> {
    who.require(ADMINS)?;
    let (id, org) = (workstream_id(&id)?, who.org_id);
    Ok(Json(app.store.read(move |tx| switchboard_store::routing::get_rules(tx, org, id)).await?))
}

/// Replaces the workstream's classification and route-to-queue rules. Conditions are checked when saved (see
/// docs/routing-rules.md); a condition that does not parse or names an undeclared context variable is refused
/// with `invalid_rule` and the field path, such as `route_to_queue.rules[0].condition`.
#[utoipa::path(put, path = "/v1/workstreams/{id}/rules", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = RulesDocument,
    responses((status = 200, body = RulesDocument), (status = 400, description = "`invalid_rule`"), (status = 404)))]
async fn put_rules(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RulesDocument>,
) -> ApiResult<Json<RulesDocument>> {
    who.require(&[Role::Admin])?;
    let id = workstream_id(&id)?;
    Ok(Json(app.routing.put_rules(&app.routing_deps, who.org_id, id, input).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OffersOut {
    pub data: Vec<Offer>,
}

/// The agent's pending offers, newest first.
#[utoipa::path(get, path = "/v1/agents/{id}/offers", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = OffersOut), (status = 404)))]
async fn agent_offers(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<OffersOut>> {
    let id = agent_in_path(&who, &id, STAFF)?;
    Ok(Json(OffersOut { data: app.routing.offers(&app.routing_deps, who.org_id, id).await? }))
}

fn offer_of(who: &Principal, raw: &str) -> Result<(UserId, uuid::Uuid), ApiError> {
    who.require(&[Role::Agent])?;
    let offer = path_id(raw, Code::OfferNotFound)?;
    let agent = who.agent().ok_or_else(|| Error::new(Code::Forbidden, "only an agent answers their offers"))?;
    Ok((agent, offer))
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoBody {}

/// The agent accepts their offer: the conversation becomes Active with them.
#[utoipa::path(post, path = "/v1/offers/{id}/accept", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Conversation), (status = 404, description = "`offer_not_found` (also another \
        agent's offer)"), (status = 409, description = "`offer_expired`")))]
async fn accept_offer(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<Json<Conversation>> {
    let (agent, offer) = offer_of(&who, &id)?;
    Ok(Json(app.routing.accept(&app.routing_deps, who.org_id, agent, offer, who.label()).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Rejected {
    pub offer_id: String,
    pub state: &'static str,
}

/// The agent rejects their offer: the conversation goes back to its place in the queue for other agents.
#[utoipa::path(post, path = "/v1/offers/{id}/reject", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Rejected), (status = 404), (status = 409, description = "`offer_expired`")))]
async fn reject_offer(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<Json<Rejected>> {
    let (agent, offer) = offer_of(&who, &id)?;
    app.routing.reject(&app.routing_deps, who.org_id, agent, offer).await?;
    Ok(Json(Rejected { offer_id: offer.to_string(), state: "rejected" }))
}

/// Where the conversation waits, and the queue's average wait.
#[utoipa::path(get, path = "/v1/conversations/{id}/queue-position", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), responses((status = 200, body = QueuePosition), (status = 404)))]
async fn queue_position(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<QueuePosition>> {
    who.require(&[Role::Admin, Role::Supervisor, Role::Agent, Role::Integration])?;
    let id = path_id(&id, Code::ConversationNotFound)?;
    super::conversations::visible(&app, &who, id).await?;
    Ok(Json(app.routing.position(&app.routing_deps, who.org_id, id).await?))
}

/// The request of the availability action before a conversation (reference §1.8).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityBeforeIn {
    #[serde(default)]
    #[schema(example = "1.0")]
    pub api_version: Option<String>,
    /// The workstream whose rules pick the queue.
    pub live_work_stream_id: String,
    /// A JSON string: `{"name": {"value": "v", "isDisplayable": true, "datatype": "192350000"}}`; datatype
    /// 192350001 is a number.
    #[serde(default)]
    pub custom_context_items: Option<String>,
    /// A JSON string of engagement-context attributes; accepted and not used by routing.
    #[serde(default)]
    pub channel_engagement_context: Option<String>,
}

/// The request of the availability action during a conversation (reference §1.8).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityForIn {
    #[serde(default)]
    #[schema(example = "1.0")]
    pub api_version: Option<String>,
    /// The conversation.
    pub conversation_id: String,
    /// A JSON string of engagement-context attributes; accepted and not used by routing.
    #[serde(default)]
    pub channel_engagement_context: Option<String>,
}

/// The response of both availability actions, field for field as documented.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityOut {
    /// The queue the workstream's rules pick (before a conversation), or the conversation's queue.
    pub queue_id: QueueId,
    pub is_queue_available: bool,
    pub start_time_of_next_operating_hour: String,
    pub end_time_of_next_operating_hour: String,
    pub next_transition_time: String,
    pub position_in_queue: usize,
    pub is_agent_available: bool,
    /// Minutes; null without recent data.
    pub average_wait_time: Option<f64>,
    pub average_wait_time_in_seconds: f64,
    pub number_of_experts_available_in_queue: usize,
    /// Not in the documented response: the estimator's wait for a customer at `PositionInQueue`, from the queue's
    /// live staffing and recent history (see docs/routing.md); null when nobody staffs the queue.
    pub estimated_wait_time_in_seconds: Option<f64>,
    /// Not in the documented response (before a conversation only): what `QueueId`'s overflow rules would do with
    /// a customer arriving now, when they would not wait in `QueueId` — `transfer_to_queue` (to
    /// `OverflowQueueId`), `end_conversation` or `offer_callback`; null when the customer would wait in `QueueId`.
    /// Every other field still describes `QueueId`, so a closed queue answers `IsQueueAvailable: false`.
    #[schema(example = "transfer_to_queue")]
    pub overflow_action: Option<&'static str>,
    /// Not in the documented response: the queue overflow would move the customer to (with `OverflowAction`
    /// `transfer_to_queue`), else null.
    pub overflow_queue_id: Option<QueueId>,
}

const NO_TIME: &str = "0001-01-01T00:00:00Z";
const NO_TRANSITION: &str = "9999-12-31T23:59:59Z";

fn utc(t: Timestamp) -> String {
    t.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn availability_out(a: QueueAvailability, now: Timestamp) -> AvailabilityOut {
    let open = a.calendar.is_open(now);
    let (start, end) = if open {
        (NO_TIME.to_string(), NO_TIME.to_string())
    } else {
        match a.calendar.next_open(now) {
            Some(s) => (utc(s), a.calendar.next_change(s).map_or_else(|| NO_TRANSITION.to_string(), utc)),
            None => (NO_TRANSITION.to_string(), NO_TRANSITION.to_string()),
        }
    };
    let seconds = a.average_wait_ms.map(|ms| (ms / 1000.0).round());
    let (overflow_action, overflow_queue_id) = match a.overflow {
        None => (None, None),
        Some(OverflowAnswer::Transfer(q)) => (Some("transfer_to_queue"), Some(q)),
        Some(OverflowAnswer::End { callback: false }) => (Some("end_conversation"), None),
        Some(OverflowAnswer::End { callback: true }) => (Some("offer_callback"), None),
    };
    AvailabilityOut {
        queue_id: a.queue,
        is_queue_available: open,
        start_time_of_next_operating_hour: start,
        end_time_of_next_operating_hour: end,
        next_transition_time: a.calendar.next_change(now).map_or_else(|| NO_TRANSITION.to_string(), utc),
        // Before a conversation: behind everyone waiting. During one: its own place (0 once it left the queue).
        position_in_queue: a.position.unwrap_or(a.waiting + 1),
        is_agent_available: a.agents > 0,
        average_wait_time: seconds.map(|s| (s / 60.0 * 10.0).round() / 10.0),
        average_wait_time_in_seconds: seconds.unwrap_or(0.0),
        number_of_experts_available_in_queue: a.agents,
        estimated_wait_time_in_seconds: a.estimated_wait_ms.map(|ms| (ms / 1000.0).round()),
        overflow_action,
        overflow_queue_id,
    }
}

fn parse_context(raw: Option<&str>) -> Result<BTreeMap<String, Value>, Error> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else { return Ok(BTreeMap::new()) };
    let items: BTreeMap<String, serde_json::Value> = serde_json::from_str(raw).map_err(|e| {
        Error::field(Code::InvalidField, "CustomContextItems", format!("not a JSON object in a string: {e}"))
    })?;
    let mut out = BTreeMap::new();
    for (name, item) in items {
        let field = || format!("CustomContextItems.{name}");
        let value = match &item["value"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            _ => return Err(Error::field(Code::InvalidField, field(), "each item needs a `value`")),
        };
        let number = item["datatype"].as_str() == Some("192350001") || item["datatype"].as_i64() == Some(192_350_001);
        let value = if number {
            Value::Number(value.parse().map_err(|_| Error::field(Code::InvalidField, field(), "not a number"))?)
        } else {
            Value::Text(value)
        };
        out.insert(name, value);
    }
    Ok(out)
}

/// Whether agents are available before a conversation exists: the queue the workstream's rules would pick for
/// this context, its operating hours, staffing and average wait.
#[utoipa::path(post, path = "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityBeforeConversation",
    tag = "routing", security(("bearer" = [])), request_body = AvailabilityBeforeIn,
    responses((status = 200, body = AvailabilityOut), (status = 400), (status = 404)))]
async fn availability_before(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(input): ApiJson<AvailabilityBeforeIn>,
) -> ApiResult<Json<AvailabilityOut>> {
    who.require(AVAILABILITY)?;
    let workstream = path_id(&input.live_work_stream_id, Code::WorkstreamNotFound)?;
    let context = parse_context(input.custom_context_items.as_deref())?;
    let a = app.routing.availability_before(&app.routing_deps, who.org_id, workstream, context).await?;
    Ok(Json(availability_out(a, app.clock.now())))
}

/// The same during a conversation: its queue and its own place in it.
#[utoipa::path(post, path = "/api/data/v9.2/CCaaS_GetRepresentativeAvailabilityForConversation",
    tag = "routing", security(("bearer" = [])), request_body = AvailabilityForIn,
    responses((status = 200, body = AvailabilityOut), (status = 400), (status = 404)))]
async fn availability_for(
    State(app): State<AppState>,
    who: Principal,
    ApiJson(input): ApiJson<AvailabilityForIn>,
) -> ApiResult<Json<AvailabilityOut>> {
    who.require(AVAILABILITY)?;
    let id = path_id(&input.conversation_id, Code::ConversationNotFound)?;
    let a = app.routing.availability_for(&app.routing_deps, who.org_id, id).await?;
    Ok(Json(availability_out(a, app.clock.now())))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CallbackQuery {
    /// Only this queue's requests.
    pub queue_id: Option<String>,
    /// At most this many (default 50), newest first.
    #[param(inline)]
    pub limit: Option<crate::extract::PageSize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CallbacksOut {
    pub data: Vec<switchboard_store::overflow::CallbackRequest>,
}

/// Callbacks customers were offered when a queue overflowed (`offer_callback`), newest first, with the phone and
/// contact to call back.
#[utoipa::path(get, path = "/v1/callback-requests", tag = "routing", security(("bearer" = [])),
    params(CallbackQuery), responses((status = 200, body = CallbacksOut), (status = 400, description = "`invalid_query`")))]
async fn callback_requests(
    State(app): State<AppState>,
    who: Principal,
    crate::extract::ApiQuery(q): crate::extract::ApiQuery<CallbackQuery>,
) -> ApiResult<Json<CallbacksOut>> {
    who.require(ADMINS)?;
    let queue = match q.queue_id.as_deref() {
        Some(raw) => Some(
            raw.parse::<QueueId>()
                .map_err(|_| Error::field(Code::InvalidQuery, "queue_id", "`queue_id` is not a queue id"))?,
        ),
        None => None,
    };
    let limit = q.limit.map_or(switchboard_domain::limits::DEFAULT_PAGE_SIZE, crate::extract::PageSize::get);
    let org = who.org_id;
    let data = app.store.read(move |tx| switchboard_store::overflow::list_callbacks(tx, org, queue, limit)).await?;
    Ok(Json(CallbacksOut { data }))
}

/// The header through which a supervisor acts for another user (reference §6.5): its value is that user's id.
const CALLER_ID: &str = "mscrmcallerid";

/// The agent a presence action is about, and whether the caller may act on them. Without `MSCRMCallerID` an agent
/// acts on themselves only, and admins and supervisors on any agent. With it, the caller acts as the user it names
/// (an agent of the organization), which only admins and supervisors may do for someone else; the action then
/// follows that agent's own rule.
fn presence_subject(who: &Principal, headers: &HeaderMap, agent_id: Option<&str>) -> Result<UserId, ApiError> {
    who.require(STAFF)?;
    let acting_for = match headers.get(CALLER_ID) {
        Some(raw) => {
            let id =
                raw.to_str().ok().and_then(|v| v.trim().parse::<UserId>().ok()).ok_or_else(|| {
                    Error::field(Code::InvalidField, "MSCRMCallerID", "`MSCRMCallerID` is not a user id")
                })?;
            if who.role == Role::Agent && who.agent() != Some(id) {
                return Err(Error::new(Code::Forbidden, "only admins and supervisors act for another user").into());
            }
            Some(id)
        }
        None => None,
    };
    let agent = match agent_id {
        Some(raw) => Some(
            raw.trim()
                .parse::<UserId>()
                .map_err(|_| Error::field(Code::InvalidField, "AgentId", "`AgentId` is not a user id"))?,
        ),
        None => None,
    };
    // Whoever the request acts as: the user named by the header, else the caller (an agent).
    let actor = acting_for.or_else(|| who.agent().filter(|_| who.role == Role::Agent));
    match (actor, agent) {
        (Some(actor), Some(agent)) if actor != agent => {
            Err(Error::new(Code::Forbidden, "an agent sets and reads only their own presence").into())
        }
        (_, Some(agent)) => Ok(agent),
        (Some(actor), None) => Ok(actor),
        (None, None) => Err(Error::field(Code::MissingField, "AgentId", "`AgentId` names the agent").into()),
    }
}

/// `CCaaS_GetPresence`'s request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GetPresenceIn {
    #[serde(default)]
    #[schema(example = "1.0")]
    pub api_version: Option<String>,
    /// The agent (their user id); with an agent's key, or `MSCRMCallerID`, it may be left out.
    #[serde(default)]
    pub agent_id: Option<String>,
}

/// `CCaaS_ModifyAgentPresence`'s request (reference §6.5).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ModifyPresenceIn {
    #[serde(default)]
    #[schema(example = "1.0")]
    pub api_version: Option<String>,
    /// The agent (their user id).
    pub agent_id: String,
    /// A presence of `/v1/presences`: a built-in one's id (`available`, `busy`, `busy_dnd`, `away`, `offline`) or a
    /// custom one's id; `inactive` is routing's own.
    #[schema(example = "busy")]
    pub presence_id: String,
}

/// A conversation the agent holds.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HeldConversation {
    pub conversation_id: ConversationId,
    /// `active`, `waiting` or `wrap_up`.
    pub state: switchboard_domain::conversation::ConversationState,
    pub channel_id: ChannelId,
}

/// The agent's session as routing sees it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PresenceSessionOut {
    pub capacity_units: i64,
    /// Units held by offers, active conversations and blocking wrap-ups.
    pub used_units: u32,
    pub queue_ids: Vec<QueueId>,
    pub pending_offers: usize,
    /// Active, waiting (parked) and wrap-up conversations, up to 100 of each.
    pub conversations: Vec<HeldConversation>,
}

/// A channel the agent can be offered work from in their presence now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AllowedChannel {
    pub channel_id: ChannelId,
    pub name: String,
    pub channel_type: switchboard_domain::setup::ChannelType,
    pub workstream_id: WorkstreamId,
}

/// The answer of both presence actions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PresenceAnswer {
    pub agent_id: UserId,
    /// The presence's id in `/v1/presences`: a built-in one's (`available`, …, `inactive`) or a custom one's.
    pub presence_id: String,
    /// Its text: `Available`, `Busy - DND`, a custom presence's name…
    pub presence_text: String,
    /// The base presence routing uses.
    pub base_presence: switchboard_domain::setup::PresenceName,
    pub session: PresenceSessionOut,
    /// Channels whose routed workstream allows this presence: where the agent can be offered work now.
    pub allowed_channels: Vec<AllowedChannel>,
}

fn presence_answer(agent: UserId, r: PresenceReport) -> PresenceAnswer {
    let (presence_id, presence_text) = match &r.status.custom_presence {
        Some(custom) => (custom.id.to_string(), custom.name.clone()),
        None => (r.status.presence.as_str().to_string(), super::routing_config::presence_text(r.status.presence)),
    };
    PresenceAnswer {
        agent_id: agent,
        presence_id,
        presence_text,
        base_presence: r.status.presence,
        session: PresenceSessionOut {
            capacity_units: r.status.capacity_units,
            used_units: r.status.used_units,
            queue_ids: r.status.queue_ids,
            pending_offers: r.pending_offers,
            conversations: r
                .conversations
                .into_iter()
                .map(|(conversation_id, state, channel_id)| HeldConversation { conversation_id, state, channel_id })
                .collect(),
        },
        allowed_channels: r
            .allowed_channels
            .into_iter()
            .map(|(channel_id, name, channel_type, workstream_id)| AllowedChannel {
                channel_id,
                name,
                channel_type,
                workstream_id,
            })
            .collect(),
    }
}

/// The agent's presence now, with their session (capacity, offers, the conversations they hold) and the channels
/// their presence lets them be offered work from (reference §6.5). An agent reads their own; admins and
/// supervisors anyone's, also acting for an agent with `MSCRMCallerID`.
#[utoipa::path(post, path = "/api/data/v9.2/CCaaS_GetPresence", tag = "routing", security(("bearer" = [])),
    params(("MSCRMCallerID" = Option<String>, Header, description = "The user the request acts for")),
    request_body = GetPresenceIn,
    responses((status = 200, body = PresenceAnswer), (status = 400, description = "`invalid_json`, `unknown_field`, `invalid_field`, \
        `missing_field`"), (status = 403, description = "`forbidden`: another agent's presence"),
        (status = 404, description = "`agent_not_found`")))]
async fn get_presence_action(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    ApiJson(input): ApiJson<GetPresenceIn>,
) -> ApiResult<Json<PresenceAnswer>> {
    let agent = presence_subject(&who, &headers, input.agent_id.as_deref())?;
    let report = app.routing.presence_report(&app.routing_deps, who.org_id, agent).await?;
    Ok(Json(presence_answer(agent, report)))
}

/// Sets an agent's presence (reference §6.5), as `PUT /v1/agents/{id}/presence` does: an agent their own;
/// admins and supervisors any agent's, or act for an agent with `MSCRMCallerID`. Answers the presence as
/// `CCaaS_GetPresence` does.
#[utoipa::path(post, path = "/api/data/v9.2/CCaaS_ModifyAgentPresence", tag = "routing", security(("bearer" = [])),
    params(("MSCRMCallerID" = Option<String>, Header, description = "The user the request acts for")),
    request_body = ModifyPresenceIn,
    responses((status = 200, body = PresenceAnswer), (status = 400, description = "`invalid_json`, `unknown_field`, `invalid_field`, \
        `invalid_presence` (an unknown presence, another organization's, or `inactive`)"),
        (status = 403, description = "`forbidden`: an agent setting someone else's presence"),
        (status = 404, description = "`agent_not_found`")))]
async fn modify_presence_action(
    State(app): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    ApiJson(input): ApiJson<ModifyPresenceIn>,
) -> ApiResult<Json<PresenceAnswer>> {
    let agent = presence_subject(&who, &headers, Some(&input.agent_id))?;
    let choice = app
        .routing
        .resolve_presence(&app.routing_deps, who.org_id, &input.presence_id)
        .await
        .map_err(|e| Error { field: e.field.as_ref().map(|_| "PresenceId".to_string()), ..e })?;
    app.routing.set_presence(&app.routing_deps, who.org_id, agent, choice).await?;
    let report = app.routing.presence_report(&app.routing_deps, who.org_id, agent).await?;
    Ok(Json(presence_answer(agent, report)))
}
