//! Deterministic tests of the core against the spec's tables and a two-peer model.

use std::time::{Duration, Instant};

use proptest::prelude::{any, prop_assert, prop_assert_eq, prop_assume, proptest};

use super::*;
use crate::error::SwarmError;
use timers::Rng;

const TOPIC: [u8; 32] = [7; 32];
const MS: fn(u64) -> Duration = Duration::from_millis;

fn key(b: u8) -> [u8; 32] {
    [b; 32]
}

/// Back-offs without randomness: S, M, L, X = 1 s, 5 s, 15 s, 600 s.
fn config() -> SwarmConfig {
    SwarmConfig {
        backoffs: Some([MS(1000), MS(5000), MS(15_000), MS(600_000)]),
        jitter: Duration::ZERO,
        seed: Some(1),
        ..SwarmConfig::default()
    }
}

fn drain(core: &mut Core) -> (Vec<Action>, Vec<Event>) {
    let mut a = Vec::new();
    while let Some(x) = core.poll_action() {
        a.push(x);
    }
    let mut e = Vec::new();
    while let Some(x) = core.poll_event() {
        e.push(x);
    }
    (a, e)
}

fn dials(actions: &[Action]) -> Vec<(ConnId, [u8; 32])> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Dial { id, public_key } => Some((*id, *public_key)),
            _ => None,
        })
        .collect()
}

fn generation(actions: &[Action]) -> u64 {
    actions
        .iter()
        .find_map(|a| match a {
            Action::Refresh { generation, .. } => Some(*generation),
            _ => None,
        })
        .expect("a refresh")
}

fn flushed(events: &[Event]) -> Vec<(FlushId, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Flushed { flush, ok } => Some((*flush, *ok)),
            _ => None,
        })
        .collect()
}

/// A core (own key 0x80..) that joined `TOPIC` and discovered `peers`; returns the dials.
fn discovered(
    cfg: &SwarmConfig,
    t0: Instant,
    peers: &[[u8; 32]],
) -> (Core, Vec<(ConnId, [u8; 32])>) {
    let mut core = Core::new(cfg, key(0x80), 0, t0);
    core.join(t0, TOPIC, JoinOptions::default()).expect("join");
    let (a, _) = drain(&mut core);
    let g = generation(&a);
    core.handle_refresh_done(t0, TOPIC, g, Some(peers.to_vec()));
    let (a, _) = drain(&mut core);
    (core, dials(&a))
}

/// The spec's bulk timer (§8): ticks every floor(0.66·T) from the origin; an item added
/// at `t` fires at the second tick after `t`.
fn model_fire(origin: Instant, t: Instant, delay: Duration) -> Instant {
    let p = delay.as_millis() * 66 / 100;
    let since = (t - origin).as_millis();
    let tick = (since / p + 2) * p;
    origin + MS(u64::try_from(tick).expect("small"))
}

/// Lets a dial fail, then runs the clock to the retry; returns when the next dial started
/// (None: no retry).
fn fail_and_retry(
    core: &mut Core,
    now: Instant,
    id: ConnId,
    k: [u8; 32],
) -> Option<(Instant, ConnId)> {
    core.handle_dial_result(now, id, k, false);
    let (a, _) = drain(core);
    assert!(dials(&a).is_empty(), "no immediate redial");
    let at = core.poll_timeout()?;
    core.handle_timeout(at);
    let (a, _) = drain(core);
    let d = dials(&a);
    assert_eq!(d.len(), 1, "one redial at {at:?}");
    Some((at, d[0].0))
}

