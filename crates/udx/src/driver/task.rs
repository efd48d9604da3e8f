//! The background task: one UDP socket, one [`Endpoint`], commands from the handles.

use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, UdpSocketState};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch};

use super::coalesce;
use udp::{Input, map, send, send_one};

use crate::{CloseReason, Endpoint, Event, SocketId, StreamConfig, StreamError, Transmit};

pub(super) mod others;
mod udp;

/// The only socket of this driver's endpoint.
const SOCKET: SocketId = SocketId(0);
/// The socket's TTL outside per-datagram overrides (`UDX_DEFAULT_TTL`).
pub(super) const DEFAULT_TTL: u32 = 64;
/// One receive slot. Larger than libudx's 2048 so that non-UDX datagrams reach
/// [`recv_other`](super::UdxSocket::recv_other) unchanged, and so that a slot holds a
/// GRO-coalesced run of datagrams.
const RECV_SLOT: usize = 65_536;
/// Receive slots filled by one `recvmmsg`.
const RECV_SLOTS: usize = if quinn_udp::BATCH_SIZE < 16 {
    quinn_udp::BATCH_SIZE
} else {
    16
};
/// How many queued commands, or receive calls, are taken in one go before the endpoint is
/// drained.
const BATCH: usize = 256;
/// Receive calls (each up to [`RECV_SLOTS`] slots) before the endpoint is drained.
const RECV_ROUNDS: usize = 8;
/// The most bytes one GSO send carries (UDP length field, minus headroom for headers).
const GSO_MAX_BYTES: usize = 64_000;

/// The clock seam: every `now` the endpoint sees comes from here. Tokio's clock, so a
/// runtime with paused time drives the endpoint too.
fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Names one stream handle: the local id plus a generation, so that a late command from
/// a handle whose stream closed never reaches a new stream that reuses the id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key {
    pub(super) id: u32,
    pub(super) generation: u64,
}

/// A command's answer.
pub(super) type Reply<T> = oneshot::Sender<Result<T, StreamError>>;

/// What flows to a stream handle's reader, in event order.
#[derive(Debug)]
pub(super) enum Chunk {
    Data(Vec<u8>),
    End,
    Closed(CloseReason),
}

/// The receiving ends a new stream handle takes.
#[derive(Debug)]
pub(super) struct StreamLink {
    pub(super) key: Key,
    pub(super) data: mpsc::UnboundedReceiver<Chunk>,
    pub(super) messages: mpsc::UnboundedReceiver<Vec<u8>>,
    pub(super) closed: watch::Receiver<Option<CloseReason>>,
    pub(super) incoming: watch::Receiver<Option<SocketAddr>>,
}

/// Requests from the handles.
#[derive(Debug)]
pub(super) enum Command {
    Create {
        id: u32,
        config: StreamConfig,
        reply: Reply<StreamLink>,
    },
    Connect {
        key: Key,
        remote_id: u32,
        addr: SocketAddr,
        reply: Reply<()>,
    },
    /// Answered once the send queue is below the high watermark.
    Write {
        key: Key,
        data: Vec<u8>,
        reply: Reply<()>,
    },
    End {
        key: Key,
        reply: Reply<()>,
    },
    Message {
        key: Key,
        data: Vec<u8>,
        reply: Reply<()>,
    },
    Destroy {
        key: Key,
    },
    /// Answered on [`Event::RemoteChanged`].
    ChangeRemote {
        key: Key,
        remote_id: u32,
        addr: SocketAddr,
        reply: Reply<()>,
    },
    RelayTo {
        key: Key,
        dst: Key,
        reply: Reply<()>,
    },
    Keepalive {
        key: Key,
        interval: Option<Duration>,
        reply: Reply<()>,
    },
    /// Every handle of the stream is gone.
    Release {
        key: Key,
    },
    Raw {
        destination: SocketAddr,
        contents: Vec<u8>,
        ttl: Option<u8>,
    },
    /// Raw datagrams with the default TTL, in order (`UdxSocket::send_raw_batch`).
    RawBatch(Vec<(SocketAddr, Vec<u8>)>),
}

