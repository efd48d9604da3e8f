//! Options of a swarm and of a topic join (spec §2, §4.1).

use std::time::Duration;

/// Decides whether a remote key is rejected (`true`) before a dial, and for an incoming
/// client when its handshake reaches the hyperdht server, before any reply (spec §9): a
/// rejected or banned client gets no handshake reply at all. It must be quick and
/// synchronous (the hyperdht node's task calls it); a rejected peer is banned.
pub type Firewall = std::sync::Arc<dyn Fn(&[u8; 32]) -> bool + Send + Sync>;

/// Options of a swarm, with the reference's defaults (spec §2).
#[derive(Clone)]
pub struct SwarmConfig {
    /// Base time between two refreshes (announce + lookup) of a joined topic; each
    /// refresh adds a uniform jitter of up to a fifth of it (the reference: 10 min +
    /// up to 2 min).
    pub refresh_interval: Duration,
    /// Cap on connections for starting new discovery dials (default 64).
    pub max_peers: usize,
    /// Cap on outgoing connections, open and pending (default unlimited).
    pub max_client_connections: usize,
    /// Kept for parity with the reference, which never enforces it: incoming connections
    /// are not limited (default unlimited).
    pub max_server_connections: usize,
    /// Outgoing attempts in progress at once (default 3).
    pub max_parallel: usize,
    /// Retry base delays `[S, M, L, X]`; `None` draws the reference's
    /// `1000 + U(500)`, `5000 + U(1000)`, `15000 + U(2000)`, `600000 + U(120000)` ms.
    pub backoffs: Option<[Duration; 4]>,
    /// Extra uniform jitter added to each back-off delay once (default 500 ms).
    pub jitter: Duration,
    /// Optional firewall: return `true` to reject (and ban) a peer.
    pub firewall: Option<Firewall>,
    /// Seed of the swarm's random choices (jitter, queue order); `None` takes one from
    /// the process's hasher keys.
    pub seed: Option<u64>,
}

impl std::fmt::Debug for SwarmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmConfig")
            .field("refresh_interval", &self.refresh_interval)
            .field("max_peers", &self.max_peers)
            .field("max_client_connections", &self.max_client_connections)
            .field("max_server_connections", &self.max_server_connections)
            .field("max_parallel", &self.max_parallel)
            .field("backoffs", &self.backoffs)
            .field("jitter", &self.jitter)
            .field("firewall", &self.firewall.is_some())
            .field("seed", &self.seed)
            .finish()
    }
}

impl Default for SwarmConfig {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(600),
            max_peers: 64,
            max_client_connections: usize::MAX,
            max_server_connections: usize::MAX,
            max_parallel: 3,
            backoffs: None,
            jitter: Duration::from_millis(500),
            firewall: None,
            seed: None,
        }
    }
}

/// How a topic is joined (spec §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinOptions {
    /// Announce this swarm under the topic so others find and dial it.
    pub server: bool,
    /// Look the topic up and dial the peers found there.
    pub client: bool,
    /// At most this many not-yet-connected peers taken from one refresh.
    pub limit: Option<usize>,
}

impl Default for JoinOptions {
    fn default() -> Self {
        Self {
            server: true,
            client: true,
            limit: None,
        }
    }
}

impl JoinOptions {
    /// Announce only.
    pub fn server_only() -> Self {
        Self {
            client: false,
            ..Self::default()
        }
    }

    /// Look up and dial only.
    pub fn client_only() -> Self {
        Self {
            server: false,
            ..Self::default()
        }
    }
}
