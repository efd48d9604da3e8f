//! The core's inputs and outputs.

use super::{ConnId, FlushId};

/// Work for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run one discovery pass for `topic` and report it with
    /// [`Core::handle_refresh_done`] (same `generation`). A new `Refresh` of a topic
    /// replaces a running one.
    Refresh {
        /// The topic (= DHT target).
        topic: [u8; 32],
        /// Pass number, echoed back.
        generation: u64,
        /// Announce the swarm's key under the topic.
        announce: bool,
        /// Look the topic up and report the peers found.
        lookup: bool,
        /// Remove an earlier announcement (the topic is no longer served).
        unannounce: bool,
    },
    /// Stop a running refresh of `topic`.
    CancelRefresh {
        /// The topic.
        topic: [u8; 32],
    },
    /// Remove the swarm's announcement under `topic` (after a leave).
    Unannounce {
        /// The topic.
        topic: [u8; 32],
    },
    /// Dial `public_key`; report with [`Core::handle_dial_result`].
    Dial {
        /// The attempt.
        id: ConnId,
        /// The remote key.
        public_key: [u8; 32],
    },
    /// Send a keepalive on open connection `id` so a dead path is noticed soon (spec
    /// §12, after a network change).
    KeepAlive {
        /// The connection.
        id: ConnId,
        /// The remote key.
        public_key: [u8; 32],
    },
    /// Suspend the hyperdht node (after the [`Action::Unannounce`]s queued before it
    /// finished, bounded), then report [`Core::handle_dht_suspended`](super::Core::handle_dht_suspended).
    SuspendDht,
    /// Resume the hyperdht node, then report
    /// [`Core::handle_dht_resumed`](super::Core::handle_dht_resumed).
    ResumeDht,
    /// Close (or abort) connection `id`; its close report will be ignored.
    Close {
        /// The connection or attempt.
        id: ConnId,
        /// The remote key.
        public_key: [u8; 32],
    },
}

/// What the swarm tells its user (spec §15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection opened (an outgoing one completed, or an incoming one was accepted).
    Connection {
        /// The connection.
        id: ConnId,
        /// The remote key.
        public_key: [u8; 32],
        /// We dialled.
        initiator: bool,
    },
    /// Connection state changed.
    Update,
    /// A peer was banned by the firewall.
    Ban {
        /// The remote key.
        public_key: [u8; 32],
    },
    /// The swarm is suspended: connections closed, announcements withdrawn, node silent.
    Suspended,
    /// The swarm resumed: discoveries refresh, dialling restarts.
    Resumed,
    /// A network change was handled: connections probed, discoveries refreshed.
    NetworkChange,
    /// A flush finished: `ok` is false when the swarm was destroyed first.
    Flushed {
        /// The flush.
        flush: FlushId,
        /// Resolved normally.
        ok: bool,
    },
}

/// The answer to an incoming connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming {
    /// Keep it; if `replaced`, that older connection to the same key is closed.
    Accept {
        /// The new connection's id.
        id: ConnId,
        /// The duplicate closed in its favour.
        replaced: Option<ConnId>,
    },
    /// Close it.
    Reject(Rejection),
}

/// Why an incoming connection is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The swarm is destroyed.
    Destroyed,
    /// Own key, banned, or the firewall said no.
    Firewalled,
    /// A connection to this key exists and wins (spec §11).
    Duplicate,
    /// The swarm is suspended (spec §11 step 1).
    Suspended,
}

/// Who ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The user closed or dropped it: no automatic reconnect.
    Local,
    /// The remote ended it or it failed: reconnect per back-off.
    Remote,
}

/// Counters (spec §15 `stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// `update` events emitted.
    pub updates: u64,
    /// Outgoing attempts started.
    pub client_attempted: u64,
    /// Outgoing connections that opened.
    pub client_opened: u64,
    /// Outgoing connections or attempts that ended.
    pub client_closed: u64,
    /// Incoming connections accepted.
    pub server_opened: u64,
    /// Incoming connections that ended.
    pub server_closed: u64,
    /// Peers banned by the firewall.
    pub banned_peers: u64,
}
