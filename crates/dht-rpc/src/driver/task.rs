//! The task that owns the core: wait, feed, drain.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::ops::Range;
use std::sync::Arc;

use plures_udx::UdxSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until};

use super::{
    InboundRequest, QueryOutcome, Status, core_error, gone, query_error, request_error, v4,
};
use crate::command::Command;
use crate::id::NodeId;
use crate::io::Socket;
use crate::node::{Config, Dht, Event, Peer, QueryId, Reply, RequestHandle, RequestId, Stats};
use crate::token::Token;

/// The datagrams taken from one socket per wake-up: their bytes in one buffer, a range
/// of it and the source per datagram. Kept across wake-ups for its allocations
/// ([`UdxSocket::recv_others`] swaps buffers with the socket's task).
#[derive(Default)]
struct Inbox {
    bytes: Vec<u8>,
    datagrams: Vec<(Range<usize>, SocketAddr)>,
}

/// A command from a handle.
#[derive(Debug)]
pub(super) enum Cmd {
    Request {
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<Vec<u8>>,
        token: Option<Token>,
        /// Accept the reply from any address (`Dht::request_relayed`).
        relayed: bool,
        reply: oneshot::Sender<io::Result<Reply>>,
    },
    Query {
        target: NodeId,
        command: Command,
        value: Option<Vec<u8>>,
        commit: bool,
        items: mpsc::UnboundedSender<QueryItem>,
        started: oneshot::Sender<io::Result<()>>,
    },
    Register(u64),
    Answer(RequestHandle, Answer),
    AddNode(SocketAddrV4),
    Table(oneshot::Sender<Vec<Peer>>),
    Stats(oneshot::Sender<Stats>),
    /// Suspend (true) or resume (false) the core; the sockets stay bound.
    Power(bool),
    Destroy,
}

/// How an inbound request is answered.
#[derive(Debug)]
pub(super) enum Answer {
    Reply(Option<Vec<u8>>, Option<SocketAddrV4>),
    Error(u64),
    Relay(SocketAddrV4, Option<Vec<u8>>),
}

/// What a [`Query`](super::Query) handle receives.
#[derive(Debug)]
pub(super) enum QueryItem {
    Reply(Reply),
    Done(io::Result<QueryOutcome>),
}

pub(super) struct Task {
    core: Dht,
    server: Arc<UdxSocket>,
    client: Arc<UdxSocket>,
    /// Weak so that the task ends when every handle is gone.
    handle: mpsc::WeakUnboundedSender<Cmd>,
    commands: mpsc::UnboundedReceiver<Cmd>,
    inbound: mpsc::UnboundedSender<InboundRequest>,
    status: watch::Sender<Status>,
    requests: HashMap<RequestId, oneshot::Sender<io::Result<Reply>>>,
    queries: HashMap<QueryId, mpsc::UnboundedSender<QueryItem>>,
    /// With `NodeConfig::drop_unsolicited`: the addresses the server socket has sent to
    /// (the only ones whose datagrams it accepts).
    server_peers: Option<HashSet<SocketAddrV4>>,
    /// The transmits of one drain, per socket (kept for their allocations).
    server_out: Vec<(SocketAddr, Vec<u8>)>,
    client_out: Vec<(SocketAddr, Vec<u8>)>,
}

