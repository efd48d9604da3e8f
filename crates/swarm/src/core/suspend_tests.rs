//! The suspend cycle (spec §12) against a small model: which topics are joined and
//! announced, which connections are open, whether the swarm is suspended. After every
//! step the core's actions must be what §12 says for the model's state: a suspend closes
//! exactly the open connections and attempts, unannounces exactly the announced topics,
//! aborts the running refreshes and suspends the dht last; nothing is dialled or
//! refreshed and incoming connections are refused until the dht resumed; then every
//! joined topic refreshes and the queue dials again; a network change probes every open
//! connection and refreshes every idle topic unless suspended.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use proptest::collection::vec;
use proptest::prelude::{Just, Strategy, prop_assert, prop_oneof, proptest};

use super::super::{Action, CloseReason, Core, Event, Incoming, Power, Rejection};
use crate::config::{JoinOptions, SwarmConfig};
use crate::error::SwarmError;

const OWN: [u8; 32] = [0x80; 32];

fn key(b: u8) -> [u8; 32] {
    [b; 32]
}

fn topic(b: u8) -> [u8; 32] {
    [0x10 + b; 32]
}

fn core(t0: Instant) -> Core {
    let cfg = SwarmConfig {
        backoffs: Some([1000, 5000, 15_000, 600_000].map(Duration::from_millis)),
        jitter: Duration::ZERO,
        seed: Some(3),
        ..SwarmConfig::default()
    };
    Core::new(&cfg, OWN, 0, t0)
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

#[derive(Debug, Clone, Copy)]
enum Step {
    Join(u8),
    Leave(u8),
    /// Finish the running refresh of a topic, finding peers `key(k)..key(k + 4)` on it
    /// (more than `max_parallel`, so some stay queued).
    RefreshDone(u8, u8),
    /// `join_peer(key(k))`.
    JoinPeer(u8),
    /// The oldest running dial succeeds (true) or fails.
    DialDone(bool),
    /// An incoming connection from `key(k)`.
    Incoming(u8),
    /// The remote closes the oldest open connection.
    RemoteClose,
    Suspend,
    DhtSuspended,
    Resume,
    DhtResumed,
    NetworkChange,
    /// Time passes (retries fire, refresh timers run).
    Wait(u16),
    Flush,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..3).prop_map(Step::Join),
        (0u8..3).prop_map(Step::Leave),
        (0u8..3, 1u8..6).prop_map(|(t, k)| Step::RefreshDone(t, k)),
        proptest::bool::ANY.prop_map(Step::DialDone),
        (1u8..6).prop_map(Step::Incoming),
        (1u8..9).prop_map(Step::JoinPeer),
        Just(Step::RemoteClose),
        Just(Step::Suspend),
        Just(Step::DhtSuspended),
        Just(Step::Resume),
        Just(Step::DhtResumed),
        Just(Step::NetworkChange),
        (1u16..20_000).prop_map(Step::Wait),
        Just(Step::Flush),
    ]
}

/// What §12 lets a reader predict.
#[derive(Debug, Default)]
struct Model {
    power: Power,
    /// Joined topics → (running refresh generation, announced).
    topics: BTreeMap<[u8; 32], (Option<u64>, bool)>,
    /// Open connections and running dials: key → (id, open).
    conns: BTreeMap<[u8; 32], (u64, bool)>,
    /// Dial order, oldest first.
    dialing: Vec<[u8; 32]>,
    /// Explicit peers joined since the last suspend (queued for the resume).
    joined_suspended: BTreeSet<[u8; 32]>,
}

impl Model {
    /// Applies the core's actions to the model, checking the ones that are checkable.
    fn apply(&mut self, actions: &[Action]) {
        for a in actions {
            match a {
                Action::Refresh {
                    topic, generation, ..
                } => {
                    assert!(!self.power.is_suspended(), "refresh while suspended");
                    if let Some(t) = self.topics.get_mut(topic) {
                        t.0 = Some(*generation);
                    }
                }
                Action::Dial { id, public_key } => {
                    assert!(!self.power.is_suspended(), "dial while suspended");
                    assert!(
                        !self.conns.contains_key(public_key),
                        "one connection per key"
                    );
                    self.conns.insert(*public_key, (*id, false));
                    self.dialing.push(*public_key);
                }
                Action::Close { public_key, id }
                    if self.conns.get(public_key).is_some_and(|c| c.0 == *id) =>
                {
                    self.conns.remove(public_key);
                    self.dialing.retain(|k| k != public_key);
                }
                _ => {}
            }
        }
    }
}

