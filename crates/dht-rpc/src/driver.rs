//! A tokio driver for the sans-IO [`Dht`](crate::Dht) (feature `tokio`, on by default).
//!
//! [`DhtNode::bind`] binds the node's two sockets (spec §2) as [`UdxSocket`]s, so UDX
//! streams can share them later (§17), and spawns one task that owns the core. The task is
//! a thin loop: it waits for datagrams that UDX did not take (all that wait on a socket at
//! once, in the buffers they arrived in, [`UdxSocket::recv_others`]), the core's next
//! timer or a command from a handle, feeds the core, then drains it (transmits, as one
//! batch per socket grouped by destination, [`UdxSocket::send_raw_batch`]; events) and
//! publishes a [`Status`]. It makes no protocol decisions; the only clock it reads is
//! tokio's ([`tokio::time::Instant::now`]), so paused tokio time drives the core too.
//!
//! Handles:
//!
//! - [`DhtNode`]: requests, queries, user-command registration, status, `destroy`;
//! - [`Query`]: the replies of one query as they arrive, then its [`QueryOutcome`];
//! - [`InboundRequest`]: a request for a registered user command, answered with
//!   [`reply`](InboundRequest::reply), [`error`](InboundRequest::error) or
//!   [`relay`](InboundRequest::relay).
//!
//! Errors are [`io::Error`]s: a request without a response is
//! [`TimedOut`](io::ErrorKind::TimedOut), a query that found no node to commit to or whose
//! commits all failed is [`Other`](io::ErrorKind::Other) wrapping the [`QueryError`], a
//! full core (too many requests or queries) is [`WouldBlock`](io::ErrorKind::WouldBlock),
//! an unencodable packet is [`InvalidInput`](io::ErrorKind::InvalidInput), and anything
//! after the task stopped is [`ConnectionAborted`](io::ErrorKind::ConnectionAborted).
//!
//! The task stops on [`DhtNode::destroy`] or when the node handle and every
//! [`InboundRequest`] are dropped.
//!
//! Suspend ([`DhtNode::suspend`], spec §16) keeps both sockets open and bound: the core
//! drops every datagram while suspended, and [`DhtNode::resume`] needs no re-bind (the
//! reference closes its sockets and re-binds with the previous ports first; keeping them
//! is simpler, cannot lose a port to another process, and keeps UDX streams on them).
//!
//! One departure from the reference's binding: a non-zero `port` is bound exactly (the
//! reference tries `port ..= port + 4`, then any port); a busy port is an error.

mod task;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;

use plures_udx::UdxSocket;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::command::Command;
use crate::error::Error;
use crate::id::NodeId;
use crate::node::{
    Config, IncomingRequest, Peer, QueryError, QueryStats, Reply, RequestError, Stats,
};
use crate::token::Token;
use task::{Cmd, Task};

/// Where and how a [`DhtNode`] runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Address both sockets bind to.
    pub host: Ipv4Addr,
    /// Server socket port (0 = any free port).
    pub port: u16,
    /// The core's configuration. If [`Config::public_address`] has port 0 it is completed
    /// with the bound server port (a bootstrapper on a free port); [`Config::server_port`]
    /// is always set to the bound server port.
    pub dht: Config,
    /// Test aid: make the server socket behave as if it were behind a NAT or firewall, i.e.
    /// drop every datagram arriving on it from an address it has not sent to. Off by
    /// default.
    pub drop_unsolicited: bool,
}

impl NodeConfig {
    /// The reference's defaults (adaptive, firewalled) on `0.0.0.0` and any port, with a
    /// fresh random seed.
    pub fn new(bootstrap: Vec<SocketAddrV4>) -> Self {
        let mut dht = Config::new(random_seed());
        dht.bootstrap = bootstrap;
        Self {
            host: Ipv4Addr::UNSPECIFIED,
            port: 0,
            dht,
            drop_unsolicited: false,
        }
    }

    /// A node that is reachable at `host:port` and joins routing tables at once
    /// (`ephemeral: false, firewalled: false`).
    pub fn persistent(host: Ipv4Addr, port: u16, bootstrap: Vec<SocketAddrV4>) -> Self {
        let mut c = Self::new(bootstrap);
        c.host = host;
        c.port = port;
        c.dht.ephemeral = Some(false);
        c.dht.firewalled = false;
        c
    }

