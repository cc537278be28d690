//! The single writer thread and its group commit.
//!
//! Callers queue `(batch, ack)` jobs. The writer takes the first job, then
//! every job already waiting (up to a bound), applies the whole group, makes
//! it durable with one flush, and only then runs the acks.

use crate::{OnDurable, StoreError, WriteBatch};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

pub(crate) struct Job {
    pub batch: WriteBatch,
    pub ack: Option<OnDurable>,
}

/// Applies and flushes one group; the same error goes to every waiter of the group.
pub(crate) trait GroupSink: Send + 'static {
    fn commit(&mut self, group: &[WriteBatch]) -> Result<(), StoreError>;
}

pub(crate) struct Writer {
    sender: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    pub fn spawn(sink: impl GroupSink, max_group_ops: usize) -> Result<Self, StoreError> {
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("apiwarden-store-writer".into())
            .spawn(move || run(rx, sink, max_group_ops.max(1)))
            .map_err(|e| StoreError::Engine(format!("cannot start writer thread: {e}")))?;
        Ok(Writer {
            sender: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn submit(&self, batch: WriteBatch, ack: Option<OnDurable>) -> Result<(), StoreError> {
        let guard = self.sender.lock().map_err(|_| StoreError::Closed)?;
        let sender = guard.as_ref().ok_or(StoreError::Closed)?;
        sender
            .send(Job { batch, ack })
            .map_err(|_| StoreError::Closed)
    }

    /// Stop taking jobs, commit what is queued, and wait for the thread.
    pub fn close(&self) {
        if let Ok(mut guard) = self.sender.lock() {
            guard.take();
        }
        let handle = self.thread.lock().ok().and_then(|mut g| g.take());
        if let Some(handle) = handle {
            if handle.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn run(rx: Receiver<Job>, mut sink: impl GroupSink, max_group_ops: usize) {
    while let Ok(first) = rx.recv() {
        let mut ops = first.batch.op_count();
        let mut jobs = vec![first];
        while ops < max_group_ops {
            match rx.try_recv() {
                Ok(job) => {
                    ops += job.batch.op_count();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let (batches, acks): (Vec<WriteBatch>, Vec<Option<OnDurable>>) =
            jobs.into_iter().map(|j| (j.batch, j.ack)).unzip();
        let result = sink.commit(&batches);
        if let Err(e) = &result {
            tracing::error!(error = %e, batches = batches.len(), "store group commit failed");
        }
        metrics_group(batches.len(), ops);
        for ack in acks.into_iter().flatten() {
            ack(result.clone());
        }
    }
}

fn metrics_group(batches: usize, ops: usize) {
    tracing::trace!(batches, ops, "group committed");
}