fn run(steps: &[Step]) {
    let t0 = Instant::now();
    let mut now = t0;
    let mut core = core(t0);
    let mut m = Model::default();
    for &s in steps {
        now += Duration::from_millis(10);
        match s {
            Step::Join(t) => {
                core.join(now, topic(t), JoinOptions::default())
                    .expect("join");
                m.topics.entry(topic(t)).or_insert((None, false));
                let (a, _) = drain(&mut core);
                if m.power.is_suspended() {
                    assert!(a.is_empty(), "join while suspended waits for resume: {a:?}");
                }
                m.apply(&a);
            }
            Step::Leave(t) => {
                core.leave(now, topic(t));
                m.topics.remove(&topic(t));
                let (a, _) = drain(&mut core);
                m.apply(&a);
            }
            Step::RefreshDone(t, k) => {
                let Some(&(Some(g), _)) = m.topics.get(&topic(t)) else {
                    continue;
                };
                let found = (k..k + 4).map(key).collect();
                core.handle_refresh_done(now, topic(t), g, Some(found));
                if let Some(e) = m.topics.get_mut(&topic(t)) {
                    *e = (None, true);
                }
                let (a, _) = drain(&mut core);
                m.apply(&a);
            }
            Step::DialDone(ok) => {
                let Some(k) = m.dialing.first().copied() else {
                    continue;
                };
                let id = m.conns[&k].0;
                m.dialing.remove(0);
                let kept = core.handle_dial_result(now, id, k, ok);
                assert_eq!(kept, ok);
                if ok {
                    m.conns.insert(k, (id, true));
                } else {
                    m.conns.remove(&k);
                }
                let (a, _) = drain(&mut core);
                m.apply(&a);
            }
            Step::JoinPeer(k) => {
                core.join_peer(now, key(k));
                if m.power.is_suspended() {
                    m.joined_suspended.insert(key(k));
                }
                let (a, _) = drain(&mut core);
                m.apply(&a);
            }
            Step::Incoming(k) => {
                let r = core.handle_incoming(now, key(k), false);
                if m.power.is_suspended() {
                    assert_eq!(r, Incoming::Reject(Rejection::Suspended));
                }
                let (a, _) = drain(&mut core);
                m.apply(&a);
                if let Incoming::Accept { id, .. } = r {
                    m.dialing.retain(|x| *x != key(k));
                    m.conns.insert(key(k), (id, true));
                }
            }
            Step::RemoteClose => {
                let Some((k, (id, _))) = m.conns.iter().find(|(_, c)| c.1).map(|(k, c)| (*k, *c))
                else {
                    continue;
                };
                m.conns.remove(&k);
                core.handle_closed(now, id, k, CloseReason::Remote);
                let (a, _) = drain(&mut core);
                m.apply(&a);
            }
            Step::Suspend => {
                let r = core.suspend(now).expect("not destroyed");
                let (a, e) = drain(&mut core);
                assert_eq!(r, !m.power.is_suspended());
                if !r {
                    assert!(a.is_empty());
                    continue;
                }
                // Exactly the open connections and attempts close.
                let closed: BTreeSet<u64> = a
                    .iter()
                    .filter_map(|x| match x {
                        Action::Close { id, .. } => Some(*id),
                        _ => None,
                    })
                    .collect();
                let expected: BTreeSet<u64> = m.conns.values().map(|c| c.0).collect();
                assert_eq!(closed, expected);
                // Exactly the announced (or announcing) topics are withdrawn; the
                // running refreshes are aborted.
                let unannounced: BTreeSet<[u8; 32]> = a
                    .iter()
                    .filter_map(|x| match x {
                        Action::Unannounce { topic } => Some(*topic),
                        _ => None,
                    })
                    .collect();
                let announced: BTreeSet<[u8; 32]> = m
                    .topics
                    .iter()
                    .filter(|(_, (g, ann))| *ann || g.is_some())
                    .map(|(t, _)| *t)
                    .collect();
                assert_eq!(unannounced, announced);
                let cancelled = a
                    .iter()
                    .filter(|x| matches!(x, Action::CancelRefresh { .. }))
                    .count();
                assert_eq!(
                    cancelled,
                    m.topics.values().filter(|t| t.0.is_some()).count()
                );
                assert_eq!(a.last(), Some(&Action::SuspendDht), "the dht goes last");
                assert!(e.contains(&Event::Update));
                m.conns.clear();
                m.dialing.clear();
                m.joined_suspended.clear();
                for t in m.topics.values_mut() {
                    *t = (None, false);
                }
                m.power = Power::Suspending;
            }
            Step::DhtSuspended => {
                core.handle_dht_suspended(now);
                let (a, e) = drain(&mut core);
                assert!(a.is_empty());
                let was = m.power == Power::Suspending;
                assert_eq!(e.contains(&Event::Suspended), was);
                if was {
                    m.power = Power::Suspended;
                }
            }
            Step::Resume => {
                let r = core.resume(now).expect("not destroyed");
                let (a, _) = drain(&mut core);
                let expect = matches!(m.power, Power::Suspending | Power::Suspended);
                assert_eq!(r, expect);
                if r {
                    assert_eq!(a, vec![Action::ResumeDht]);
                    m.power = Power::Resuming;
                } else {
                    assert!(a.is_empty());
                }
            }
            Step::DhtResumed => {
                core.handle_dht_resumed(now);
                let was = m.power == Power::Resuming;
                if was {
                    m.power = Power::Active;
                }
                let (a, e) = drain(&mut core);
                assert_eq!(e.contains(&Event::Resumed), was);
                if was {
                    // Every joined topic refreshes.
                    let refreshed: BTreeSet<[u8; 32]> = a
                        .iter()
                        .filter_map(|x| match x {
                            Action::Refresh {
                                topic, announce, ..
                            } => {
                                assert!(announce, "a server topic announces afresh");
                                Some(*topic)
                            }
                            _ => None,
                        })
                        .collect();
                    assert_eq!(refreshed, m.topics.keys().copied().collect());
                    // Explicit peers joined while suspended are dialled now.
                    let dialled = a.iter().any(|x| matches!(x, Action::Dial { .. }));
                    if !m.joined_suspended.is_empty() {
                        assert!(dialled, "explicit peers joined while suspended");
                    }
                }
                m.apply(&a);
            }
            Step::NetworkChange => {
                let did = core.network_change(now);
                assert_eq!(did, !m.power.is_suspended());
                let (a, e) = drain(&mut core);
                assert_eq!(e.contains(&Event::NetworkChange), did);
                if did {
                    let probed: BTreeSet<u64> = a
                        .iter()
                        .filter_map(|x| match x {
                            Action::KeepAlive { id, .. } => Some(*id),
                            _ => None,
                        })
                        .collect();
                    let open: BTreeSet<u64> =
                        m.conns.values().filter(|c| c.1).map(|c| c.0).collect();
                    assert_eq!(probed, open);
                    let refreshed: BTreeSet<[u8; 32]> = a
                        .iter()
                        .filter_map(|x| match x {
                            Action::Refresh { topic, .. } => Some(*topic),
                            _ => None,
                        })
                        .collect();
                    let idle: BTreeSet<[u8; 32]> = m
                        .topics
                        .iter()
                        .filter(|(_, t)| t.0.is_none())
                        .map(|(t, _)| *t)
                        .collect();
                    assert_eq!(refreshed, idle);
                } else {
                    assert!(a.is_empty());
                }
                m.apply(&a);
            }
            Step::Wait(ms) => {
                now += Duration::from_millis(u64::from(ms));
                core.handle_timeout(now);
                let (a, _) = drain(&mut core);
                m.apply(&a);
            }
            Step::Flush => {
                let idle = core.queue.is_empty();
                let id = core.flush(now);
                let (a, e) = drain(&mut core);
                if m.power.is_suspended() && idle {
                    // As the reference: a flush while suspended resolves at once
                    // (unless explicit peers joined meanwhile wait in the queue).
                    assert!(e.contains(&Event::Flushed {
                        flush: id,
                        ok: true
                    }));
                }
                m.apply(&a);
            }
        }
        // Invariants of a suspended swarm.
        if m.power.is_suspended() {
            assert_eq!(core.connections(), 0);
            assert_eq!(core.connecting(), 0);
            assert!(
                core.queue.len() <= m.joined_suspended.len(),
                "queue emptied but for explicit peers joined meanwhile"
            );
            assert!(
                core.timers.iter().all(|t| t.next().is_none()),
                "retry timers reset"
            );
            assert!(
                core.topics.values().all(|d| !d.refreshing),
                "no discovery runs"
            );
        }
        assert_eq!(core.power(), m.power);
        assert_eq!(core.connections(), m.conns.values().filter(|c| c.1).count());
    }
}