#[test]
fn a_peer_that_never_connects_is_retried_after_m_l_l_then_dropped() {
    let t0 = Instant::now();
    let (mut core, d) = discovered(&config(), t0, &[key(1)]);
    assert_eq!(d.len(), 1);
    let (mut id, mut now) = (d[0].0, t0 + MS(300));
    let mut delays = Vec::new();
    let expected = [MS(5000), MS(15_000), MS(15_000)];
    for want in expected {
        let (at, next) = fail_and_retry(&mut core, now, id, key(1)).expect("a retry");
        assert_eq!(at, model_fire(t0, now, want), "bulk timer grid");
        let waited = at - now;
        assert!(
            waited >= want * 66 / 100 && waited <= want * 132 / 100,
            "{waited:?} vs {want:?}"
        );
        delays.push(waited);
        (id, now) = (next, at + MS(250));
    }
    // The fourth failure: no timer, the record is collected.
    core.handle_dial_result(now, id, key(1), false);
    let (a, _) = drain(&mut core);
    assert!(dials(&a).is_empty());
    assert!(core.peer(&key(1)).is_none(), "collected after 4 failures");
    // The next discovery finds it again and dials at normal priority.
    let due = core.poll_timeout().expect("refresh timer");
    assert!(
        due >= t0 + MS(600_000) && due <= t0 + MS(720_000),
        "refresh in 10–12 min"
    );
    core.handle_timeout(due);
    let (a, _) = drain(&mut core);
    core.handle_refresh_done(due, TOPIC, generation(&a), Some(vec![key(1)]));
    let (a, _) = drain(&mut core);
    assert_eq!(dials(&a).len(), 1, "rediscovery resets the peer");
    assert_eq!(core.peer(&key(1)).expect("peer").attempts, 0);
}

#[test]
fn a_long_connection_that_drops_is_retried_after_s_with_very_high_priority() {
    let t0 = Instant::now();
    let (mut core, d) = discovered(&config(), t0, &[key(1)]);
    let (id, _) = d[0];
    assert!(core.handle_dial_result(t0, id, key(1), true));
    let drop_at = t0 + MS(20_000);
    core.handle_closed(drop_at, id, key(1), CloseReason::Remote);
    let p = core.peer(&key(1)).expect("peer");
    assert_eq!(
        (p.attempts, p.priority, p.waiting),
        (1, Priority::VeryHigh, true)
    );
    let at = core.poll_timeout().expect("retry");
    assert_eq!(at, model_fire(t0, drop_at, MS(1000)));
    core.handle_timeout(at);
    let (a, _) = drain(&mut core);
    let d = dials(&a);
    assert_eq!(d.len(), 1);
    // A short second connection does not reset the count: M follows.
    assert!(core.handle_dial_result(at, d[0].0, key(1), true));
    let drop2 = at + MS(2000);
    core.handle_closed(drop2, d[0].0, key(1), CloseReason::Remote);
    let p = core.peer(&key(1)).expect("peer");
    assert_eq!((p.attempts, p.priority), (2, Priority::High));
    assert_eq!(core.poll_timeout(), Some(model_fire(t0, drop2, MS(5000))));
}

#[test]
fn a_deliberate_close_is_not_retried() {
    let t0 = Instant::now();
    let (mut core, d) = discovered(&config(), t0, &[key(1)]);
    assert!(core.handle_dial_result(t0, d[0].0, key(1), true));
    core.handle_closed(t0 + MS(500), d[0].0, key(1), CloseReason::Local);
    let (a, _) = drain(&mut core);
    assert!(dials(&a).is_empty());
    assert!(core.peer(&key(1)).is_none(), "no retry keeps the record");
    let next = core.poll_timeout().expect("only the refresh");
    assert!(next >= t0 + MS(600_000));
}

#[test]
fn set_reconnect_false_disables_retries() {
    let t0 = Instant::now();
    let (mut core, d) = discovered(&config(), t0, &[key(1)]);
    assert!(core.handle_dial_result(t0, d[0].0, key(1), true));
    core.set_reconnect(&key(1), false);
    core.handle_closed(t0 + MS(500), d[0].0, key(1), CloseReason::Remote);
    assert!(core.poll_timeout().expect("refresh") >= t0 + MS(600_000));
}

#[test]
fn explicit_peers_redial_linearly_then_every_x() {
    let t0 = Instant::now();
    let mut core = Core::new(&config(), key(0x80), 0, t0);
    core.join_peer(t0, key(1));
    let (a, _) = drain(&mut core);
    let mut d = dials(&a);
    assert_eq!(d.len(), 1, "dialled at once");
    let mut now = t0;
    let mut gaps = Vec::new();
    loop {
        core.handle_dial_result(now, d[0].0, key(1), false);
        drain(&mut core);
        let at = core
            .poll_timeout()
            .expect("explicit peers are always retried");
        core.handle_timeout(at);
        let (a, _) = drain(&mut core);
        d = dials(&a);
        assert_eq!(d.len(), 1);
        gaps.push(at - now);
        now = at;
        if gaps.len() == 5 {
            break;
        }
    }
    // Linear: attempts × 1 s for the first 4 failures (the M/L retry timers come later).
    assert_eq!(&gaps[..4], &[MS(1000), MS(2000), MS(3000), MS(4000)]);
    // After more than 3 failures only X brings it back (≈ 0.66–1.32 × 600 s).
    let last = *gaps.last().expect("gap");
    assert!(last >= MS(396_000) && last <= MS(792_000), "{gaps:?}");
    assert_eq!(core.peer(&key(1)).expect("peer").priority, Priority::Low);
    // leave_peer stops it; the record goes once nothing holds it.
    core.handle_dial_result(now, d[0].0, key(1), true);
    core.leave_peer(now, key(1));
    assert!(core.peer(&key(1)).expect("connected").connected);
}

