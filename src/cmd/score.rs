//! `apiwarden score`: the engine over a file, one output line per input line.
//!
//! Output lines follow CONTRACT §2: `{"line", "id", "api", "score",
//! "attack"}`. Extension: a rejected input line still gets its output line,
//! with `id`, `api`, `score` and `attack` null and an `error` naming the field,
//! so the output stays aligned with the input.

use super::train::{fingerprinter, MAX_WARNINGS};
use anyhow::Context;
use apiwarden_detect::{AttackType, Engine, EngineConfig, ModelBundle, MonitorKind};
use apiwarden_record::{open_input, InputFormat, RecordError, RecordReader};
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The summary: on stdout, or on stderr when the scores go to stdout;
/// a closed stdout (`apiwarden ... | head`) is not an error.
macro_rules! outln {
    ($to_stderr:expr, $($arg:tt)*) => {{
        if $to_stderr {
            let _ = writeln!(std::io::stderr().lock(), $($arg)*);
        } else {
            let _ = writeln!(std::io::stdout().lock(), $($arg)*);
        }
    }};
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Model bundle directory written by `apiwarden train`.
    #[arg(long)]
    pub models: PathBuf,
    /// NDJSON access records to score, in order (`-` for stdin; `.gz` is decompressed).
    #[arg(long)]
    pub input: String,
    /// Scores: NDJSON, one line per input line, in input order (`-` for stdout).
    #[arg(long)]
    pub out: PathBuf,
    /// Alerts: NDJSON, one line per deduplicated alert (`-` for stdout).
    #[arg(long)]
    pub alerts: Option<PathBuf>,
}

#[derive(Serialize)]
struct ScoreLine<'a> {
    line: usize,
    id: Option<&'a str>,
    api: Option<&'a str>,
    score: Option<f64>,
    attack: Option<AttackType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `-` is stdout.
fn create(path: &Path) -> anyhow::Result<Box<dyn Write>> {
    if path == Path::new("-") {
        return Ok(Box::new(BufWriter::with_capacity(
            1 << 20,
            std::io::stdout(),
        )));
    }
    std::fs::File::create(path)
        .map(|f| Box::new(BufWriter::with_capacity(1 << 20, f)) as Box<dyn Write>)
        .map_err(|e| super::bad_input(format!("{}: {e}", path.display())))
}

fn write_line(out: &mut impl Write, line: &ScoreLine<'_>, path: &Path) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, line)
        .map_err(anyhow::Error::new)
        .and_then(|()| out.write_all(b"\n").map_err(anyhow::Error::new))
        .with_context(|| format!("writing {}", path.display()))
}

fn error_reason(e: &RecordError) -> String {
    match &e.field {
        Some(f) => format!("field `{f}`: {}", e.reason),
        None => e.reason.clone(),
    }
}

pub fn run(args: &ScoreArgs) -> anyhow::Result<()> {
    if !args.models.is_dir() {
        return Err(super::bad_input(format!(
            "{}: not a model directory (run `apiwarden train --out {}` first)",
            args.models.display(),
            args.models.display()
        )));
    }
    let bundle = ModelBundle::load(&args.models)
        .map_err(|e| super::bad_input(format!("{}: {e}", args.models.display())))?;
    let fp = fingerprinter(&args.models, false)?;
    let input =
        open_input(&args.input).map_err(|e| super::bad_input(format!("{}: {e}", args.input)))?;
    let mut out = create(&args.out)?;
    let mut engine = Engine::new(Arc::new(bundle), EngineConfig::default());
    let mut reader = RecordReader::new(input, InputFormat::Ndjson, fp);
    let (mut scored, mut rejected) = (0usize, 0usize);
    let mut read_error: Option<RecordError> = None;
    let mut flagged: BTreeMap<AttackType, usize> = BTreeMap::new();
    let bar = super::progress(None, "scoring");
    while let Some(item) = reader.next() {
        match item {
            Ok(mut rec) => {
                let line = reader.lines_read();
                if rec.id.is_none() {
                    rec.id = Some(format!("line-{line}"));
                }
                let v = engine.process(&rec);
                if let Some(a) = v.attack {
                    *flagged.entry(a).or_default() += 1;
                }
                scored += 1;
                write_line(
                    &mut out,
                    &ScoreLine {
                        line,
                        id: Some(&v.id),
                        api: Some(&v.api),
                        score: Some(v.score),
                        attack: v.attack,
                        error: None,
                    },
                    &args.out,
                )?;
            }
            Err(e) => {
                rejected += 1;
                if rejected <= MAX_WARNINGS {
                    eprintln!("warning: {}: {e}", args.input);
                }
                write_line(
                    &mut out,
                    &ScoreLine {
                        line: e.line,
                        id: None,
                        api: None,
                        score: None,
                        attack: None,
                        error: Some(error_reason(&e)),
                    },
                    &args.out,
                )?;
                if e.field.is_none() && e.reason.starts_with("read error") {
                    read_error = Some(e);
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    out.flush()
        .with_context(|| format!("writing {}", args.out.display()))?;
    let alerts = engine.alerts();
    let quiet_stdout = args.out == Path::new("-") || args.alerts.as_deref() == Some(Path::new("-"));
    if let Some(path) = &args.alerts {
        let mut w = create(path)?;
        for a in &alerts {
            serde_json::to_writer(&mut w, a)
                .map_err(anyhow::Error::new)
                .and_then(|()| w.write_all(b"\n").map_err(anyhow::Error::new))
                .with_context(|| format!("writing {}", path.display()))?;
        }
        w.flush()
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if rejected > MAX_WARNINGS {
        eprintln!("warning: {rejected} rejected lines in all ({MAX_WARNINGS} shown)");
    }
    let mut by_type: BTreeMap<AttackType, usize> = BTreeMap::new();
    let mut by_monitor: BTreeMap<MonitorKind, usize> = BTreeMap::new();
    for a in &alerts {
        match (a.attack, a.monitor) {
            (Some(attack), _) => *by_type.entry(attack).or_default() += 1,
            (None, Some(kind)) => *by_monitor.entry(kind).or_default() += 1,
            (None, None) => {}
        }
    }
    outln!(
        quiet_stdout,
        "scored {scored} records ({rejected} rejected lines); {} alerts",
        alerts.len()
    );
    for (attack, n) in &by_type {
        outln!(
            quiet_stdout,
            "  {:<20} {:>6} alerts {:>8} records marked",
            attack.as_str(),
            n,
            flagged.get(attack).copied().unwrap_or(0)
        );
    }
    for (kind, n) in &by_monitor {
        outln!(
            quiet_stdout,
            "  {:<20} {:>6} alerts (monitoring)",
            kind.as_str(),
            n
        );
    }
    if let Some(e) = read_error {
        return Err(super::bad_input(format!(
            "{}: {e} (the {scored} records before it were scored)",
            args.input
        )));
    }
    if scored == 0 {
        return Err(super::bad_input(format!(
            "{}: no record could be scored ({rejected} rejected)",
            args.input
        )));
    }
    Ok(())
}