/// The driver's side of one live stream.
#[derive(Debug)]
struct Slot {
    generation: u64,
    /// `None` once the handle is released.
    data: Option<mpsc::UnboundedSender<Chunk>>,
    messages: Option<mpsc::UnboundedSender<Vec<u8>>>,
    closed: watch::Sender<Option<CloseReason>>,
    /// The source of the first datagram that reached the stream before `connect`
    /// ([`Event::Incoming`], `Firewall::AcceptAll` streams only).
    incoming: watch::Sender<Option<SocketAddr>>,
    /// A write waiting for [`Event::Drained`].
    drain: Option<Reply<()>>,
    /// A change of remote waiting for [`Event::RemoteChanged`].
    change: Option<Reply<()>>,
    /// The local END is queued.
    ended: bool,
}

impl Slot {
    fn close(self, id: u32, reason: CloseReason) {
        if let Some(data) = &self.data {
            let _ = data.send(Chunk::Closed(reason));
        }
        self.closed.send_replace(Some(reason));
        for reply in [self.drain, self.change].into_iter().flatten() {
            let _ = reply.send(Err(StreamError::UnknownStream(id)));
        }
    }
}

/// What woke the loop.
enum Wake {
    Command(Option<Command>),
    /// The socket was read (or its readiness failed, which only a runtime shutting down
    /// does).
    Readable,
    Timer,
}

/// The task's state.
pub(super) struct Driver {
    endpoint: Endpoint,
    /// Registered for readability only: a registration for writability too would wake the
    /// task after every send (the kernel signals "writable" each time a sent datagram
    /// leaves the buffer). Writability is waited for on [`Self::spare`] instead, and only
    /// while the send buffer is full.
    socket: AsyncFd<UdpSocket>,
    /// A duplicate of the socket's descriptor, registered for writability while a send
    /// waits for buffer space.
    spare: UdpSocket,
    /// The socket is IPv6 (v4 destinations are sent v4-mapped).
    v6: bool,
    commands: mpsc::UnboundedReceiver<Command>,
    /// Non-UDX datagrams, handed up one batch per turn of reading the socket.
    others: others::Sender,
    slots: HashMap<u32, Slot>,
    next_generation: u64,
    /// Batched I/O: GSO sends, `recvmmsg` with GRO (quinn-udp).
    state: UdpSocketState,
    /// [`RECV_SLOTS`] slots of [`RECV_SLOT`] bytes.
    recv_buf: Vec<u8>,
    meta: Vec<RecvMeta>,
    /// Datagrams to one destination gathered for one GSO send.
    send_buf: Vec<u8>,
    /// The transmits of one drain (kept for its allocation).
    out: Vec<Transmit>,
    /// Scratch space of [`coalesce::elide_acks`].
    later: Vec<(SocketAddr, u32, u32)>,
    /// A stream relays (set for good): ACKs are no longer elided.
    relaying: bool,
    /// Events taken from the endpoint and not yet delivered.
    held: Vec<Event>,
    /// Pure ACKs kept back for one tick, sent (or left out) by the next drain.
    held_acks: Vec<Transmit>,
}

impl Driver {
    /// Fails if the socket cannot be prepared for batched I/O.
    pub(super) fn new(
        socket: AsyncFd<UdpSocket>,
        commands: mpsc::UnboundedReceiver<Command>,
        others: others::Sender,
    ) -> io::Result<Self> {
        let v6 = socket.get_ref().local_addr().is_ok_and(|a| a.is_ipv6());
        // Also sets "don't fragment" (`IP_PMTUDISC_PROBE`), as libudx does at bind (§2),
        // and enables GRO where the kernel has it.
        let state = UdpSocketState::new(socket.get_ref().into())?;
        let spare = socket.get_ref().try_clone()?;
        Ok(Self {
            endpoint: Endpoint::new(),
            socket,
            spare,
            v6,
            commands,
            others,
            slots: HashMap::new(),
            next_generation: 0,
            state,
            recv_buf: vec![0; RECV_SLOTS * RECV_SLOT],
            meta: vec![RecvMeta::default(); RECV_SLOTS],
            send_buf: Vec::new(),
            out: Vec::new(),
            later: Vec::new(),
            relaying: false,
            held: Vec::new(),
            held_acks: Vec::new(),
        })
    }

