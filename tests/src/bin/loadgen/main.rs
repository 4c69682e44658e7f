//! A closed-loop load generator for OpenAI-style chat completions.
//!
//! ```text
//! loadgen --url URL --concurrency N (--duration 10s | --requests N) [--warmup 1s]
//!         [--stream | --mix KIND=WEIGHT,...] [--key KEY] [--model M] [--body-bytes N]
//!         [--http2] [--connections N] [--timeout 30s] [--watch-pid PID [--watch-every 5s]]
//! ```
//!
//! `--concurrency` workers each send `POST URL` back to back. Over HTTP/1.1 each
//! worker has its own keep-alive connection; with `--http2` (prior-knowledge h2c)
//! the workers share `--connections` connections (default: one per 100 workers).
//! Connections are opened on first use and reopened when the server closes them.
//! Every response is read to the end; for `--stream` the time to the first body
//! frame containing `data:` is the TTFT, and a stream must end with
//! `data: [DONE]`. Requests started during `--warmup` are not recorded; a
//! non-2xx status, an I/O error or exceeding `--timeout` counts as an error and
//! the run goes on.
//!
//! `--mix` sends kinds of request in turn, each as often as its weight
//! (`json=50,stream=30,disconnect=10,error=10`; see
//! `switchyard_tests::load::mix`): JSON answers, streams, slow streams the
//! client leaves after the first `data:` frame (closing its connection), and
//! requests `bench-upstream` fails with a 500 (a 5xx with an OpenAI-shaped error
//! body is their success). `--watch-pid` samples that process's VmRSS and open
//! file descriptors every `--watch-every`, printing each sample to stderr with
//! the requests done so far.
//!
//! To stay out of the way of what it measures, it runs a single-threaded tokio
//! runtime per core (a worker and its connection share a thread), speaks
//! through hyper's `client::conn` directly (no pool: checkouts, per-request
//! host formatting and spawned idle-watch tasks cost about a third of its CPU),
//! keeps per-worker fixed-size histograms and builds each request from
//! precomputed parts.
//!
//! Prints one JSON line on stdout:
//! `{"url","concurrency","stream","requests","errors","duration_s","rps","p50_us",
//! "p90_us","p99_us","max_us","ttft_p50_us","ttft_p99_us"}` where `requests`
//! counts the successful measured requests, `rps` is `requests / duration_s`,
//! latencies (whole response, in µs) are over successful requests only, and a
//! latency with no sample (the TTFT ones without `--stream`) is `null`; then
//! `"kinds"`: per kind of request, `{"requests","errors"}`; and with
//! `--watch-pid`, `"samples"`: `[{"t_ms","requests","errors","rss_kb","fds"}]`.
//! Error reasons and their counts go to stderr.

mod connection;

use connection::{Answer, Connection, H2Connection, reason, send};
use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;
use switchyard_tests::load::Histogram;
use switchyard_tests::load::mix::{Kind, Mix};
use switchyard_tests::load::watch::{self, Sample};

use bytes::Bytes;
use clap::{ArgGroup, Parser};
use http::{HeaderValue, Uri};
use serde::Serialize;
use tokio::time::Instant;

#[derive(Parser)]
#[command(name = "loadgen", about = "A closed-loop load generator for OpenAI-style chat completions")]
#[command(group(ArgGroup::new("limit").required(true).args(["duration", "requests"])))]
struct Args {
    /// The URL to POST to, e.g. http://127.0.0.1:8080/v1/chat/completions.
    #[arg(long)]
    url: Uri,
    /// Concurrent workers, each with one request in flight.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// How long to measure, after the warmup (e.g. 10s, 500ms, 1m).
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// How many requests to measure, after the warmup.
    #[arg(long)]
    requests: Option<u64>,
    /// How long to send unrecorded requests first.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    warmup: Duration,
    /// Ask for a streamed reply (`"stream": true`) and record TTFT.
    #[arg(long)]
    stream: bool,
    /// Send kinds of request in turn by weight: KIND=WEIGHT,... of json, stream,
    /// disconnect (a slow stream left after its first data frame) and error
    /// (bench-upstream answers 500; a 5xx with an OpenAI error body is expected).
    #[arg(long, conflicts_with = "stream", value_parser = Mix::parse)]
    mix: Option<Mix>,
    /// Send `Authorization: Bearer KEY`.
    #[arg(long)]
    key: Option<String>,
    /// The request's `model`.
    #[arg(long, default_value = "gpt-4o-mini")]
    model: String,
    /// Pad the message content so the request body is about this many bytes.
    #[arg(long, default_value_t = 200)]
    body_bytes: usize,
    /// Speak prior-knowledge h2c instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
    /// With --http2, the number of connections the workers share [default: one per 100 workers].
    #[arg(long, requires = "http2", value_parser = clap::value_parser!(u32).range(1..))]
    connections: Option<u32>,
    /// Give up on a request (an error) after this long.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
    /// Sample this process's VmRSS and open file descriptors (/proc) with the request counts.
    #[arg(long)]
    watch_pid: Option<u32>,
    /// How often --watch-pid samples.
    #[arg(long, value_parser = parse_duration, default_value = "5s", requires = "watch_pid")]
    watch_every: Duration,
}

