//! One `Telemetry.Report` stream at a time: queued batches out, oldest
//! first, at most [`WINDOW`] unacked; acks in, in the same order (the
//! control plane stores batches one by one). Cycles through the control-plane
//! URLs with backoff; every new stream starts again from the oldest batch
//! still queued, so whatever was sent but not acked is sent again (the
//! control plane acks a batch it already stored as a duplicate).
//!
//! A stream that ends with an error about the batch itself (malformed, too
//! large, or from another node id than this one's: a spool left by an earlier
//! configuration) drops that batch, logged and counted, rather than resend it
//! forever. Any other error keeps everything for the next stream.

use super::queue::{Body, Entry};
use super::{Link, Reporter, remove_files};
use crate::cp_client::{self, Backoff, MAX_MESSAGE, status_text};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;
use switchyard_proto::pb::TelemetryBatch;
use switchyard_proto::pb::telemetry_client::TelemetryClient;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;
use tonic::codec::CompressionEncoding;

/// Batches sent and not yet acked, at most.
pub const WINDOW: usize = 8;
/// A stream whose oldest unacked batch waits longer than this is given up.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) async fn run(reporter: Arc<Reporter>, link: Link, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    for url in link.urls.iter().cycle() {
        let session = session(url, &link, &reporter);
        let ended = tokio::select! {
            ended = session => ended,
            _ = stop.wait_for(|s| *s) => return,
        };
        match ended {
            Ok(()) => backoff.reset(),
            Err(e) => tracing::warn!(control_plane = %url, error = %e, "telemetry not delivered now; kept to resend"),
        }
        tokio::select! {
            _ = backoff.wait() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

struct Sent {
    id: u64,
    boot_id: String,
    sequence: u64,
    node_id: String,
    at: Instant,
}

async fn session(url: &str, link: &Link, reporter: &Reporter) -> Result<(), String> {
    let queue = reporter.queue();
    let channel = cp_client::connect(url, link.tls.as_ref()).await?;
    let mut client = TelemetryClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE)
        .send_compressed(CompressionEncoding::Gzip)
        .accept_compressed(CompressionEncoding::Gzip);
    let (tx, rx) = mpsc::channel(WINDOW);
    let request = cp_client::authorize(tonic::Request::new(ReceiverStream::new(rx)), &link.token)?;
    let mut acks = client.report(request).await.map_err(|s| status_text(&s))?.into_inner();
    tracing::debug!(control_plane = %url, "telemetry stream open");
    let _open = Open::new(&queue.connected);
    let mut sent: VecDeque<Sent> = VecDeque::with_capacity(WINDOW);
    let mut next_id = 0;
    // The request stream is gone (the control plane ended the call): only its final status is left to read.
    let mut closed = false;
    loop {
        while !closed && sent.len() < WINDOW {
            let Some(entry) = queue.next(next_id) else { break };
            next_id = entry.id + 1;
            let Some(batch) = load(reporter, &entry).await else { continue };
            sent.push_back(Sent {
                id: entry.id,
                boot_id: entry.boot_id,
                sequence: entry.sequence,
                node_id: batch.node_id.clone(),
                at: Instant::now(),
            });
            // Never waits: the channel holds WINDOW and at most WINDOW are unacked.
            closed = tx.send(batch).await.is_err();
        }
        let deadline = sent.front().map(|s| s.at + ACK_TIMEOUT);
        tokio::select! {
            ack = acks.message() => match ack {
                Ok(Some(ack)) => {
                    let Some(front) = sent.pop_front() else {
                        return Err(format!("an ack for {}/{} that was not sent", ack.boot_id, ack.sequence));
                    };
                    if (ack.boot_id.as_str(), ack.sequence) != (front.boot_id.as_str(), front.sequence) {
                        return Err(format!(
                            "ack for {}/{} while {}/{} was due",
                            ack.boot_id, ack.sequence, front.boot_id, front.sequence
                        ));
                    }
                    if let Some(entry) = queue.ack(front.id) {
                        remove_files(vec![entry]).await;
                    }
                }
                Ok(None) => return Ok(()),
                Err(status) => {
                    if let Some(front) = sent.front()
                        && refuses_batch(&status, &front.node_id, &reporter.node_id)
                        && let Some(entry) = queue.discard(front.id)
                    {
                        tracing::error!(
                            boot_id = %entry.boot_id,
                            sequence = entry.sequence,
                            items = entry.items,
                            error = %status_text(&status),
                            "the control plane refused a telemetry batch; dropped"
                        );
                        remove_files(vec![entry]).await;
                    }
                    return Err(status_text(&status));
                }
            },
            () = queue.pushed(), if !closed && sent.len() < WINDOW => {}
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                return Err(format!("no ack within {ACK_TIMEOUT:?}"));
            }
        }
    }
}

/// Marks the queue connected while a stream is open.
struct Open<'a>(&'a AtomicBool);

impl<'a> Open<'a> {
    fn new(flag: &'a AtomicBool) -> Self {
        flag.store(true, Relaxed);
        Self(flag)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.store(false, Relaxed);
    }
}

/// Whether `status` condemns the batch it answered rather than the stream.
fn refuses_batch(status: &tonic::Status, batch_node: &str, node: &str) -> bool {
    match status.code() {
        Code::InvalidArgument | Code::ResourceExhausted | Code::OutOfRange => true,
        // Another node id than this one's: a spool from an earlier configuration.
        Code::PermissionDenied => batch_node != node,
        _ => false,
    }
}

/// The batch of `entry`; `None` (dropped and counted) when its file is unreadable.
async fn load(reporter: &Reporter, entry: &Entry) -> Option<TelemetryBatch> {
    let path = match &entry.body {
        Body::Memory(batch) => return Some(TelemetryBatch::clone(batch)),
        Body::Spooled(path) => path.clone(),
    };
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || super::spool::read(&path)).await
    };
    let error = match read {
        Ok(Ok(batch)) => return Some(batch),
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::error!(path = %path.display(), error, "unreadable spooled telemetry batch; dropped");
    if let Some(entry) = reporter.queue().discard(entry.id) {
        remove_files(vec![entry]).await;
    }
    None
}