#[test]
fn at_most_three_dials_run_and_max_peers_caps_discovery_dials() {
    let t0 = Instant::now();
    let peers: Vec<_> = (1..=6).map(key).collect();
    let (mut core, d) = discovered(&config(), t0, &peers);
    assert_eq!(d.len(), 3, "maxParallel");
    assert_eq!(core.connecting(), 3);
    core.handle_dial_result(t0, d[0].0, d[0].1, true);
    let (a, _) = drain(&mut core);
    assert_eq!(dials(&a).len(), 1, "one slot freed");

    let cfg = SwarmConfig {
        max_peers: 2,
        ..config()
    };
    let (mut core, d) = discovered(&cfg, t0, &peers);
    assert_eq!(d.len(), 2, "factor 1 × 2 connections reaches maxPeers");
    // Incoming connections are not limited (maxServerConnections is not enforced).
    for b in 20..25 {
        assert!(matches!(
            core.handle_incoming(t0, key(b), false),
            Incoming::Accept { .. }
        ));
    }
    core.handle_dial_result(t0, d[0].0, d[0].1, false);
    let (a, _) = drain(&mut core);
    assert!(dials(&a).is_empty(), "over maxPeers: no new discovery dial");
}

#[test]
fn flush_waits_for_discovery_and_the_found_peers() {
    let t0 = Instant::now();
    let mut core = Core::new(&config(), key(0x80), 0, t0);
    core.join(t0, TOPIC, JoinOptions::default()).expect("join");
    let (a, _) = drain(&mut core);
    let f = core.flush(t0);
    assert!(flushed(&drain(&mut core).1).is_empty(), "refresh running");
    let peers: Vec<_> = (1..=4).map(key).collect();
    core.handle_refresh_done(t0, TOPIC, generation(&a), Some(peers));
    let (a, e) = drain(&mut core);
    assert!(flushed(&e).is_empty());
    let d = dials(&a);
    assert_eq!(d.len(), 3);
    core.handle_dial_result(t0, d[0].0, d[0].1, true);
    core.handle_dial_result(t0, d[1].0, d[1].1, false);
    let (a, e) = drain(&mut core);
    assert!(flushed(&e).is_empty(), "two left");
    let d4 = dials(&a);
    assert_eq!(d4.len(), 1, "the fourth peer");
    core.handle_dial_result(t0, d[2].0, d[2].1, true);
    assert!(flushed(&drain(&mut core).1).is_empty(), "one left");
    core.handle_dial_result(t0, d4[0].0, d4[0].1, false);
    assert_eq!(flushed(&drain(&mut core).1), vec![(f, true)]);
    // Nothing to do: resolves at once.
    let g = core.flush(t0);
    assert_eq!(flushed(&drain(&mut core).1), vec![(g, true)]);
}

#[test]
fn flush_resolves_at_capacity_and_false_on_destroy() {
    let t0 = Instant::now();
    let cfg = SwarmConfig {
        max_client_connections: 1,
        ..config()
    };
    let (mut core, d) = discovered(&cfg, t0, &[key(1), key(2)]);
    assert_eq!(d.len(), 1);
    let f = core.flush(t0);
    assert!(flushed(&drain(&mut core).1).is_empty());
    core.handle_dial_result(t0, d[0].0, d[0].1, true);
    assert_eq!(flushed(&drain(&mut core).1), vec![(f, true)], "at capacity");

    let (mut core, _) = discovered(&config(), t0, &[key(1)]);
    let f = core.flush(t0);
    drain(&mut core);
    core.destroy(t0);
    let (a, e) = drain(&mut core);
    assert_eq!(flushed(&e), vec![(f, false)]);
    assert!(
        a.iter().any(|x| matches!(x, Action::Close { .. })),
        "attempts closed"
    );
    assert!(matches!(
        core.join(t0, TOPIC, JoinOptions::default()),
        Err(SwarmError::Destroyed)
    ));
}

