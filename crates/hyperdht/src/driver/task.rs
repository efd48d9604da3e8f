//! The task that owns the core: wait for a datagram, a command or the next timer; feed
//! the core; drain it; hand finished stream set-ups to their own tasks.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use plures_dht_rpc::Socket;
use plures_secret_stream::{Config as StreamConfig, SecretStream};
use plures_udx::{Firewall, StreamConfig as UdxStreamConfig, UdxSocket, UdxStream};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};
use tracing::debug;

use super::{Status, Stream, connect_error};
use crate::KeyPair;
use crate::node::puncher::MAX_PUNCH_TIME;
use crate::node::{
    Config, ConnId, ConnectError, Event, HANDSHAKE_CLEAR_WAIT, HyperDht, NodeStats, OpError, OpId,
    OpResult, ServerConfig, ServerId, StreamSetup,
};
use crate::wire::Peer;

mod power;
pub use power::NodeEvent;

/// The wall clock in Unix milliseconds.
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// What an operation reports back.
#[derive(Debug)]
pub(super) struct OpOutcome {
    pub(super) result: Result<OpResult, OpError>,
    /// Records from the lookup replies, one per public key.
    pub(super) peers: Vec<Peer>,
}

type Listening = oneshot::Sender<io::Result<(ServerId, Vec<SocketAddrV4>)>>;

/// A command from a handle.
#[derive(Debug)]
pub(super) enum Cmd {
    Announce {
        topic: [u8; 32],
        key_pair: KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
        done: oneshot::Sender<OpOutcome>,
    },
    Lookup {
        topic: [u8; 32],
        done: oneshot::Sender<OpOutcome>,
    },
    Unannounce {
        topic: [u8; 32],
        key_pair: KeyPair,
        done: oneshot::Sender<OpOutcome>,
    },
    Listen {
        key_pair: KeyPair,
        config: ServerConfig,
        incoming: mpsc::UnboundedSender<Stream>,
        listening: Listening,
        /// Where the server's current relays are published.
        relays: watch::Sender<Vec<SocketAddrV4>>,
    },
    Close(ServerId),
    /// `server.close()`: close, answer once its UNANNOUNCEs ended.
    CloseWait(ServerId, oneshot::Sender<()>),
    /// `server.refresh()`: update the server's announcement now.
    Refresh(ServerId),
    Connect {
        remote_public_key: [u8; 32],
        key_pair: KeyPair,
        done: oneshot::Sender<io::Result<Stream>>,
    },
    Stats(oneshot::Sender<NodeStats>),
    Suspend(oneshot::Sender<()>),
    Resume(oneshot::Sender<bool>),
    NetworkChange,
    Subscribe(oneshot::Sender<tokio::sync::broadcast::Receiver<NodeEvent>>),
    Destroy,
}

struct PendingOp {
    done: oneshot::Sender<OpOutcome>,
    peers: BTreeMap<[u8; 32], Peer>,
}

struct ServerWaiters {
    incoming: mpsc::UnboundedSender<Stream>,
    listening: Option<Listening>,
    relays: watch::Sender<Vec<SocketAddrV4>>,
}

/// A pool socket and the task that reads it.
struct Pool {
    socket: Arc<UdxSocket>,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

type PoolDatagram = (u32, Vec<u8>, SocketAddr);

pub(super) struct Task {
    core: HyperDht,
    host: Ipv4Addr,
    server: Arc<UdxSocket>,
    client: Arc<UdxSocket>,
    pools: HashMap<u32, Pool>,
    pool_tx: mpsc::UnboundedSender<PoolDatagram>,
    pool_rx: mpsc::UnboundedReceiver<PoolDatagram>,
    commands: mpsc::UnboundedReceiver<Cmd>,
    status: watch::Sender<Status>,
    ops: HashMap<OpId, PendingOp>,
    servers: HashMap<ServerId, ServerWaiters>,
    conns: HashMap<ConnId, oneshot::Sender<io::Result<Stream>>>,
    /// Server streams waiting for a client's first datagram, by the pool socket of their
    /// holepunch slot: where to send further sockets to listen on.
    more_sockets: HashMap<u32, mpsc::UnboundedSender<Arc<UdxSocket>>>,
    /// Streams an OPEN client created before its handshake reply.
    early: HashMap<ConnId, Early>,
    /// Suspend waiters and event subscribers.
    power: power::PowerState,
    /// `server.close()` callers waiting for the server's withdrawals.
    closing: HashMap<ServerId, oneshot::Sender<()>>,
}

impl Task {
    pub(super) fn new(
        config: Config,
        host: Ipv4Addr,
        server: Arc<UdxSocket>,
        client: Arc<UdxSocket>,
        commands: mpsc::UnboundedReceiver<Cmd>,
        status: watch::Sender<Status>,
    ) -> Self {
        let (pool_tx, pool_rx) = mpsc::unbounded_channel();
        Self {
            core: HyperDht::new(config, now()),
            host,
            server,
            client,
            pools: HashMap::new(),
            pool_tx,
            pool_rx,
            commands,
            status,
            ops: HashMap::new(),
            servers: HashMap::new(),
            conns: HashMap::new(),
            more_sockets: HashMap::new(),
            early: HashMap::new(),
            power: power::PowerState::default(),
            closing: HashMap::new(),
        }
    }

