use super::*;

const ALL: [Strategy; 3] = Strategy::ALL;

struct Endpoint {
    weight: u32,
    load: Arc<Load>,
}

impl Candidate for Endpoint {
    fn weight(&self) -> u32 {
        self.weight
    }

    fn load(&self) -> &Load {
        &self.load
    }
}

fn endpoints(weights: &[u32]) -> Vec<Endpoint> {
    weights.iter().map(|&weight| Endpoint { weight, load: Arc::new(Load::new()) }).collect()
}

fn picks(strategy: Strategy, endpoints: &[Endpoint], n: usize, eligible: impl Fn(&Endpoint) -> bool) -> Vec<usize> {
    let cursor = RouteCursor::default();
    (0..n).map(|_| pick(strategy, endpoints, &cursor, &eligible).unwrap()).collect()
}

fn counts(picks: &[usize], len: usize) -> Vec<usize> {
    let mut counts = vec![0; len];
    for &i in picks {
        counts[i] += 1;
    }
    counts
}

fn all(_: &Endpoint) -> bool {
    true
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn weights_are_honoured_by_every_strategy() {
    fastrand::seed(7);
    let eps = endpoints(&[1, 2, 3]);
    for strategy in ALL {
        let counts = counts(&picks(strategy, &eps, 100_000, all), 3);
        for (count, weight) in counts.iter().zip([1.0, 2.0, 3.0]) {
            let share = *count as f64 / 100_000.0;
            assert!((share - weight / 6.0).abs() < 0.02, "{strategy:?}: {counts:?}");
        }
    }
}

#[test]
fn ineligible_endpoints_are_never_picked() {
    fastrand::seed(11);
    let eps = endpoints(&[1, 2, 3, 4]);
    for strategy in ALL {
        let picked = picks(strategy, &eps, 10_000, |ep| ep.weight % 2 == 1);
        let counts = counts(&picked, 4);
        assert_eq!((counts[1], counts[3]), (0, 0), "{strategy:?}: {counts:?}");
        assert!(counts[0] > 0 && counts[2] > counts[0], "{strategy:?}: {counts:?}");
    }
}

#[test]
fn one_eligible_is_picked_none_gives_none() {
    let eps = endpoints(&[5, 1, 3]);
    let cursor = RouteCursor::default();
    for strategy in ALL {
        for _ in 0..100 {
            assert_eq!(pick(strategy, &eps, &cursor, |ep| ep.weight == 1), Some(1));
        }
        assert_eq!(pick(strategy, &eps, &cursor, |_| false), None);
        assert_eq!(pick(strategy, &eps[..0], &cursor, all), None);
        assert_eq!(pick(strategy, &eps[..1], &cursor, all), Some(0));
    }
}

#[test]
fn zero_weight_counts_as_one() {
    let eps = endpoints(&[0, 1]);
    assert_eq!(counts(&picks(Strategy::RoundRobin, &eps, 2000, all), 2), [1000, 1000]);
}

#[test]
fn more_candidates_than_inline_still_work() {
    fastrand::seed(3);
    let weights: Vec<u32> = (0..40).map(|i| i % 3 + 1).collect();
    let eps = endpoints(&weights);
    let total: u32 = weights.iter().sum();
    let rr = counts(&picks(Strategy::RoundRobin, &eps, total as usize * 10, all), 40);
    assert_eq!(rr, weights.iter().map(|&w| w as usize * 10).collect::<Vec<_>>());
    for strategy in [Strategy::P2c, Strategy::WeightedRandom] {
        let counts = counts(&picks(strategy, &eps, 50_000, |ep| ep.weight != 2), 40);
        for (count, &weight) in counts.iter().zip(&weights) {
            assert_eq!(*count == 0, weight == 2, "{strategy:?}: {counts:?}");
        }
    }
}

// === Load ===

#[test]
fn inflight_counts_guards_until_they_drop() {
    let load = Arc::new(Load::default());
    let first = load.start();
    let second = load.start();
    assert_eq!(load.inflight(), 2);
    drop(first);
    assert_eq!(load.inflight(), 1);
    drop(second);
    assert_eq!(load.inflight(), 0);
}

#[test]
fn cost_uses_the_default_until_measured_and_the_floor_after() {
    let load = Arc::new(Load::new());
    assert_eq!(load.latency(), None);
    assert_eq!(load.cost(), DEFAULT_LATENCY.as_secs_f64());
    let _guard = load.start();
    assert_eq!(load.cost(), 2.0 * DEFAULT_LATENCY.as_secs_f64());
    load.observe(ms(250));
    let latency = load.latency().unwrap();
    assert!(latency >= ms(250) && latency < ms(251), "{latency:?}");
    assert!((load.cost() - 0.5).abs() < 0.001, "{}", load.cost());
    let instant = Arc::new(Load::new());
    instant.observe(Duration::ZERO);
    let _guards = [instant.start(), instant.start()];
    assert!(instant.cost() >= 3.0 * FLOOR.as_secs_f64(), "{}", instant.cost());
}

#[tokio::test(start_paused = true)]
async fn latency_peaks_at_once_and_decays_with_time() {
    let close = |actual: Option<Duration>, expected: f64| {
        let actual = actual.unwrap().as_secs_f64();
        assert!((actual - expected).abs() < 1e-6, "{actual} != {expected}");
    };
    let load = Load::new();
    load.observe(ms(1000));
    close(load.latency(), 1.0);
    load.observe(ms(3000));
    close(load.latency(), 3.0);
    tokio::time::advance(TAU).await;
    load.observe(ms(100));
    let w = (-1.0f64).exp();
    let decayed = 3.0 * w + 0.1 * (1.0 - w);
    close(load.latency(), decayed);
    assert!((load.cost() - decayed).abs() < 1e-6);
    // Left alone, the estimate drifts back to the default.
    tokio::time::advance(TAU).await;
    close(load.latency(), 1.0 + (decayed - 1.0) * w);
    tokio::time::advance(TAU * 100).await;
    close(load.latency(), DEFAULT_LATENCY.as_secs_f64());
}

#[test]
fn load_is_shareable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Load>();
    assert_send_sync::<InFlight>();
    assert_send_sync::<RouteCursor>();
}