proptest! {
    #[test]
    fn the_suspend_cycle_follows_the_model(steps in vec(step(), 1..80)) {
        run(&steps);
        prop_assert!(true);
    }
}

#[test]
fn suspend_closes_everything_and_resume_redials_without_a_new_join() {
    let t0 = Instant::now();
    let mut c = core(t0);
    c.join(t0, topic(0), JoinOptions::default()).expect("join");
    let (a, _) = drain(&mut c);
    let g = match a[0] {
        Action::Refresh { generation, .. } => generation,
        _ => panic!("refresh first"),
    };
    c.handle_refresh_done(t0, topic(0), g, Some(vec![key(1), key(2)]));
    let (a, _) = drain(&mut c);
    let dials: Vec<_> = a
        .iter()
        .filter_map(|x| match x {
            Action::Dial { id, public_key } => Some((*id, *public_key)),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 2);
    c.handle_dial_result(t0, dials[0].0, dials[0].1, true);
    drain(&mut c);
    assert_eq!(c.connections(), 1);

    assert!(matches!(c.suspend(t0), Ok(true)));
    let (a, _) = drain(&mut c);
    assert!(a.contains(&Action::Unannounce { topic: topic(0) }));
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::Close { .. }))
            .count(),
        2
    );
    // The late report of the cancelled dial is ignored.
    assert!(!c.handle_dial_result(t0, dials[1].0, dials[1].1, true));
    // A retry that would have fired does not.
    c.handle_timeout(t0 + Duration::from_secs(60));
    let (a, _) = drain(&mut c);
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(c.poll_timeout(), None, "nothing scheduled while suspended");
    c.handle_dht_suspended(t0);
    assert_eq!(drain(&mut c).1, vec![Event::Suspended]);
    // Joining meanwhile is accepted (as the reference) and waits for resume.
    assert!(c.join(t0, topic(1), JoinOptions::default()).is_ok());
    assert!(drain(&mut c).0.is_empty());

    assert!(matches!(c.resume(t0), Ok(true)));
    assert_eq!(drain(&mut c).0, vec![Action::ResumeDht]);
    c.handle_dht_resumed(t0);
    let (a, e) = drain(&mut c);
    assert_eq!(e, vec![Event::Resumed]);
    let refreshed: Vec<_> = a
        .iter()
        .filter_map(|x| match x {
            Action::Refresh { topic, .. } => Some(*topic),
            _ => None,
        })
        .collect();
    assert_eq!(refreshed, vec![topic(0), topic(1)]);
    // The discovered peers come back with the refresh and are dialled again.
    let g = a
        .iter()
        .find_map(|x| match x {
            Action::Refresh {
                topic: t,
                generation,
                ..
            } if *t == topic(0) => Some(*generation),
            _ => None,
        })
        .expect("refresh of topic 0");
    c.handle_refresh_done(t0, topic(0), g, Some(vec![key(1), key(2)]));
    let (a, _) = drain(&mut c);
    assert_eq!(
        a.iter()
            .filter(|x| matches!(x, Action::Dial { .. }))
            .count(),
        2
    );

    c.destroy(t0);
    assert!(matches!(c.suspend(t0), Err(SwarmError::Destroyed)));
    assert!(matches!(c.resume(t0), Err(SwarmError::Destroyed)));
}
