//! Routing configuration an organization owns (reference §6.3-6.5): custom presences, capacity profiles and the
//! profiles agents hold, and queues' custom assignment rulesets. Like the rest of the routing API, each change is
//! written to the store first and then applied to the organization's engine under its lock.

use std::collections::{BTreeMap, HashMap};

use switchboard_domain::{
    Code, Error, Timestamp,
    ids::*,
    routing::{
        capacity_reset::ProfileReset,
        engine::{
            AgentProfile, AgentView, AssignmentMethod, BasePresence, CapacityProfileId, CustomPresence,
            CustomPresenceId, QueueSettings, RoutingEvent, SkillId,
        },
        rules::Value,
    },
    setup::{AssignmentMethodName, PresenceName, QueueRouting},
};
use switchboard_store::{
    routing::{self as store, AgentRouting},
    routing_config::{self as config, AgentProfileEntry, CapacityProfile},
    sql::Tx,
};
use uuid::Uuid;

use super::Deps;
use super::{OrgRouting, Routing};

/// A custom presence, by id and name.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PresenceRef {
    pub id: Uuid,
    pub name: String,
}

/// A capacity profile an agent holds, and how much of it is in use.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ProfileStatus {
    pub profile_id: Uuid,
    pub name: String,
    /// The limit in force for this agent.
    pub max_items: i64,
    /// Whether `max_items` is the agent's own limit rather than the profile's.
    pub overridden: bool,
    pub block_others: bool,
    pub reset: ProfileReset,
    /// What counts against `max_items`: with `"reset": "on_release"`, the conversations of the profile the agent
    /// holds or is being offered; with a periodic reset, those assigned to them since the current period began
    /// (ended ones included) and those being offered.
    pub used: u32,
    /// When the current period ends and `used` starts again from zero; only with a periodic reset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<Timestamp>,
}

/// The API name of a base presence.
pub fn base_name(base: BasePresence) -> PresenceName {
    match base {
        BasePresence::Available => PresenceName::Available,
        BasePresence::Busy => PresenceName::Busy,
        BasePresence::BusyDnd => PresenceName::BusyDnd,
        BasePresence::Away => PresenceName::Away,
        BasePresence::Offline => PresenceName::Offline,
    }
}

fn engine_base(name: PresenceName) -> BasePresence {
    match name {
        PresenceName::Available => BasePresence::Available,
        PresenceName::Busy => BasePresence::Busy,
        PresenceName::BusyDnd => BasePresence::BusyDnd,
        PresenceName::Away | PresenceName::Inactive => BasePresence::Away,
        PresenceName::Offline => BasePresence::Offline,
    }
}

/// The conversation's language for rules: its `language` context variable (any capitalization of the name),
/// the one input every surface (native API, Messaging API, channels) can carry.
pub fn language(context: &BTreeMap<String, Value>) -> Option<String> {
    context.iter().find(|(name, _)| name.eq_ignore_ascii_case("language")).and_then(|(_, v)| match v {
        Value::Text(t) if !t.trim().is_empty() => Some(t.trim().to_string()),
        _ => None,
    })
}

/// An agent's saved routing state with their custom presence and profiles.
pub fn saved_agent(
    tx: &mut Tx<'_>,
    org: OrgId,
    agent: UserId,
) -> Result<(AgentRouting, Option<PresenceRef>, Vec<AgentProfileEntry>), Error> {
    let saved = store::get_agent(tx, org, agent)?;
    let (custom, profiles) = presence_and_profiles(tx, org, &saved)?;
    Ok((saved, custom, profiles))
}

/// The custom presence an agent's saved row names, and the capacity profiles they hold.
pub fn presence_and_profiles(
    tx: &mut Tx<'_>,
    org: OrgId,
    saved: &AgentRouting,
) -> Result<(Option<PresenceRef>, Vec<AgentProfileEntry>), Error> {
    let custom = match saved.custom_presence_id {
        Some(id) => config::get_presence(tx, org, id).ok().map(|p| PresenceRef { id: p.id, name: p.name }),
        None => None,
    };
    let profiles = config::agent_profiles(tx, org, saved.user_id)?;
    Ok((custom, profiles))
}