#[test]
fn concurrent_guards_balance_out() {
    let load = Arc::new(Load::new());
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let load = load.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    let _guard = load.start();
                    load.observe(ms(i % 50));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(load.inflight(), 0);
    assert!(load.latency().unwrap() < ms(50));
}

// === P2C ===

#[test]
fn p2c_prefers_fewer_requests_in_flight() {
    fastrand::seed(1);
    let eps = endpoints(&[1, 1, 1]);
    let guards: Vec<_> = (0..3).map(|_| eps[1].load.start()).collect();
    assert_eq!(counts(&picks(Strategy::P2c, &eps, 10_000, all), 3)[1], 0);
    let two = &eps[..2];
    assert_eq!(counts(&picks(Strategy::P2c, two, 1000, all), 2), [1000, 0]);
    drop(guards);
    let _guard = eps[0].load.start();
    assert_eq!(counts(&picks(Strategy::P2c, two, 1000, all), 2), [0, 1000]);
}

#[test]
fn p2c_prefers_lower_latency() {
    fastrand::seed(2);
    let eps = endpoints(&[1, 1]);
    eps[0].load.observe(ms(2000));
    eps[1].load.observe(ms(300));
    assert_eq!(counts(&picks(Strategy::P2c, &eps, 1000, all), 2), [0, 1000]);
    // Until the fast one is busy enough: 2 in flight make it cost 0.9 s, still
    // below 2 s; 7 make it 2.4 s.
    let guards: Vec<_> = (0..2).map(|_| eps[1].load.start()).collect();
    assert_eq!(counts(&picks(Strategy::P2c, &eps, 1000, all), 2), [0, 1000]);
    let more: Vec<_> = (0..5).map(|_| eps[1].load.start()).collect();
    assert_eq!(counts(&picks(Strategy::P2c, &eps, 1000, all), 2), [1000, 0]);
    drop((guards, more));
}

#[test]
fn new_endpoints_rank_between_fast_and_slow_ones() {
    fastrand::seed(4);
    let eps = endpoints(&[1, 1, 1]);
    eps[0].load.observe(ms(200));
    eps[2].load.observe(ms(5000));
    let three = counts(&picks(Strategy::P2c, &eps, 10_000, all), 3);
    assert_eq!(three[2], 0, "{three:?}");
    // The new one wins only when drawn with the slow one: 1/3 of pairs.
    let share = three[1] as f64 / 10_000.0;
    assert!((share - 1.0 / 3.0).abs() < 0.02, "{three:?}");
    // Head to head: never over the fast one, always over the slow one.
    assert_eq!(counts(&picks(Strategy::P2c, &eps[..2], 1000, all), 2), [1000, 0]);
    assert_eq!(counts(&picks(Strategy::P2c, &eps[1..], 1000, all), 2), [1000, 0]);
}

#[test]
fn p2c_counts_requests_in_flight_per_unit_of_weight() {
    fastrand::seed(5);
    let eps = endpoints(&[4, 1]);
    let _light = eps[1].load.start();
    // (3 / 4 + 1) x default against (1 / 1 + 1) x default.
    let heavy: Vec<_> = (0..3).map(|_| eps[0].load.start()).collect();
    assert_eq!(counts(&picks(Strategy::P2c, &eps, 1000, all), 2), [1000, 0]);
    // (5 / 4 + 1) x default against the same.
    let more = [eps[0].load.start(), eps[0].load.start()];
    assert_eq!(counts(&picks(Strategy::P2c, &eps, 1000, all), 2), [0, 1000]);
    drop((heavy, more));
}

