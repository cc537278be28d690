//! `apiwarden outliers`: the isolation forest on any numeric CSV table.

use super::bad_input;
use anyhow::Context;
use apiwarden_forest::IsolationForestParams;
use clap::Args;
use ndarray::Array2;
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug)]
pub struct OutliersArgs {
    /// Numeric CSV table with a header (`.gz` is decompressed).
    #[arg(long)]
    pub input: PathBuf,
    /// 0/1 label column: not a feature; ROC AUC is printed against it.
    #[arg(long)]
    pub label: Option<String>,
    /// Where to write one score per row (default: stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Number of trees.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// Rows sampled per tree.
    #[arg(long, default_value_t = 256)]
    pub sample_size: usize,
    /// Seed; tree i uses seed + i.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

/// The feature columns of a CSV table and, if asked for, its 0/1 labels.
#[derive(Debug)]
struct Table {
    features: Array2<f64>,
    labels: Option<Vec<bool>>,
}

pub fn run(args: &OutliersArgs) -> anyhow::Result<()> {
    let params = IsolationForestParams::new()
        .n_trees(args.trees)
        .sample_size(args.sample_size)
        .seed(args.seed)
        .threads(available_threads());
    params
        .check()
        .map_err(|e| bad_input(format!("invalid forest parameters: {e}")))?;

    let started = Instant::now();
    let table = read_table(&args.input, args.label.as_deref())?;
    let read_secs = started.elapsed().as_secs_f64();
    let (rows, features) = table.features.dim();

    let started = Instant::now();
    let forest = params
        .fit(table.features.view())
        .map_err(|e| bad_input(format!("{}: {e}", args.input.display())))?;
    let fit_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let scores = forest.score_batch_parallel(table.features.view(), available_threads());
    let score_secs = started.elapsed().as_secs_f64();

    write_scores(args.out.as_deref(), &scores)?;

    // Scores may be on stdout, so the summary goes to stderr.
    let mut summary = format!(
        "outliers: {rows} rows x {features} features, {} trees x {} samples; read {read_secs:.3} s, fit {fit_secs:.3} s, score {score_secs:.3} s",
        forest.n_trees(),
        forest.sample_size(),
    );
    if let Some(labels) = &table.labels {
        match apiwarden_eval::metrics::roc_auc(&scores, labels) {
            Some(auc) => summary.push_str(&format!("; ROC AUC {auc:.4}")),
            None => summary.push_str("; ROC AUC undefined (labels are all one class)"),
        }
    }
    eprintln!("{summary}");
    Ok(())
}

fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn read_table(path: &Path, label: Option<&str>) -> anyhow::Result<Table> {
    let file =
        File::open(path).map_err(|e| bad_input(format!("{}: cannot open: {e}", path.display())))?;
    let gzipped = path.extension().is_some_and(|ext| ext == "gz");
    let reader: Box<dyn Read> = if gzipped {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    parse_table(reader, &path.display().to_string(), label)
}

/// Parses a CSV table with a header; every error names `source`, the line and
/// the column.
fn parse_table(reader: impl Read, source: &str, label: Option<&str>) -> anyhow::Result<Table> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| bad_input(format!("{source}: line 1: cannot read the header: {e}")))?
        .clone();
    if header.is_empty() {
        return Err(bad_input(format!("{source}: line 1: empty header")));
    }
    let label_index = match label {
        None => None,
        Some(name) => Some(
            header
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| {
                    bad_input(format!(
                        "{source}: line 1: no label column {name:?} (columns: {})",
                        header.iter().collect::<Vec<_>>().join(", ")
                    ))
                })?,
        ),
    };
    let n_features = header.len() - usize::from(label_index.is_some());
    if n_features == 0 {
        return Err(bad_input(format!(
            "{source}: line 1: no feature columns besides the label"
        )));
    }

    let mut values = Vec::new();
    let mut labels = label_index.map(|_| Vec::new());
    let mut record = csv::StringRecord::new();
    let progress = super::progress(None, "reading rows");
    loop {
        let more = csv.read_record(&mut record).map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            bad_input(format!("{source}: line {line}: unreadable CSV: {e}"))
        })?;
        if !more {
            break;
        }
        progress.inc(1);
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(bad_input(format!(
                "{source}: line {line}: {} fields, the header has {}",
                record.len(),
                header.len()
            )));
        }
        for (column, (cell, name)) in record.iter().zip(header.iter()).enumerate() {
            let value = parse_cell(cell).ok_or_else(|| {
                bad_input(format!(
                    "{source}: line {line}, column {name:?}: not a finite number: {cell:?}"
                ))
            })?;
            if Some(column) == label_index {
                let is_anomaly = match value {
                    0.0 => false,
                    1.0 => true,
                    _ => {
                        return Err(bad_input(format!(
                            "{source}: line {line}, column {name:?}: label must be 0 or 1, got {cell:?}"
                        )))
                    }
                };
                if let Some(labels) = labels.as_mut() {
                    labels.push(is_anomaly);
                }
            } else {
                values.push(value);
            }
        }
    }
    progress.finish_and_clear();
    let rows = values.len() / n_features;
    if rows == 0 {
        return Err(bad_input(format!(
            "{source}: no data rows after the header"
        )));
    }
    let features = Array2::from_shape_vec((rows, n_features), values)
        .map_err(|e| anyhow::anyhow!("{source}: {e}"))?;
    Ok(Table { features, labels })
}