    /// A bootstrap node at `host:port` (`DHT.bootstrapper`); port 0 picks a free port.
    pub fn bootstrapper(host: Ipv4Addr, port: u16) -> Self {
        Self {
            host,
            port,
            dht: Config::bootstrapper(SocketAddrV4::new(host, port), random_seed()),
            drop_unsolicited: false,
        }
    }
}

/// A seed for the core's generator from the process's hash keys and the clock.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    h.finish()
}

/// What the node looks like after the last input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The table id.
    pub id: NodeId,
    /// Nodes in the routing table.
    pub table_size: usize,
    /// Bootstrapping finished.
    pub bootstrapped: bool,
    /// The node puts its id in packets (joins other nodes' tables).
    pub persistent: bool,
    /// The node believes it is firewalled.
    pub firewalled: bool,
    /// Network health: online (spec §15).
    pub online: bool,
    /// Network health: degraded (spec §15).
    pub degraded: bool,
    /// The node is suspended (spec §16).
    pub suspended: bool,
    /// The maintenance tick counter.
    pub tick: u64,
}

/// The outcome of a finished query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryOutcome {
    /// The closest nodes that replied, nearest first (at most k).
    pub closest: Vec<Peer>,
    /// Counters.
    pub stats: QueryStats,
}

/// A dht-rpc node running on tokio. See the module docs.
#[derive(Debug)]
pub struct DhtNode {
    commands: mpsc::UnboundedSender<Cmd>,
    status: watch::Receiver<Status>,
    requests: Mutex<mpsc::UnboundedReceiver<InboundRequest>>,
    server: Arc<UdxSocket>,
    client: Arc<UdxSocket>,
    task: JoinHandle<()>,
}

impl DhtNode {
    /// Binds the server socket on `host:port` and the client socket on `host:0`, and
    /// starts the node (it bootstraps at once). Fails outside a tokio runtime.
    pub fn bind(mut config: NodeConfig) -> io::Result<Self> {
        let server = Arc::new(UdxSocket::bind(
            SocketAddrV4::new(config.host, config.port).into(),
        )?);
        let client = Arc::new(UdxSocket::bind(SocketAddrV4::new(config.host, 0).into())?);
        let server_port = server.local_addr().port();
        if let Some(a) = &mut config.dht.public_address {
            if a.port() == 0 {
                a.set_port(server_port);
            }
        }
        config.dht.server_port = server_port;
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (requests_tx, requests) = mpsc::unbounded_channel();
        let (task, status) = Task::new(
            config.dht,
            Arc::clone(&server),
            Arc::clone(&client),
            commands.downgrade(),
            commands_rx,
            requests_tx,
            config.drop_unsolicited,
        );
        let task = tokio::spawn(task.run());
        Ok(Self {
            commands,
            status,
            requests: Mutex::new(requests),
            server,
            client,
            task,
        })
    }

    /// The address requests go out from: the client socket while firewalled, else the
    /// server socket (`node.address()`).
    pub fn local_addr(&self) -> SocketAddrV4 {
        if self.status.borrow().firewalled {
            self.client_addr()
        } else {
            self.server_addr()
        }
    }

    /// The server socket's address.
    pub fn server_addr(&self) -> SocketAddrV4 {
        v4(self.server.local_addr())
    }

    /// The client socket's address.
    pub fn client_addr(&self) -> SocketAddrV4 {
        v4(self.client.local_addr())
    }

    /// The server socket, for UDX streams sharing it.
    pub fn server_socket(&self) -> &Arc<UdxSocket> {
        &self.server
    }

    /// The client socket, for UDX streams sharing it.
    pub fn client_socket(&self) -> &Arc<UdxSocket> {
        &self.client
    }

    /// The status after the last input.
    pub fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// The table id.
    pub fn id(&self) -> NodeId {
        self.status.borrow().id
    }

    /// Nodes in the routing table.
    pub fn table_size(&self) -> usize {
        self.status.borrow().table_size
    }

