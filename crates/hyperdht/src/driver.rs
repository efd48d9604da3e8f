//! The tokio driver: a [`HyperDhtNode`] runs one [`HyperDht`] core on two UDX sockets
//! (server and client, as dht-rpc) in a task of its own, and turns the core's stream
//! set-ups into secret-streams over UDX streams on the node's main socket.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::net::Ipv4Addr;
//! use plures_hyperdht::driver::{HyperDhtNode, NodeConfig};
//! use plures_hyperdht::KeyPair;
//!
//! let boot = HyperDhtNode::bind(NodeConfig::bootstrapper(Ipv4Addr::LOCALHOST, 0))?;
//! let a = HyperDhtNode::bind(NodeConfig::persistent(Ipv4Addr::LOCALHOST, 0, vec![boot.server_addr()]))?;
//! let b = HyperDhtNode::bind(NodeConfig::persistent(Ipv4Addr::LOCALHOST, 0, vec![boot.server_addr()]))?;
//! a.ready().await?;
//! b.ready().await?;
//! let server_key = KeyPair::from_seed([1; 32]);
//! let mut server = a.listen(server_key.clone()).await?;
//! let client = b.connect(*server_key.public_key(), KeyPair::from_seed([2; 32])).await?;
//! let incoming = server.accept().await.expect("a connection");
//! # let _ = (client, incoming);
//! # Ok(()) }
//! ```
//!
//! A set-up without a remote address (a server waiting for a firewalled client) gets a
//! stream that accepts datagrams before `connect` and binds to the source of the first
//! one, as hyperdht's firewall hook does. It listens on the server socket, the client
//! socket and the holepunch socket of its slot at once (one stream id on each), plus every
//! other socket of the slot's puncher that the client's probe or stream reaches later
//! ([`Event::PunchSocket`](crate::node::Event::PunchSocket), e.g. one of 256 birthday
//! sockets), and keeps the one the client's first datagram reached. A client whose
//! handshake says it is OPEN creates its streams on the server and client socket when the
//! connect starts, since the server may dial it before the handshake reply arrives.
//!
//! # Holepunching (spec §12)
//!
//! The core asks for *pool sockets* by number ([`Socket::Other`](plures_dht_rpc::Socket)):
//! the task binds a UDX socket on `host:0` the first time one is named, reads it like the
//! other two (datagrams of one byte are probes), sends the core's probes from it with
//! their TTL (5 or 64), and closes it when the core releases it. A client whose punch
//! succeeds connects its stream on the pool socket that received the probe.
//!
//! Configuration that matters for holepunching:
//!
//! * `NodeConfig::dht.firewalled` (default `true`): a firewalled node's server socket is
//!   not advertised and it punches; `false` pins the node OPEN (its handshake says so and
//!   peers connect to it directly). The dht-rpc core may also find out on its own that it
//!   is reachable (`firewalled` becomes `false` after the reference's checks); to keep a
//!   node firewalled where those checks pass (loopback, one LAN), also set
//!   `NodeConfig::dht.quick_firewall = false` and `dht.ephemeral = Some(true)`, as
//!   `tests/js_holepunch.rs` does (the JS harness's `--firewalled` does the same).
//! * [`NodeConfig::holepunch`]: `local_connection` (the LAN shortcut when both peers share
//!   a public IP; turn it off to force a holepunch between peers on one host, e.g. on
//!   loopback) and `fast_open` (the TTL-5 probe before the probe round).

mod power;
mod task;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use plures_secret_stream::SecretStream;
use plures_udx::{UdxSocket, UdxStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::KeyPair;
use crate::node::{
    Config, ConnectError, HolepunchConfig, NodeStats, OpError, OpResult, ServerConfig, ServerId,
};
use crate::storage::StorageConfig;
use crate::wire::Peer;
use task::{Cmd, Task};

pub use power::NodeEvent;

/// A secret-stream over a UDX stream: what connections are.
pub type Stream = SecretStream<UdxStream>;

/// Where and how a [`HyperDhtNode`] runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Address both sockets bind to.
    pub host: Ipv4Addr,
    /// Server socket port (0 = any free port).
    pub port: u16,
    /// The dht-rpc core's configuration; its public address is completed with the bound
    /// port when it has port 0, and its server port is set to the bound one.
    pub dht: plures_dht_rpc::Config,
    /// Storage limits.
    pub storage: StorageConfig,
    /// Connection options (LAN shortcut, fast open).
    pub holepunch: HolepunchConfig,
}

