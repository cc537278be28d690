//! `apiwarden`: argument parsing and glue only. Each subcommand lives in
//! `cmd/`, over the library crates; exit codes follow CONTRACT §2.

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "apiwarden", version, about = "Behavioral anomaly detection for authenticated API traffic", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Learn per-API baselines from NDJSON access records and write a model bundle.
    Train(cmd::train::TrainArgs),
    /// Score records offline with the detectors the service runs live.
    Score(cmd::score::ScoreArgs),
    /// Run the HTTP service (ingest, live scoring, alerts, queries, metrics).
    Serve(cmd::serve::ServeArgs),
    /// Generate synthetic labeled API traffic (train, test and labels).
    Simulate(cmd::simulate::SimulateArgs),
    /// Measure detection quality of scores and alerts against labels.
    Eval(cmd::eval::EvalArgs),
    /// Isolation forest on any numeric CSV table: one score per row.
    Outliers(cmd::outliers::OutliersArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    init_tracing();
    if !matches!(cli.command, Command::Serve(_)) {
        restore_default_sigpipe();
    }
    let result = match &cli.command {
        Command::Train(a) => cmd::train::run(a),
        Command::Score(a) => cmd::score::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Eval(a) => cmd::eval::run(a),
        Command::Outliers(a) => cmd::outliers::run(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apiwarden: {e:#}");
            ExitCode::from(cmd::exit_code(&e))
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("APIWARDEN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Offline commands are filters: `apiwarden simulate ... | head` should end
/// quietly like any Unix tool instead of panicking on a closed pipe. The
/// service keeps Rust's default (ignored) so a client hanging up never kills it.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called once at startup, before any thread is spawned; SIG_DFL is a valid disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
