use super::*;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

fn slots(limit: usize) -> Slots {
    Slots::new(Instant::now(), 0, limit)
}

#[test]
fn slots_are_reserved_up_to_the_limit_and_released() {
    let s = slots(2);
    assert!(s.has_room());
    assert!(s.try_reserve());
    assert!(s.try_reserve());
    assert!(!s.has_room());
    assert!(!s.try_reserve(), "at the limit");
    assert_eq!(s.in_flight(), 2);
    s.release();
    assert!(s.try_reserve(), "a released slot is free again");
    // The server lowers its limit: nothing more until streams end.
    s.limit.store(1, Ordering::Relaxed);
    s.release();
    assert!(!s.try_reserve());
    s.release();
    assert_eq!(s.in_flight(), 0);
    assert!(s.try_reserve());
    // Beyond the limit only on purpose (at the pool's connection bound).
    assert!(s.force_reserve());
    assert_eq!(s.in_flight(), 2);
}

#[test]
fn a_closed_connection_takes_no_slot_but_counts_releases() {
    let s = slots(100);
    assert!(s.try_reserve());
    s.close();
    assert!(s.is_closed());
    assert!(!s.has_room());
    assert!(!s.try_reserve());
    assert!(!s.force_reserve());
    assert_eq!(s.in_flight(), 1);
    s.release();
    assert_eq!(s.in_flight(), 0);
    assert!(s.is_closed());
}

#[test]
fn only_an_idle_connection_closes_for_idleness() {
    let s = slots(100);
    assert!(s.try_reserve());
    assert!(!s.close_if_idle(), "a stream is in flight");
    s.release();
    assert!(s.close_if_idle());
    assert!(!s.try_reserve(), "closed before anyone could reserve");
}

#[tokio::test(start_paused = true)]
async fn the_idle_deadline_follows_the_last_stream() {
    let timeout = Duration::from_secs(90);
    let s = slots(100);
    let opened = Instant::now();
    assert_eq!(s.idle_check(timeout), Some(opened + timeout));
    assert!(s.try_reserve());
    tokio::time::advance(Duration::from_secs(100)).await;
    // Busy: look again a whole timeout later.
    assert_eq!(s.idle_check(timeout), Some(Instant::now() + timeout));
    s.release();
    let released = Instant::now();
    tokio::time::advance(Duration::from_secs(60)).await;
    assert_eq!(s.idle_check(timeout), Some(released + timeout));
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(s.idle_check(timeout), None, "idle for the whole timeout: closed");
    assert!(s.is_closed());
}

/// An h2c server allowing `max_streams` per connection whose answers each wait
/// for a permit of the returned semaphore; it counts connections.
async fn server(max_streams: u32) -> (String, Arc<Semaphore>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let permits = Arc::new(Semaphore::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (p, a) = (permits.clone(), accepted.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            a.fetch_add(1, Ordering::SeqCst);
            let p = p.clone();
            let service = service_fn(move |_req| {
                let p = p.clone();
                async move {
                    p.acquire().await.unwrap().forget();
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
                }
            });
            tokio::spawn(async move {
                let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                builder.max_concurrent_streams(max_streams);
                let _ = builder.serve_connection(TokioIo::new(tcp), service).await;
            });
        }
    });
    (format!("http://{addr}"), permits, accepted)
}

async fn get(pool: &Arc<H2Pool>, base: &str) -> Bytes {
    let mut request = Request::new(OutgoingBody::Empty);
    *request.uri_mut() = format!("{base}/x").parse().unwrap();
    *request.version_mut() = http::Version::HTTP_2;
    let (status, _, mut body) = pool.send(request).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let mut out = Vec::new();
    while let Some(chunk) = futures_util::StreamExt::next(&mut body).await {
        out.extend_from_slice(&chunk.unwrap());
    }
    Bytes::from(out)
}

fn in_flight(pool: &H2Pool) -> Vec<usize> {
    pool.conns.load().iter().map(|c| c.slots.in_flight()).collect()
}