/// 32 bytes from the OS RNG (all zero only if the OS refuses, which it does not on the
/// platforms tokio runs on).
fn seed() -> [u8; 32] {
    use rand_core::{OsRng, TryRngCore};
    let mut out = [0u8; 32];
    let _ = OsRng.try_fill_bytes(&mut out);
    out
}

impl NodeConfig {
    /// The reference's defaults (adaptive, firewalled) on `0.0.0.0`.
    pub fn new(bootstrap: Vec<SocketAddrV4>) -> Self {
        let mut dht = plures_dht_rpc::Config::new(u64::from_le_bytes(
            seed()[..8].try_into().unwrap_or_default(),
        ));
        dht.bootstrap = bootstrap;
        Self {
            host: Ipv4Addr::UNSPECIFIED,
            port: 0,
            dht,
            storage: StorageConfig::default(),
            holepunch: HolepunchConfig::default(),
        }
    }

    /// A node reachable at `host:port` that stores records at once (`ephemeral: false,
    /// firewalled: false`).
    pub fn persistent(host: Ipv4Addr, port: u16, bootstrap: Vec<SocketAddrV4>) -> Self {
        let mut c = Self::new(bootstrap);
        c.host = host;
        c.port = port;
        c.dht.ephemeral = Some(false);
        c.dht.firewalled = false;
        c
    }

    /// A bootstrap node at `host:port` (port 0 picks a free port).
    pub fn bootstrapper(host: Ipv4Addr, port: u16) -> Self {
        let mut c = Self::new(Vec::new());
        c.host = host;
        c.port = port;
        let seed = c.dht.seed;
        c.dht = plures_dht_rpc::Config::bootstrapper(SocketAddrV4::new(host, port), seed);
        c
    }
}

/// What the node looks like now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Bootstrapping finished.
    pub bootstrapped: bool,
    /// The node stores records (its id is valid).
    pub persistent: bool,
    /// Nodes in the routing table.
    pub table_size: usize,
}

/// A running hyperdht node.
#[derive(Debug)]
pub struct HyperDhtNode {
    commands: mpsc::UnboundedSender<Cmd>,
    status: watch::Receiver<Status>,
    server_addr: SocketAddrV4,
    task: tokio::task::JoinHandle<()>,
}

/// A listening server: connections arrive through [`accept`](Self::accept).
#[derive(Debug)]
pub struct Server {
    id: ServerId,
    relays: watch::Receiver<Vec<SocketAddrV4>>,
    incoming: mpsc::UnboundedReceiver<Stream>,
    commands: mpsc::UnboundedSender<Cmd>,
}

impl Server {
    /// The storage nodes its last update announced it to (at most 3): what its handshake
    /// replies carry and what topic announces should list as relay addresses. They change
    /// when a relay stops answering pings or an update finds closer nodes (spec §8).
    pub fn relays(&self) -> Vec<SocketAddrV4> {
        self.relays.borrow().clone()
    }

    /// Follows [`relays`](Self::relays): changes whenever an update moved the server to
    /// other relays.
    pub fn watch_relays(&self) -> watch::Receiver<Vec<SocketAddrV4>> {
        self.relays.clone()
    }

    /// Updates the announcement now (the reference's `server.refresh()`): FIND_PEER,
    /// ANNOUNCE to the 3 closest nodes, UNANNOUNCE at relays it no longer uses.
    pub fn refresh(&self) -> io::Result<()> {
        self.commands
            .send(Cmd::Refresh(self.id))
            .map_err(|_| gone())
    }

    /// Closes the server (the reference's `server.close()`): clients can no longer reach
    /// it, and this returns once each of its relays got its UNANNOUNCE (or the attempt
    /// failed), so that the same key can then be announced elsewhere without being
    /// withdrawn by a late UNANNOUNCE. Dropping a `Server` closes it without waiting.
    pub async fn close(self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Cmd::CloseWait(self.id, tx))
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// The next client connection; `None` once the node is gone.
    pub async fn accept(&mut self) -> Option<Stream> {
        self.incoming.recv().await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.commands.send(Cmd::Close(self.id));
    }
}