#[test]
fn firewall_rejects_bans_and_flush_still_resolves() {
    let t0 = Instant::now();
    let cfg = SwarmConfig {
        firewall: Some(std::sync::Arc::new(|k: &[u8; 32]| k[0] == 2)),
        ..config()
    };
    let mut core = Core::new(&cfg, key(0x80), 0, t0);
    core.join(t0, TOPIC, JoinOptions::default()).expect("join");
    let (a, _) = drain(&mut core);
    let f = core.flush(t0);
    core.handle_refresh_done(t0, TOPIC, generation(&a), Some(vec![key(2)]));
    let (a, e) = drain(&mut core);
    assert!(dials(&a).is_empty());
    assert!(e.contains(&Event::Ban { public_key: key(2) }));
    assert!(flushed(&e).contains(&(f, true)));
    assert!(core.peer(&key(2)).expect("kept").banned);
    assert_eq!(core.stats().banned_peers, 1);
    assert_eq!(
        core.handle_incoming(t0, key(2), false),
        Incoming::Reject(Rejection::Firewalled)
    );
    assert_eq!(
        core.handle_incoming(t0, key(0x80), false),
        Incoming::Reject(Rejection::Firewalled),
        "own key"
    );
}

/// A handshake the hyperdht server's firewall rejected (the driver's gate) bans the peer
/// once, and the ban keeps it from being dialled; an unban lifts it.
#[test]
fn a_firewalled_handshake_bans_the_peer_once() {
    let t0 = Instant::now();
    let mut core = Core::new(&config(), key(0x80), 0, t0);
    core.handle_firewalled(t0, key(3));
    core.handle_firewalled(t0, key(3));
    let (_, e) = drain(&mut core);
    assert_eq!(e, vec![Event::Ban { public_key: key(3) }]);
    assert!(core.is_banned(&key(3)));
    assert_eq!(core.stats().banned_peers, 1);
    core.join_peer(t0, key(3));
    let (a, _) = drain(&mut core);
    assert!(dials(&a).is_empty(), "a banned peer is not dialled");
    core.ban(&key(3), false);
    assert!(!core.is_banned(&key(3)));
}

#[test]
fn leave_stops_discovery_and_keeps_connections() {
    let t0 = Instant::now();
    let (mut core, d) = discovered(&config(), t0, &[key(1)]);
    core.handle_dial_result(t0, d[0].0, key(1), true);
    drain(&mut core);
    core.leave(t0, TOPIC);
    let (a, _) = drain(&mut core);
    assert_eq!(a, vec![Action::Unannounce { topic: TOPIC }]);
    assert_eq!(core.connections(), 1);
    assert_eq!(core.poll_timeout(), None, "no refresh timer left");
    // A drop after leaving is not retried (no joined topic).
    core.handle_closed(t0 + MS(100), d[0].0, key(1), CloseReason::Remote);
    assert_eq!(core.poll_timeout(), None);
}

#[test]
fn join_options_choose_announce_and_lookup() {
    let t0 = Instant::now();
    let mut core = Core::new(&config(), key(0x80), 0, t0);
    core.join(t0, TOPIC, JoinOptions::server_only())
        .expect("join");
    let (a, _) = drain(&mut core);
    assert!(matches!(
        a[..],
        [Action::Refresh {
            announce: true,
            lookup: false,
            unannounce: false,
            ..
        }]
    ));
    core.handle_refresh_done(t0, TOPIC, generation(&a), Some(vec![key(1)]));
    assert!(
        dials(&drain(&mut core).0).is_empty(),
        "server-only does not dial"
    );
    core.join(t0, TOPIC, JoinOptions::client_only())
        .expect("join");
    let (a, _) = drain(&mut core);
    assert!(matches!(
        a[..],
        [Action::Refresh {
            announce: false,
            lookup: true,
            unannounce: true,
            ..
        }]
    ));
    assert!(matches!(
        core.join(
            t0,
            TOPIC,
            JoinOptions {
                server: false,
                client: false,
                limit: None
            }
        ),
        Err(SwarmError::NoRole)
    ));
}

