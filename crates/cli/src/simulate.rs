//! `switchboard simulate`: runs the routing simulator's standard scenarios (see docs/simulator.md).

use clap::Args;
use switchboard_domain::routing::simulate;

#[derive(Args, Clone)]
pub struct SimulateArgs {
    /// A standard scenario's name, or `all`.
    #[arg(long, default_value = "all")]
    scenario: String,
    /// The random seed; the same seed gives the same report.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Runs every seed from 1 to this one instead of `--seed`, and ends with the rows pooled over the seeds (a
    /// Markdown table).
    #[arg(long)]
    seeds: Option<u64>,
    /// Hours of arrivals [default: each scenario's own, 8].
    #[arg(long)]
    hours: Option<f64>,
    /// One JSON object per scenario per line instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let scenarios = if args.scenario == "all" {
        simulate::standard()
    } else {
        let known = simulate::names().join(", ");
        vec![
            simulate::by_name(&args.scenario)
                .ok_or_else(|| anyhow::anyhow!("no scenario {:?}; the standard ones are {known}", args.scenario))?,
        ]
    };
    if args.hours.is_some_and(|h| !(h > 0.0 && h <= 24.0 * 14.0)) {
        anyhow::bail!("--hours is more than 0 and at most two weeks");
    }
    if args.seeds.is_some_and(|n| n == 0 || n > 100) {
        anyhow::bail!("--seeds is from 1 to 100");
    }
    let seeds: Vec<u64> = match args.seeds {
        Some(n) => (1..=n).collect(),
        None => vec![args.seed],
    };
    let mut all = Vec::new();
    for &seed in &seeds {
        let mut reports = Vec::new();
        for scenario in &scenarios {
            let scenario = match args.hours {
                Some(hours) => scenario.clone().with_hours(hours),
                None => scenario.clone(),
            };
            let report = simulate::run(&scenario, seed).map_err(|e| anyhow::anyhow!("{}: {}", e.code, e.detail))?;
            if args.json {
                println!("{}", simulate::json_line(&report));
            }
            reports.push(report);
        }
        if !args.json {
            print!("{}", simulate::table(&reports));
        }
        all.extend(reports);
    }
    if args.seeds.is_some() && !args.json {
        println!();
        print!("{}", simulate::pooled(&all));
    }
    Ok(())
}
