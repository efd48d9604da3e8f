//! Lookups converge to the true closest set.
//!
//! Two response orders are measured. With the reference's closer-node order (table rows
//! `d, d-1, …, 0, d+1, …`, spec §8) a responder can leave out nodes that share exactly `d`
//! bits with the target in favour of farther ones, so a lookup sometimes misses one or two
//! of the 20 truly closest nodes; the tests measure how often and assert a floor. With
//! `Config::sorted_closer_nodes` every lookup must be exact.

use std::time::Duration;

use plures_sim::{HostId, LinkConfig, Loss, Sim, sim_test};

use plures_dht_rpc::Command;

use crate::adapter::{COMMAND, SimNode, brute_force, lookup, network, target};

const LOOKUPS: u64 = 20;

fn link(loss: f64) -> LinkConfig {
    LinkConfig {
        jitter: Duration::from_millis(20),
        loss: if loss > 0.0 {
            Loss::Bernoulli(loss)
        } else {
            Loss::None
        },
        ..LinkConfig::with_latency(Duration::from_millis(30))
    }
}

/// Results of one round of lookups.
struct Round {
    exact: usize,
    min_found: usize,
    mean_found: f64,
    hops: u32,
}

/// Runs `LOOKUPS` lookups from spread-out live nodes.
fn round(sim: &mut Sim, hosts: &[HostId], live: &[HostId], salt: u64) -> Round {
    let (mut exact, mut min_found, mut hops, mut total) = (0, 20, 0, 0);
    for i in 0..LOOKUPS {
        let from = live[(i as usize * 37 + 5) % live.len()];
        let r = lookup(sim, hosts, from, target(salt + i));
        exact += usize::from(r.exact);
        min_found = min_found.min(r.found);
        total += r.found;
        hops = hops.max(r.stats.hops);
    }
    Round {
        exact,
        min_found,
        mean_found: total as f64 / LOOKUPS as f64,
        hops,
    }
}

#[test]
fn hundred_nodes_converge() {
    for sorted in [false, true] {
        sim_test(1, |sim: &mut Sim| {
            sim.set_default_link(link(0.0));
            let hosts = network(
                sim,
                100,
                Duration::from_millis(100),
                Duration::from_secs(120),
                sorted,
            );
            let Round {
                exact,
                min_found,
                hops,
                ..
            } = round(sim, &hosts, &hosts, 0);
            println!(
                "100 nodes, sorted_closer_nodes={sorted}: {exact}/{LOOKUPS} lookups exact, \
                 worst lookup found {min_found}/20, max hops {hops}"
            );
            if sorted {
                assert_eq!(exact, LOOKUPS as usize);
            } else {
                assert!(min_found >= 17 && exact * 2 >= LOOKUPS as usize);
            }
        });
    }
}

/// Kills every fifth node except the bootstrapper; returns the live ones.
fn churn(sim: &mut Sim, hosts: &[HostId]) -> Vec<HostId> {
    let mut live = Vec::new();
    for (i, &h) in hosts.iter().enumerate() {
        if i % 5 == 0 && i > 0 {
            sim.host_mut::<SimNode>(h).dead = true;
        } else {
            live.push(h);
        }
    }
    live
}

/// 20 % of the nodes die mid-run: tables shed them through query timeouts, DOWN_HINTs and
/// maintenance pings, and lookups become exact again within two rounds.
#[test]
fn churn_converges_exactly() {
    sim_test(4, |sim: &mut Sim| {
        sim.set_default_link(link(0.0));
        let hosts = network(
            sim,
            100,
            Duration::from_millis(100),
            Duration::from_secs(120),
            true,
        );
        let live = churn(sim, &hosts);
        for rounds in 1..=2 {
            let r = round(sim, &hosts, &live, 100);
            println!(
                "churn 20 %: round {rounds}: {}/{LOOKUPS} exact, worst found {}/20",
                r.exact, r.min_found
            );
            if r.exact == LOOKUPS as usize {
                return;
            }
        }
        panic!("lookups not exact within 2 rounds after churn");
    });
}