#[test]
fn join_limit_caps_new_peers_per_refresh() {
    let t0 = Instant::now();
    let mut core = Core::new(&config(), key(0x80), 0, t0);
    let opts = JoinOptions {
        limit: Some(2),
        ..JoinOptions::default()
    };
    core.join(t0, TOPIC, opts).expect("join");
    let (a, _) = drain(&mut core);
    core.handle_refresh_done(t0, TOPIC, generation(&a), Some((1..=5).map(key).collect()));
    assert_eq!(dials(&drain(&mut core).0).len(), 2);
}

#[test]
fn a_late_refresh_timer_is_moved_not_run() {
    let t0 = Instant::now();
    let (mut core, _) = discovered(&config(), t0, &[]);
    let due = core.poll_timeout().expect("refresh");
    let late = due + MS(60_000);
    core.handle_timeout(late);
    let (a, _) = drain(&mut core);
    assert!(a.is_empty(), "no refresh when the timer fired > 30 s late");
    let next = core.poll_timeout().expect("moved");
    assert!(next >= late && next <= late + MS(120_000));
    core.handle_timeout(next);
    assert!(matches!(drain(&mut core).0[..], [Action::Refresh { .. }]));
}

// ---- duplicate resolution: two cores dial each other at once ----

/// One direction of a link: `from` dialled `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    from: usize,
    id: ConnId,
}

/// What can happen next in the two-peer model.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The dialler's side of a link opens (hyperdht connect returned).
    Open(usize),
    /// The link's handshake reaches the other side's server.
    Arrive(usize),
}

/// Runs both dials to completion in the order `order` picks from the pending steps;
/// returns, per side, the surviving connection's initiator (side index).
fn run_pair(a_key: u8, b_key: u8, order: &[usize]) -> [Option<usize>; 2] {
    let t0 = Instant::now();
    let keys = [key(a_key), key(b_key)];
    let mut cores = [0, 1].map(|i| Core::new(&config(), keys[i], 0, t0));
    let mut links = Vec::new();
    for i in 0..2 {
        cores[i].join_peer(t0, keys[1 - i]);
        let (a, _) = drain(&mut cores[i]);
        let d = dials(&a);
        assert_eq!(d.len(), 1);
        links.push(Link {
            from: i,
            id: d[0].0,
        });
    }
    // survivors[side] = (link dialled by, local conn id) of the connection each side keeps.
    let mut held: [Vec<(usize, ConnId)>; 2] = [Vec::new(), Vec::new()];
    let mut pending: Vec<Step> = vec![
        Step::Open(0),
        Step::Open(1),
        Step::Arrive(0),
        Step::Arrive(1),
    ];
    let mut dead = [false; 2]; // link closed by either side
    let mut k = 0;
    while !pending.is_empty() {
        let pick = order.get(k).copied().unwrap_or(0) % pending.len();
        k += 1;
        let step = pending.remove(pick);
        match step {
            Step::Open(l) => {
                let Link { from, id } = links[l];
                let keep = cores[from].handle_dial_result(t0, id, keys[1 - from], !dead[l]);
                if keep {
                    held[from].push((l, id));
                }
            }
            Step::Arrive(l) => {
                let to = 1 - links[l].from;
                if dead[l] {
                    continue;
                }
                match cores[to].handle_incoming(t0, keys[links[l].from], false) {
                    Incoming::Accept { id, .. } => held[to].push((l, id)),
                    Incoming::Reject(_) => dead[l] = true,
                }
            }
        }
        // Apply closes the cores asked for: the link dies for both ends.
        for side in 0..2 {
            let (a, _) = drain(&mut cores[side]);
            for act in a {
                if let Action::Close { id, .. } = act {
                    if let Some(pos) = held[side].iter().position(|(_, i)| *i == id) {
                        let (l, _) = held[side].remove(pos);
                        dead[l] = true;
                    } else if let Some(l) = links.iter().position(|x| x.from == side && x.id == id)
                    {
                        dead[l] = true;
                    }
                }
            }
        }
        // Ends that hold a dead link see it close.
        for side in 0..2 {
            let gone: Vec<_> = held[side]
                .iter()
                .copied()
                .filter(|(l, _)| dead[*l])
                .collect();
            for (_, id) in gone {
                held[side].retain(|x| x.1 != id);
                cores[side].handle_closed(t0, id, keys[1 - side], CloseReason::Remote);
            }
        }
    }
    let mut out = [None, None];
    for side in 0..2 {
        assert!(held[side].len() <= 1, "side {side} holds {:?}", held[side]);
        assert_eq!(cores[side].connections(), held[side].len());
        out[side] = held[side].first().map(|(l, _)| links[*l].from);
    }
    out
}

