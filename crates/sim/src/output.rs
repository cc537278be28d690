//! Writing a simulation as the three NDJSON files of CONTRACT §2.

use crate::{generate_with, SimConfig, SimError, SimOptions, SimRecord, Summary};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Generates and writes `DIR/train.ndjson`, `DIR/test.ndjson` and
/// `DIR/labels.ndjson` (creating DIR), returning what was written.
pub fn write_dir(dir: &Path, cfg: &SimConfig) -> Result<Summary, SimError> {
    write_dir_with(dir, cfg, &SimOptions::default())
}

/// [`write_dir`] with optional additions; with monitoring incidents on, also
/// writes `DIR/incidents.ndjson` (`{"kind","api","endpoint","start_ms","end_ms"}`).
pub fn write_dir_with(dir: &Path, cfg: &SimConfig, opts: &SimOptions) -> Result<Summary, SimError> {
    cfg.validate()?;
    std::fs::create_dir_all(dir).map_err(|source| SimError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let sim = generate_with(cfg, opts);
    // Two writers: the files are independent and the disk is rarely the limit.
    std::thread::scope(|scope| {
        let train_job = scope.spawn(|| {
            write_lines(&dir.join("train.ndjson"), &sim.train, |r, buf| {
                r.write_json(buf)
            })
        });
        write_lines(&dir.join("test.ndjson"), &sim.test, |r, buf| {
            r.write_json(buf)
        })?;
        write_lines(&dir.join("labels.ndjson"), &sim.labels, |l, buf| {
            l.write_json(buf)
        })?;
        if opts.monitoring_incidents {
            write_lines(&dir.join("incidents.ndjson"), &sim.incidents, |i, buf| {
                // A struct of strings and integers always serializes.
                let _ = serde_json::to_writer(&mut *buf, i);
            })?;
        }
        match train_job.join() {
            Ok(written) => written,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })?;
    Ok(sim.summary())
}

/// Writes records as NDJSON (e.g. to feed a parser in memory).
pub fn write_records(records: &[SimRecord], out: impl Write) -> std::io::Result<()> {
    let mut out = BufWriter::new(out);
    let mut buf = Vec::with_capacity(1 << 16);
    for r in records {
        r.write_json(&mut buf);
        buf.push(b'\n');
        if buf.len() >= 1 << 16 {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    out.flush()
}

fn write_lines<T>(
    path: &Path,
    items: &[T],
    write_one: impl Fn(&T, &mut Vec<u8>),
) -> Result<(), SimError> {
    let io_err = |source| SimError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(io_err)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(1 << 16);
    for item in items {
        write_one(item, &mut buf);
        buf.push(b'\n');
        if buf.len() >= 1 << 16 {
            out.write_all(&buf).map_err(io_err)?;
            buf.clear();
        }
    }
    out.write_all(&buf).map_err(io_err)?;
    out.flush().map_err(io_err)?;
    Ok(())
}
