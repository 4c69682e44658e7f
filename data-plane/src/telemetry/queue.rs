//! The batches not yet acked by a control plane, oldest first, bounded in
//! bytes: past `max_bytes` the oldest are dropped (their records counted in
//! `switchyard_telemetry_dropped_total`) and the newest kept. A batch lives
//! on disk ([`Body::Spooled`]) once written to the spool; in memory only when
//! the spool could not take it.
//!
//! Entries get an id in the order they were queued. A session sends them in
//! id order and remembers the last id it sent; acks remove them. An entry
//! dropped while in flight is simply gone when its ack arrives.

use parking_lot::Mutex;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use switchyard_proto::pb::TelemetryBatch;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub enum Body {
    Memory(Arc<TelemetryBatch>),
    Spooled(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub id: u64,
    pub boot_id: String,
    pub sequence: u64,
    /// Usage records plus health events.
    pub items: u64,
    /// Encoded bytes.
    pub size: u64,
    pub body: Body,
}

impl Entry {
    /// Its spool file, if it has one.
    pub fn path(&self) -> Option<&PathBuf> {
        match &self.body {
            Body::Spooled(path) => Some(path),
            Body::Memory(_) => None,
        }
    }
}

#[derive(Debug)]
pub struct Queue {
    inner: Mutex<Inner>,
    changed: Notify,
    max_bytes: u64,
    /// Records and events dropped: overflow, batches a control plane refused, unreadable spool files.
    pub dropped: AtomicU64,
    /// Batches acked (stored or found stored before).
    pub acked: AtomicU64,
    /// A session streams the queue to a control plane now.
    pub connected: AtomicBool,
}

#[derive(Debug, Default)]
struct Inner {
    entries: VecDeque<Entry>,
    bytes: u64,
    next_id: u64,
}

/// What the queue holds now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Depth {
    pub batches: u64,
    pub bytes: u64,
    pub items: u64,
}

impl Queue {
    pub fn new(max_bytes: u64) -> Queue {
        Queue {
            inner: Mutex::new(Inner::default()),
            changed: Notify::new(),
            max_bytes,
            dropped: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            connected: AtomicBool::new(false),
        }
    }

    /// Queues a batch; returns the entries dropped to make room (oldest
    /// first; the caller removes their files). The newest is always kept.
    pub fn push(&self, boot_id: String, sequence: u64, items: u64, size: u64, body: Body) -> Vec<Entry> {
        let mut inner = self.inner.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.bytes += size;
        inner.entries.push_back(Entry { id, boot_id, sequence, items, size, body });
        let mut dropped = Vec::new();
        while inner.bytes > self.max_bytes && inner.entries.len() > 1 {
            let Some(old) = inner.entries.pop_front() else { break };
            inner.bytes -= old.size;
            dropped.push(old);
        }
        drop(inner);
        self.changed.notify_one();
        if !dropped.is_empty() {
            let items: u64 = dropped.iter().map(|e| e.items).sum();
            self.dropped.fetch_add(items, Relaxed);
            tracing::warn!(
                batches = dropped.len(),
                items,
                max_bytes = self.max_bytes,
                "telemetry queue full: dropped the oldest unacked batches"
            );
        }
        dropped
    }

    /// The oldest entry with an id of at least `from`.
    pub fn next(&self, from: u64) -> Option<Entry> {
        self.inner.lock().entries.iter().find(|e| e.id >= from).cloned()
    }

    /// Removes entry `id` (acked); `None` when it is no longer queued.
    pub fn ack(&self, id: u64) -> Option<Entry> {
        let entry = self.remove(id);
        self.acked.fetch_add(1, Relaxed);
        entry
    }

    /// Removes entry `id` and counts it dropped (a control plane refused it, or its file is unreadable).
    pub fn discard(&self, id: u64) -> Option<Entry> {
        let entry = self.remove(id)?;
        self.dropped.fetch_add(entry.items, Relaxed);
        Some(entry)
    }

    fn remove(&self, id: u64) -> Option<Entry> {
        let mut inner = self.inner.lock();
        let at = inner.entries.iter().position(|e| e.id == id)?;
        let entry = inner.entries.remove(at)?;
        inner.bytes -= entry.size;
        Some(entry)
    }

    pub fn depth(&self) -> Depth {
        let inner = self.inner.lock();
        Depth {
            batches: inner.entries.len() as u64,
            bytes: inner.bytes,
            items: inner.entries.iter().map(|e| e.items).sum(),
        }
    }

    /// Resolves after the next [`push`](Self::push) (or at once if one came
    /// since the last wait).
    pub async fn pushed(&self) {
        self.changed.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> Body {
        Body::Memory(Arc::new(TelemetryBatch::default()))
    }

    #[test]
    fn overflow_drops_the_oldest_and_counts_their_items() {
        let q = Queue::new(100);
        assert!(q.push("b".into(), 1, 5, 40, memory()).is_empty());
        assert!(q.push("b".into(), 2, 7, 40, memory()).is_empty());
        let dropped = q.push("b".into(), 3, 1, 40, memory());
        assert_eq!(dropped.iter().map(|e| e.sequence).collect::<Vec<_>>(), [1]);
        assert_eq!(q.dropped.load(Relaxed), 5);
        assert_eq!(q.depth(), Depth { batches: 2, bytes: 80, items: 8 });
        // One batch larger than the bound is still kept, alone.
        let dropped = q.push("b".into(), 4, 2, 500, memory());
        assert_eq!(dropped.iter().map(|e| e.sequence).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(q.dropped.load(Relaxed), 13);
        assert_eq!(q.depth(), Depth { batches: 1, bytes: 500, items: 2 });
    }

    #[test]
    fn sends_in_order_and_acks_remove() {
        let q = Queue::new(1000);
        for seq in 1..=3 {
            q.push("b".into(), seq, 1, 10, memory());
        }
        let first = q.next(0).unwrap();
        let second = q.next(first.id + 1).unwrap();
        assert_eq!((first.sequence, second.sequence), (1, 2));
        assert!(q.ack(first.id).is_some());
        assert!(q.ack(first.id).is_none(), "acked twice");
        assert_eq!(q.discard(second.id).map(|e| e.sequence), Some(2));
        assert_eq!(q.dropped.load(Relaxed), 1);
        assert_eq!(q.next(0).map(|e| e.sequence), Some(3));
        assert!(q.next(second.id + 2).is_none());
        assert_eq!(q.depth().batches, 1);
    }
}