pub fn profile_status(entries: &[AgentProfileEntry], view: &AgentView) -> Vec<ProfileStatus> {
    entries
        .iter()
        .map(|e| {
            let engine = view.profiles.iter().find(|p| p.profile == CapacityProfileId(e.profile_id));
            ProfileStatus {
                profile_id: e.profile_id,
                name: e.name.clone(),
                max_items: e.max_items,
                overridden: e.overridden,
                block_others: e.block_others,
                reset: e.reset,
                used: engine.map_or(0, |p| p.used),
                resets_at: engine.and_then(|p| p.resets_at),
            }
        })
        .collect()
}

fn engine_profiles(entries: &[AgentProfileEntry]) -> Vec<AgentProfile> {
    entries
        .iter()
        .map(|e| AgentProfile {
            profile: CapacityProfileId(e.profile_id),
            max_items: u32::try_from(e.max_items).unwrap_or(0),
            block_others: e.block_others,
            reset: e.reset,
        })
        .collect()
}

/// Checks a queue's routing as a change would save it, in the transaction that saves it: operating hours that
/// parse, `custom` rulesets with the custom method only and compiling, overflow targets of the organization and no
/// loop, capacity profiles of the organization. Errors name the field from the queue's root
/// (`custom.assignment[0]…`). Returns the routing it checked.
pub fn check_queue_routing(
    tx: &mut Tx<'_>,
    org: OrgId,
    queue: QueueId,
    routing: QueueRouting,
) -> Result<QueueRouting, Error> {
    super::calendar(&routing)?;
    check_custom(&routing)?;
    super::overflow::check(tx, org, queue, &routing.overflow)?;
    check_queue_profiles(tx, org, &routing)?;
    Ok(routing)
}

/// `custom` goes with the custom method only, and its rules compile.
fn check_custom(routing: &QueueRouting) -> Result<(), Error> {
    match (routing.assignment_method, &routing.custom) {
        (AssignmentMethodName::Custom, None) => {
            Err(Error::field(Code::InvalidRule, "custom", "`custom`: the custom assignment method needs its rulesets"))
        }
        // Whether rules compile does not depend on the ids skills get, so this check needs no engine (it runs
        // inside the store's transaction); the engine names the skills when it takes the saved settings.
        (AssignmentMethodName::Custom, Some(spec)) => {
            spec.compile(|_| SkillId(Uuid::nil())).map(|_| ()).map_err(|e| e.at("custom"))
        }
        (_, Some(_)) => Err(Error::field(
            Code::InvalidRule,
            "custom",
            "`custom`: rulesets are only used with `\"assignment_method\": \"custom\"`",
        )),
        (_, None) => Ok(()),
    }
}

/// Checks that the capacity profiles a queue's custom rules name are the organization's.
fn check_queue_profiles(tx: &mut Tx<'_>, org: OrgId, routing: &QueueRouting) -> Result<(), Error> {
    for (field, id) in routing.custom.iter().flat_map(|c| c.profile_ids()) {
        config::get_profile(tx, org, id).map_err(|_| {
            let field = format!("custom.{field}");
            Error::field(Code::InvalidRule, &field, format!("`{field}`: no capacity profile {id} in this organization"))
        })?;
    }
    Ok(())
}

impl OrgRouting {
    /// Custom presences into the engine's catalogue, and every agent's capacity profiles for loading them.
    pub(super) async fn load_catalogue(&mut self, deps: &Deps) -> Result<HashMap<UserId, Vec<AgentProfile>>, Error> {
        let org = self.org;
        let (presences, profiles) = deps
            .store
            .read(move |tx| Ok((config::list_presences(tx, org)?, config::list_agent_profiles(tx, org)?)))
            .await?;
        for p in presences {
            self.engine
                .define_presence(CustomPresenceId(p.id), CustomPresence { name: p.name, base: engine_base(p.base) });
        }
        let mut by_agent: HashMap<UserId, Vec<AgentProfileEntry>> = HashMap::new();
        for (agent, entry) in profiles {
            by_agent.entry(agent).or_default().push(entry);
        }
        Ok(by_agent.into_iter().map(|(agent, entries)| (agent, engine_profiles(&entries))).collect())
    }

