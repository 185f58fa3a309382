//! The standard scenarios: the workloads `switchboard simulate` runs and the tests hold the estimator to.
//!
//! They are loaded heavily on purpose. A wait-time estimate is only interesting when customers do wait, and in a
//! lightly loaded center almost everyone is answered at once, which every predictor gets right.

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
    AgentGroup { count, queues, from: 0.0, until: None }
}

/// Every standard scenario, in a stable order.
pub fn standard() -> Vec<Scenario> {
    vec![steady(), bursty(), multi_skill(), understaffed(), shift_change()]
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
        }],
        agents: vec![everyone(200, vec![0])],
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
        }],
        agents: vec![everyone(100, vec![0])],
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
            },
            QueueSpec {
                name: "tech",
                priority: 0,
                arrivals: Arrivals::Poisson { per_hour: 394.0 },
                handle: HandleTime::LogNormal { mean: mins(7), sigma: 0.5 },
                patience: Some(mins(20)),
            },
        ],
        agents: vec![everyone(60, vec![0]), everyone(40, vec![1]), everyone(10, vec![0, 1])],
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
        }],
        agents: vec![everyone(100, vec![0])],
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
        }],
        agents: vec![
            AgentGroup { count: 120, queues: vec![0], from: 0.0, until: Some(0.5) },
            AgentGroup { count: 60, queues: vec![0], from: 0.47, until: None },
            AgentGroup { count: 60, queues: vec![0], from: 0.54, until: None },
        ],
    }
}