    /// Runs until every handle is dropped.
    pub(super) async fn run(mut self) {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        let sleep = tokio::time::sleep_until(far);
        tokio::pin!(sleep);
        let mut armed = None;
        loop {
            let deadline = self.endpoint.poll_timeout();
            if let Some(d) = deadline.filter(|&d| armed != Some(d)) {
                sleep.as_mut().reset(tokio::time::Instant::from_std(d));
                armed = Some(d);
            }
            let wake = tokio::select! {
                biased;
                c = self.commands.recv() => Wake::Command(c),
                r = self.socket.readable() => {
                    if let Ok(mut guard) = r {
                        let mut input = Input {
                            endpoint: &mut self.endpoint,
                            others: &mut self.others,
                            state: &self.state,
                            recv_buf: &mut self.recv_buf,
                            meta: &mut self.meta,
                        };
                        if input.receive(guard.get_inner()) {
                            guard.clear_ready();
                        }
                    }
                    Wake::Readable
                }
                () = &mut sleep, if deadline.is_some() => Wake::Timer,
            };
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(c)) => {
                    self.command(c);
                    self.commands();
                }
                Wake::Readable => {}
                Wake::Timer => armed = None,
            }
            self.timers();
            self.held
                .extend(std::iter::from_fn(|| self.endpoint.poll_event()));
            if self.may_answer() {
                // A reader is handed data: everything but the newest pure ACK of each
                // stream leaves now; that ACK waits until the reader has run, so that a
                // reply it writes at once carries it (coalesce.rs). One tick at most:
                // `yield_now` comes back after the runtime has run the woken tasks (the
                // `block_on` future included) and polled I/O once; a command (a spawned
                // reader's reply) ends the wait sooner, before that I/O poll.
                self.drain(true).await;
                tokio::select! {
                    biased;
                    c = self.commands.recv() => {
                        if let Some(c) = c {
                            self.command(c);
                        }
                    }
                    () = tokio::task::yield_now() => {}
                }
                self.commands();
                self.timers();
            }
            self.drain(false).await;
        }
        // Every handle is gone: nobody can read or close what is left.
        let t = now();
        for id in self.slots.keys().copied().collect::<Vec<_>>() {
            let _ = self.endpoint.destroy(t, id);
        }
        self.drain(false).await;
    }

    /// Runs the queued commands, up to [`BATCH`].
    fn commands(&mut self) {
        for _ in 0..BATCH {
            match self.commands.try_recv() {
                Ok(c) => self.command(c),
                Err(_) => break,
            }
        }
    }

    /// Runs the endpoint's timers that are due.
    fn timers(&mut self) {
        if self.endpoint.poll_timeout().is_some_and(|d| d <= now()) {
            self.endpoint.handle_timeout(now());
        }
    }

    /// Whether the events held for delivery hand data or a message to a live reader,
    /// which may answer at once, and neither end nor close a stream: EOF and close are
    /// delivered after the ACK has left, as before, because a reader often stops its
    /// runtime right after them.
    fn may_answer(&self) -> bool {
        let mut answer = false;
        for e in &self.held {
            match e {
                Event::Data { id, .. } => {
                    answer |= self.slots.get(id).is_some_and(|s| s.data.is_some());
                }
                Event::Message { id, .. } => {
                    answer |= self.slots.get(id).is_some_and(|s| s.messages.is_some());
                }
                Event::End { .. } | Event::Closed { .. } => return false,
                _ => {}
            }
        }
        answer
    }

    /// Delivers the held events, then the endpoint's new ones.
    fn events(&mut self) {
        let mut held = std::mem::take(&mut self.held);
        for e in held.drain(..) {
            self.event(e);
        }
        self.held = held;
        while let Some(e) = self.endpoint.poll_event() {
            self.event(e);
        }
    }

    /// Sends what the endpoint has to send (after the ACKs held by the last call), then
    /// delivers its events. A pure ACK that a later packet of the same stream repeats is
    /// left out; with `hold`, the newest pure ACK of each stream is kept back for the next
    /// call (coalesce.rs). Consecutive datagrams of one size to one destination leave in
    /// one GSO send where the kernel supports it.
    async fn drain(&mut self, hold: bool) {
        let mut out = std::mem::take(&mut self.out);
        out.append(&mut self.held_acks);
        out.extend(std::iter::from_fn(|| self.endpoint.poll_transmit()));
        if !self.relaying {
            coalesce::elide_acks(&mut out, &mut self.later);
            if hold {
                coalesce::hold_last_acks(&mut out, &mut self.held_acks);
            }
        }
        let mut batch: Option<(SocketAddr, usize, usize)> = None;
        for t in out.drain(..) {
            if t.ttl.is_some() || t.contents.is_empty() {
                self.flush_batch(&mut batch).await;
                send_one(&self.socket, &self.spare, &self.state, self.v6, &t).await;
                continue;
            }
            let len = t.contents.len();
            if let Some((dest, size, count)) = batch {
                let max = self.state.max_gso_segments().min(GSO_MAX_BYTES / size);
                if dest != t.destination || len > size || count >= max {
                    self.flush_batch(&mut batch).await;
                }
            }
            let (_, size, count) = batch.get_or_insert((t.destination, len, 0));
            self.send_buf.extend_from_slice(&t.contents);
            *count += 1;
            // A shorter datagram can only be the last of a GSO send.
            if len < *size {
                self.flush_batch(&mut batch).await;
            }
        }
        self.flush_batch(&mut batch).await;
        self.out = out;
        self.events();
    }

    /// Sends the gathered datagrams (`destination`, segment size, count).
    async fn flush_batch(&mut self, batch: &mut Option<(SocketAddr, usize, usize)>) {
        let Some((destination, size, count)) = batch.take() else {
            return;
        };
        let transmit = quinn_udp::Transmit {
            destination: map(self.v6, destination),
            ecn: None,
            contents: &self.send_buf,
            segment_size: (count > 1).then_some(size),
            src_ip: None,
        };
        send(&self.socket, &self.spare, &self.state, &transmit).await;
        self.send_buf.clear();
    }

    fn live(&self, key: Key) -> Result<(), StreamError> {
        match self.slots.get(&key.id) {
            Some(s) if s.generation == key.generation => Ok(()),
            _ => Err(StreamError::UnknownStream(key.id)),
        }
    }

    fn command(&mut self, command: Command) {
        let t = now();
        match command {
            Command::Create { id, config, reply } => {
                let link = self
                    .endpoint
                    .create_stream(id, config)
                    .map(|()| self.slot(id));
                let _ = reply.send(link);
            }
            Command::Connect {
                key,
                remote_id,
                addr,
                reply,
            } => {
                let r = self.live(key).and_then(|()| {
                    self.endpoint
                        .connect(t, key.id, SOCKET, remote_id, addr, None)
                });
                let _ = reply.send(r);
            }
            Command::Write { key, data, reply } => {
                match self
                    .live(key)
                    .and_then(|()| self.endpoint.write_bytes(t, key.id, data))
                {
                    Ok(true) => {
                        let _ = reply.send(Ok(()));
                    }
                    Ok(false) => {
                        if let Some(s) = self.slots.get_mut(&key.id) {
                            s.drain = Some(reply);
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::End { key, reply } => {
                let r = self.live(key).and_then(|()| self.endpoint.end(t, key.id));
                if r.is_ok() {
                    if let Some(s) = self.slots.get_mut(&key.id) {
                        s.ended = true;
                    }
                }
                let _ = reply.send(r);
            }
            Command::Message { key, data, reply } => {
                let r = self
                    .live(key)
                    .and_then(|()| self.endpoint.send_message(t, key.id, &data));
                let _ = reply.send(r);
            }
            Command::Destroy { key } => {
                if self.live(key).is_ok() {
                    let _ = self.endpoint.destroy(t, key.id);
                }
            }
            Command::ChangeRemote {
                key,
                remote_id,
                addr,
                reply,
            } => {
                match self.live(key).and_then(|()| {
                    self.endpoint
                        .change_remote(t, key.id, SOCKET, remote_id, addr)
                }) {
                    Ok(()) => {
                        if let Some(s) = self.slots.get_mut(&key.id) {
                            s.change = Some(reply);
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                }
            }
            Command::RelayTo { key, dst, reply } => {
                let r = self
                    .live(key)
                    .and_then(|()| self.live(dst))
                    .and_then(|()| self.endpoint.relay_to(t, key.id, dst.id));
                self.relaying |= r.is_ok();
                let _ = reply.send(r);
            }
            Command::Keepalive {
                key,
                interval,
                reply,
            } => {
                let r = self
                    .live(key)
                    .and_then(|()| self.endpoint.set_keepalive(t, key.id, interval));
                let _ = reply.send(r);
            }
            Command::Release { key } => {
                if self.live(key).is_err() {
                    return;
                }
                let ended = self.slots.get(&key.id).is_some_and(|s| s.ended);
                if ended {
                    // A graceful close is under way: let it finish; nobody reads any more.
                    if let Some(s) = self.slots.get_mut(&key.id) {
                        s.data = None;
                        s.messages = None;
                    }
                } else {
                    let _ = self.endpoint.destroy(t, key.id);
                }
            }
            Command::Raw {
                destination,
                contents,
                ttl,
            } => self.endpoint.send_raw(SOCKET, destination, contents, ttl),
            Command::RawBatch(datagrams) => {
                for (destination, contents) in datagrams {
                    self.endpoint.send_raw(SOCKET, destination, contents, None);
                }
            }
        }
    }

    /// Registers the driver's side of a new stream and returns the handle's side.
    fn slot(&mut self, id: u32) -> StreamLink {
        self.next_generation += 1;
        let key = Key {
            id,
            generation: self.next_generation,
        };
        let (data_tx, data) = mpsc::unbounded_channel();
        let (messages_tx, messages) = mpsc::unbounded_channel();
        let (closed_tx, closed) = watch::channel(None);
        let (incoming_tx, incoming) = watch::channel(None);
        self.slots.insert(
            id,
            Slot {
                generation: key.generation,
                data: Some(data_tx),
                messages: Some(messages_tx),
                closed: closed_tx,
                incoming: incoming_tx,
                drain: None,
                change: None,
                ended: false,
            },
        );
        StreamLink {
            key,
            data,
            messages,
            closed,
            incoming,
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Data { id, data } => self.to_reader(id, Chunk::Data(data)),
            Event::End { id } => self.to_reader(id, Chunk::End),
            Event::Message { id, data } => {
                if let Some(tx) = self.slots.get(&id).and_then(|s| s.messages.as_ref()) {
                    let _ = tx.send(data);
                }
            }
            Event::Drained { id } => {
                if let Some(reply) = self.slots.get_mut(&id).and_then(|s| s.drain.take()) {
                    let _ = reply.send(Ok(()));
                }
            }
            Event::RemoteChanged { id } => {
                if let Some(reply) = self.slots.get_mut(&id).and_then(|s| s.change.take()) {
                    let _ = reply.send(Ok(()));
                }
            }
            Event::Closed { id, reason } => {
                if let Some(slot) = self.slots.remove(&id) {
                    slot.close(id, reason);
                }
            }
            // An `AcceptAll` stream's first datagram before `connect`: its owner decides
            // (hyperdht connects the stream to the source); only the first is kept.
            Event::Incoming { id, from, .. } => {
                if let Some(slot) = self.slots.get(&id) {
                    slot.incoming.send_if_modified(|seen| {
                        let first = seen.is_none();
                        if first {
                            *seen = Some(from);
                        }
                        first
                    });
                }
            }
        }
    }

    fn to_reader(&self, id: u32, chunk: Chunk) {
        if let Some(tx) = self.slots.get(&id).and_then(|s| s.data.as_ref()) {
            let _ = tx.send(chunk);
        }
    }
}