#[tokio::test]
async fn a_full_connection_makes_the_pool_open_another() {
    let (base, permits, accepted) = server(2).await;
    let pool = H2Pool::new(&base, Duration::from_secs(2), Duration::from_secs(90)).unwrap();
    // Two requests in turn: the second one's dispatch reads the server's SETTINGS (2 streams).
    permits.add_permits(2);
    assert_eq!(get(&pool, &base).await, "ok");
    assert_eq!(get(&pool, &base).await, "ok");
    assert_eq!((accepted.load(Ordering::SeqCst), in_flight(&pool)), (1, vec![0]));

    let requests: Vec<_> = (0..5)
        .map(|_| {
            tokio::spawn({
                let (pool, base) = (pool.clone(), base.clone());
                async move { get(&pool, &base).await }
            })
        })
        .collect();
    // Five held streams at two per connection: three connections, none queued.
    tokio::time::timeout(Duration::from_secs(5), async {
        while in_flight(&pool).iter().sum::<usize>() < 5 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
    assert!(in_flight(&pool).iter().all(|n| *n <= 2), "{:?}", in_flight(&pool));
    permits.add_permits(5);
    for r in requests {
        assert_eq!(r.await.unwrap(), "ok");
    }
    assert_eq!(in_flight(&pool).iter().sum::<usize>(), 0, "every slot released");
    assert_eq!(pool.connections(), 3);
}

#[tokio::test]
async fn at_the_connection_bound_requests_wait_instead_of_failing() {
    let (base, permits, accepted) = server(1).await;
    let mut pool = H2Pool::new(&base, Duration::from_secs(2), Duration::from_secs(90)).unwrap();
    Arc::get_mut(&mut pool).unwrap().max_connections = 1;
    permits.add_permits(2);
    assert_eq!(get(&pool, &base).await, "ok");
    assert_eq!(get(&pool, &base).await, "ok");

    let requests: Vec<_> = (0..3)
        .map(|_| {
            let (pool, base) = (pool.clone(), base.clone());
            tokio::spawn(async move { get(&pool, &base).await })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(5), async {
        while in_flight(&pool) != [3] {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    // One stream at a time on the one connection: the others wait their turn.
    permits.add_permits(3);
    for r in requests {
        assert_eq!(r.await.unwrap(), "ok");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_dropped_body_releases_its_slot_and_a_refused_connect_is_a_connect_error() {
    let (base, permits, _) = server(10).await;
    let pool = H2Pool::new(&base, Duration::from_secs(2), Duration::from_secs(90)).unwrap();
    permits.add_permits(1);
    let mut request = Request::new(OutgoingBody::Empty);
    *request.uri_mut() = format!("{base}/x").parse().unwrap();
    let (_, _, body) = pool.send(request).await.unwrap();
    drop(body);
    assert_eq!(in_flight(&pool), vec![0]);

    // Nothing listens on a port just freed.
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let closed = format!("http://127.0.0.1:{port}");
    let pool = H2Pool::new(&closed, Duration::from_secs(2), Duration::from_secs(90)).unwrap();
    let mut request = Request::new(OutgoingBody::Empty);
    *request.uri_mut() = format!("{closed}/x").parse().unwrap();
    assert!(matches!(pool.send(request).await, Err(SendError::Connect(_))));
    assert_eq!(pool.connections(), 0);
}

#[tokio::test]
async fn an_idle_connection_closes_and_the_next_request_opens_another() {
    let (base, permits, accepted) = server(10).await;
    let pool = H2Pool::new(&base, Duration::from_secs(2), Duration::from_millis(100)).unwrap();
    permits.add_permits(2);
    assert_eq!(get(&pool, &base).await, "ok");
    assert_eq!(pool.connections(), 1);
    tokio::time::timeout(Duration::from_secs(5), async {
        while !pool.conns.load().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the idle connection was closed and pruned");
    assert_eq!(get(&pool, &base).await, "ok");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn origins() {
    assert_eq!(H2Pool::origin("https://api.openai.com/v1"), "https://api.openai.com");
    assert_eq!(H2Pool::origin("http://127.0.0.1:8080/v1/"), "http://127.0.0.1:8080");
    assert_ne!(H2Pool::origin("https://a.example/v1"), H2Pool::origin("http://a.example/v1"));
}

#[tokio::test]
async fn https_targets_build_their_tls_settings() {
    assert!(H2Pool::new("https://api.openai.com/v1", Duration::from_secs(1), Duration::from_secs(1)).is_ok());
    assert!(H2Pool::new("https://127.0.0.1:8443", Duration::from_secs(1), Duration::from_secs(1)).is_ok());
}
