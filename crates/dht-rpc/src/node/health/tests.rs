//! The health tracker against a direct model of spec §15 that recomputes everything from
//! the full history of snapshots at every tick.

use proptest::prelude::*;

use super::{Health, HealthUpdate};

/// Spec §15 read as a function of the whole history since the last reset.
fn model(snapshots: &[(u64, u64)]) -> (bool, bool) {
    let mut classes = Vec::new();
    for n in 1..snapshots.len() {
        // Cold: fewer than 4 snapshots recorded so far.
        if n + 1 < 4 {
            continue;
        }
        let r = snapshots[n].0 - snapshots[n - 1].0;
        let t = snapshots[n].1 - snapshots[n - 1].1;
        if r + t < 4 {
            continue; // idle
        }
        let class = if r == 0 {
            'o'
        } else if t as f64 / (r + t) as f64 > 0.5 {
            'd'
        } else {
            'h'
        };
        classes.push(class);
    }
    let (mut online, mut degraded) = (true, false);
    for i in 0..classes.len() {
        if classes[i] == 'o' {
            if i >= 1 && classes[i - 1] == 'o' {
                online = false;
                degraded = false;
            }
        } else {
            online = true;
            if i >= 3 {
                let w = &classes[i - 3..=i];
                if w.iter().all(|&c| c == 'd') {
                    degraded = true;
                }
                if w.iter().all(|&c| c == 'h') {
                    degraded = false;
                }
            }
        }
    }
    (online, degraded)
}

fn intervals() -> impl Strategy<Value = Vec<(u64, u64)>> {
    // Small counts so that idle, offline, degraded and healthy intervals all occur.
    prop::collection::vec(
        prop_oneof![
            (Just(0u64), 0u64..9),
            (0u64..3, 0u64..9),
            (0u64..9, 0u64..3),
            (0u64..3, 0u64..3),
        ],
        0..80,
    )
}

proptest! {
    #[test]
    fn matches_the_model(deltas in intervals(), reset_at in prop::option::of(0usize..80)) {
        let mut h = Health::new();
        let mut snapshots = Vec::new();
        let (mut r, mut t) = (0u64, 0u64);
        for (i, (dr, dt)) in deltas.into_iter().enumerate() {
            if reset_at == Some(i) {
                let before = (h.online(), h.degraded());
                let u = h.reset();
                snapshots.clear();
                prop_assert_eq!(u.is_some(), before != (true, false));
            }
            r += dr;
            t += dt;
            snapshots.push((r, t));
            let before = (h.online(), h.degraded());
            let u = h.update(r, t);
            let want = model(&snapshots);
            prop_assert_eq!((h.online(), h.degraded()), want);
            let expected = (before != want).then_some(HealthUpdate { online: want.0, degraded: want.1 });
            prop_assert_eq!(u, expected);
        }
    }
}

#[test]
fn a_dark_network_goes_offline_on_the_second_offline_interval_after_warming_up() {
    let mut h = Health::new();
    // Three snapshots with only timeouts: cold, nothing happens.
    assert_eq!(h.update(0, 5), None);
    assert_eq!(h.update(0, 10), None);
    assert_eq!(h.update(0, 15), None);
    assert!(h.online());
    // Fourth snapshot: the first offline interval.
    assert_eq!(h.update(0, 20), None);
    // Idle tick in between: neither counts nor breaks the streak.
    assert_eq!(h.update(0, 22), None);
    assert_eq!(
        h.update(0, 30),
        Some(HealthUpdate {
            online: false,
            degraded: false
        })
    );
    assert_eq!(h.update(0, 40), None);
    // One response among many timeouts is enough to be online again (and degraded needs
    // four such intervals).
    assert_eq!(
        h.update(1, 50),
        Some(HealthUpdate {
            online: true,
            degraded: false
        })
    );
    for i in 2..4 {
        assert_eq!(h.update(i, 50 + 10 * i), None);
    }
    assert_eq!(
        h.update(4, 90),
        Some(HealthUpdate {
            online: true,
            degraded: true
        })
    );
    assert_eq!(
        h.reset(),
        Some(HealthUpdate {
            online: true,
            degraded: false
        })
    );
    assert_eq!(h.reset(), None);
}

/// The transitions of the JS reference run in `docs/protocol-notes.md` ("dht-rpc: network
/// health, suspend and wake-up"), with per-tick counts shaped like that run's phases:
/// healthy, degraded (1 live and 4 dead pings a second), dark, then back with one live
/// peer of four.
#[test]
fn transitions_of_the_js_reference_run() {
    let phases: [(&str, u64, (u64, u64)); 4] = [
        ("healthy", 5, (15, 0)),
        ("degraded", 6, (5, 20)),
        ("dark", 6, (0, 20)),
        ("back", 5, (5, 15)),
    ];
    let mut h = Health::new();
    let (mut r, mut t) = (0, 0);
    let mut seen = Vec::new();
    for (phase, ticks, (dr, dt)) in phases {
        for i in 1..=ticks {
            r += dr;
            t += dt;
            if let Some(u) = h.update(r, t) {
                seen.push((phase, i, u.online, u.degraded));
            }
        }
    }
    assert_eq!(
        seen,
        [
            // The 4th degraded interval.
            ("degraded", 4, true, true),
            // The first dark interval changes nothing; the second: offline, not degraded.
            ("dark", 2, false, false),
            // Back: online at once; degraded again on the 4th degraded interval.
            ("back", 1, true, false),
            ("back", 4, true, true),
        ]
    );
}
