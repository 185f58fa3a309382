//! The standard scenarios: the workloads `switchboard simulate` runs and the tests hold the estimator to.
//!
//! The first five are loaded heavily (100-115%), where long queues make the wait predictable from the queue. The
//! rest are where the estimator is weak: light and moderate load, where most of a wait is an agent taking their
//! time to accept, rejects and timeouts with cooldowns, overflow, agents with several conversations at once, skill
//! requirements inside a queue, and agents leaving mid-shift.

use std::time::Duration;

/// When customers arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// A Poisson process.
    Poisson { per_hour: f64 },
    /// A Markov-modulated Poisson process: calm and burst periods of exponential length, each with its own rate.
    Bursty { calm_per_hour: f64, burst_per_hour: f64, calm_mean: Duration, burst_mean: Duration },
}

impl Arrivals {
    /// The highest rate the process can have, per second (what thinning draws candidates at).
    pub(super) fn max_per_sec(&self) -> f64 {
        match self {
            Arrivals::Poisson { per_hour } => per_hour / 3600.0,
            Arrivals::Bursty { calm_per_hour, burst_per_hour, .. } => calm_per_hour.max(*burst_per_hour) / 3600.0,
        }
    }
}

/// How long agents take over a conversation.
#[derive(Debug, Clone, PartialEq)]
pub enum HandleTime {
    Exponential {
        mean: Duration,
    },
    /// Lognormal with this mean and log-space standard deviation `sigma`.
    LogNormal {
        mean: Duration,
        sigma: f64,
    },
}

/// How agents answer offers.
#[derive(Debug, Clone, PartialEq)]
pub struct Answers {
    /// How long an agent takes to answer (accept or reject): lognormal with this mean and log-space `sigma`;
    /// a zero mean answers at once.
    pub delay_mean: Duration,
    pub delay_sigma: f64,
    /// The chance an agent rejects an offer.
    pub reject: f64,
    /// The chance an agent lets an offer time out.
    pub ignore: f64,
    /// The workstream's offer timeout and reoffer cooldown.
    pub timeout: Duration,
    pub cooldown: Duration,
}

impl Answers {
    /// Every offer accepted at once.
    pub fn instant() -> Self {
        Self {
            delay_mean: Duration::ZERO,
            delay_sigma: 0.0,
            reject: 0.0,
            ignore: 0.0,
            timeout: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
        }
    }

    /// Accepted after a lognormal delay (mean `secs`, σ 0.8), never declined.
    fn after(secs: u64) -> Self {
        Self { delay_mean: Duration::from_secs(secs), delay_sigma: 0.8, ..Self::instant() }
    }
}

/// Where a queue's newcomers go when too many already wait (the `work_item_limit_exceeded` overflow condition with
/// a transfer to another queue).
#[derive(Debug, Clone, PartialEq)]
pub struct Overflow {
    /// At this many waiting, a newcomer goes to `to` instead.
    pub waiting: usize,
    pub to: usize,
}

/// One queue of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueSpec {
    pub name: &'static str,
    /// Higher is served first by agents in several queues.
    pub priority: i32,
    pub arrivals: Arrivals,
    pub handle: HandleTime,
    /// Mean of the customers' exponential patience; `None` means nobody abandons.
    pub patience: Option<Duration>,
    /// The share of customers who need the specialist skill (only agents with it may take them).
    pub skilled: f64,
    pub overflow: Option<Overflow>,
}

/// A group of identical agents: their queues (the skills they have) and their shift.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentGroup {
    pub count: usize,
    /// Indexes into the scenario's queues.
    pub queues: Vec<usize>,
    /// Shift start, as a fraction of the horizon.
    pub from: f64,
    /// Shift end, as a fraction of the horizon; `None` works until the simulation ends.
    pub until: Option<f64>,
    /// Capacity units; every conversation takes one.
    pub units: u32,
    /// Whether they hold the specialist skill.
    pub skilled: bool,
}

/// A named workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    pub description: &'static str,
    /// How long customers keep arriving; the run then drains the queues.
    pub hours: f64,
    /// The service-level threshold: answered within this counts as on target.
    pub service_level: Duration,
    pub queues: Vec<QueueSpec>,
    pub agents: Vec<AgentGroup>,
    pub answers: Answers,
}

impl Scenario {
    /// The same scenario over another horizon; shifts keep their place as fractions of it.
    pub fn with_hours(mut self, hours: f64) -> Self {
        self.hours = hours;
        self
    }
}

fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

fn everyone(count: usize, queues: Vec<usize>) -> AgentGroup {
    AgentGroup { count, queues, from: 0.0, until: None, units: 1, skilled: false }
}

fn queue(name: &'static str, per_hour: f64, handle: HandleTime, patience: Option<Duration>) -> QueueSpec {
    QueueSpec {
        name,
        priority: 0,
        arrivals: Arrivals::Poisson { per_hour },
        handle,
        patience,
        skilled: 0.0,
        overflow: None,
    }
}