    fn socket(&self, s: Socket) -> &Arc<UdxSocket> {
        match s {
            Socket::Client => &self.client,
            _ => &self.server,
        }
    }

    /// The socket to send from; a pool socket is bound on first use (`None` if that fails).
    fn socket_for(&mut self, s: Socket) -> Option<Arc<UdxSocket>> {
        let Socket::Other(n) = s else {
            return Some(Arc::clone(self.socket(s)));
        };
        if let Some(p) = self.pools.get(&n) {
            return Some(Arc::clone(&p.socket));
        }
        let socket = match UdxSocket::bind(SocketAddr::from((self.host, 0))) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                debug!("pool socket: {e}");
                return None;
            }
        };
        let (reader_socket, tx) = (Arc::clone(&socket), self.pool_tx.clone());
        let reader = tokio::spawn(async move {
            while let Ok((data, from)) = reader_socket.recv_other().await {
                if tx.send((n, data, from)).is_err() {
                    break;
                }
            }
        });
        self.pools.insert(
            n,
            Pool {
                socket: Arc::clone(&socket),
                reader,
            },
        );
        Some(socket)
    }

    pub(super) async fn run(mut self) {
        loop {
            self.drain();
            let deadline = self.core.poll_timeout().map_or_else(
                || Instant::now() + std::time::Duration::from_secs(3600),
                Instant::from_std,
            );
            let (server, client) = (Arc::clone(&self.server), Arc::clone(&self.client));
            tokio::select! {
                r = server.recv_other() => self.datagram(Socket::Server, r),
                r = client.recv_other() => self.datagram(Socket::Client, r),
                Some((n, data, from)) = self.pool_rx.recv() => {
                    self.datagram(Socket::Other(n), Ok((data, from)));
                }
                c = self.commands.recv() => match c {
                    None | Some(Cmd::Destroy) => break,
                    Some(c) => self.command(c),
                },
                () = sleep_until(deadline) => self.core.handle_timeout(now()),
            }
        }
    }

    fn datagram(&mut self, socket: Socket, r: io::Result<(Vec<u8>, SocketAddr)>) {
        let Ok((data, SocketAddr::V4(from))) = r else {
            return;
        };
        // 1-byte datagrams are holepunch probes; the core handles them on pool sockets.
        let _ = self.core.handle_datagram(now(), socket, from, &data);
    }

    fn command(&mut self, c: Cmd) {
        let Some(c) = self.power_command(c) else {
            return;
        };
        let t = now();
        match c {
            Cmd::Announce {
                topic,
                key_pair,
                relay_addresses,
                done,
            } => match self.core.announce(t, topic, key_pair, relay_addresses) {
                Ok(op) => self.track(op, done),
                Err(e) => Self::fail_op(done, e),
            },
            Cmd::Lookup { topic, done } => match self.core.lookup(t, topic) {
                Ok(op) => self.track(op, done),
                Err(e) => Self::fail_op(done, e),
            },
            Cmd::Unannounce {
                topic,
                key_pair,
                done,
            } => match self.core.unannounce(t, topic, key_pair) {
                Ok(op) => self.track(op, done),
                Err(e) => Self::fail_op(done, e),
            },
            Cmd::Listen {
                key_pair,
                config,
                incoming,
                listening,
                relays,
            } => match self.core.listen_with(t, key_pair, config) {
                Ok(id) => {
                    self.servers.insert(
                        id,
                        ServerWaiters {
                            incoming,
                            listening: Some(listening),
                            relays,
                        },
                    );
                }
                Err(e) => {
                    let _ = listening.send(Err(io::Error::new(io::ErrorKind::AddrInUse, e)));
                }
            },
            Cmd::Close(id) => {
                self.core.close_server(id);
                self.servers.remove(&id);
            }
            Cmd::CloseWait(id, done) => {
                self.servers.remove(&id);
                if self.core.close_server(id) {
                    self.closing.insert(id, done);
                } else {
                    let _ = done.send(());
                }
            }
            Cmd::Refresh(id) => {
                self.core.refresh_server(t, id);
            }
            Cmd::Connect {
                remote_public_key,
                key_pair,
                done,
            } => match self.core.connect(t, remote_public_key, key_pair) {
                Ok(id) => {
                    self.conns.insert(id, done);
                    if let Some(sid) = self.core.early_stream_id(id) {
                        self.early_streams(id, sid);
                    }
                }
                Err(e) => {
                    let _ = done.send(Err(connect_error(e)));
                }
            },
            Cmd::Stats(reply) => {
                let _ = reply.send(self.core.stats());
            }
            Cmd::Suspend(_) | Cmd::Resume(_) | Cmd::NetworkChange | Cmd::Subscribe(_) => {}
            Cmd::Destroy => {}
        }
    }

    fn track(&mut self, op: OpId, done: oneshot::Sender<OpOutcome>) {
        self.ops.insert(
            op,
            PendingOp {
                done,
                peers: BTreeMap::new(),
            },
        );
    }

    fn fail_op(done: oneshot::Sender<OpOutcome>, e: OpError) {
        let _ = done.send(OpOutcome {
            result: Err(e),
            peers: Vec::new(),
        });
    }

    /// Sends what the core wants sent and routes its events.
    fn drain(&mut self) {
        // Operations whose caller went away (a dropped future, e.g. an aborted swarm
        // refresh) are cancelled, so their writes stop before a later UNANNOUNCE.
        let abandoned: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, p)| p.done.is_closed())
            .map(|(op, _)| *op)
            .collect();
        for op in abandoned {
            self.ops.remove(&op);
            self.core.cancel(op);
        }
        while let Some(t) = self.core.poll_transmit() {
            let to = SocketAddr::V4(t.destination);
            if let Some(s) = self.socket_for(t.socket) {
                let _ = s.send_raw(to, &t.contents, None);
            }
        }
        while let Some(p) = self.core.poll_probe() {
            let to = SocketAddr::V4(p.destination);
            if let Some(s) = self.socket_for(p.socket) {
                let _ = s.send_raw(to, &[0], Some(p.ttl));
            }
        }
        while let Some(n) = self.core.poll_released_socket() {
            self.pools.remove(&n);
        }
        while let Some(e) = self.core.poll_event() {
            self.event(e);
        }
        let dht = self.core.dht();
        let status = Status {
            bootstrapped: dht.is_bootstrapped(),
            persistent: dht.is_persistent(),
            table_size: dht.table().len(),
        };
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    fn event(&mut self, e: Event) {
        match e {
            Event::Lookup { op, peers, .. } => {
                if let Some(p) = self.ops.get_mut(&op) {
                    for peer in peers {
                        p.peers.insert(peer.public_key, peer);
                    }
                }
            }
            Event::Done { op, result } => {
                if let Some(p) = self.ops.remove(&op) {
                    let peers = p.peers.into_values().collect();
                    let _ = p.done.send(OpOutcome { result, peers });
                }
            }
            Event::ServerClosed { server } => {
                if let Some(done) = self.closing.remove(&server) {
                    let _ = done.send(());
                }
            }
            Event::Listening { server, relays } | Event::RelaysChanged { server, relays } => {
                if let Some(w) = self.servers.get_mut(&server) {
                    w.relays.send_replace(relays.clone());
                    if let Some(l) = w.listening.take() {
                        let _ = l.send(Ok((server, relays)));
                    }
                }
            }
            Event::Connection { server, setup } => {
                if let Some(w) = self.servers.get(&server) {
                    let incoming = w.incoming.clone();
                    self.open(setup, false, None, move |r| match r {
                        Ok(s) => {
                            let _ = incoming.send(s);
                        }
                        Err(e) => debug!("incoming connection failed: {e}"),
                    });
                }
            }
            Event::Connected { conn, setup } => {
                let early = self.early.remove(&conn);
                if let Some(done) = self.conns.remove(&conn) {
                    self.open(setup, true, early, move |r| {
                        let _ = done.send(r);
                    });
                } else if let Some(h) = early {
                    tokio::spawn(destroy_early(h));
                }
            }
            Event::PunchSocket {
                slot_socket,
                socket,
                ..
            } => {
                let pool = self.pools.get(&socket).map(|p| Arc::clone(&p.socket));
                if let (Some(tx), Some(s)) = (self.more_sockets.get(&slot_socket), pool) {
                    if tx.send(s).is_err() {
                        self.more_sockets.remove(&slot_socket);
                    }
                }
            }
            Event::ConnectFailed { conn, error } => {
                if let Some(h) = self.early.remove(&conn) {
                    tokio::spawn(destroy_early(h));
                }
                if let Some(done) = self.conns.remove(&conn) {
                    let _ = done.send(Err(connect_error(error)));
                }
            }
            e @ (Event::Suspended | Event::Resumed | Event::NetworkChange | Event::Dht(_)) => {
                self.power_event(&e)
            }
            _ => {}
        }
    }

    /// Creates the streams of connection `conn` (id `sid`) on the server and client socket
    /// now, before the handshake reply: the server may dial an OPEN client at once, and a
    /// datagram that finds no stream is lost (UDX would resend it only after a second).
    fn early_streams(&mut self, conn: ConnId, sid: u32) {
        let sockets = [Arc::clone(&self.server), Arc::clone(&self.client)];
        let h = tokio::spawn(async move {
            let mut out = Vec::new();
            for s in sockets {
                if let Ok(raw) = s.create_stream_with(sid, accept_all()).await {
                    out.push((s, raw));
                }
            }
            out
        });
        self.early.insert(conn, h);
    }

    /// Creates the UDX stream on the set-up's socket and connects it to the set-up's
    /// address; without one, creates it on every candidate socket (the set-up's, the
    /// server and the client socket) and connects the one the peer's first datagram
    /// reaches within [`HANDSHAKE_CLEAR_WAIT`] (plus [`MAX_PUNCH_TIME`] for a set-up with
    /// a holepunch slot). Then starts the secret-stream from the
    /// finished handshake, in a task of its own. `owned`: a pool socket in the set-up
    /// now belongs to the stream (the core forgot it).
    fn open(
        &mut self,
        setup: StreamSetup,
        owned: bool,
        early: Option<Early>,
        deliver: impl FnOnce(io::Result<Stream>) + Send + 'static,
    ) {
        // A server's slot socket exists already (the handshake reply left from it); if the
        // core has released it meanwhile, the server and client sockets remain.
        let socket = match (owned, setup.socket) {
            (false, Socket::Other(n)) => self
                .pools
                .get(&n)
                .map_or_else(|| Arc::clone(&self.server), |p| Arc::clone(&p.socket)),
            _ => match self.socket_for(setup.socket) {
                Some(s) => s,
                None => {
                    deliver(Err(io::Error::other("no socket for the stream")));
                    return;
                }
            },
        };
        if let (true, Socket::Other(n)) = (owned, setup.socket) {
            // The stream keeps the socket; stop reading its other datagrams.
            self.pools.remove(&n);
        }
        // Sockets a birthday punch of the slot opens later ([`Event::PunchSocket`]).
        let (more_tx, mut more) = mpsc::unbounded_channel();
        if let (false, Socket::Other(n), None) = (owned, setup.socket, setup.remote_addr) {
            self.more_sockets.retain(|_, tx| !tx.is_closed());
            self.more_sockets.insert(n, more_tx);
        } else {
            drop(more_tx);
        }
        let mut candidates = vec![socket];
        if setup.remote_addr.is_none() {
            for s in [&self.server, &self.client] {
                if !candidates.iter().any(|c| Arc::ptr_eq(c, s)) {
                    candidates.push(Arc::clone(s));
                }
            }
        }
        // A holepunched client may take until its strategy ran out.
        let wait = if matches!(setup.socket, Socket::Other(_)) {
            HANDSHAKE_CLEAR_WAIT + MAX_PUNCH_TIME
        } else {
            HANDSHAKE_CLEAR_WAIT
        };
        tokio::spawn(async move {
            let mut early = match early {
                Some(h) => h.await.unwrap_or_default(),
                None => Vec::new(),
            };
            // An early stream on `socket` (same id), if there is one.
            let mut take_early = |socket: &Arc<UdxSocket>| {
                let i = early.iter().position(|(s, _)| Arc::ptr_eq(s, socket))?;
                Some(early.swap_remove(i).1)
            };
            let r = async {
                let id = setup.local_stream_id;
                let (raw, addr) = match setup.remote_addr {
                    Some(addr) => {
                        let raw = match take_early(&candidates[0]) {
                            Some(raw) => raw,
                            None => candidates[0].create_stream(id).await?,
                        };
                        (raw, SocketAddr::V4(addr))
                    }
                    None => {
                        let config = accept_all;
                        let mut streams = Vec::new();
                        for s in &candidates {
                            streams.push(match take_early(s) {
                                Some(raw) => raw,
                                None => s.create_stream_with(id, config()).await?,
                            });
                        }
                        let deadline = Instant::now() + wait;
                        let mut more_open = true;
                        let (i, first) = loop {
                            let step = {
                                let waits = streams.iter().enumerate().map(|(i, s)| {
                                    Box::pin(async move { (i, s.first_datagram_source().await) })
                                });
                                tokio::select! {
                                    r = futures_select_first(waits) => Step::First(r.0, r.1),
                                    m = more.recv(), if more_open => Step::More(m),
                                    () = sleep_until(deadline) => Step::Timeout,
                                }
                            };
                            match step {
                                Step::First(i, first) => break (i, first),
                                // A birthday socket of the slot got the client's probe.
                                Step::More(Some(s)) => {
                                    streams.push(s.create_stream_with(id, config()).await?);
                                }
                                Step::More(None) => more_open = false,
                                Step::Timeout if owned => {
                                    // An OPEN client waited for the server to dial it
                                    // (§10.4 step 4): the reference's code for it.
                                    return Err(connect_error(ConnectError::HolepunchAborted));
                                }
                                Step::Timeout => {
                                    return Err(io::Error::new(
                                        io::ErrorKind::TimedOut,
                                        "the peer's first datagram did not arrive",
                                    ));
                                }
                            }
                        };
                        let first = first?;
                        let raw = streams.swap_remove(i);
                        for other in streams {
                            other.destroy();
                        }
                        (raw, first)
                    }
                };
                raw.connect(setup.remote_stream_id, addr).await?;
                SecretStream::from_handshake(raw, setup.keys, StreamConfig::default()).await
            }
            .await;
            for (_, s) in early {
                s.destroy();
            }
            deliver(r);
        });
    }
}

