//! The conversation lifecycle around routing (reference §6.6): transfers, picking work items, and auto-close
//! timers. The work is in `crate::routing::lifecycle`; these handlers check input and roles.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::{Deserialize, Serialize};
use switchboard_domain::{Code, Error, ids::*, limits, role::Role};
use switchboard_store::model::Conversation;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::conversations::NoBody;
use crate::{
    AppState,
    auth::Principal,
    error::ApiResult,
    extract::{ApiJson, ApiQuery, OptionalJson, path_id},
    routing::lifecycle::{AutoCloseStatus, Caller, Target, WorkItem},
};

const STAFF: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent];
const EVERYONE: &[Role] = &[Role::Admin, Role::Supervisor, Role::Agent, Role::Integration];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(transfer))
        .routes(routes!(pick))
        .routes(routes!(work_items))
        .routes(routes!(auto_close))
}

/// Where to transfer a conversation: exactly one of `queue_id` and `agent_id`.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferIn {
    /// Another queue of the organization: the conversation is routed there (Active → Open).
    #[serde(default)]
    pub queue_id: Option<QueueId>,
    /// An agent of the organization: they get an offer of kind `transfer`; if they reject or miss it, the
    /// conversation waits in its queue.
    #[serde(default)]
    pub agent_id: Option<UserId>,
}

/// Transfers the conversation to another queue or to an agent. The agent holding it may transfer it; admins and
/// supervisors any Open or Active conversation of a routed workstream.
#[utoipa::path(post, path = "/v1/conversations/{id}/transfer", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = TransferIn,
    responses((status = 200, body = Conversation),
        (status = 400, description = "`missing_field` / `invalid_field`: not exactly one target"),
        (status = 403, description = "`not_assigned_agent`: an agent transferring a conversation that is not theirs"),
        (status = 404, description = "`conversation_not_found`, `queue_not_found`, `agent_not_found`"),
        (status = 409, description = "`already_in_queue`, `agent_unavailable`, `invalid_state_transition`, \
            `conversation_closed`, `not_routed`")))]
async fn transfer(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TransferIn>,
) -> ApiResult<Json<Conversation>> {
    who.require(STAFF)?;
    let id = path_id(&id, Code::ConversationNotFound)?;
    let target = match (input.queue_id, input.agent_id) {
        (Some(q), None) => Target::Queue(q),
        (None, Some(a)) => Target::Agent(a),
        (None, None) => {
            return Err(Error::field(Code::MissingField, "queue_id", "give `queue_id` or `agent_id`").into());
        }
        (Some(_), Some(_)) => {
            return Err(Error::field(Code::InvalidField, "agent_id", "give `queue_id` or `agent_id`, not both").into());
        }
    };
    super::conversations::visible(&app, &who, id).await?;
    let caller = Caller { label: who.label(), role: who.role, agent: who.agent() };
    Ok(Json(app.routing.transfer(&app.routing_deps, who.org_id, caller, id, target).await?))
}

/// The agent picks an Open conversation of a pick workstream from a queue they are a member of (Open → Active).
/// Their presence must be one the workstream allows and they need room for it. When several agents pick one
/// conversation at once, exactly one gets it.
#[utoipa::path(post, path = "/v1/conversations/{id}/pick", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = Conversation),
        (status = 403, description = "`forbidden`: only agents pick"),
        (status = 404, description = "`conversation_not_found`"),
        (status = 409, description = "`invalid_state_transition` (already taken), `agent_unavailable` (not a member, \
            presence, capacity, or a push workstream), `not_routed`, `conversation_closed`")))]
async fn pick(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    OptionalJson(_): OptionalJson<NoBody>,
) -> ApiResult<Json<Conversation>> {
    who.require(&[Role::Agent])?;
    let id = path_id(&id, Code::ConversationNotFound)?;
    let agent = who.agent().ok_or_else(|| Error::new(Code::Forbidden, "only an agent's own key picks work"))?;
    Ok(Json(app.routing.pick(&app.routing_deps, who.org_id, agent, who.label(), id).await?))
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LimitQuery {
    /// Items to return (default 50).
    #[param(inline)]
    pub limit: Option<crate::extract::PageSize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkItems {
    pub data: Vec<WorkItem>,
}

/// The queue's Open conversations of pick workstreams, in the order routing serves them: what an agent may pick.
/// Agents see only queues they are members of.
#[utoipa::path(get, path = "/v1/queues/{id}/work-items", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path), LimitQuery),
    responses((status = 200, body = WorkItems),
        (status = 403, description = "`forbidden`: an agent who is not a member of the queue"),
        (status = 404, description = "`queue_not_found`")))]
async fn work_items(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<LimitQuery>,
) -> ApiResult<Json<WorkItems>> {
    who.require(STAFF)?;
    let queue = path_id(&id, Code::QueueNotFound)?;
    let limit = query.limit.map_or(limits::DEFAULT_PAGE_SIZE, crate::extract::PageSize::get);
    let agent = if who.role == Role::Agent {
        Some(who.agent().ok_or_else(|| Error::new(Code::Forbidden, "no agent"))?)
    } else {
        None
    };
    let data = app.routing.work_items(&app.routing_deps, who.org_id, agent, queue, limit).await?;
    Ok(Json(WorkItems { data }))
}

/// The conversation's auto-close timer: when it closes if nothing happens (§6.6). Customer and agent messages and
/// transfers restart it; each state has its own timeout (the workstream's `settings.auto_close`, or the channel's
/// default).
#[utoipa::path(get, path = "/v1/conversations/{id}/auto-close", tag = "routing", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses((status = 200, body = AutoCloseStatus), (status = 404, description = "`conversation_not_found`")))]
async fn auto_close(
    State(app): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> ApiResult<Json<AutoCloseStatus>> {
    who.require(EVERYONE)?;
    let id = path_id(&id, Code::ConversationNotFound)?;
    super::conversations::visible(&app, &who, id).await?;
    Ok(Json(crate::routing::lifecycle::auto_close_status(&app, who.org_id, id).await?))
}