fn parse_cell(cell: &str) -> Option<f64> {
    cell.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

fn write_scores(out: Option<&Path>, scores: &[f64]) -> anyhow::Result<()> {
    let (sink, name): (Box<dyn Write>, String) = match out {
        Some(path) => (
            Box::new(
                File::create(path)
                    .map_err(|e| bad_input(format!("{}: cannot create: {e}", path.display())))?,
            ),
            path.display().to_string(),
        ),
        None => (Box::new(std::io::stdout().lock()), "stdout".to_string()),
    };
    let mut sink = BufWriter::new(sink);
    for score in scores {
        writeln!(sink, "{score}").with_context(|| format!("writing scores to {name}"))?;
    }
    sink.flush()
        .with_context(|| format!("writing scores to {name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str, label: Option<&str>) -> anyhow::Result<Table> {
        parse_table(text.as_bytes(), "t.csv", label)
    }

    fn message(result: anyhow::Result<Table>) -> String {
        let err = result.expect_err("should be rejected");
        assert_eq!(super::super::exit_code(&err), 2, "{err:#}");
        format!("{err:#}")
    }

    #[test]
    fn reads_features_and_labels() {
        let table = parse("a,label,b\n1,0,2\n3.5,1,-4\n", Some("label")).unwrap();
        assert_eq!(table.features.dim(), (2, 2));
        assert_eq!(table.features[[1, 1]], -4.0);
        assert_eq!(table.labels, Some(vec![false, true]));
    }

    #[test]
    fn bad_cells_name_file_line_and_column() {
        let msg = message(parse("a,b\n1,2\n3,x\n", None));
        assert!(msg.contains("t.csv: line 3, column \"b\""), "{msg}");
        let msg = message(parse("a,b\n1,2\n3,nan\n", None));
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn ragged_rows_and_missing_labels_are_rejected() {
        let msg = message(parse("a,b\n1,2\n3\n", None));
        assert!(msg.contains("line 3: 1 fields"), "{msg}");
        let msg = message(parse("a,b\n1,2\n", Some("label")));
        assert!(msg.contains("no label column \"label\""), "{msg}");
        let msg = message(parse("a,label\n1,2\n", Some("label")));
        assert!(msg.contains("label must be 0 or 1"), "{msg}");
        let msg = message(parse("a,b\n", None));
        assert!(msg.contains("no data rows"), "{msg}");
    }

    #[test]
    fn unreadable_file_is_bad_input() {
        let err = read_table(Path::new("/nonexistent/x.csv"), None).expect_err("missing file");
        assert_eq!(super::super::exit_code(&err), 2);
        assert!(format!("{err:#}").contains("/nonexistent/x.csv"));
    }
}
