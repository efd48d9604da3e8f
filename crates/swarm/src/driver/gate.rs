//! The swarm's firewall and ban list as the hyperdht server's firewall (spec
//! `hyperswarm.md` §9, `hyperdht.md` §11 step 2): a client handshake from the swarm's own
//! key, from a banned peer, or one the user firewall rejects gets no handshake reply at
//! all, as in the reference, instead of being closed after the connection came up. The
//! hyperdht node calls it from its own task, so it reads a copy of the ban list that the
//! swarm's task keeps up to date; a user-firewall rejection is reported back to the
//! swarm's core (which bans the peer, counts it and emits the ban event).

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use plures_hyperdht::node::ServerConfig;
use tokio::sync::mpsc;

use super::Msg;
use crate::config::Firewall;

/// What the hyperdht server's firewall checks.
pub(crate) struct Gate {
    own: [u8; 32],
    banned: Mutex<HashSet<[u8; 32]>>,
    firewall: Option<Firewall>,
    report: mpsc::UnboundedSender<Msg>,
}

impl Gate {
    pub(crate) fn new(
        own: [u8; 32],
        firewall: Option<Firewall>,
        report: mpsc::UnboundedSender<Msg>,
    ) -> Arc<Self> {
        Arc::new(Self {
            own,
            banned: Mutex::new(HashSet::new()),
            firewall,
            report,
        })
    }

    /// Mirrors the core's ban flag of `key`.
    pub(crate) fn set_banned(&self, key: [u8; 32], banned: bool) {
        let mut set = self.banned.lock().unwrap_or_else(PoisonError::into_inner);
        if banned {
            set.insert(key);
        } else {
            set.remove(&key);
        }
    }

    /// Whether a client handshake from `key` is rejected (spec §9 `_handleFirewall`).
    fn rejects(&self, key: &[u8; 32]) -> bool {
        if *key == self.own {
            return true;
        }
        if self
            .banned
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
        {
            return true;
        }
        let reject = self.firewall.as_ref().is_some_and(|f| f(key));
        if reject {
            self.set_banned(*key, true);
            let _ = self.report.send(Msg::Firewalled(*key));
        }
        reject
    }

    /// The hyperdht server options that apply this gate.
    pub(crate) fn server_config(self: &Arc<Self>) -> ServerConfig {
        let gate = Arc::clone(self);
        ServerConfig {
            firewall: Some(Arc::new(move |key, _payload, _client| gate.rejects(key))),
        }
    }
}
