//! What a simulation run measured, and how it is printed.

use std::{fmt::Write as _, time::Duration};

use serde::Serialize;

use super::{Customer, QueueState, Scenario};

/// One queue's results (or the whole scenario's, in [`ScenarioReport::total`]). Times are in seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueReport {
    pub queue: String,
    /// Customers who arrived.
    pub offered: usize,
    pub answered: usize,
    pub abandoned: usize,
    /// Answered within the scenario's threshold ÷ (answered + abandoned): an abandoned customer missed it.
    pub service_level: f64,
    /// Average speed of answer: the mean wait of answered customers.
    pub asa_secs: f64,
    /// Abandoned ÷ (answered + abandoned).
    pub abandonment_rate: f64,
    /// Handling time ÷ staffed agent time; an agent in several queues counts an equal share in each.
    pub occupancy: f64,
    /// Answered customers every predictor had an estimate for: the set the errors below are measured on.
    pub evaluated: usize,
    /// Mean realised wait of the evaluated customers.
    pub mean_wait_secs: f64,
    /// Mean absolute error of the estimator.
    pub mae_estimate_secs: f64,
    /// Mean absolute error of `(position − free) × AHT ÷ staffed`.
    pub mae_naive_secs: f64,
    /// Mean absolute error of Erlang C's expected wait.
    pub mae_erlang_secs: f64,
    /// Mean absolute error of Erlang A's expected wait of a served customer.
    pub mae_erlang_a_secs: f64,
    /// Answered customers asked again after an offer to them was declined (the cooldowns of the agents who
    /// declined in play), their mean remaining wait, and the estimator's and the position baseline's errors then.
    pub redone: usize,
    pub mean_rest_secs: f64,
    pub mae_rest_estimate_secs: f64,
    pub mae_rest_naive_secs: f64,
}

impl QueueReport {
    /// The estimator's mean absolute error as a fraction of the mean realised wait.
    pub fn estimate_error_ratio(&self) -> f64 {
        ratio(self.mae_estimate_secs, self.mean_wait_secs)
    }

    /// Whether the estimator's error is below every baseline's.
    pub fn beats_every_baseline(&self) -> bool {
        self.mae_estimate_secs < self.mae_naive_secs
            && self.mae_estimate_secs < self.mae_erlang_secs
            && self.mae_estimate_secs < self.mae_erlang_a_secs
    }

    /// The bar of issue 18: within 20% of the mean wait and below every baseline.
    pub fn meets_the_bar(&self) -> bool {
        self.estimate_error_ratio() <= 0.20 && self.beats_every_baseline()
    }
}

/// A scenario's results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioReport {
    pub scenario: String,
    pub seed: u64,
    pub hours: f64,
    pub service_level_secs: u64,
    pub queues: Vec<QueueReport>,
    /// All queues together.
    pub total: QueueReport,
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

fn secs(d: Option<Duration>) -> f64 {
    d.map_or(0.0, |d| d.as_secs_f64())
}

fn queue_report(
    name: &str,
    customers: &[&Customer],
    threshold: Duration,
    busy_ms: f64,
    staffed_ms: f64,
) -> QueueReport {
    let answered: Vec<&Customer> = customers.iter().copied().filter(|c| c.answered_after.is_some()).collect();
    let abandoned = customers.iter().filter(|c| c.abandoned_after.is_some()).count();
    let resolved = answered.len() + abandoned;
    let on_target = answered.iter().filter(|c| c.answered_after.is_some_and(|w| w <= threshold)).count();
    let asa = ratio(answered.iter().map(|c| secs(c.answered_after)).sum(), answered.len() as f64);
    let evaluated: Vec<&Customer> = answered
        .iter()
        .copied()
        .filter(|c| c.estimate.is_some() && c.naive.is_some() && c.erlang.is_some() && c.erlang_a.is_some())
        .collect();
    let n = evaluated.len() as f64;
    let mae = |pick: fn(&Customer) -> Option<Duration>| {
        ratio(evaluated.iter().map(|c| (secs(pick(c)) - secs(c.answered_after)).abs()).sum(), n)
    };
    // (remaining wait, estimate, position baseline) for customers asked again after a decline.
    let rests: Vec<(f64, f64, f64)> = answered
        .iter()
        .filter_map(|c| {
            let (at_ms, Some(estimate), Some(naive)) = c.after_decline? else { return None };
            let answered_ms = c.arrived_ms + i64::try_from(c.answered_after?.as_millis()).ok()?;
            let rest = (answered_ms - at_ms).max(0) as f64 / 1000.0;
            Some((rest, estimate.as_secs_f64(), naive.as_secs_f64()))
        })
        .collect();
    let m = rests.len() as f64;
    QueueReport {
        queue: name.to_string(),
        offered: customers.len(),
        answered: answered.len(),
        abandoned,
        service_level: ratio(on_target as f64, resolved as f64),
        asa_secs: asa,
        abandonment_rate: ratio(abandoned as f64, resolved as f64),
        occupancy: ratio(busy_ms, staffed_ms),
        evaluated: evaluated.len(),
        mean_wait_secs: ratio(evaluated.iter().map(|c| secs(c.answered_after)).sum(), n),
        mae_estimate_secs: mae(|c| c.estimate),
        mae_naive_secs: mae(|c| c.naive),
        mae_erlang_secs: mae(|c| c.erlang),
        mae_erlang_a_secs: mae(|c| c.erlang_a),
        redone: rests.len(),
        mean_rest_secs: ratio(rests.iter().map(|r| r.0).sum(), m),
        mae_rest_estimate_secs: ratio(rests.iter().map(|r| (r.1 - r.0).abs()).sum(), m),
        mae_rest_naive_secs: ratio(rests.iter().map(|r| (r.2 - r.0).abs()).sum(), m),
    }
}