    /// Waits until bootstrapping finished (`fullyBootstrapped()`).
    pub async fn bootstrapped(&self) -> io::Result<()> {
        self.wait_status(|s| s.bootstrapped).await.map(|_| ())
    }

    /// Waits until `f` holds for the status and returns that status.
    pub async fn wait_status(&self, mut f: impl FnMut(&Status) -> bool) -> io::Result<Status> {
        let mut rx = self.status.clone();
        let s = rx.wait_for(|s| f(s)).await.map_err(|_| gone())?;
        Ok(*s)
    }

    fn send(&self, cmd: Cmd) -> io::Result<()> {
        self.commands.send(cmd).map_err(|_| gone())
    }

    /// Sends one request (3 retries, 1 s per attempt). Error replies are `Ok` with
    /// `reply.error != 0`.
    pub async fn request(
        &self,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
    ) -> io::Result<Reply> {
        self.request_with(to, command, target, value, token, false)
            .await
    }

    /// Sends one request like [`request`](Self::request), and accepts its reply from any
    /// address ([`Dht::request_relayed`](crate::Dht::request_relayed)): `to` relays it and
    /// the last hop answers directly (spec §6.3); `reply.from` names who answered.
    pub async fn request_relayed(
        &self,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
    ) -> io::Result<Reply> {
        self.request_with(to, command, target, value, token, true)
            .await
    }

    async fn request_with(
        &self,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
        relayed: bool,
    ) -> io::Result<Reply> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Request {
            to,
            command,
            target,
            value: value.map(<[u8]>::to_vec),
            token,
            relayed,
            reply,
        })?;
        rx.await.map_err(|_| gone())?
    }

    /// PINGs `to`.
    pub async fn ping(&self, to: SocketAddrV4) -> io::Result<Reply> {
        self.request(to, Command::Ping, None, None, None).await
    }

    /// Starts an iterative query (see [`Dht::query`](crate::Dht::query)).
    pub async fn query(
        &self,
        target: NodeId,
        command: Command,
        value: Option<&[u8]>,
        commit: bool,
    ) -> io::Result<Query> {
        let (items, rx) = mpsc::unbounded_channel();
        let (started, started_rx) = oneshot::channel();
        self.send(Cmd::Query {
            target,
            command,
            value: value.map(<[u8]>::to_vec),
            commit,
            items,
            started,
        })?;
        started_rx.await.map_err(|_| gone())??;
        Ok(Query { rx, outcome: None })
    }

    /// Starts a FIND_NODE query for `target`.
    pub async fn find_node(&self, target: NodeId) -> io::Result<Query> {
        self.query(target, Command::FindNode, None, false).await
    }

    /// Handles user command `command` from now on: its requests arrive through
    /// [`next_request`](Self::next_request) instead of being answered UNKNOWN_COMMAND.
    pub fn register(&self, command: u64) -> io::Result<()> {
        self.send(Cmd::Register(command))
    }

    /// The next request for a registered user command. Requests not answered are left to
    /// time out at the requester.
    pub async fn next_request(&self) -> Option<InboundRequest> {
        self.requests.lock().await.recv().await
    }

    /// Adds a node by address (`addNode`).
    pub fn add_node(&self, addr: SocketAddrV4) -> io::Result<()> {
        self.send(Cmd::AddNode(addr))
    }

    /// The routing table's nodes.
    pub async fn table(&self) -> io::Result<Vec<Peer>> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Table(reply))?;
        rx.await.map_err(|_| gone())
    }

    /// The core's input counters ([`Stats`]): datagrams, drops by reason, timeouts.
    pub async fn stats(&self) -> io::Result<Stats> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Stats(reply))?;
        rx.await.map_err(|_| gone())
    }

    /// Suspends the node (spec §16): requests and queries in flight fail with
    /// [`NotConnected`](io::ErrorKind::NotConnected), new ones are refused the same way,
    /// and every datagram is dropped until [`resume`](Self::resume). The sockets stay
    /// bound (their ports, and UDX streams on them, survive the suspend).
    pub fn suspend(&self) -> io::Result<()> {
        self.send(Cmd::Power(true))
    }

    /// Resumes a suspended node: ticks restart, the wake-up procedure runs (spec §16) and
    /// the routing table is refreshed.
    pub fn resume(&self) -> io::Result<()> {
        self.send(Cmd::Power(false))
    }

    /// Stops the task and waits for it. Requests and queries in flight fail with
    /// `ConnectionAborted`.
    pub async fn destroy(self) {
        let _ = self.commands.send(Cmd::Destroy);
        let _ = self.task.await;
    }
}