/// The driver's one clock seam.
fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Task {
    pub(super) fn new(
        config: Config,
        server: Arc<UdxSocket>,
        client: Arc<UdxSocket>,
        handle: mpsc::WeakUnboundedSender<Cmd>,
        commands: mpsc::UnboundedReceiver<Cmd>,
        inbound: mpsc::UnboundedSender<InboundRequest>,
        drop_unsolicited: bool,
    ) -> (Self, watch::Receiver<Status>) {
        let core = Dht::new(config, now());
        let (status, status_rx) = watch::channel(status_of(&core));
        let task = Self {
            core,
            server,
            client,
            handle,
            commands,
            inbound,
            status,
            requests: HashMap::new(),
            queries: HashMap::new(),
            server_peers: drop_unsolicited.then(HashSet::new),
            server_out: Vec::new(),
            client_out: Vec::new(),
        };
        (task, status_rx)
    }

    pub(super) async fn run(mut self) {
        let server = Arc::clone(&self.server);
        let client = Arc::clone(&self.client);
        // One timer for the task's life, moved only when the core's deadline moves: a new
        // timer per wake-up costs a timer-wheel insert and often a runtime unpark (an
        // eventfd write) — the largest cost of this loop before.
        let sleep = sleep_until(Instant::now());
        tokio::pin!(sleep);
        let mut armed = None;
        let (mut server_in, mut client_in) = (Inbox::default(), Inbox::default());
        loop {
            self.drain();
            let deadline = self.core.poll_timeout();
            if let Some(d) = deadline.filter(|&d| armed != Some(d)) {
                sleep.as_mut().reset(Instant::from_std(d));
                armed = Some(d);
            }
            // Every datagram waiting on a socket is taken in one go; the replies to all of
            // them leave in one batch at the next drain.
            tokio::select! {
                cmd = self.commands.recv() => match cmd {
                    Some(Cmd::Destroy) | None => break,
                    Some(cmd) => self.command(cmd),
                },
                r = server.recv_others(&mut server_in.bytes, &mut server_in.datagrams) => match r {
                    Ok(_) => self.datagrams(Socket::Server, &mut server_in),
                    Err(_) => break,
                },
                r = client.recv_others(&mut client_in.bytes, &mut client_in.datagrams) => match r {
                    Ok(_) => self.datagrams(Socket::Client, &mut client_in),
                    Err(_) => break,
                },
                () = &mut sleep, if deadline.is_some() => {
                    armed = None;
                    self.core.handle_timeout(now());
                }
            }
        }
        for (_, reply) in self.requests.drain() {
            let _ = reply.send(Err(gone()));
        }
        for (_, items) in self.queries.drain() {
            let _ = items.send(QueryItem::Done(Err(gone())));
        }
    }

    /// Feeds a batch of datagrams from one socket to the core, with one clock reading.
    fn datagrams(&mut self, socket: Socket, inbox: &mut Inbox) {
        let now = now();
        for (range, from) in inbox.datagrams.drain(..) {
            if let Some(data) = inbox.bytes.get(range) {
                self.datagram(now, socket, from, data);
            }
        }
        inbox.bytes.clear();
    }

    fn datagram(&mut self, now: std::time::Instant, socket: Socket, from: SocketAddr, data: &[u8]) {
        if let (Socket::Server, Some(peers)) = (socket, &self.server_peers) {
            if !peers.contains(&v4(from)) {
                return;
            }
        }
        // Dropped datagrams are counted in the core's stats; nothing else to do.
        let _ = self.core.handle_datagram(now, socket, v4(from), data);
    }

    fn command(&mut self, cmd: Cmd) {
        let now = now();
        match cmd {
            Cmd::Request {
                to,
                command,
                target,
                value,
                token,
                relayed,
                reply,
            } => match if relayed {
                self.core
                    .request_relayed(now, to, command, target, value.as_deref(), token)
            } else {
                self.core
                    .request(now, to, command, target, value.as_deref(), token)
            } {
                Ok(id) => {
                    self.requests.insert(id, reply);
                }
                Err(e) => {
                    let _ = reply.send(Err(core_error(e)));
                }
            },
            Cmd::Query {
                target,
                command,
                value,
                commit,
                items,
                started,
            } => match self
                .core
                .query(now, target, command, value.as_deref(), commit)
            {
                Ok(id) => {
                    self.queries.insert(id, items);
                    let _ = started.send(Ok(()));
                }
                Err(e) => {
                    let _ = started.send(Err(core_error(e)));
                }
            },
            Cmd::Register(command) => self.core.register_command(command),
            Cmd::Answer(handle, how) => {
                // A full reply queue drops the answer; the requester retries or times out.
                let _ = match how {
                    Answer::Reply(value, None) => self.core.reply(&handle, value.as_deref()),
                    Answer::Reply(value, Some(to)) => {
                        self.core.reply_to(&handle, to, value.as_deref())
                    }
                    Answer::Error(code) => self.core.error(&handle, code),
                    Answer::Relay(to, value) => self.core.relay(&handle, to, value.as_deref()),
                };
            }
            Cmd::AddNode(addr) => {
                self.core.add_node(addr);
            }
            Cmd::Table(reply) => {
                let peers = self
                    .core
                    .table()
                    .iter()
                    .map(|n| Peer {
                        addr: n.addr,
                        id: n.id,
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Cmd::Stats(reply) => {
                let _ = reply.send(self.core.stats());
            }
            Cmd::Power(true) => {
                self.core.suspend(now);
            }
            Cmd::Power(false) => {
                self.core.resume(now);
            }
            Cmd::Destroy => {}
        }
    }

    /// Transmits, then events, then the status. The transmits leave in one batch per
    /// socket, grouped by destination (a stable sort: the order to each destination is
    /// kept), so that runs of equal-sized datagrams to one peer go out in one GSO send.
    fn drain(&mut self) {
        while let Some(t) = self.core.poll_transmit() {
            let out = match t.socket {
                Socket::Server => {
                    if let Some(peers) = &mut self.server_peers {
                        peers.insert(t.destination);
                    }
                    &mut self.server_out
                }
                Socket::Client => &mut self.client_out,
                // This driver feeds no other sockets, so the core never names one.
                Socket::Other(_) => continue,
            };
            out.push((t.destination.into(), t.contents));
        }
        for (socket, out) in [
            (&self.server, &mut self.server_out),
            (&self.client, &mut self.client_out),
        ] {
            if out.is_empty() {
                continue;
            }
            if out.len() > 1 {
                out.sort_by_key(|(to, _)| *to);
            }
            // Send errors are not reported (the request times out), as in the reference.
            let _ = socket.send_raw_batch(out.drain(..));
        }
        while let Some(event) = self.core.poll_event() {
            self.event(event);
        }
        let status = status_of(&self.core);
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Request(request) => {
                if let Some(commands) = self.handle.upgrade() {
                    let _ = self.inbound.send(InboundRequest { request, commands });
                }
            }
            Event::Response { request, reply } => {
                if let Some(tx) = self.requests.remove(&request) {
                    let _ = tx.send(Ok(reply));
                }
            }
            Event::RequestFailed { request, error } => {
                if let Some(tx) = self.requests.remove(&request) {
                    let _ = tx.send(Err(request_error(error)));
                }
            }
            Event::QueryReply { query, reply } => {
                if let Some(tx) = self.queries.get(&query) {
                    let _ = tx.send(QueryItem::Reply(reply));
                }
            }
            Event::QueryDone {
                query,
                closest,
                stats,
                error,
            } => {
                if let Some(tx) = self.queries.remove(&query) {
                    let outcome = match error {
                        Some(e) => Err(query_error(e)),
                        None => Ok(QueryOutcome { closest, stats }),
                    };
                    let _ = tx.send(QueryItem::Done(outcome));
                }
            }
            // Reflected in the status.
            _ => {}
        }
    }
}

fn status_of(core: &Dht) -> Status {
    Status {
        id: core.id(),
        table_size: core.table().len(),
        bootstrapped: core.is_bootstrapped(),
        persistent: core.is_persistent(),
        firewalled: core.is_firewalled(),
        online: core.online(),
        degraded: core.degraded(),
        suspended: core.is_suspended(),
        tick: core.tick(),
    }
}
