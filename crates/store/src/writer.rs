//! The single writer thread and its group commit.
//!
//! Callers queue `(batch, ack)` jobs. The writer takes the first job, then
//! every job already waiting (up to a bound), applies the whole group, makes
//! it durable with one flush, and only then runs the acks.

use crate::{OnDurable, StoreError};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Mutex;
use std::thread::JoinHandle;

/// A unit of work for the writer, already prepared by the submitting thread.
pub(crate) trait Payload: Send + 'static {
    /// How much work it is (bounds a group's size).
    fn op_count(&self) -> usize;
}

pub(crate) struct Job<P> {
    pub batch: P,
    pub ack: Option<OnDurable>,
}

/// Applies and flushes one group; the same error goes to every waiter of the group.
pub(crate) trait GroupSink<P>: Send + 'static {
    fn commit(&mut self, group: &mut [P]) -> Result<(), StoreError>;
}

pub(crate) struct Writer<P> {
    sender: Mutex<Option<Sender<Job<P>>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl<P: Payload> Writer<P> {
    pub fn spawn(sink: impl GroupSink<P>, max_group_ops: usize) -> Result<Self, StoreError> {
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

    pub fn submit(&self, batch: P, ack: Option<OnDurable>) -> Result<(), StoreError> {
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

impl<P> Drop for Writer<P> {
    fn drop(&mut self) {
        if let Ok(mut guard) = self.sender.lock() {
            guard.take();
        }
        let handle = self.thread.lock().ok().and_then(|mut g| g.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

fn run<P: Payload>(rx: Receiver<Job<P>>, mut sink: impl GroupSink<P>, max_group_ops: usize) {
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
        let (mut batches, acks): (Vec<P>, Vec<Option<OnDurable>>) =
            jobs.into_iter().map(|j| (j.batch, j.ack)).unzip();
        let result = sink.commit(&mut batches);
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
