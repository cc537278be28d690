use apiwarden_eval::{evaluate, EvalError};
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Labels NDJSON (`{"id", "label", "episode"}` per test record, in order).
    #[arg(long)]
    pub labels: PathBuf,
    /// Scores NDJSON written by `apiwarden score`.
    #[arg(long)]
    pub scores: PathBuf,
    /// Alerts NDJSON written by `apiwarden score --alerts`.
    #[arg(long)]
    pub alerts: Option<PathBuf>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let report =
        evaluate(&args.labels, &args.scores, args.alerts.as_deref()).map_err(|e| match e {
            // Unreadable or inconsistent input is the user's to fix: exit 2.
            EvalError::Io { .. }
            | EvalError::Malformed { .. }
            | EvalError::LineCount { .. }
            | EvalError::IdMismatch { .. }
            | EvalError::Empty => super::bad_input(e.to_string()),
        })?;
    print!("{report}");
    if let Some(path) = &args.json {
        let json = serde_json::to_vec_pretty(&report)?;
        std::fs::write(path, json)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}