proptest! {
    #[test]
    fn simultaneous_dials_leave_one_connection_initiated_by_the_larger_key(
        a in 1u8..=254, b in 1u8..=254, order in proptest::collection::vec(0usize..4, 4)
    ) {
        prop_assume!(a != b);
        let got = run_pair(a, b, &order);
        let larger = if a > b { 0 } else { 1 };
        prop_assert_eq!(got, [Some(larger), Some(larger)]);
    }

    #[test]
    fn bulk_timer_fires_between_0_66_and_1_32_of_the_delay(
        added in 0u64..10_000_000, delay in 2u64..1_000_000
    ) {
        let t0 = Instant::now();
        let mut t = BulkTimer::new(t0, MS(delay));
        let now = t0 + MS(added);
        let at = t.add(now, key(1));
        let p = MS(delay * 66 / 100);
        prop_assert!(at > now + p && at <= now + 2 * p);
        prop_assert_eq!(at, model_fire(t0, now, MS(delay)));
        prop_assert!(t.expire(at - Duration::from_nanos(1)).is_empty());
        prop_assert_eq!(t.expire(at), vec![key(1)]);
    }
}

#[test]
fn an_outdated_existing_connection_loses_to_the_new_one() {
    let t0 = Instant::now();
    // We hold the larger key, so a fresh duplicate would lose; an outdated one wins.
    let mut core = Core::new(&config(), key(0x80), 0, t0);
    let first = match core.handle_incoming(t0, key(1), false) {
        Incoming::Accept { id, .. } => id,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        core.handle_incoming(t0, key(1), false),
        Incoming::Reject(Rejection::Duplicate)
    );
    match core.handle_incoming(t0, key(1), true) {
        Incoming::Accept { replaced, .. } => assert_eq!(replaced, Some(first)),
        other => panic!("{other:?}"),
    }
    let (a, _) = drain(&mut core);
    assert!(a.contains(&Action::Close {
        id: first,
        public_key: key(1)
    }));
    assert_eq!(core.connections(), 1);
}

#[test]
fn the_queue_pops_the_highest_priority_first() {
    let mut rng = Rng::new(3);
    let mut q = Queue::default();
    q.push(key(1), Priority::Normal);
    q.push(key(2), Priority::VeryHigh);
    q.push(key(3), Priority::Low);
    q.push(key(4), Priority::High);
    let order: Vec<_> = std::iter::from_fn(|| q.pop(&mut rng))
        .map(|k| k[0])
        .collect();
    assert_eq!(order, vec![2, 4, 1, 3]);
}

#[test]
fn spec_priority_and_backoff_tables() {
    use Priority::*;
    let got: Vec<_> = (0..5).map(Priority::from_attempts).collect();
    assert_eq!(got, vec![Normal, VeryHigh, High, Low, VeryLow]);
    use Backoff::*;
    let proven: Vec<_> = (1..5).map(|a| Backoff::choose(a, true, false)).collect();
    assert_eq!(proven, vec![Some(Short), Some(Medium), Some(Long), None]);
    let unproven: Vec<_> = (1..5).map(|a| Backoff::choose(a, false, false)).collect();
    assert_eq!(unproven, vec![Some(Medium), Some(Long), Some(Long), None]);
    assert_eq!(Backoff::choose(4, false, true), Some(Extra));
    // Default draws lie in the spec's ranges (+ jitter ≤ 500 ms).
    for seed in 0..50 {
        let b = Backoffs::draw(&mut Rng::new(seed), None, MS(500));
        let within = |d: Duration, lo: u64, span: u64| d >= MS(lo) && d < MS(lo + span + 500);
        assert!(within(b.get(Short), 1000, 500));
        assert!(within(b.get(Medium), 5000, 1000));
        assert!(within(b.get(Long), 15_000, 2000));
        assert!(within(b.get(Extra), 600_000, 120_000));
    }
}