/// Every standard scenario, in a stable order.
pub fn standard() -> Vec<Scenario> {
    vec![
        steady(),
        bursty(),
        multi_skill(),
        understaffed(),
        shift_change(),
        light(),
        moderate(),
        declines(),
        overflow(),
        multi_unit(),
        skills(),
        leaving(),
    ]
}

/// The standard scenario with this name.
pub fn by_name(name: &str) -> Option<Scenario> {
    standard().into_iter().find(|s| s.name == name)
}

/// The names of the standard scenarios.
pub fn names() -> Vec<&'static str> {
    standard().iter().map(|s| s.name).collect()
}

fn steady() -> Scenario {
    // 200 agents at 5-minute AHT serve 2400 an hour, exactly what arrives; patience is long, so few give up.
    Scenario {
        name: "steady",
        description: "one queue of 200 agents, Poisson arrivals at 100% load, exponential handle times, \
                      30-minute patience",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![QueueSpec {
            name: "main",
            priority: 0,
            arrivals: Arrivals::Poisson { per_hour: 2400.0 },
            handle: HandleTime::Exponential { mean: mins(5) },
            patience: Some(mins(30)),
            skilled: 0.0,
            overflow: None,
        }],
        agents: vec![everyone(200, vec![0])],
        answers: Answers::instant(),
    }
}

fn bursty() -> Scenario {
    // Calm at 90% of capacity for 40 minutes on average, bursts at 140% for 15: 104% on average.
    Scenario {
        name: "bursty",
        description: "one queue, Markov-modulated arrivals (90% / 140% of capacity), lognormal handle times, \
                      20-minute patience",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![QueueSpec {
            name: "main",
            priority: 0,
            arrivals: Arrivals::Bursty {
                calm_per_hour: 1080.0,
                burst_per_hour: 1680.0,
                calm_mean: mins(40),
                burst_mean: mins(15),
            },
            handle: HandleTime::LogNormal { mean: mins(5), sigma: 0.6 },
            patience: Some(mins(20)),
            skilled: 0.0,
            overflow: None,
        }],
        agents: vec![everyone(100, vec![0])],
        answers: Answers::instant(),
    }
}

fn multi_skill() -> Scenario {
    // Billing offers 72 Erlangs to its 60 specialists and the 10 agents who hold both skills and serve billing
    // first; tech offers 46 to its 40 specialists and whatever time the shared agents have left.
    Scenario {
        name: "multi-skill",
        description: "two queues, billing (priority) and tech, at 107% load together; 60 + 40 specialists and 10 \
                      agents in both; 20-minute patience",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![
            QueueSpec {
                name: "billing",
                priority: 1,
                arrivals: Arrivals::Poisson { per_hour: 1080.0 },
                handle: HandleTime::Exponential { mean: mins(4) },
                patience: Some(mins(20)),
                skilled: 0.0,
                overflow: None,
            },
            QueueSpec {
                name: "tech",
                priority: 0,
                arrivals: Arrivals::Poisson { per_hour: 394.0 },
                handle: HandleTime::LogNormal { mean: mins(7), sigma: 0.5 },
                patience: Some(mins(20)),
                skilled: 0.0,
                overflow: None,
            },
        ],
        agents: vec![everyone(60, vec![0]), everyone(40, vec![1]), everyone(10, vec![0, 1])],
        answers: Answers::instant(),
    }
}

fn understaffed() -> Scenario {
    // 115% of capacity: the queue settles where abandonment takes the excess.
    Scenario {
        name: "understaffed",
        description: "one queue at 115% of capacity, exponential handle times, 15-minute patience",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![QueueSpec {
            name: "main",
            priority: 0,
            arrivals: Arrivals::Poisson { per_hour: 1380.0 },
            handle: HandleTime::Exponential { mean: mins(5) },
            patience: Some(mins(15)),
            skilled: 0.0,
            overflow: None,
        }],
        agents: vec![everyone(100, vec![0])],
        answers: Answers::instant(),
    }
}

fn shift_change() -> Scenario {
    // 120 agents until mid-run; half the late shift comes early and half late: staffing goes 120, 180, 60, 120.
    Scenario {
        name: "shift-change",
        description: "one queue at 106% load; the early shift (120) leaves at mid-run, the late shift arrives in two \
                      halves around it, leaving a staffing dip; lognormal handle times, 30-minute patience",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![QueueSpec {
            name: "main",
            priority: 0,
            arrivals: Arrivals::Poisson { per_hour: 1530.0 },
            handle: HandleTime::LogNormal { mean: mins(5), sigma: 0.8 },
            patience: Some(mins(30)),
            skilled: 0.0,
            overflow: None,
        }],
        agents: vec![
            AgentGroup { until: Some(0.5), ..everyone(120, vec![0]) },
            AgentGroup { from: 0.47, ..everyone(60, vec![0]) },
            AgentGroup { from: 0.54, ..everyone(60, vec![0]) },
        ],
        answers: Answers::instant(),
    }
}