    /// The engine's settings for a queue. Stored custom rules were checked when saved; if they no longer compile
    /// the queue falls back to highest capacity rather than stop routing.
    pub(super) fn queue_settings(&mut self, priority: i64, routing: &QueueRouting) -> QueueSettings {
        let method = match routing.assignment_method {
            AssignmentMethodName::HighestCapacity => AssignmentMethod::HighestCapacity,
            AssignmentMethodName::RoundRobin => AssignmentMethod::RoundRobin,
            AssignmentMethodName::MostIdle => AssignmentMethod::MostIdle,
            AssignmentMethodName::Custom => {
                match routing.custom.as_ref().map(|spec| spec.compile(|name| self.skill(name))) {
                    Some(Ok(custom)) => AssignmentMethod::Custom(custom),
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "stored custom assignment rules refused; using highest capacity");
                        AssignmentMethod::HighestCapacity
                    }
                    None => AssignmentMethod::HighestCapacity,
                }
            }
        };
        // The store's queue priority serves lower numbers first; the engine serves higher first.
        QueueSettings {
            priority: i32::try_from(-priority.clamp(-i64::from(i32::MAX), i64::from(i32::MAX))).unwrap_or(0),
            method,
        }
    }

    /// Applies the store's profiles for these agents to the engine.
    async fn apply_profiles(&mut self, deps: &Deps, agents: Vec<UserId>) -> Result<(), Error> {
        let org = self.org;
        let now = deps.clock.now();
        let saved = deps
            .store
            .read(move |tx| {
                agents.into_iter().map(|a| Ok((a, config::agent_profiles(tx, org, a)?))).collect::<Result<Vec<_>, _>>()
            })
            .await?;
        let mut events = Vec::new();
        let mut agents = Vec::with_capacity(saved.len());
        for (agent, entries) in saved {
            self.ensure_agent(agent, now)?;
            events.extend(self.engine.set_profiles(agent, engine_profiles(&entries), now)?);
            agents.push(agent);
        }
        // A profile that became periodic (or changed period) counts this period's assignments, as after a restart.
        events.extend(self.restore_profile_use(deps, Some(&agents), now).await?);
        self.persist(deps, events).await
    }

    /// Rebuilds the use of periodic capacity profiles (of `agents`, or everyone) from the conversations' logs: the
    /// assignments recorded since each profile's current period began.
    ///
    /// Derived rather than persisted: every assignment is already recorded with the agent and conversation (an
    /// accepted offer in `offers` with its answer time; a pick or resume as a `routing.assigned` log entry), and
    /// the conversation's workstream says which profile it consumes. A second record would only have to be kept
    /// in step with those. The derivation is exact for accepted offers, whose answer time is routing's clock; a
    /// pick or resume in the last moments of a period can read as the next period's, because log times are
    /// pushed past the conversation's previous entry (see `assignments_since`). A workstream that since switched
    /// profiles counts under its current one.
    pub(super) async fn restore_profile_use(
        &mut self,
        deps: &Deps,
        agents: Option<&[UserId]>,
        now: Timestamp,
    ) -> Result<Vec<RoutingEvent>, Error> {
        let starts: Vec<(UserId, Timestamp)> = match agents {
            Some(agents) => agents.iter().filter_map(|&a| self.engine.period_start(a).map(|at| (a, at))).collect(),
            None => self.saved_agents.keys().filter_map(|&a| self.engine.period_start(a).map(|at| (a, at))).collect(),
        };
        let Some(since) = starts.iter().map(|(_, at)| *at).min() else { return Ok(Vec::new()) };
        let org = self.org;
        let logged = deps.store.read(move |tx| config::assignments_since(tx, org, since)).await?;
        let mut events = Vec::new();
        for a in logged.into_iter().filter(|a| starts.iter().any(|(agent, _)| *agent == a.agent)) {
            // A conversation of a workstream routing no longer knows consumes no profile here.
            if let Ok(e) = self.engine.restore_assignment(a.agent, a.conversation, a.workstream, a.at, now) {
                events.extend(e);
            }
        }
        Ok(events)
    }
}

/// What a presence in a request names: a built-in one, or a custom one by id or name.
pub enum PresenceChoice {
    BuiltIn(PresenceName),
    /// A custom presence's id and base.
    Custom(Uuid, PresenceName),
}

