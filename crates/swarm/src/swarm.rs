//! The swarm: listen, join topics, dial, deduplicate.

use std::collections::HashSet;
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, Server, Stream};
use tokio::sync::mpsc;
use tracing::debug;

/// Timing of a [`Swarm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmConfig {
    /// Time between two refreshes (announce + lookup) of a joined topic; the reference
    /// uses 10 minutes plus up to 2 minutes of jitter.
    pub refresh_interval: Duration,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        Self {
            refresh_interval: Duration::from_secs(600),
        }
    }
}

/// A connection to a peer, open and encrypted.
#[derive(Debug)]
pub struct PeerConnection {
    /// The secret-stream.
    pub stream: Stream,
    /// The peer's public key.
    pub remote_public_key: [u8; 32],
    /// Whether this side dialled (the Noise initiator).
    pub initiator: bool,
}

/// Peers with a connection (or a dial in progress).
type Live = Arc<Mutex<HashSet<[u8; 32]>>>;

fn lock(live: &Live) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
    live.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Topic discovery and connections for one key pair on one hyperdht node.
#[derive(Debug)]
pub struct Swarm {
    node: Arc<HyperDhtNode>,
    key_pair: KeyPair,
    config: SwarmConfig,
    relays: Vec<std::net::SocketAddrV4>,
    live: Live,
    tx: mpsc::UnboundedSender<PeerConnection>,
    rx: mpsc::UnboundedReceiver<PeerConnection>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Swarm {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Swarm {
    /// Listens on `node` with `key_pair` (announced at `hash(publicKey)`) and starts
    /// accepting connections.
    pub async fn new(
        node: Arc<HyperDhtNode>,
        key_pair: KeyPair,
        config: SwarmConfig,
    ) -> io::Result<Self> {
        let server = node.listen(key_pair.clone()).await?;
        let relays = server.relays().to_vec();
        let (tx, rx) = mpsc::unbounded_channel();
        let live: Live = Arc::default();
        let accept = tokio::spawn(accept_loop(
            server,
            *key_pair.public_key(),
            Arc::clone(&live),
            tx.clone(),
        ));
        Ok(Self {
            node,
            key_pair,
            config,
            relays,
            live,
            tx,
            rx,
            tasks: vec![accept],
        })
    }

    /// This swarm's public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.key_pair.public_key()
    }

    /// Announces the swarm under `topic` and dials the peers found there, now and after
    /// every refresh interval, until the swarm is dropped.
    pub fn join(&mut self, topic: [u8; 32]) {
        let task = tokio::spawn(discover(
            Arc::clone(&self.node),
            self.key_pair.clone(),
            topic,
            self.relays.clone(),
            self.config,
            Arc::clone(&self.live),
            self.tx.clone(),
        ));
        self.tasks.push(task);
    }

    /// Runs one refresh of `topic` now (announce, lookup, dial) and returns the number of
    /// new dials that succeeded.
    pub async fn refresh(&self, topic: [u8; 32]) -> usize {
        refresh_once(
            &self.node,
            &self.key_pair,
            topic,
            &self.relays,
            &self.live,
            &self.tx,
        )
        .await
    }

    /// The next connection (incoming or dialled).
    pub async fn next(&mut self) -> Option<PeerConnection> {
        self.rx.recv().await
    }

    /// Tells the swarm that the connection to `remote_public_key` ended, so the peer may
    /// be dialled (or accepted) again.
    pub fn disconnected(&self, remote_public_key: &[u8; 32]) {
        lock(&self.live).remove(remote_public_key);
    }

    /// Peers with a connection or a dial in progress.
    pub fn connected(&self) -> usize {
        lock(&self.live).len()
    }
}

async fn accept_loop(
    mut server: Server,
    own: [u8; 32],
    live: Live,
    tx: mpsc::UnboundedSender<PeerConnection>,
) {
    while let Some(stream) = server.accept().await {
        let Some(remote) = stream.remote_public_key().copied() else {
            continue;
        };
        // A second connection to a peer is dropped: we dial only smaller keys, so an
        // existing one is either our own dial (we, the larger key, initiated it — the one
        // the spec keeps) or an earlier incoming one.
        if !lock(&live).insert(remote) {
            debug!(
                "dropping a duplicate connection from {:02x?} (ours: {:02x?})",
                &remote[..4],
                &own[..4]
            );
            continue;
        }
        let conn = PeerConnection {
            stream,
            remote_public_key: remote,
            initiator: false,
        };
        if tx.send(conn).is_err() {
            return;
        }
    }
}

async fn discover(
    node: Arc<HyperDhtNode>,
    key_pair: KeyPair,
    topic: [u8; 32],
    relays: Vec<std::net::SocketAddrV4>,
    config: SwarmConfig,
    live: Live,
    tx: mpsc::UnboundedSender<PeerConnection>,
) {
    loop {
        refresh_once(&node, &key_pair, topic, &relays, &live, &tx).await;
        tokio::time::sleep(config.refresh_interval).await;
    }
}

async fn refresh_once(
    node: &HyperDhtNode,
    key_pair: &KeyPair,
    topic: [u8; 32],
    relays: &[std::net::SocketAddrV4],
    live: &Live,
    tx: &mpsc::UnboundedSender<PeerConnection>,
) -> usize {
    let own = *key_pair.public_key();
    if let Err(e) = node
        .announce(topic, key_pair.clone(), relays.to_vec())
        .await
    {
        debug!("announce failed: {e}");
    }
    let peers = match node.lookup(topic).await {
        Ok(p) => p,
        Err(e) => {
            debug!("lookup failed: {e}");
            return 0;
        }
    };
    let mut dialled = 0;
    for peer in peers {
        let remote = peer.public_key;
        // Only the larger key dials (spec §11's net rule), and never twice.
        if remote >= own || !lock(live).insert(remote) {
            continue;
        }
        match node.connect(remote, key_pair.clone()).await {
            Ok(stream) => {
                debug!("connected to {:02x?}", &remote[..4]);
                dialled += 1;
                let conn = PeerConnection {
                    stream,
                    remote_public_key: remote,
                    initiator: true,
                };
                if tx.send(conn).is_err() {
                    break;
                }
            }
            Err(e) => {
                debug!("dial failed: {e}");
                lock(live).remove(&remote);
            }
        }
    }
    dialled
}