#[test]
fn defaults_follow_the_spec() {
    let c = SwarmConfig::default();
    assert_eq!(c.max_peers, 64);
    assert_eq!(c.max_client_connections, usize::MAX);
    assert_eq!(c.max_server_connections, usize::MAX);
    assert_eq!(c.max_parallel, 3);
    assert_eq!(c.jitter, MS(500));
    assert_eq!(c.refresh_interval, MS(600_000));
    let j = JoinOptions::default();
    assert!(j.server && j.client && j.limit.is_none());
}

proptest! {
    /// Model: a flush started after a discovery pass resolves exactly when every peer that
    /// pass produced has finished its first attempt; at most `max_parallel` dials run and
    /// at most `max_client_connections` outgoing connections exist at any time.
    #[test]
    fn flush_resolves_when_every_found_peer_was_tried(
        n in 0usize..10,
        outcomes in proptest::collection::vec(any::<bool>(), 10),
        picks in proptest::collection::vec(0usize..10, 10),
        max_client in 1usize..12,
    ) {
        let t0 = Instant::now();
        let cfg = SwarmConfig { max_client_connections: max_client, ..config() };
        let peers: Vec<_> = (1..=n as u8).map(key).collect();
        let mut core = Core::new(&cfg, key(0x80), 0, t0);
        core.join(t0, TOPIC, JoinOptions::default()).expect("join");
        let (a, _) = drain(&mut core);
        let f = core.flush(t0);
        core.handle_refresh_done(t0, TOPIC, generation(&a), Some(peers.clone()));
        let (a, mut e) = drain(&mut core);
        let mut pending = dials(&a);
        let mut opened = 0usize;
        let mut resolved = !flushed(&e).is_empty();
        // Each step finishes one attempt, so `step` attempts have been tried.
        for step in 0.. {
            let tried = step;
            prop_assert!(pending.len() <= 3);
            prop_assert!(opened + pending.len() <= max_client);
            // The model: done when all were tried, or capacity is reached with no dial left.
            let capacity = opened >= max_client;
            let done = tried == n || (capacity && pending.is_empty());
            prop_assert_eq!(resolved, done, "step {} tried {} of {}", step, tried, n);
            if pending.is_empty() {
                break;
            }
            let i = picks[step % picks.len()] % pending.len();
            let (id, k) = pending.swap_remove(i);
            let ok = outcomes[step % outcomes.len()];
            core.handle_dial_result(t0, id, k, ok);
            if ok {
                opened += 1;
            }
            let (a, ev) = drain(&mut core);
            pending.extend(dials(&a));
            e = ev;
            if flushed(&e).contains(&(f, true)) {
                resolved = true;
            }
        }
    }
}

#[test]
fn flush_resolves_with_a_connected_explicit_peer() {
    let t0 = Instant::now();
    // Explicit peer only.
    let mut core = Core::new(&config(), key(0x80), 0, t0);
    core.join_peer(t0, key(1));
    let (a, _) = drain(&mut core);
    let d = dials(&a);
    assert_eq!(d.len(), 1);
    core.handle_dial_result(t0, d[0].0, key(1), true);
    drain(&mut core);
    let f = core.flush(t0);
    assert_eq!(flushed(&drain(&mut core).1), vec![(f, true)]);

    // Explicit peer that the topic's discovery also finds, before and after it connected.
    for connect_first in [true, false] {
        let mut core = Core::new(&config(), key(0x80), 0, t0);
        core.join(t0, TOPIC, JoinOptions::default()).expect("join");
        let (a, _) = drain(&mut core);
        let g = generation(&a);
        core.join_peer(t0, key(1));
        let (a, _) = drain(&mut core);
        let d = dials(&a);
        assert_eq!(d.len(), 1);
        if connect_first {
            core.handle_dial_result(t0, d[0].0, key(1), true);
            drain(&mut core);
        }
        let f = core.flush(t0);
        core.handle_refresh_done(t0, TOPIC, g, Some(vec![key(1)]));
        let (a, mut events) = drain(&mut core);
        assert!(dials(&a).is_empty(), "already connected or connecting");
        if !connect_first {
            assert!(flushed(&events).is_empty(), "the dial is still running");
            core.handle_dial_result(t0, d[0].0, key(1), true);
            events.extend(drain(&mut core).1);
        }
        assert_eq!(flushed(&events), vec![(f, true)], "{connect_first}");
    }
}