/// `10s`, `500ms`, `250us`, `2m`, `1.5s`; a bare number is seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| format!("invalid duration {text:?}"))?;
    let seconds = match unit {
        "" | "s" => number,
        "ms" => number / 1e3,
        "us" | "µs" => number / 1e6,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(format!("invalid duration unit in {text:?} (use us, ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|err| format!("invalid duration {text:?}: {err}"))
}

/// The request body for `kind`:
/// `{"model":M,"messages":[{"role":"user","content":PAD}],"stream":S}` (and the
/// kind's directive to bench-upstream), with ASCII padding so it is
/// `body_bytes` long (or as short as it can be).
fn request_body(model: &str, kind: Kind, body_bytes: usize) -> Result<Bytes, serde_json::Error> {
    let model = serde_json::to_string(model)?;
    let (stream, directive) = (kind.stream(), kind.directive());
    let build = |content: &str| {
        format!(
            r#"{{"model":{model},"messages":[{{"role":"user","content":"{content}"}}],"stream":{stream}{directive}}}"#
        )
    };
    let pad = body_bytes.saturating_sub(build("").len());
    let text = "Write a short story about a lighthouse keeper who finds a message in a bottle. ";
    let content: String = text.chars().cycle().take(pad).collect();
    Ok(Bytes::from(build(&content)))
}

/// The one line printed on stdout, fields in this order.
#[derive(Serialize)]
struct Report {
    url: String,
    concurrency: u32,
    stream: bool,
    requests: u64,
    errors: u64,
    duration_s: f64,
    rps: f64,
    p50_us: Option<u64>,
    p90_us: Option<u64>,
    p99_us: Option<u64>,
    max_us: Option<u64>,
    ttft_p50_us: Option<u64>,
    ttft_p99_us: Option<u64>,
    kinds: BTreeMap<&'static str, KindReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    samples: Vec<Sample>,
}

#[derive(Serialize)]
struct KindReport {
    requests: u64,
    errors: u64,
}

/// What a worker measured.
struct Stats {
    latency: Histogram,
    ttft: Histogram,
    errors: HashMap<String, u64>,
    /// Per kind (by [`Kind::index`]): successful requests, failed ones.
    kinds: [(u64, u64); Kind::ALL.len()],
}

impl Stats {
    fn new() -> Self {
        Stats { latency: Histogram::new(), ttft: Histogram::new(), errors: HashMap::new(), kinds: Default::default() }
    }

    fn merge(&mut self, other: Stats) {
        self.latency.merge(&other.latency);
        self.ttft.merge(&other.ttft);
        for (reason, count) in other.errors {
            *self.errors.entry(reason).or_default() += count;
        }
        for (mine, theirs) in self.kinds.iter_mut().zip(other.kinds) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
    }
}

/// When the workers stop starting requests.
enum Limit {
    Until(Instant),
    Requests { total: u64, started: AtomicU64 },
}

/// The run's parameters, shared by every worker.
struct Plan {
    concurrency: usize,
    addr: SocketAddr,
    /// The absolute URL (h2 takes `:scheme` and `:authority` from it).
    url: Uri,
    /// Its origin form (path and query), for HTTP/1.1 with `host`.
    path: Uri,
    host: HeaderValue,
    /// The kinds in the order the workers send them (each from its own offset).
    schedule: Vec<Kind>,
    /// The body of each kind, by [`Kind::index`].
    bodies: Vec<Bytes>,
    /// More than one kind: error reasons name theirs.
    mixed: bool,
    content_type: HeaderValue,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    warmup_end: Instant,
    limit: Limit,
    /// Measured requests finished, and failed, so far (for --watch-pid).
    finished: AtomicU64,
    failed: AtomicU64,
}

impl Plan {
    /// Whether a request starting `now` is recorded (`Some(true)`), is warmup
    /// (`Some(false)`), or should not be sent (`None`).
    fn next(&self, now: Instant) -> Option<bool> {
        if now < self.warmup_end {
            return Some(false);
        }
        let more = match &self.limit {
            Limit::Until(end) => now < *end,
            Limit::Requests { total, started } => started.fetch_add(1, Ordering::Relaxed) < *total,
        };
        more.then_some(true)
    }
}

async fn worker(index: usize, mut connection: Connection, plan: Arc<Plan>) -> Stats {
    let mut stats = Stats::new();
    for n in index.. {
        let start = Instant::now();
        let Some(recorded) = plan.next(start) else { break };
        let kind = plan.schedule[n % plan.schedule.len()];
        let result = match tokio::time::timeout(plan.timeout, send(&mut connection, &plan, kind, start)).await {
            Ok(result) => result,
            Err(_) => {
                // An HTTP/1.1 connection is stuck on the abandoned request: drop it.
                if let Connection::Http1(slot) = &mut connection {
                    *slot = None;
                }
                Err("timeout".to_owned())
            }
        };
        // A server that is down must not turn loadgen into a busy loop.
        if let Err(reason) = &result
            && reason.starts_with("connect:")
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        // A client that left closes its connection (HTTP/1.1) or resets its stream (h2).
        if let (Ok(Answer { left: true, .. }), Connection::Http1(slot)) = (&result, &mut connection) {
            *slot = None;
        }
        if !recorded {
            continue;
        }
        plan.finished.fetch_add(1, Ordering::Relaxed);
        let counts = &mut stats.kinds[kind.index()];
        match result {
            Ok(answer) => {
                counts.0 += 1;
                stats.latency.record_duration(start.elapsed());
                if let (Some(ttft), Kind::Stream) = (answer.ttft, kind) {
                    stats.ttft.record_duration(ttft);
                }
            }
            Err(reason) => {
                counts.1 += 1;
                plan.failed.fetch_add(1, Ordering::Relaxed);
                let reason = if plan.mixed { format!("{}: {reason}", kind.name()) } else { reason };
                *stats.errors.entry(reason).or_default() += 1;
            }
        }
    }
    stats
}

/// Samples `pid` every `every` until `stop` says so (or is dropped), then once more.
fn watch(pid: u32, every: Duration, plan: &Plan, start: Instant, stop: &mpsc::Receiver<()>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut take = || match watch::read(pid) {
        Some((rss_kb, fds)) => {
            let sample = Sample {
                t_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                requests: plan.finished.load(Ordering::Relaxed),
                errors: plan.failed.load(Ordering::Relaxed),
                rss_kb,
                fds,
            };
            eprintln!("{}", sample.line());
            samples.push(sample);
        }
        None => eprintln!("loadgen: process {pid} is gone"),
    };
    take();
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        take();
    }
    take();
    samples
}

/// Runs workers `first`, `first + step`, ... on this thread's own runtime, so
/// a worker and its connection are polled by the same thread; then keeps that
/// runtime (and the h2 connections it drives) going until every thread is done.
fn run_thread(
    first: usize,
    step: usize,
    plan: Arc<Plan>,
    shared: Arc<[Arc<H2Connection>]>,
    done: Arc<tokio::sync::Barrier>,
) -> Result<Stats, String> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|err| reason("runtime", &err))?;
    runtime.block_on(async move {
        let workers: Vec<_> = (first..plan.concurrency)
            .step_by(step)
            .map(|i| {
                let connection = match shared.get(i % shared.len().max(1)) {
                    Some(shared) => Connection::Http2(Arc::clone(shared), None),
                    None => Connection::Http1(None),
                };
                tokio::spawn(worker(i, connection, Arc::clone(&plan)))
            })
            .collect();
        let mut stats = Stats::new();
        let mut result = Ok(());
        for worker in workers {
            match worker.await {
                Ok(worker) => stats.merge(worker),
                Err(err) => result = Err(reason("worker", &err)),
            }
        }
        done.wait().await;
        result.map(|()| stats)
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let concurrency = args.concurrency as usize;
    let authorization = match &args.key {
        Some(key) => Some(HeaderValue::try_from(format!("Bearer {key}"))?),
        None => None,
    };

    let (Some("http"), Some(authority)) = (args.url.scheme_str(), args.url.authority()) else {
        return Err(format!("{}: want an http://HOST[:PORT]/PATH URL (no TLS)", args.url).into());
    };
    let host = HeaderValue::from_str(authority.as_str())?;
    let port = authority.port_u16().unwrap_or(80);
    let addr = (authority.host().trim_matches(['[', ']']), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| format!("{authority}: no address"))?;
    let path =
        Uri::from(args.url.path_and_query().cloned().unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")));

    // HTTP/1.1: a connection per worker. h2c: a few connections, each multiplexing
    // its share of the workers.
    let shared: Arc<[Arc<H2Connection>]> = if args.http2 {
        let connections = args.connections.map_or(concurrency.div_ceil(100), |connections| connections as usize);
        (0..connections.min(concurrency))
            .map(|_| Arc::new(H2Connection { sender: tokio::sync::Mutex::new(None) }))
            .collect()
    } else {
        Arc::new([])
    };
    let start = Instant::now();
    let warmup_end = start + args.warmup;
    let limit = match (args.duration, args.requests) {
        (Some(duration), _) => Limit::Until(warmup_end + duration),
        (None, Some(total)) => Limit::Requests { total, started: AtomicU64::new(0) },
        (None, None) => return Err("give --duration or --requests".into()),
    };
    let schedule = match &args.mix {
        Some(mix) => mix.schedule(),
        None if args.stream => vec![Kind::Stream],
        None => vec![Kind::Json],
    };
    let bodies =
        Kind::ALL.into_iter().map(|kind| request_body(&args.model, kind, args.body_bytes)).collect::<Result<_, _>>()?;
    let plan = Arc::new(Plan {
        concurrency,
        addr,
        url: args.url.clone(),
        path,
        host,
        mixed: args.mix.is_some(),
        schedule,
        bodies,
        content_type: HeaderValue::from_static("application/json"),
        authorization,
        timeout: args.timeout,
        warmup_end,
        limit,
        finished: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let (stop_watch, stopped) = mpsc::channel::<()>();
    let watcher = args.watch_pid.map(|pid| {
        let (plan, every) = (Arc::clone(&plan), args.watch_every);
        std::thread::spawn(move || watch(pid, every, &plan, start, &stopped))
    });

    // A single-threaded runtime per core: a worker, its connection and their
    // wakeups stay on one thread.
    let threads = std::thread::available_parallelism().map_or(1, usize::from).min(concurrency);
    let done = Arc::new(tokio::sync::Barrier::new(threads));
    let runs = (0..threads)
        .map(|thread| {
            let (plan, shared, done) = (Arc::clone(&plan), Arc::clone(&shared), Arc::clone(&done));
            std::thread::Builder::new()
                .name(format!("loadgen-{thread}"))
                .spawn(move || run_thread(thread, threads, plan, shared, done))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut stats = Stats::new();
    for run in runs {
        stats.merge(run.join().map_err(|_| "a loadgen thread panicked")??);
    }
    let duration = Instant::now().saturating_duration_since(warmup_end).as_secs_f64();
    drop(stop_watch);
    let samples = match watcher {
        Some(watcher) => watcher.join().map_err(|_| "the --watch-pid thread panicked")?,
        None => Vec::new(),
    };

    let requests = stats.latency.count();
    let errors: u64 = stats.errors.values().sum();
    let mut reasons: Vec<_> = stats.errors.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (reason, count) in reasons {
        eprintln!("loadgen: {count} errors: {reason}");
    }
    let ttft = |q| if plan.schedule.contains(&Kind::Stream) { stats.ttft.quantile(q) } else { None };
    let kinds = Kind::ALL
        .into_iter()
        .filter(|kind| plan.schedule.contains(kind))
        .map(|kind| {
            let (requests, errors) = stats.kinds[kind.index()];
            (kind.name(), KindReport { requests, errors })
        })
        .collect();
    let report = Report {
        url: args.url.to_string(),
        concurrency: args.concurrency,
        stream: args.stream,
        requests,
        errors,
        duration_s: (duration * 1000.0).round() / 1000.0,
        rps: if duration > 0.0 { (requests as f64 / duration * 10.0).round() / 10.0 } else { 0.0 },
        p50_us: stats.latency.quantile(0.50),
        p90_us: stats.latency.quantile(0.90),
        p99_us: stats.latency.quantile(0.99),
        max_us: stats.latency.max(),
        ttft_p50_us: ttft(0.50),
        ttft_p99_us: ttft(0.99),
        kinds,
        samples,
    };
    let report = serde_json::to_string(&report)?;
    println!("{report}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::contains;

    #[test]
    fn bodies_have_the_asked_size() {
        let body = request_body("gpt-4o-mini", Kind::Stream, 200).unwrap();
        assert_eq!(body.len(), 200);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["stream"], true);
        assert!(contains(&body, br#""stream":true"#));
        assert!(request_body("m", Kind::Json, 0).unwrap().len() < 100);
        for (kind, directive) in [(Kind::Disconnect, Some("slow")), (Kind::Error, Some("error")), (Kind::Json, None)] {
            let body = request_body("m", kind, 300).unwrap();
            let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!((body.len(), value["bench"].as_str()), (300, directive));
            assert_eq!(value["stream"], kind.stream());
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("fast").is_err());
    }
}
