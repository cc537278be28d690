use apiwarden_sim::{write_dir_with, SimConfig, SimError, SimOptions};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Directory for train.ndjson, test.ndjson and labels.ndjson.
    #[arg(long)]
    pub out: PathBuf,
    /// Seed: the same seed gives byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Traffic volume multiplier (1.0 = the default population and duration).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Also inject API health incidents into the test day (a 5xx outage, a
    /// latency regression on one endpoint, a country shift), listed in
    /// DIR/incidents.ndjson; their records stay labelled benign.
    #[arg(long)]
    pub monitoring_incidents: bool,
    /// Make the test day a normal day for API health monitoring: no attack
    /// episodes, no 5xx outage, no marketing surge (the rest of the benign
    /// traffic stays: new users, travel, the app release, bulk exports);
    /// every record labelled benign. With --monitoring-incidents, the three
    /// incidents are injected into that day.
    #[arg(long)]
    pub normal_day: bool,
}

pub fn run(args: &SimulateArgs) -> anyhow::Result<()> {
    let cfg = SimConfig {
        seed: args.seed,
        scale: args.scale,
    };
    let started = std::time::Instant::now();
    let opts = SimOptions {
        monitoring_incidents: args.monitoring_incidents,
        normal_day: args.normal_day,
    };
    let summary = write_dir_with(&args.out, &cfg, &opts).map_err(|e| match e {
        SimError::Scale(_) => super::bad_input(format!("--scale: {e}")),
        other => anyhow::Error::new(other),
    })?;
    print!("{summary}");
    println!(
        "wrote {} in {:.1}s",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