/// Streams an OPEN client created before its handshake reply, one per socket.
type Early = tokio::task::JoinHandle<Vec<(Arc<UdxSocket>, UdxStream)>>;

/// The UDX config of a stream that binds to the first datagram it gets.
fn accept_all() -> UdxStreamConfig {
    UdxStreamConfig::default()
        .with_firewall(Firewall::AcceptAll)
        .with_mtu_probing(true)
}

/// Destroys early streams nobody took.
async fn destroy_early(h: Early) {
    for (_, s) in h.await.unwrap_or_default() {
        s.destroy();
    }
}

/// One step of waiting for the peer's first datagram.
enum Step {
    /// It reached candidate `.0`.
    First(usize, io::Result<SocketAddr>),
    /// Another socket to listen on (`None`: no more will come).
    More(Option<Arc<UdxSocket>>),
    Timeout,
}

/// The output of whichever future finishes first.
async fn futures_select_first<F, T>(futures: impl IntoIterator<Item = F>) -> T
where
    F: Future<Output = T> + Unpin,
{
    let mut futures: Vec<F> = futures.into_iter().collect();
    std::future::poll_fn(move |cx| {
        for f in &mut futures {
            if let std::task::Poll::Ready(v) = std::pin::Pin::new(f).poll(cx) {
                return std::task::Poll::Ready(v);
            }
        }
        std::task::Poll::Pending
    })
    .await
}
