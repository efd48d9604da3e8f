//! The tokio driver: one task owns the [`Core`], runs its refreshes and dials on the
//! hyperdht node, accepts incoming connections and wraps every connection in a
//! [`SwarmStream`]. It makes no decisions of its own.

mod gate;
mod power;
mod stream;

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, Server, Stream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::debug;

pub use stream::SwarmStream;

use crate::config::{JoinOptions, SwarmConfig};
use crate::core::{
    Action, CloseReason, ConnId, Core, Event, FlushId, Incoming, PeerInfo, Stats, short,
};
use crate::error::SwarmError;

/// A connection to a peer, open and encrypted.
#[derive(Debug)]
pub struct PeerConnection {
    /// The stream.
    pub stream: SwarmStream,
    /// The peer's public key.
    pub remote_public_key: [u8; 32],
    /// Whether this side dialled (the Noise initiator).
    pub initiator: bool,
}

/// What a swarm reports (spec §15).
#[derive(Debug)]
#[non_exhaustive]
pub enum SwarmEvent {
    /// A new connection.
    Connection(PeerConnection),
    /// Connection state changed (a connection opened or closed, an attempt ended).
    Update,
    /// The firewall rejected, and banned, this peer.
    Ban([u8; 32]),
    /// The swarm is suspended ([`Swarm::suspend`]).
    Suspended,
    /// The swarm resumed ([`Swarm::resume`]).
    Resumed,
    /// A network change was handled: topics refreshed, connections probed.
    NetworkChange,
}

/// Counters and sizes of a swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmStatus {
    /// Open connections.
    pub connections: usize,
    /// Outgoing attempts in progress.
    pub connecting: usize,
    /// Joined topics.
    pub topics: Vec<[u8; 32]>,
    /// Counters.
    pub stats: Stats,
}

/// Messages from the driver's helper tasks and streams.
#[derive(Debug)]
pub(crate) enum Msg {
    RefreshDone {
        topic: [u8; 32],
        generation: u64,
        peers: Option<Vec<[u8; 32]>>,
    },
    DialDone {
        id: ConnId,
        key: [u8; 32],
        result: std::io::Result<Box<Stream>>,
    },
    Closed {
        id: ConnId,
        key: [u8; 32],
        reason: CloseReason,
    },
    /// The node finished suspending / resuming (`power.rs`).
    DhtSuspended,
    DhtResumed,
    /// The node reported a network change.
    NetworkChange,
    /// The user firewall rejected a client handshake at the hyperdht server (`gate.rs`).
    Firewalled([u8; 32]),
}

enum Cmd {
    Join(
        [u8; 32],
        JoinOptions,
        oneshot::Sender<Result<(), SwarmError>>,
    ),
    Leave([u8; 32], oneshot::Sender<()>),
    Refresh([u8; 32], oneshot::Sender<bool>),
    Flush(oneshot::Sender<bool>),
    JoinPeer([u8; 32]),
    LeavePeer([u8; 32]),
    Ban([u8; 32], bool),
    Reconnect([u8; 32], bool),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Status(oneshot::Sender<SwarmStatus>),
    Destroy(oneshot::Sender<()>),
    Suspend(oneshot::Sender<Result<(), SwarmError>>),
    Resume(oneshot::Sender<Result<(), SwarmError>>),
    NetworkChange,
}

/// Topic discovery and connection management for one key pair on one hyperdht node
/// (spec `hyperswarm.md`).
#[derive(Debug)]
pub struct Swarm {
    key_pair: KeyPair,
    cmds: mpsc::UnboundedSender<Cmd>,
    events: mpsc::UnboundedReceiver<SwarmEvent>,
    connections: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let (tx, _rx) = oneshot::channel();
        let _ = self.cmds.send(Cmd::Destroy(tx));
    }
}