#[test]
fn p2c_shares_a_busy_tier_by_weight() {
    fastrand::seed(6);
    let eps = endpoints(&[1, 2, 3]);
    let cursor = RouteCursor::default();
    // With only two or three in flight the shares cannot follow weights while
    // also keeping light endpoints busy; from a few per endpoint on, they do.
    for held in [1, 6, 12, 60, 200] {
        // Each request stays in flight for the next `held` picks.
        let mut inflight = std::collections::VecDeque::new();
        let mut counts = [0usize; 3];
        for _ in 0..100_000 {
            if inflight.len() == held {
                inflight.pop_front();
            }
            let i = pick(Strategy::P2c, &eps, &cursor, all).unwrap();
            counts[i] += 1;
            inflight.push_back(eps[i].load.start());
        }
        for (count, weight) in counts.iter().zip([1.0, 2.0, 3.0]) {
            let share = *count as f64 / 100_000.0;
            assert!((share - weight / 6.0).abs() < 0.02, "{held} in flight: {counts:?}");
        }
    }
}

// === Round robin ===

#[test]
fn round_robin_cycles_in_order() {
    let eps = endpoints(&[1, 1, 1]);
    assert_eq!(picks(Strategy::RoundRobin, &eps, 7, all), [0, 1, 2, 0, 1, 2, 0]);
    let eps = endpoints(&[1, 2]);
    let picked = picks(Strategy::RoundRobin, &eps, 3000, all);
    assert_eq!(&picked[..6], [1, 0, 1, 1, 0, 1]);
    assert_eq!(counts(&picked, 2), [1000, 2000]);
}

#[test]
fn round_robin_is_exact_in_every_cycle() {
    for weights in [&[1, 2, 3][..], &[67, 33], &[1, 1, 100], &[3, 5, 7, 11], &[u32::MAX, 1]] {
        let eps = endpoints(weights);
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let cursor = RouteCursor::default();
        if total > 1_000_000 {
            // Too long a cycle to walk. The heavy one is present at every step, the
            // light one once, at step `max - phase - 1` = 2^31 - 1 (its phase is
            // `max / 2`), after the heavy one: place 2^31. No overflow on the way.
            cursor.next.store((1 << 31) - 2, Relaxed);
            let picked: Vec<_> = (0..4).map(|_| pick(Strategy::RoundRobin, &eps, &cursor, all).unwrap()).collect();
            assert_eq!(picked, [0, 0, 1, 0], "{weights:?}");
            cursor.next.store(total - 1, Relaxed);
            let picked: Vec<_> = (0..3).map(|_| pick(Strategy::RoundRobin, &eps, &cursor, all).unwrap()).collect();
            assert_eq!(picked, [0, 0, 0], "{weights:?}");
            continue;
        }
        for _cycle in 0..3 {
            let picked: Vec<_> = (0..total).map(|_| pick(Strategy::RoundRobin, &eps, &cursor, all).unwrap()).collect();
            let counts = counts(&picked, weights.len());
            assert!(counts.iter().zip(weights).all(|(&c, &w)| c as u32 == w), "{weights:?}: {counts:?}");
        }
    }
}

#[test]
fn round_robin_spreads_picks_over_the_cycle() {
    // The longest run of one endpoint is bounded by the weight ratio.
    let longest_run = |weights: &[u32]| {
        let picked = picks(Strategy::RoundRobin, &endpoints(weights), weights.iter().sum::<u32>() as usize * 2, all);
        picked.chunk_by(|a, b| a == b).map(<[usize]>::len).max().unwrap()
    };
    assert!(longest_run(&[67, 33]) <= 3);
    assert_eq!(longest_run(&[1, 1]), 1);
    assert!(longest_run(&[1, 9]) <= 9);
    // Light endpoints are not served back to back.
    let picked = picks(Strategy::RoundRobin, &endpoints(&[1, 1, 100]), 102, all);
    let light: Vec<_> = picked.iter().enumerate().filter(|&(_, &i)| i < 2).map(|(at, _)| at).collect();
    assert!(light[1] - light[0] > 30, "{light:?}");
}

#[test]
fn round_robin_skips_ineligible_and_keeps_weights() {
    let eps = endpoints(&[1, 2, 3]);
    let picked = picks(Strategy::RoundRobin, &eps, 4000, |ep| ep.weight != 2);
    assert_eq!(counts(&picked, 3), [1000, 0, 3000]);
    // The cursor carries over when eligibility changes between picks.
    let cursor = RouteCursor::default();
    let mut counts = [0; 3];
    for i in 0..6000 {
        let down = if i < 3000 { 0 } else { 2 };
        counts[pick(Strategy::RoundRobin, &eps, &cursor, |ep| ep.weight != eps[down].weight).unwrap()] += 1;
    }
    // Weights 2, 3 for 600 cycles, then 1, 2 for 1000.
    assert_eq!(counts, [1000, 1200 + 2000, 1800]);
}