pub(super) fn build(
    scenario: &Scenario,
    seed: u64,
    _end_ms: i64,
    customers: &[Customer],
    queues: &[QueueState],
) -> ScenarioReport {
    let threshold = scenario.service_level;
    let per_queue = scenario
        .queues
        .iter()
        .enumerate()
        .map(|(q, spec)| {
            let mine: Vec<&Customer> = customers.iter().filter(|c| c.queue == q).collect();
            let state = &queues[q];
            queue_report(spec.name, &mine, threshold, state.busy_ms, state.staffed_ms)
        })
        .collect();
    let all: Vec<&Customer> = customers.iter().collect();
    let busy = queues.iter().map(|q| q.busy_ms).sum();
    let staffed = queues.iter().map(|q| q.staffed_ms).sum();
    ScenarioReport {
        scenario: scenario.name.to_string(),
        seed,
        hours: scenario.hours,
        service_level_secs: threshold.as_secs(),
        queues: per_queue,
        total: queue_report("(all)", &all, threshold, busy, staffed),
    }
}

/// The report as one line of JSON.
pub fn json_line(report: &ScenarioReport) -> String {
    serde_json::to_string(report).unwrap_or_default()
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn error_cell(mae: f64, mean: f64) -> String {
    format!("{mae:.1}s ({})", pct(ratio(mae, mean)))
}

/// The reports as a readable table: one row per queue, plus an "(all)" row for scenarios with several queues.
pub fn table(reports: &[ScenarioReport]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<13} {:<8} {:>7} {:>8} {:>6} {:>7} {:>7} {:>6} {:>9} {:>15} {:>15} {:>15} {:>15}",
        "scenario",
        "queue",
        "offered",
        "answered",
        "aband",
        "SL",
        "ASA",
        "occ",
        "mean wait",
        "MAE estimate",
        "MAE position",
        "MAE Erlang C",
        "MAE Erlang A"
    );
    for report in reports {
        let rows: Vec<&QueueReport> = if report.queues.len() > 1 {
            report.queues.iter().chain(std::iter::once(&report.total)).collect()
        } else {
            report.queues.iter().collect()
        };
        for row in rows {
            let _ = writeln!(
                out,
                "{:<13} {:<8} {:>7} {:>8} {:>6} {:>7} {:>6.0}s {:>6} {:>8.1}s {:>15} {:>15} {:>15} {:>15}",
                report.scenario,
                row.queue,
                row.offered,
                row.answered,
                pct(row.abandonment_rate),
                pct(row.service_level),
                row.asa_secs,
                pct(row.occupancy),
                row.mean_wait_secs,
                error_cell(row.mae_estimate_secs, row.mean_wait_secs),
                error_cell(row.mae_naive_secs, row.mean_wait_secs),
                error_cell(row.mae_erlang_secs, row.mean_wait_secs),
                error_cell(row.mae_erlang_a_secs, row.mean_wait_secs),
            );
        }
    }
    for report in reports {
        let t = &report.total;
        if t.redone > 0 {
            let _ = writeln!(
                out,
                "{:<13} after a decline: {} customers asked again, mean remaining wait {:.1}s, MAE estimate {}, \
                 MAE position {}",
                report.scenario,
                t.redone,
                t.mean_rest_secs,
                error_cell(t.mae_rest_estimate_secs, t.mean_rest_secs),
                error_cell(t.mae_rest_naive_secs, t.mean_rest_secs),
            );
        }
    }
    if let Some(first) = reports.first() {
        let _ = writeln!(
            out,
            "seed {}, {} h of arrivals per scenario, SL = answered within {} s; MAE (as % of the mean wait) over \
             answered customers",
            first.seed, first.hours, first.service_level_secs
        );
    }
    out
}

