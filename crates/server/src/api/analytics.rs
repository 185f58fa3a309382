//! What the supervisor dashboard reads (docs/analytics.md): each queue and agent now, from routing's engine, and the
//! 15-minute intervals the analytics worker (`crate::analytics`) counts from the conversation log.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use switchboard_domain::{Code, Error, Timestamp, ids::*, role::Role};
use switchboard_store::analytics::{self as store, Counts, INTERVAL_MS, interval_start};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    AppState,
    analytics::SERVICE_LEVEL_SECONDS,
    auth::Principal,
    error::ApiResult,
    extract::ApiQuery,
    routing::{AgentLive, QueueLive},
};

const WATCHERS: &[Role] = &[Role::Admin, Role::Supervisor];
/// The default range of `GET /v1/analytics/intervals`: the last 24 hours.
const DEFAULT_RANGE_MS: i64 = 24 * 3_600_000;
/// The longest range one request reads.
const MAX_RANGE_DAYS: i64 = 31;
const DAY_MS: i64 = 24 * 3_600_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(queues)).routes(routes!(intervals))
}

/// What a run of intervals adds up to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Summary {
    /// Conversations that began waiting in the queue.
    pub arrivals: i64,
    /// Conversations an agent took (accepted or picked).
    pub answered: i64,
    /// Conversations closed while they waited, before any agent took them.
    pub abandoned: i64,
    /// The answered conversations' average wait; null when none was answered.
    pub average_wait_seconds: Option<f64>,
    /// The fraction of answered conversations answered within `service_level_threshold_seconds`; null when none was
    /// answered.
    pub service_level: Option<f64>,
    /// Abandoned ÷ (answered + abandoned); null when neither happened.
    pub abandonment_rate: Option<f64>,
}

impl From<&Counts> for Summary {
    fn from(c: &Counts) -> Self {
        let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
        Summary {
            arrivals: c.arrivals,
            answered: c.answered,
            abandoned: c.abandoned,
            average_wait_seconds: ratio(c.wait_ms_sum, c.answered).map(|ms| (ms / 100.0).round() / 10.0),
            service_level: ratio(c.answered_in_target, c.answered),
            abandonment_rate: ratio(c.abandoned, c.answered + c.abandoned),
        }
    }
}

/// One queue: now, and today so far.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueueOverview {
    #[serde(flatten)]
    pub live: QueueLive,
    /// Since midnight UTC, from the intervals.
    pub today: Summary,
}

/// Every queue and agent of the organization now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueuesOverview {
    pub generated_at: Timestamp,
    /// What `service_level` counts as answered in time.
    pub service_level_threshold_seconds: i64,
    pub queues: Vec<QueueOverview>,
    pub agents: Vec<AgentLive>,
}

/// Each queue's waiting conversations (how many, the longest wait, the estimated wait of a new arrival), its members
/// by presence and their load, with today's service level and abandonment; and every agent's presence and load.
/// Read from routing's state, so it is cheap to ask every second.
#[utoipa::path(get, path = "/v1/analytics/queues", tag = "analytics", security(("bearer" = [])),
    responses((status = 200, body = QueuesOverview),
        (status = 403, description = "`forbidden`: only supervisors and admins")))]
async fn queues(State(app): State<AppState>, who: Principal) -> ApiResult<Json<QueuesOverview>> {
    who.require(WATCHERS)?;
    let org = who.org_id;
    let now = app.clock.now();
    let midnight = Timestamp::from_millis(now.millis().div_euclid(DAY_MS) * DAY_MS);
    let snapshot = app.routing.snapshot(&app.routing_deps, org).await?;
    let mut today = app.store.read(move |tx| store::totals_since(tx, org, midnight)).await?;
    let queues = snapshot
        .queues
        .into_iter()
        .map(|live| {
            let counts = today.remove(&live.queue_id).unwrap_or_default();
            QueueOverview { live, today: Summary::from(&counts) }
        })
        .collect();
    Ok(Json(QueuesOverview {
        generated_at: now,
        service_level_threshold_seconds: SERVICE_LEVEL_SECONDS,
        queues,
        agents: snapshot.agents,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct IntervalQuery {
    /// One queue's intervals; all the organization's queues together when absent.
    pub queue_id: Option<QueueId>,
    /// The start of the range (rounded down to an interval); default `to` minus 24 hours.
    pub from: Option<Timestamp>,
    /// The end of the range (rounded up to an interval); default now. At most 31 days after `from`.
    pub to: Option<Timestamp>,
}

/// One 15-minute interval.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IntervalOut {
    pub start: Timestamp,
    pub end: Timestamp,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Intervals {
    pub queue_id: Option<QueueId>,
    pub from: Timestamp,
    pub to: Timestamp,
    pub interval_seconds: i64,
    pub service_level_threshold_seconds: i64,
    /// Every interval of the range, oldest first; one in which nothing happened has zeros.
    pub data: Vec<IntervalOut>,
}

/// The range's 15-minute intervals: arrivals, answered, abandoned, average wait and service level, as the analytics
/// worker counted them from the conversation log (each in the interval its event happened in).
#[utoipa::path(get, path = "/v1/analytics/intervals", tag = "analytics", security(("bearer" = [])),
    params(IntervalQuery),
    responses((status = 200, body = Intervals),
        (status = 400, description = "`invalid_field`: `to` not after `from`, or a range over 31 days; \
            `invalid_query`: a malformed parameter"),
        (status = 403, description = "`forbidden`: only supervisors and admins"),
        (status = 404, description = "`queue_not_found`")))]
async fn intervals(
    State(app): State<AppState>,
    who: Principal,
    ApiQuery(query): ApiQuery<IntervalQuery>,
) -> ApiResult<Json<Intervals>> {
    who.require(WATCHERS)?;
    let org = who.org_id;
    let to = query.to.unwrap_or_else(|| app.clock.now());
    let from = query.from.unwrap_or_else(|| to.plus_millis(-DEFAULT_RANGE_MS));
    if to <= from {
        return Err(Error::field(Code::InvalidField, "to", "`to` must be after `from`").into());
    }
    if to.millis() - from.millis() > MAX_RANGE_DAYS * DAY_MS {
        return Err(Error::field(Code::InvalidField, "to", format!("a range is at most {MAX_RANGE_DAYS} days")).into());
    }
    let from = interval_start(from);
    let to = interval_start(to.plus_millis(INTERVAL_MS - 1));
    let queue = query.queue_id;
    let stored = app
        .store
        .read(move |tx| {
            if let Some(q) = queue {
                switchboard_store::setup::get_queue(tx, org, q)?;
            }
            store::intervals(tx, org, queue, from, to)
        })
        .await?;
    let mut sums: std::collections::HashMap<Timestamp, Counts> = std::collections::HashMap::new();
    for i in &stored {
        sums.entry(i.start).or_default().add(&i.counts);
    }
    let data = (from.millis()..to.millis())
        .step_by(usize::try_from(INTERVAL_MS).unwrap_or(usize::MAX))
        .map(|start| {
            let start = Timestamp::from_millis(start);
            let counts = sums.get(&start).copied().unwrap_or_default();
            IntervalOut { start, end: start.plus_millis(INTERVAL_MS), summary: Summary::from(&counts) }
        })
        .collect();
    Ok(Json(Intervals {
        queue_id: queue,
        from,
        to,
        interval_seconds: INTERVAL_MS / 1000,
        service_level_threshold_seconds: SERVICE_LEVEL_SECONDS,
        data,
    }))
}
