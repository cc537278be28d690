use anyhow::Context;
use apiwarden_detect::{ModelBundle, TrainConfig, TrainError, Trainer, FINGERPRINT_KEY_FILE};
use apiwarden_record::{open_input, Fingerprinter, InputFormat, RecordReader};
use clap::Args;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// `println!` that ignores a closed stdout (`apiwarden ... | head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// NDJSON access records to learn from (`-` for stdin; `.gz` is decompressed).
    #[arg(long, num_args = 1.., required = true)]
    pub input: Vec<String>,
    /// Directory to write the model bundle to (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed for every random choice of training.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// Environment variable with the fingerprint key (64 hex digits); it
/// overrides the key file kept beside the bundle.
pub const FINGERPRINT_KEY_ENV: &str = "APIWARDEN_FINGERPRINT_KEY";

/// Bad lines reported one by one on stderr before only counting them.
pub const MAX_WARNINGS: usize = 20;

/// The fingerprint key of a bundle directory: the environment variable when
/// set, else `DIR/fingerprint.key` (created by `train` when `create`).
pub fn fingerprinter(dir: &Path, create: bool) -> anyhow::Result<Fingerprinter> {
    if let Ok(hex) = std::env::var(FINGERPRINT_KEY_ENV) {
        return Fingerprinter::from_hex(hex.trim())
            .map_err(|e| super::bad_input(format!("{FINGERPRINT_KEY_ENV}: {e}")));
    }
    let path = dir.join(FINGERPRINT_KEY_FILE);
    if create {
        return Fingerprinter::load_or_create(&path)
            .map_err(|e| super::bad_input(format!("{}: {e}", path.display())));
    }
    if path.exists() {
        return Fingerprinter::load_or_create(&path)
            .map_err(|e| super::bad_input(format!("{}: {e}", path.display())));
    }
    eprintln!(
        "warning: {} not found and {FINGERPRINT_KEY_ENV} not set: api_key/token fingerprints \
         will not match those of training",
        path.display()
    );
    Ok(Fingerprinter::generate())
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| super::bad_input(format!("{}: {e}", args.out.display())))?;
    let fp = fingerprinter(&args.out, true)?;
    let cfg = TrainConfig {
        seed: args.seed,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(cfg);
    let mut rejected = 0usize;
    let bar = super::progress(None, "reading");
    for path in &args.input {
        let input = open_input(path).map_err(|e| super::bad_input(format!("{path}: {e}")))?;
        for item in RecordReader::new(input, InputFormat::Ndjson, fp.clone()) {
            match item {
                Ok(rec) => trainer.observe(&rec),
                Err(e) => {
                    rejected += 1;
                    if rejected <= MAX_WARNINGS {
                        eprintln!("warning: {path}: {e}");
                    }
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if rejected > MAX_WARNINGS {
        eprintln!("warning: {rejected} rejected lines in all ({MAX_WARNINGS} shown)");
    }
    if trainer.records() == 0 {
        return Err(super::bad_input(format!(
            "{}: no valid access record to learn from ({rejected} rejected)",
            args.input.join(", ")
        )));
    }
    let records = trainer.records();
    let started = std::time::Instant::now();
    let bundle = match trainer.finish() {
        Ok(b) => b,
        Err(e @ TrainError::TooFewRecords { .. }) => {
            return Err(super::bad_input(format!("{}: {e}", args.input.join(", "))))
        }
        Err(e) => return Err(anyhow::Error::new(e).context("training failed")),
    };
    bundle
        .save(&args.out)
        .with_context(|| format!("writing the model bundle to {}", args.out.display()))?;
    print_summary(&bundle, records, rejected, &args.out, started.elapsed());
    Ok(())
}

fn print_summary(
    bundle: &ModelBundle,
    records: u64,
    rejected: usize,
    out: &Path,
    took: std::time::Duration,
) {
    outln!(
        "trained on {records} records ({rejected} rejected lines, {} excluded as not normal) in {:.1}s",
        bundle.excluded_records,
        took.as_secs_f64()
    );
    outln!(
        "{:<20} {:>10} {:>10} {:>10}",
        "api",
        "records",
        "endpoints",
        "threshold"
    );
    for m in bundle.apis.values() {
        outln!(
            "{:<20} {:>10} {:>10} {:>10.3}",
            m.name,
            m.records,
            m.endpoints.endpoints.len(),
            m.request.threshold
        );
    }
    if bundle.population.is_some() {
        outln!("population model: yes (for APIs not seen in training)");
    }
    outln!("wrote {}", out.display());
}