fn light() -> Scenario {
    // 60% load on 20 agents: most customers find an agent free and wait only for them to accept.
    Scenario {
        name: "light",
        description: "one queue of 20 agents at 60% load; offers accepted after a lognormal delay (mean 5 s)",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![queue("main", 144.0, HandleTime::Exponential { mean: mins(5) }, Some(mins(10)))],
        agents: vec![everyone(20, vec![0])],
        answers: Answers::after(5),
    }
}

fn moderate() -> Scenario {
    // 90% load on 30 agents: short queues that come and go.
    Scenario {
        name: "moderate",
        description: "one queue of 30 agents at 90% load; lognormal handle times; offers accepted after a lognormal \
                      delay (mean 5 s)",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![queue("main", 324.0, HandleTime::LogNormal { mean: mins(5), sigma: 0.6 }, Some(mins(10)))],
        agents: vec![everyone(30, vec![0])],
        answers: Answers::after(5),
    }
}

fn declines() -> Scenario {
    // 85% load; one offer in ten is rejected and one in twenty left to time out (30 s), each followed by a 60 s
    // cooldown for that agent and conversation.
    Scenario {
        name: "declines",
        description: "one queue of 25 agents at 85% load; 10% of offers rejected and 5% timed out (30 s), 60 s \
                      cooldown",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![queue("main", 255.0, HandleTime::Exponential { mean: mins(5) }, Some(mins(10)))],
        agents: vec![everyone(25, vec![0])],
        answers: Answers {
            reject: 0.10,
            ignore: 0.05,
            timeout: Duration::from_secs(30),
            cooldown: Duration::from_secs(60),
            ..Answers::after(5)
        },
    }
}

fn overflow() -> Scenario {
    // Sales is over capacity and sends newcomers to support when 5 already wait; support runs at about 75% of its
    // own, plus what sales sends.
    Scenario {
        name: "overflow",
        description: "sales (12 agents, 110% load) overflows to support (20 agents, 75% load) when 5 wait; offers \
                      accepted after a lognormal delay (mean 5 s)",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![
            QueueSpec {
                overflow: Some(Overflow { waiting: 5, to: 1 }),
                ..queue("sales", 158.0, HandleTime::Exponential { mean: mins(5) }, Some(mins(10)))
            },
            queue("support", 180.0, HandleTime::Exponential { mean: mins(5) }, Some(mins(10))),
        ],
        agents: vec![everyone(12, vec![0]), everyone(20, vec![1])],
        answers: Answers::after(5),
    }
}

fn multi_unit() -> Scenario {
    // 15 agents with three conversations each (45 slots) at 85% of the slots; messaging conversations last long.
    Scenario {
        name: "multi-unit",
        description: "one queue of 15 agents with 3 units each (45 conversations) at 85% load; lognormal handle \
                      times; offers accepted after a lognormal delay (mean 5 s)",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![queue("main", 229.5, HandleTime::LogNormal { mean: mins(10), sigma: 0.6 }, Some(mins(15)))],
        agents: vec![AgentGroup { units: 3, ..everyone(15, vec![0]) }],
        answers: Answers::after(5),
    }
}

fn skills() -> Scenario {
    // A quarter of customers need the specialist skill that 8 of the 30 agents hold; 85% load overall.
    Scenario {
        name: "skills",
        description: "one queue of 30 agents, 8 of them specialists; 25% of customers need a specialist; 85% load; \
                      offers accepted after a lognormal delay (mean 5 s)",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![QueueSpec {
            skilled: 0.25,
            ..queue("main", 306.0, HandleTime::Exponential { mean: mins(5) }, Some(mins(10)))
        }],
        agents: vec![everyone(22, vec![0]), AgentGroup { skilled: true, ..everyone(8, vec![0]) }],
        answers: Answers::after(5),
    }
}

fn leaving() -> Scenario {
    // 40 agents at 80% load; 12 go offline a third of the way in, and 12 come back two-thirds in.
    Scenario {
        name: "leaving",
        description: "one queue of 40 agents at 80% load; 12 leave mid-shift (load 114%) and others return later; \
                      offers accepted after a lognormal delay (mean 5 s); 15-minute patience",
        hours: 8.0,
        service_level: Duration::from_secs(60),
        queues: vec![queue("main", 384.0, HandleTime::Exponential { mean: mins(5) }, Some(mins(15)))],
        agents: vec![
            everyone(28, vec![0]),
            AgentGroup { until: Some(0.33), ..everyone(12, vec![0]) },
            AgentGroup { from: 0.67, ..everyone(12, vec![0]) },
        ],
        answers: Answers::after(5),
    }
}
