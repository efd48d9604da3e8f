//! Suspend, resume and network changes in the driver (spec §12): the core decides
//! (`core/suspend.rs`); this runs the node's suspend and resume in order, forwards the
//! node's network changes to the core and answers the callers.

use std::sync::Arc;
use std::time::Instant;

use plures_hyperdht::driver::{HyperDhtNode, NodeEvent};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;

use super::{Cmd, Driver, Msg, Swarm, SwarmEvent, UNANNOUNCE_WAIT, join_all};
use crate::core::short;
use crate::core::{Action, Event};
use crate::error::SwarmError;

type Done = oneshot::Sender<Result<(), SwarmError>>;

/// The driver's share of the suspend cycle.
#[derive(Debug, Default)]
pub(super) struct DriverPower {
    /// Callers of `suspend` / `resume` waiting for the core's event.
    suspending: Vec<Done>,
    resuming: Vec<Done>,
    /// The last node suspend/resume task: the next one waits for it, so the node sees
    /// them in order.
    chain: Option<JoinHandle<()>>,
    /// Forwards the node's events to the driver.
    forward: Option<JoinHandle<()>>,
}

impl Drop for DriverPower {
    fn drop(&mut self) {
        if let Some(f) = self.forward.take() {
            f.abort();
        }
    }
}

/// Whether `event` asks for what a network change does (spec §12): a network change,
/// or the node's `online` going false → true (`online` tracks the last reported value;
/// the node starts online).
fn network_changed(online: &mut bool, event: NodeEvent) -> bool {
    match event {
        NodeEvent::NetworkChange => true,
        NodeEvent::NetworkUpdate { online: now, .. } => {
            let was = std::mem::replace(online, now);
            now && !was
        }
        _ => false,
    }
}

