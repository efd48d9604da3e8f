//! The suspend cycle of a [`HyperDhtNode`] (see `node/suspend.rs` for what the core does).

use std::io;

use tokio::sync::{broadcast, oneshot};

use super::task::Cmd;
use super::{HyperDhtNode, gone};

pub use super::task::NodeEvent;

impl HyperDhtNode {
    /// Suspends the node (the reference's `dht.suspend()`): every server withdraws its
    /// announcement at `hash(publicKey)` (bounded by
    /// [`SUSPEND_UNANNOUNCE_WAIT`](crate::node::SUSPEND_UNANNOUNCE_WAIT)), then the node
    /// stops sending, answering and ticking until [`resume`](Self::resume). Connects in
    /// progress fail; new connects and operations fail with
    /// [`OpError::Suspended`](crate::node::OpError::Suspended) (inside the
    /// `io::Error`). Returns once suspended; suspending again is a no-op.
    pub async fn suspend(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Cmd::Suspend(tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Resumes a suspended node: timers run again, the routing table is refreshed,
    /// servers re-announce themselves, and with `defer_random_punch` the random-punch
    /// clock restarts. False if it was not suspended.
    pub async fn resume(&self) -> io::Result<bool> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Cmd::Resume(tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Tells the node that the network changed (the reference's `network-change`, which
    /// it gets from the OS): its servers re-announce now and subscribers get
    /// [`NodeEvent::NetworkChange`]. The node also raises it on its own when the public
    /// host its peers report changes.
    pub fn network_change(&self) -> io::Result<()> {
        self.commands.send(Cmd::NetworkChange).map_err(|_| gone())
    }

    /// Subscribes to the node's [`NodeEvent`]s (a lagging subscriber loses the oldest).
    pub async fn subscribe(&self) -> io::Result<broadcast::Receiver<NodeEvent>> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Cmd::Subscribe(tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }
}