/// 5 % loss on every link plus 20 % churn. Loss makes some first attempts time out, and
/// the reference's query ends once only such "slow" requests remain and k replies are in
/// (spec §10), so a lookup can miss a closest node whose first reply was lost: the test
/// asserts a recall floor per round instead of exactness, within 3 rounds.
#[test]
fn loss_and_churn_converge() {
    for sorted in [false, true] {
        sim_test(2, |sim: &mut Sim| {
            sim.set_default_link(link(0.05));
            let hosts = network(
                sim,
                100,
                Duration::from_millis(100),
                Duration::from_secs(120),
                sorted,
            );
            let live = churn(sim, &hosts);
            const MAX_ROUNDS: u64 = 3;
            for rounds in 1..=MAX_ROUNDS {
                let start = sim.now();
                let r = round(sim, &hosts, &live, 100);
                println!(
                    "loss 5 %, churn 20 %, sorted_closer_nodes={sorted}: round {rounds}: \
                     {}/{LOOKUPS} exact, found worst {}/20 mean {:.2}/20, round took {:?}",
                    r.exact,
                    r.min_found,
                    r.mean_found,
                    sim.now() - start
                );
                if r.min_found >= 16 && r.mean_found >= 18.5 {
                    return;
                }
                assert!(
                    rounds < MAX_ROUNDS,
                    "no convergence within {MAX_ROUNDS} rounds"
                );
            }
        });
    }
}

/// 1 000 nodes; too slow for a debug build. Run with
/// `cargo test -p plures-dht-rpc --release --test sim -- --ignored --nocapture thousand`.
#[test]
#[ignore]
fn thousand_nodes_hops_and_messages() {
    for sorted in [false, true] {
        sim_test(3, |sim: &mut Sim| {
            sim.set_default_link(link(0.0));
            let hosts = network(
                sim,
                1000,
                Duration::from_millis(20),
                Duration::from_secs(120),
                sorted,
            );
            let (
                mut exact,
                mut found,
                mut hops,
                mut max_hops,
                mut visited,
                mut requests,
                mut datagrams,
            ) = (0, 0, 0, 0, 0, 0, 0);
            let n = 50u64;
            for i in 0..n {
                let from = hosts[(i as usize * 373 + 11) % hosts.len()];
                let r = lookup(sim, &hosts, from, target(1000 + i));
                exact += usize::from(r.exact);
                found += r.found;
                hops += r.stats.hops;
                max_hops = max_hops.max(r.stats.hops);
                visited += r.stats.visited;
                requests += r.requests;
                datagrams += r.datagrams;
            }
            let n_f = n as f64;
            println!(
                "1000 nodes, sorted_closer_nodes={sorted}, {n} lookups: {exact} exact, mean found {:.2}/20; \
                 hops mean {:.2} max {max_hops}; visited mean {:.1}; querier requests mean {:.1}; \
                 datagrams network-wide per lookup mean {:.1}",
                found as f64 / n_f,
                f64::from(hops) / n_f,
                visited as f64 / n_f,
                requests as f64 / n_f,
                datagrams as f64 / n_f,
            );
        });
    }
}

/// A user-command query with commit: the lookup streams replies, then every closest node
/// receives the command again with the token it handed out.
#[test]
fn commit_reaches_closest_with_tokens() {
    sim_test(5, |sim: &mut Sim| {
        sim.set_default_link(link(0.0));
        let hosts = network(
            sim,
            40,
            Duration::from_millis(100),
            Duration::from_secs(60),
            true,
        );
        let from = hosts[7];
        let t = target(77);
        let now = sim.now();
        let q = sim
            .host_mut::<SimNode>(from)
            .dht
            .query(now, t, Command::User(COMMAND), Some(b"hello"), true)
            .unwrap();
        sim.run_until_cond(|s| s.host::<SimNode>(from).done.iter().any(|d| d.0 == q))
            .unwrap();
        let (_, closest, stats) = sim
            .host::<SimNode>(from)
            .done
            .iter()
            .find(|d| d.0 == q)
            .cloned()
            .unwrap();
        let want = brute_force(sim, &hosts, &t, from);
        assert_eq!(closest.iter().map(|p| p.addr).collect::<Vec<_>>(), want);
        assert_eq!(stats.commits, 20);
        for &h in &hosts {
            let n = sim.host::<SimNode>(h);
            let expected = usize::from(want.contains(&n.addr));
            assert_eq!(n.commits, expected, "commits at {}", n.addr);
        }
    });
}