/// The replies of one query, then its outcome.
#[derive(Debug)]
pub struct Query {
    rx: mpsc::UnboundedReceiver<task::QueryItem>,
    outcome: Option<io::Result<QueryOutcome>>,
}

impl Query {
    /// The next successful reply; `None` once the query finished.
    pub async fn next(&mut self) -> Option<Reply> {
        if self.outcome.is_some() {
            return None;
        }
        match self.rx.recv().await {
            Some(task::QueryItem::Reply(r)) => Some(r),
            Some(task::QueryItem::Done(o)) => {
                self.outcome = Some(o);
                None
            }
            None => {
                self.outcome = Some(Err(gone()));
                None
            }
        }
    }

    /// Skips the remaining replies and returns the outcome.
    pub async fn finish(mut self) -> io::Result<QueryOutcome> {
        while self.next().await.is_some() {}
        self.outcome.unwrap_or_else(|| Err(gone()))
    }
}

/// A request for a registered user command. Answer it at most once.
#[derive(Debug)]
pub struct InboundRequest {
    /// The request.
    pub request: IncomingRequest,
    commands: mpsc::UnboundedSender<Cmd>,
}

impl InboundRequest {
    fn answer(&self, how: task::Answer) -> io::Result<()> {
        self.commands
            .send(Cmd::Answer(self.request.handle.clone(), how))
            .map_err(|_| gone())
    }

    /// Replies with `value`, a fresh token and closer nodes if the request had a target.
    pub fn reply(&self, value: Option<&[u8]>) -> io::Result<()> {
        self.answer(task::Answer::Reply(value.map(<[u8]>::to_vec), None))
    }

    /// Replies like [`reply`](Self::reply), but to `to`.
    pub fn reply_to(&self, to: SocketAddrV4, value: Option<&[u8]>) -> io::Result<()> {
        self.answer(task::Answer::Reply(value.map(<[u8]>::to_vec), Some(to)))
    }

    /// Replies with error `code`.
    pub fn error(&self, code: u64) -> io::Result<()> {
        self.answer(task::Answer::Error(code))
    }

    /// Forwards the request to `to` with a new value (spec §6.3).
    pub fn relay(&self, to: SocketAddrV4, value: Option<&[u8]>) -> io::Result<()> {
        self.answer(task::Answer::Relay(to, value.map(<[u8]>::to_vec)))
    }
}

fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => SocketAddrV4::new(
            a.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
            a.port(),
        ),
    }
}

/// The error of a handle whose task is gone.
fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the dht-rpc node has stopped",
    )
}

fn core_error(e: Error) -> io::Error {
    match e {
        Error::Busy => io::Error::new(io::ErrorKind::WouldBlock, e),
        Error::Encode(_) => io::Error::new(io::ErrorKind::InvalidInput, e),
        Error::Suspended => suspended(),
    }
}

fn request_error(e: RequestError) -> io::Error {
    match e {
        RequestError::Timeout => io::Error::new(io::ErrorKind::TimedOut, e),
        RequestError::Destroyed => io::Error::new(io::ErrorKind::ConnectionAborted, e),
        RequestError::Suspended => suspended(),
    }
}

fn query_error(e: QueryError) -> io::Error {
    match e {
        QueryError::Suspended => suspended(),
        _ => io::Error::other(e),
    }
}

/// The error of a request or query failed or refused because the node is suspended:
/// [`NotConnected`](io::ErrorKind::NotConnected) wrapping the core's
/// [`Error::Suspended`].
fn suspended() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, Error::Suspended)
}

#[cfg(test)]
mod tests;