impl Swarm {
    /// Listens on `node` with `key_pair` (announced at `hash(publicKey)`) and starts the
    /// swarm's task.
    pub async fn new(
        node: Arc<HyperDhtNode>,
        key_pair: KeyPair,
        config: SwarmConfig,
    ) -> Result<Self, SwarmError> {
        // The firewall and ban list answer client handshakes before any reply (gate.rs).
        let (msg_tx, msg_rx) = mpsc::unbounded_channel();
        let gate = gate::Gate::new(
            *key_pair.public_key(),
            config.firewall.clone(),
            msg_tx.clone(),
        );
        let server = node
            .listen_with(key_pair.clone(), gate.server_config())
            .await?;
        let seed = RandomState::new().hash_one(key_pair.public_key());
        let core = Core::new(&config, *key_pair.public_key(), seed, Instant::now());
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, events) = mpsc::unbounded_channel();
        let connections = Arc::new(AtomicUsize::new(0));
        // The server's current relays, read at every topic announce (they change when a
        // relay dies or closer nodes appear, hyperdht §8).
        let relays = server.watch_relays();
        let forward = Driver::subscribe(&node, msg_tx.clone()).await;
        let mut driver = Driver {
            core,
            node,
            key_pair: key_pair.clone(),
            relays,
            server: Some(server),
            cmds: cmd_rx,
            msgs: msg_rx,
            msg_tx,
            events: ev_tx,
            connections: Arc::clone(&connections),
            refreshes: HashMap::new(),
            unannounces: Vec::new(),
            dials: HashMap::new(),
            live: HashMap::new(),
            staged: HashMap::new(),
            flushes: HashMap::new(),
            power: power::DriverPower::default(),
            gate,
        };
        driver.set_forward(forward);
        let task = tokio::spawn(driver.run());
        Ok(Self {
            key_pair,
            cmds,
            events,
            connections,
            task: Some(task),
        })
    }

    /// This swarm's public key.
    pub fn public_key(&self) -> &[u8; 32] {
        self.key_pair.public_key()
    }

    fn send(&self, cmd: Cmd) -> Result<(), SwarmError> {
        self.cmds.send(cmd).map_err(|_| SwarmError::Destroyed)
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Cmd) -> Result<T, SwarmError> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx))?;
        rx.await.map_err(|_| SwarmError::Destroyed)
    }

    /// Joins `topic` as server and client (announce, look up, dial what is found), now and
    /// after every refresh interval, until [`leave`](Self::leave).
    pub fn join(&self, topic: [u8; 32]) -> Result<(), SwarmError> {
        self.join_with(topic, JoinOptions::default())
    }

    /// Joins `topic` with `opts` (joining again replaces the options and refreshes).
    pub fn join_with(&self, topic: [u8; 32], opts: JoinOptions) -> Result<(), SwarmError> {
        if !opts.server && !opts.client {
            return Err(SwarmError::NoRole);
        }
        let (tx, _rx) = oneshot::channel();
        self.send(Cmd::Join(topic, opts, tx))
    }

    /// Leaves `topic`: discovery and refreshes stop; existing connections stay open
    /// (spec §4.3). If this swarm announced the topic, the record is removed from the
    /// topic's closest nodes (UNANNOUNCE) in the background.
    pub async fn leave(&self, topic: [u8; 32]) -> Result<(), SwarmError> {
        self.ask(|tx| Cmd::Leave(topic, tx)).await
    }

    /// Refreshes `topic` now (unless a refresh is running) and waits like
    /// [`flush`](Self::flush); false if the topic is not joined or the swarm died.
    pub async fn refresh(&self, topic: [u8; 32]) -> bool {
        self.ask(|tx| Cmd::Refresh(topic, tx))
            .await
            .unwrap_or(false)
    }

    /// Resolves once every joined topic finished its running discovery pass and every
    /// peer found so far was tried once (or the connection limits were reached); false
    /// if the swarm was destroyed first (spec §5).
    pub async fn flush(&self) -> bool {
        self.ask(Cmd::Flush).await.unwrap_or(false)
    }

    /// Keeps a connection to `public_key`, dialling it directly and retrying (spec §10).
    pub fn join_peer(&self, public_key: [u8; 32]) -> Result<(), SwarmError> {
        self.send(Cmd::JoinPeer(public_key))
    }

    /// Stops keeping a connection to `public_key`; an open one is not closed.
    pub fn leave_peer(&self, public_key: [u8; 32]) -> Result<(), SwarmError> {
        self.send(Cmd::LeavePeer(public_key))
    }

    /// Bans (true) or unbans a known peer.
    pub fn ban(&self, public_key: [u8; 32], banned: bool) -> Result<(), SwarmError> {
        self.send(Cmd::Ban(public_key, banned))
    }

    /// Allows or forbids automatic reconnects to a known peer.
    pub fn set_reconnect(&self, public_key: [u8; 32], on: bool) -> Result<(), SwarmError> {
        self.send(Cmd::Reconnect(public_key, on))
    }

    /// Snapshots of the peer records.
    pub async fn peers(&self) -> Result<Vec<PeerInfo>, SwarmError> {
        self.ask(Cmd::Peers).await
    }

    /// Counters and sizes.
    pub async fn status(&self) -> Result<SwarmStatus, SwarmError> {
        self.ask(Cmd::Status).await
    }

    /// Open connections.
    pub fn connected(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The next event; `None` once the swarm is destroyed.
    pub async fn next_event(&mut self) -> Option<SwarmEvent> {
        self.events.recv().await
    }

    /// The next connection, skipping other events.
    pub async fn next(&mut self) -> Option<PeerConnection> {
        loop {
            if let SwarmEvent::Connection(c) = self.events.recv().await? {
                return Some(c);
            }
        }
    }

    /// Destroys the swarm (spec §14): pending flushes resolve false, every connection
    /// and attempt is closed, the server stops.
    pub async fn destroy(mut self) {
        let _ = self.ask(Cmd::Destroy).await;
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

/// How long `destroy` waits for the UNANNOUNCEs it started.
const UNANNOUNCE_WAIT: Duration = Duration::from_secs(5);

/// Awaits every handle (their results are not needed).
async fn join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

struct Driver {
    core: Core,
    node: Arc<HyperDhtNode>,
    key_pair: KeyPair,
    relays: tokio::sync::watch::Receiver<Vec<SocketAddrV4>>,
    server: Option<Server>,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    msgs: mpsc::UnboundedReceiver<Msg>,
    msg_tx: mpsc::UnboundedSender<Msg>,
    events: mpsc::UnboundedSender<SwarmEvent>,
    connections: Arc<AtomicUsize>,
    refreshes: HashMap<[u8; 32], JoinHandle<()>>,
    /// Running UNANNOUNCEs; `destroy` waits for them (bounded by [`UNANNOUNCE_WAIT`]).
    unannounces: Vec<JoinHandle<()>>,
    dials: HashMap<ConnId, JoinHandle<()>>,
    live: HashMap<ConnId, stream::Handle>,
    staged: HashMap<ConnId, PeerConnection>,
    flushes: HashMap<FlushId, oneshot::Sender<bool>>,
    /// Suspend cycle (`power.rs`).
    power: power::DriverPower,
    /// The server's handshake firewall (`gate.rs`).
    gate: Arc<gate::Gate>,
}

async fn accept(server: &mut Option<Server>) -> Option<Stream> {
    match server {
        Some(s) => s.accept().await,
        None => std::future::pending().await,
    }
}

impl Driver {
    async fn run(mut self) {
        loop {
            self.drain();
            if self.core.is_destroyed() {
                break;
            }
            let deadline = self.core.poll_timeout();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            // Biased: reports from streams and tasks go before user commands, so a
            // command sees every close that happened before it was sent.
            tokio::select! {
                biased;
                Some(msg) = self.msgs.recv() => self.message(msg),
                cmd = self.cmds.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => self.core.destroy(Instant::now()),
                },
                incoming = accept(&mut self.server) => match incoming {
                    Some(stream) => self.incoming(stream),
                    None => self.server = None,
                },
                () = sleep => self.core.handle_timeout(Instant::now()),
            }
        }
        // Closing the server withdraws its record at `hash(publicKey)` from its relays;
        // waited for below with the topics' UNANNOUNCEs, so the key can be announced
        // again elsewhere right after `destroy` without a late withdrawal undoing it.
        if let Some(server) = self.server.take() {
            self.unannounces.push(tokio::spawn(async move {
                let _ = server.close().await;
            }));
        }
        for (_, t) in self.refreshes.drain() {
            t.abort();
        }
        for (_, t) in self.dials.drain() {
            t.abort();
        }
        for (_, h) in self.live.drain() {
            h.kill();
        }
        self.connections.store(0, Ordering::SeqCst);
        // Destroy withdraws this swarm's announcements (spec §14); give them a bounded
        // time to finish so a process that exits right after `destroy` leaves no record.
        let pending = std::mem::take(&mut self.unannounces);
        let all = join_all(pending);
        if tokio::time::timeout(UNANNOUNCE_WAIT, all).await.is_err() {
            debug!("unannounce still running after {UNANNOUNCE_WAIT:?}; left behind");
        }
    }

    fn command(&mut self, cmd: Cmd) {
        let now = Instant::now();
        match cmd {
            Cmd::Join(topic, opts, done) => {
                let _ = done.send(self.core.join(now, topic, opts));
            }
            Cmd::Leave(topic, done) => {
                self.core.leave(now, topic);
                let _ = done.send(());
            }
            Cmd::Refresh(topic, done) => {
                if self.core.refresh(now, topic) {
                    let id = self.core.flush(now);
                    self.flushes.insert(id, done);
                } else {
                    let _ = done.send(false);
                }
            }
            Cmd::Flush(done) => {
                let id = self.core.flush(now);
                self.flushes.insert(id, done);
            }
            Cmd::JoinPeer(k) => self.core.join_peer(now, k),
            Cmd::LeavePeer(k) => self.core.leave_peer(now, k),
            Cmd::Ban(k, b) => {
                self.core.ban(&k, b);
                self.gate.set_banned(k, self.core.is_banned(&k));
            }
            Cmd::Reconnect(k, b) => self.core.set_reconnect(&k, b),
            Cmd::Peers(done) => {
                let _ = done.send(self.core.peers());
            }
            Cmd::Status(done) => {
                let _ = done.send(SwarmStatus {
                    connections: self.core.connections(),
                    connecting: self.core.connecting(),
                    topics: self.core.topics(),
                    stats: self.core.stats(),
                });
            }
            Cmd::Destroy(done) => {
                self.core.destroy(now);
                let _ = done.send(());
            }
            c @ (Cmd::Suspend(_) | Cmd::Resume(_) | Cmd::NetworkChange) => self.power_command(c),
        }
    }

    fn message(&mut self, msg: Msg) {
        let now = Instant::now();
        match msg {
            Msg::RefreshDone {
                topic,
                generation,
                peers,
            } => {
                self.refreshes.remove(&topic);
                self.core.handle_refresh_done(now, topic, generation, peers);
            }
            Msg::DialDone { id, key, result } => {
                self.dials.remove(&id);
                if let Err(e) = &result {
                    debug!(peer = %short(&key), id, "dial failed: {e}");
                }
                let keep = self.core.handle_dial_result(now, id, key, result.is_ok());
                if let (true, Ok(stream)) = (keep, result) {
                    self.stage(*stream, id, key, true);
                }
            }
            Msg::Closed { id, key, reason } => {
                self.live.remove(&id);
                self.core.handle_closed(now, id, key, reason);
            }
            m @ (Msg::DhtSuspended | Msg::DhtResumed | Msg::NetworkChange) => {
                self.power_message(m);
            }
            Msg::Firewalled(key) => self.core.handle_firewalled(now, key),
        }
    }

    fn incoming(&mut self, stream: Stream) {
        let Some(key) = stream.remote_public_key().copied() else {
            return;
        };
        let outdated = self
            .core
            .connection_id(&key)
            .and_then(|id| self.live.get(&id))
            .is_some_and(|h| h.shared.exchanged_data());
        match self.core.handle_incoming(Instant::now(), key, outdated) {
            Incoming::Accept { id, .. } => self.stage(stream, id, key, false),
            Incoming::Reject(why) => {
                debug!(peer = %short(&key), ?why, "incoming connection closed");
                drop(stream);
            }
        }
    }

    fn stage(&mut self, stream: Stream, id: ConnId, key: [u8; 32], initiator: bool) {
        let (stream, handle) = SwarmStream::new(stream, id, key, self.msg_tx.clone());
        self.live.insert(id, handle);
        self.staged.insert(
            id,
            PeerConnection {
                stream,
                remote_public_key: key,
                initiator,
            },
        );
    }

    /// Carries out the core's actions and delivers its events.
    fn drain(&mut self) {
        while let Some(action) = self.core.poll_action() {
            self.act(action);
        }
        // Before the events go out, so a user reacting to one sees the new count.
        self.connections
            .store(self.core.connections(), Ordering::SeqCst);
        while let Some(event) = self.core.poll_event() {
            let out = match event {
                Event::Connection { id, .. } => match self.staged.remove(&id) {
                    Some(c) => SwarmEvent::Connection(c),
                    None => continue,
                },
                Event::Update => SwarmEvent::Update,
                Event::Ban { public_key } => {
                    self.gate.set_banned(public_key, true);
                    SwarmEvent::Ban(public_key)
                }
                e @ (Event::Suspended | Event::Resumed | Event::NetworkChange) => {
                    match self.power_event(&e) {
                        Some(out) => out,
                        None => continue,
                    }
                }
                Event::Flushed { flush, ok } => {
                    if let Some(done) = self.flushes.remove(&flush) {
                        let _ = done.send(ok);
                    }
                    continue;
                }
            };
            let _ = self.events.send(out);
        }
    }

    fn act(&mut self, action: Action) {
        match action {
            Action::Refresh {
                topic,
                generation,
                announce,
                lookup,
                unannounce,
            } => {
                let node = Arc::clone(&self.node);
                let kp = self.key_pair.clone();
                let relays = self.relays.borrow().clone();
                let tx = self.msg_tx.clone();
                let task = tokio::spawn(async move {
                    let pass = Pass {
                        announce,
                        lookup,
                        unannounce,
                    };
                    let peers = refresh(&node, kp, topic, relays, pass).await;
                    let _ = tx.send(Msg::RefreshDone {
                        topic,
                        generation,
                        peers,
                    });
                });
                if let Some(old) = self.refreshes.insert(topic, task) {
                    old.abort();
                }
            }
            Action::CancelRefresh { topic } => {
                if let Some(t) = self.refreshes.remove(&topic) {
                    t.abort();
                }
            }
            Action::Unannounce { topic } => {
                let node = Arc::clone(&self.node);
                let kp = self.key_pair.clone();
                self.unannounces.retain(|t| !t.is_finished());
                self.unannounces.push(tokio::spawn(async move {
                    if let Err(e) = node.unannounce(topic, kp).await {
                        debug!(topic = %short(&topic), "unannounce failed: {e}");
                    }
                }));
            }
            Action::Dial { id, public_key } => {
                let node = Arc::clone(&self.node);
                let kp = self.key_pair.clone();
                let tx = self.msg_tx.clone();
                let task = tokio::spawn(async move {
                    let result = node.connect(public_key, kp).await.map(Box::new);
                    let _ = tx.send(Msg::DialDone {
                        id,
                        key: public_key,
                        result,
                    });
                });
                self.dials.insert(id, task);
            }
            Action::Close { id, public_key } => {
                debug!(peer = %short(&public_key), id, "closing");
                if let Some(t) = self.dials.remove(&id) {
                    t.abort();
                }
                if let Some(h) = self.live.remove(&id) {
                    h.kill();
                }
                self.staged.remove(&id);
            }
            a @ (Action::KeepAlive { .. } | Action::SuspendDht | Action::ResumeDht) => {
                self.power_act(a);
            }
        }
    }
}

/// What one discovery pass does.
struct Pass {
    announce: bool,
    lookup: bool,
    /// Remove an earlier announcement first (the topic became client-only).
    unannounce: bool,
}

/// One discovery pass: unannounce, announce and/or look up. `None` if it failed.
async fn refresh(
    node: &HyperDhtNode,
    kp: KeyPair,
    topic: [u8; 32],
    relays: Vec<SocketAddrV4>,
    pass: Pass,
) -> Option<Vec<[u8; 32]>> {
    let Pass {
        announce,
        lookup,
        unannounce,
    } = pass;
    let mut ok = true;
    if unannounce {
        if let Err(e) = node.unannounce(topic, kp.clone()).await {
            debug!(topic = %short(&topic), "unannounce failed: {e}");
        }
    }
    if announce {
        if let Err(e) = node.announce(topic, kp, relays).await {
            debug!(topic = %short(&topic), "announce failed: {e}");
            ok = false;
        }
    }
    let mut found = Vec::new();
    if lookup {
        match node.lookup(topic).await {
            Ok(peers) => found = peers.into_iter().map(|p| p.public_key).collect(),
            Err(e) => {
                debug!(topic = %short(&topic), "lookup failed: {e}");
                return None;
            }
        }
    }
    ok.then_some(found)
}