fn gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "hyperdht node stopped")
}

fn op_error(e: OpError) -> io::Error {
    io::Error::other(e)
}

impl HyperDhtNode {
    /// Binds the sockets and starts the node's task (inside a tokio runtime).
    pub fn bind(config: NodeConfig) -> io::Result<Self> {
        let server = Arc::new(UdxSocket::bind(SocketAddr::from((
            config.host,
            config.port,
        )))?);
        let client = Arc::new(UdxSocket::bind(SocketAddr::from((config.host, 0)))?);
        let port = server.local_addr().port();
        let server_addr = SocketAddrV4::new(config.host, port);
        let mut dht = config.dht;
        if let Some(a) = dht.public_address.as_mut() {
            if a.port() == 0 {
                a.set_port(port);
            }
        }
        dht.server_port = port;
        let local = if config.host.is_unspecified() {
            Ipv4Addr::LOCALHOST
        } else {
            config.host
        };
        let core = Config {
            dht,
            storage: config.storage,
            unix_ms: task::unix_ms(),
            entropy: seed(),
            local_addresses: vec![local],
            holepunch: config.holepunch,
        };
        let (commands, rx) = mpsc::unbounded_channel();
        let (status_tx, status) = watch::channel(Status::default());
        let task = Task::new(core, config.host, server, client, rx, status_tx);
        let task = tokio::spawn(task.run());
        Ok(Self {
            commands,
            status,
            server_addr,
            task,
        })
    }

    /// The server socket's address (what other nodes bootstrap from).
    pub fn server_addr(&self) -> SocketAddrV4 {
        self.server_addr
    }

    /// The latest status.
    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// Waits until bootstrapping finished.
    pub async fn ready(&self) -> io::Result<()> {
        let mut s = self.status.clone();
        s.wait_for(|s| s.bootstrapped).await.map_err(|_| gone())?;
        Ok(())
    }

    /// Waits until the status satisfies `f`.
    pub async fn wait_status(&self, f: impl FnMut(&Status) -> bool) -> io::Result<Status> {
        let mut s = self.status.clone();
        let got = s.wait_for(f).await.map_err(|_| gone())?;
        Ok(*got)
    }