impl Routing {
    /// Resolves a presence as an agent or supervisor writes it: a built-in name, or a custom presence's id or
    /// name (ignoring case). Anything else is a 400 `invalid_presence`.
    pub async fn resolve_presence(&self, deps: &Deps, org: OrgId, raw: &str) -> Result<PresenceChoice, Error> {
        match PresenceName::parse(raw) {
            Some(PresenceName::Inactive) => {
                return Err(Error::field(
                    Code::InvalidPresence,
                    "presence",
                    "`inactive` is set by routing after a missed offer",
                ));
            }
            Some(p) => return Ok(PresenceChoice::BuiltIn(p)),
            None => {}
        }
        let key = raw.trim().to_lowercase();
        let id = raw.trim().parse::<Uuid>().ok();
        let found = deps
            .store
            .read(move |tx| {
                Ok(config::list_presences(tx, org)?
                    .into_iter()
                    .find(|p| Some(p.id) == id || p.name.to_lowercase() == key))
            })
            .await?;
        match found {
            Some(p) => Ok(PresenceChoice::Custom(p.id, p.base)),
            None => Err(Error::field(
                Code::InvalidPresence,
                "presence",
                format!(
                    "unknown presence `{raw}`; use available, busy, busy_dnd, away, offline or a custom presence \
                     of this organization (see /v1/presences)"
                ),
            )),
        }
    }

    /// Puts the organization's custom presences into its engine, after one was created.
    pub async fn sync_presences(&self, deps: &Deps, org: OrgId) -> Result<(), Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let presences = deps.store.read(move |tx| config::list_presences(tx, org)).await?;
        let mut events = Vec::new();
        for p in presences {
            let presence = CustomPresence { name: p.name, base: engine_base(p.base) };
            events.extend(st.engine.redefine_presence(CustomPresenceId(p.id), presence, now));
        }
        st.persist(deps, events).await
    }

    /// Renames a custom presence or maps it to another base; agents in it are routed by the new base at once.
    pub async fn update_presence(
        &self,
        deps: &Deps,
        org: OrgId,
        id: Uuid,
        name: Option<String>,
        base: Option<PresenceName>,
    ) -> Result<config::CustomPresence, Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let p = deps.store.write(move |tx| config::update_presence(tx, org, id, name.as_deref(), base, now)).await?;
        for saved in st.saved_agents.values_mut().filter(|a| a.custom_presence_id == Some(id)) {
            saved.presence = p.base;
        }
        let events = st.engine.redefine_presence(
            CustomPresenceId(p.id),
            CustomPresence { name: p.name.clone(), base: engine_base(p.base) },
            now,
        );
        st.persist(deps, events).await?;
        Ok(p)
    }

    pub async fn delete_presence(&self, deps: &Deps, org: OrgId, id: Uuid) -> Result<(), Error> {
        let o = self.org(deps, org).await?;
        // Under the lock, so that no agent enters the presence between the check and the delete.
        let _st = o.lock().await;
        let now = deps.clock.now();
        deps.store.write(move |tx| config::delete_presence(tx, org, id, now)).await
    }

    /// Changes a profile; agents holding it get the new limit (unless they have their own) and blocking at once.
    pub async fn update_profile(
        &self,
        deps: &Deps,
        org: OrgId,
        id: Uuid,
        change: config::ProfileChange,
    ) -> Result<CapacityProfile, Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        let (p, holders) = deps
            .store
            .write(move |tx| {
                let p = config::update_profile(tx, org, id, &change, now)?;
                Ok((p, config::profile_holders(tx, org, id)?))
            })
            .await?;
        st.apply_profiles(deps, holders).await?;
        Ok(p)
    }

    pub async fn delete_profile(&self, deps: &Deps, org: OrgId, id: Uuid) -> Result<(), Error> {
        let o = self.org(deps, org).await?;
        let _st = o.lock().await;
        let now = deps.clock.now();
        deps.store.write(move |tx| config::delete_profile(tx, org, id, now)).await
    }

    /// Replaces the profiles an agent holds, each with an optional limit of their own.
    pub async fn set_agent_profiles(
        &self,
        deps: &Deps,
        org: OrgId,
        agent: UserId,
        profiles: Vec<(Uuid, Option<i64>)>,
    ) -> Result<(), Error> {
        let o = self.org(deps, org).await?;
        let mut st = o.lock().await;
        let now = deps.clock.now();
        deps.store.write(move |tx| config::set_agent_profiles(tx, org, agent, &profiles, now)).await?;
        st.apply_profiles(deps, vec![agent]).await
    }
}