/// Forwards the node's network changes, and its coming back online, as
/// [`Msg::NetworkChange`] until either side goes. (The core ignores it while suspended.)
pub(super) fn forward(
    mut events: broadcast::Receiver<NodeEvent>,
    tx: mpsc::UnboundedSender<Msg>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut online = true;
        loop {
            match events.recv().await {
                Ok(e) => {
                    if network_changed(&mut online, e) && tx.send(Msg::NetworkChange).is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    })
}

impl Swarm {
    /// Suspends the swarm (spec §12; e.g. before the machine sleeps): every topic's
    /// announcement and the swarm's key are withdrawn from the DHT, every connection is
    /// closed (no reconnect), pending retries and queued dials are dropped, and the
    /// hyperdht node stops until [`resume`](Self::resume). Joins, leaves, flushes and
    /// explicit peers are still accepted (as by the reference) and take effect on
    /// resume; incoming connections are refused. Returns once suspended;
    /// [`SwarmError::Destroyed`] after destroy. Emits [`SwarmEvent::Suspended`].
    ///
    /// The node is suspended as a whole: other users of the same [`HyperDhtNode`] are
    /// suspended too.
    pub async fn suspend(&self) -> Result<(), SwarmError> {
        self.ask(Cmd::Suspend).await?
    }

    /// Resumes a suspended swarm: the node runs again, every topic is announced and
    /// looked up afresh and the found peers are dialled. Returns once the node resumed;
    /// a no-op if not suspended. Emits [`SwarmEvent::Resumed`].
    pub async fn resume(&self) -> Result<(), SwarmError> {
        self.ask(Cmd::Resume).await?
    }

    /// Tells the swarm's node that the network changed (new interface or address; the
    /// reference learns it from the OS): the node re-announces the swarm's key and the
    /// swarm probes its connections and refreshes every topic, unless suspended. Emits
    /// [`SwarmEvent::NetworkChange`]. The node raises it by itself when the public
    /// address its peers see changes.
    pub fn network_change(&self) -> Result<(), SwarmError> {
        self.send(Cmd::NetworkChange)
    }
}

impl Driver {
    /// Subscribes to the node's events (called once at start).
    pub(super) async fn subscribe(
        node: &HyperDhtNode,
        tx: mpsc::UnboundedSender<Msg>,
    ) -> Option<JoinHandle<()>> {
        match node.subscribe().await {
            Ok(rx) => Some(forward(rx, tx)),
            Err(e) => {
                debug!("node events unavailable: {e}");
                None
            }
        }
    }

    pub(super) fn set_forward(&mut self, forward: Option<JoinHandle<()>>) {
        self.power.forward = forward;
    }

    pub(super) fn power_command(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Suspend(done) => match self.core.suspend(now) {
                Ok(true) => self.power.suspending.push(done),
                Ok(false) => {
                    let _ = done.send(Ok(()));
                }
                Err(e) => {
                    let _ = done.send(Err(e));
                }
            },
            Cmd::Resume(done) => match self.core.resume(now) {
                Ok(true) => self.power.resuming.push(done),
                Ok(false) => {
                    let _ = done.send(Ok(()));
                }
                Err(e) => {
                    let _ = done.send(Err(e));
                }
            },
            Cmd::NetworkChange => {
                // The node re-announces and reports back (Msg::NetworkChange).
                if let Err(e) = self.node.network_change() {
                    debug!("network change: {e}");
                }
            }
            _ => {}
        }
    }

    pub(super) fn power_message(&mut self, msg: Msg) {
        let now = Instant::now();
        match msg {
            Msg::DhtSuspended => self.core.handle_dht_suspended(now),
            Msg::DhtResumed => self.core.handle_dht_resumed(now),
            Msg::NetworkChange => {
                self.core.network_change(now);
            }
            _ => {}
        }
    }

    /// The user-facing event for a suspend-cycle event of the core.
    pub(super) fn power_event(&mut self, event: &Event) -> Option<SwarmEvent> {
        match event {
            Event::Suspended => {
                for d in self.power.suspending.drain(..) {
                    let _ = d.send(Ok(()));
                }
                Some(SwarmEvent::Suspended)
            }
            Event::Resumed => {
                for d in self.power.resuming.drain(..) {
                    let _ = d.send(Ok(()));
                }
                Some(SwarmEvent::Resumed)
            }
            Event::NetworkChange => Some(SwarmEvent::NetworkChange),
            _ => None,
        }
    }

    pub(super) fn power_act(&mut self, action: Action) {
        match action {
            Action::KeepAlive { id, public_key } => {
                if let Some(h) = self.live.get(&id) {
                    debug!(peer = %short(&public_key), id, "keepalive");
                    h.keep_alive();
                }
            }
            Action::SuspendDht => {
                // The topics' UNANNOUNCEs go out before the node falls silent.
                let unannounces = std::mem::take(&mut self.unannounces);
                let node = Arc::clone(&self.node);
                let tx = self.msg_tx.clone();
                let before = self.power.chain.take();
                self.power.chain = Some(tokio::spawn(async move {
                    if let Some(b) = before {
                        let _ = b.await;
                    }
                    if tokio::time::timeout(UNANNOUNCE_WAIT, join_all(unannounces))
                        .await
                        .is_err()
                    {
                        debug!("unannounce still running after {UNANNOUNCE_WAIT:?}; suspending");
                    }
                    if let Err(e) = node.suspend().await {
                        debug!("node suspend: {e}");
                    }
                    let _ = tx.send(Msg::DhtSuspended);
                }));
            }
            Action::ResumeDht => {
                let node = Arc::clone(&self.node);
                let tx = self.msg_tx.clone();
                let before = self.power.chain.take();
                self.power.chain = Some(tokio::spawn(async move {
                    if let Some(b) = before {
                        let _ = b.await;
                    }
                    if let Err(e) = node.resume().await {
                        debug!("node resume: {e}");
                    }
                    let _ = tx.send(Msg::DhtResumed);
                }));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spec §12: only a network change and an `online` false → true transition count;
    /// degraded changes, wake-ups and going offline do not.
    #[test]
    fn back_online_counts_as_a_network_change() {
        let mut online = true;
        let up = |degraded| NodeEvent::NetworkUpdate {
            online: true,
            degraded,
        };
        let down = NodeEvent::NetworkUpdate {
            online: false,
            degraded: false,
        };
        let seq = [
            (up(true), false),
            (up(false), false),
            (NodeEvent::Wakeup, false),
            (down, false),
            (NodeEvent::NetworkChange, true),
            (up(false), true),
            (up(true), false),
            (NodeEvent::Resumed, false),
        ];
        for (e, want) in seq {
            assert_eq!(network_changed(&mut online, e), want, "{e:?}");
        }
    }

    /// The forwarder turns the node's events into [`Msg::NetworkChange`]s.
    #[tokio::test]
    async fn forwarder_sends_a_network_change_when_back_online() {
        let (btx, brx) = broadcast::channel(16);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let h = forward(brx, tx);
        for online in [false, true] {
            btx.send(NodeEvent::NetworkUpdate {
                online,
                degraded: false,
            })
            .expect("subscribed");
        }
        drop(btx);
        h.await.expect("forwarder ends when the node goes");
        assert!(matches!(rx.recv().await, Some(Msg::NetworkChange)));
        assert!(rx.recv().await.is_none());
    }
}