    async fn op(
        &self,
        make: impl FnOnce(oneshot::Sender<task::OpOutcome>) -> Cmd,
    ) -> io::Result<task::OpOutcome> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(make(tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Announces `key_pair` under `topic` with up to 3 relay addresses.
    pub async fn announce(
        &self,
        topic: [u8; 32],
        key_pair: KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
    ) -> io::Result<Vec<SocketAddrV4>> {
        let out = self
            .op(|done| Cmd::Announce {
                topic,
                key_pair,
                relay_addresses,
                done,
            })
            .await?;
        match out.result.map_err(op_error)? {
            OpResult::Committed { nodes } => Ok(nodes),
            _ => Ok(Vec::new()),
        }
    }

    /// Removes `key_pair`'s record under `topic` from the closest storage nodes (spec §7
    /// UNANNOUNCE, signed); returns the nodes that accepted the removal.
    pub async fn unannounce(
        &self,
        topic: [u8; 32],
        key_pair: KeyPair,
    ) -> io::Result<Vec<SocketAddrV4>> {
        let out = self
            .op(|done| Cmd::Unannounce {
                topic,
                key_pair,
                done,
            })
            .await?;
        match out.result.map_err(op_error)? {
            OpResult::Committed { nodes } => Ok(nodes),
            _ => Ok(Vec::new()),
        }
    }

    /// Every record announced under `topic` that the lookup found, one per public key.
    pub async fn lookup(&self, topic: [u8; 32]) -> io::Result<Vec<Peer>> {
        let out = self.op(|done| Cmd::Lookup { topic, done }).await?;
        out.result.map_err(op_error)?;
        Ok(out.peers)
    }

    /// Starts a server for `key_pair` and waits until it announced itself.
    pub async fn listen(&self, key_pair: KeyPair) -> io::Result<Server> {
        self.listen_with(key_pair, ServerConfig::default()).await
    }

    /// [`listen`](Self::listen) with options. A [`ServerConfig::firewall`] runs in the
    /// node's task for every new client handshake, before anything is answered (spec
    /// §11 step 2): a client it rejects (`true`) gets no reply, never reaches
    /// [`Server::accept`], and is counted in [`NodeStats::handshakes_rejected`].
    ///
    /// ```no_run
    /// # async fn demo(node: plures_hyperdht::driver::HyperDhtNode) -> std::io::Result<()> {
    /// use std::sync::Arc;
    /// use plures_hyperdht::KeyPair;
    /// use plures_hyperdht::node::ServerConfig;
    ///
    /// let banned = [9u8; 32];
    /// let config = ServerConfig {
    ///     // Reject one key, and every client that says it is not version 1.
    ///     firewall: Some(Arc::new(move |remote_public_key, payload, _client_address| {
    ///         *remote_public_key == banned || payload.version != 1
    ///     })),
    /// };
    /// let mut server = node.listen_with(KeyPair::from_seed([1; 32]), config).await?;
    /// while let Some(stream) = server.accept().await {
    ///     assert_ne!(stream.remote_public_key(), Some(&banned));
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn listen_with(&self, key_pair: KeyPair, config: ServerConfig) -> io::Result<Server> {
        let (tx, rx) = oneshot::channel();
        let (incoming_tx, incoming) = mpsc::unbounded_channel();
        let (relays_tx, relays) = watch::channel(Vec::new());
        self.commands
            .send(Cmd::Listen {
                key_pair,
                config,
                incoming: incoming_tx,
                listening: tx,
                relays: relays_tx,
            })
            .map_err(|_| gone())?;
        let (id, _) = rx.await.map_err(|_| gone())??;
        Ok(Server {
            id,
            relays,
            incoming,
            commands: self.commands.clone(),
        })
    }

    /// Connects to the server `remote_public_key` as `key_pair`.
    pub async fn connect(
        &self,
        remote_public_key: [u8; 32],
        key_pair: KeyPair,
    ) -> io::Result<Stream> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Cmd::Connect {
                remote_public_key,
                key_pair,
                done: tx,
            })
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// The core's counters (storage, records held, messages routed for others).
    pub async fn stats(&self) -> io::Result<NodeStats> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Cmd::Stats(tx)).map_err(|_| gone())?;
        rx.await.map_err(|_| gone())
    }

    /// Stops the node.
    pub async fn destroy(self) {
        let _ = self.commands.send(Cmd::Destroy);
        let _ = self.task.await;
    }
}

/// A local network of `n` nodes on `host` (a bootstrapper on a free port, then `n - 1`
/// persistent nodes bootstrapping from it), returned once every node is bootstrapped
/// and persistent. Node 0 is the bootstrapper.
pub async fn testnet(host: Ipv4Addr, n: usize) -> io::Result<Vec<HyperDhtNode>> {
    let boot = HyperDhtNode::bind(NodeConfig::bootstrapper(host, 0))?;
    let addr = boot.server_addr();
    let mut nodes = vec![boot];
    for _ in 1..n {
        nodes.push(HyperDhtNode::bind(NodeConfig::persistent(
            host,
            0,
            vec![addr],
        ))?);
    }
    for node in &nodes {
        node.wait_status(|s| s.bootstrapped && s.persistent).await?;
    }
    Ok(nodes)
}

pub(crate) fn connect_error(e: ConnectError) -> io::Error {
    let kind = match e {
        ConnectError::PeerNotFound => io::ErrorKind::NotFound,
        ConnectError::PeerConnectionFailed
        | ConnectError::CannotHolepunch
        | ConnectError::HolepunchAborted
        | ConnectError::HolepunchDoubleRandomizedNats
        | ConnectError::HolepunchProbeTimeout
        | ConnectError::RemoteAborted(_)
        | ConnectError::RemoteNotHolepunching
        | ConnectError::RemoteNotHolepunchable => io::ErrorKind::ConnectionRefused,
        ConnectError::RequestTimeout => io::ErrorKind::TimedOut,
        ConnectError::InvalidRemoteKey => io::ErrorKind::InvalidInput,
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e)
}
