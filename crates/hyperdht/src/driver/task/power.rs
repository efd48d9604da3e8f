//! Suspend, resume and network changes in the node's task: the core decides
//! (`node/suspend.rs`); this answers the callers and tells subscribers.

use std::io;

use tokio::sync::{broadcast, oneshot};

use super::{Cmd, Task};
use crate::node::{Event, OpError};

/// What a [`HyperDhtNode`](crate::driver::HyperDhtNode) reports to those who
/// [`subscribe`](crate::driver::HyperDhtNode::subscribe)d.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeEvent {
    /// The node finished suspending: its servers' announcements are withdrawn and it is
    /// silent.
    Suspended,
    /// The node resumed: timers run, the table is refreshed, servers re-announce.
    Resumed,
    /// The network changed: servers re-announce; announcements made by the layer above
    /// should be refreshed and connections probed.
    NetworkChange,
    /// The dht-rpc core's network health changed (dht-rpc §15, `network-update`). When
    /// `online` goes false → true the servers re-announce; the layer above should do
    /// what it does on [`NetworkChange`](Self::NetworkChange).
    NetworkUpdate {
        /// Whether the node is online.
        online: bool,
        /// Whether the network looks degraded.
        degraded: bool,
    },
    /// The dht-rpc core ran its wake-up procedure (dht-rpc §16): after `resume` or after
    /// the machine slept.
    Wakeup,
}

/// The task's share of the suspend cycle.
#[derive(Debug)]
pub(super) struct PowerState {
    events: broadcast::Sender<NodeEvent>,
    /// Callers of `suspend` waiting for [`Event::Suspended`].
    suspending: Vec<oneshot::Sender<()>>,
}

impl Default for PowerState {
    fn default() -> Self {
        Self {
            events: broadcast::channel(64).0,
            suspending: Vec::new(),
        }
    }
}

/// The error of a connect or operation refused because the node is suspended.
pub(crate) fn suspended() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, OpError::Suspended)
}

impl Task {
    /// Handles the suspend-related commands, and connects while suspended; passes every
    /// other command back.
    pub(super) fn power_command(&mut self, c: Cmd) -> Option<Cmd> {
        let t = super::now();
        match c {
            Cmd::Suspend(done) => {
                if self.core.suspend(t) {
                    // Pending connects will not complete while suspended.
                    for (_, done) in self.conns.drain() {
                        let _ = done.send(Err(suspended()));
                    }
                    self.power.suspending.push(done);
                } else if self.core.is_suspended() && !self.power.suspending.is_empty() {
                    self.power.suspending.push(done);
                } else {
                    let _ = done.send(());
                }
                None
            }
            Cmd::Resume(done) => {
                let resumed = self.core.resume(t);
                for w in self.power.suspending.drain(..) {
                    let _ = w.send(());
                }
                let _ = done.send(resumed);
                None
            }
            Cmd::NetworkChange => {
                self.core.network_change(t);
                None
            }
            Cmd::Subscribe(reply) => {
                let _ = reply.send(self.power.events.subscribe());
                None
            }
            Cmd::Connect { done, .. } if self.core.is_suspended() => {
                let _ = done.send(Err(suspended()));
                None
            }
            other => Some(other),
        }
    }

    /// A suspend-cycle event of the core.
    pub(super) fn power_event(&mut self, e: &Event) {
        let out = match e {
            Event::Suspended => {
                for w in self.power.suspending.drain(..) {
                    let _ = w.send(());
                }
                NodeEvent::Suspended
            }
            Event::Resumed => NodeEvent::Resumed,
            Event::NetworkChange => NodeEvent::NetworkChange,
            Event::Dht(plures_dht_rpc::Event::NetworkUpdate { online, degraded }) => {
                NodeEvent::NetworkUpdate {
                    online: *online,
                    degraded: *degraded,
                }
            }
            Event::Dht(plures_dht_rpc::Event::Wakeup) => NodeEvent::Wakeup,
            _ => return,
        };
        // No subscriber is fine.
        let _ = self.power.events.send(out);
    }
}