/// The rows of several runs of the same scenarios on different seeds, pooled: each error is the mean over every
/// evaluated customer of every seed, and the last columns count the seeds on which the row met the bar (within 20%
/// of the mean wait) and beat every baseline.
pub fn pooled(reports: &[ScenarioReport]) -> String {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut rows: std::collections::BTreeMap<(String, String), Vec<&QueueReport>> = Default::default();
    for report in reports {
        let several = report.queues.len() > 1;
        let mut all: Vec<&QueueReport> = report.queues.iter().collect();
        if several {
            all.push(&report.total);
        }
        for row in all {
            let key = (report.scenario.clone(), row.queue.clone());
            if !rows.contains_key(&key) {
                order.push(key.clone());
            }
            rows.entry(key).or_default().push(row);
        }
    }
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = reports.iter().map(|r| r.seed).collect();
        s.dedup();
        s
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| Scenario | Queue | Answered | Occupancy | Mean wait | MAE estimate | MAE position | MAE Erlang C | MAE Erlang A \
         | Seeds ≤ 20% | Seeds best |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|");
    for key in order {
        let runs = &rows[&key];
        let n: f64 = runs.iter().map(|r| r.evaluated as f64).sum();
        let weighted = |f: fn(&QueueReport) -> f64| ratio(runs.iter().map(|r| f(r) * r.evaluated as f64).sum(), n);
        let mean = weighted(|r| r.mean_wait_secs);
        let occupancy = ratio(runs.iter().map(|r| r.occupancy).sum(), runs.len() as f64);
        let cell = |mae: f64| format!("{mae:.1} s ({})", pct(ratio(mae, mean)));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} s | {} | {} | {} | {} | {}/{} | {}/{} |",
            key.0,
            key.1,
            runs.iter().map(|r| r.answered).sum::<usize>(),
            pct(occupancy),
            mean,
            cell(weighted(|r| r.mae_estimate_secs)),
            cell(weighted(|r| r.mae_naive_secs)),
            cell(weighted(|r| r.mae_erlang_secs)),
            cell(weighted(|r| r.mae_erlang_a_secs)),
            runs.iter().filter(|r| r.estimate_error_ratio() <= 0.20).count(),
            runs.len(),
            runs.iter().filter(|r| r.beats_every_baseline()).count(),
            runs.len(),
        );
    }
    let redone: Vec<&ScenarioReport> = reports.iter().filter(|r| r.total.redone > 0).collect();
    if !redone.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| Scenario | Asked again after a decline | Mean remaining wait | MAE estimate | MAE position |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        let mut names: Vec<&str> = Vec::new();
        for r in &redone {
            if !names.contains(&r.scenario.as_str()) {
                names.push(r.scenario.as_str());
            }
        }
        for name in names {
            let runs: Vec<&QueueReport> = redone.iter().filter(|r| r.scenario == name).map(|r| &r.total).collect();
            let n: f64 = runs.iter().map(|r| r.redone as f64).sum();
            let weighted = |f: fn(&QueueReport) -> f64| ratio(runs.iter().map(|r| f(r) * r.redone as f64).sum(), n);
            let mean = weighted(|r| r.mean_rest_secs);
            let cell = |mae: f64| format!("{mae:.1} s ({})", pct(ratio(mae, mean)));
            let _ = writeln!(
                out,
                "| {name} | {} | {mean:.1} s | {} | {} |",
                n as usize,
                cell(weighted(|r| r.mae_rest_estimate_secs)),
                cell(weighted(|r| r.mae_rest_naive_secs)),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nseeds {:?}, {} h of arrivals per scenario; MAE (as % of the mean wait) over answered customers, pooled over \
         the seeds",
        seeds,
        reports.first().map_or(0.0, |r| r.hours)
    );
    out
}
