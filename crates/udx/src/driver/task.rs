//! The background task: one UDP socket, one [`Endpoint`], commands from the handles.

use std::collections::HashMap;
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};

use crate::{
    CloseReason, Endpoint, Event, Received, SocketId, StreamConfig, StreamError, Transmit,
};

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
}

/// The driver's side of one live stream.
#[derive(Debug)]
struct Slot {
    generation: u64,
    /// `None` once the handle is released.
    data: Option<mpsc::UnboundedSender<Chunk>>,
    messages: Option<mpsc::UnboundedSender<Vec<u8>>>,
    closed: watch::Sender<Option<CloseReason>>,
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
    Readable(io::Result<()>),
    Timer,
}

/// The task's state.
pub(super) struct Driver {
    endpoint: Endpoint,
    socket: UdpSocket,
    /// The socket is IPv6 (v4 destinations are sent v4-mapped).
    v6: bool,
    commands: mpsc::UnboundedReceiver<Command>,
    others: mpsc::Sender<(Vec<u8>, SocketAddr)>,
    slots: HashMap<u32, Slot>,
    next_generation: u64,
    /// Batched I/O: GSO sends, `recvmmsg` with GRO (quinn-udp).
    state: UdpSocketState,
    /// [`RECV_SLOTS`] slots of [`RECV_SLOT`] bytes.
    recv_buf: Vec<u8>,
    meta: Vec<RecvMeta>,
    /// Datagrams to one destination gathered for one GSO send.
    send_buf: Vec<u8>,
}

impl Driver {
    /// Fails if the socket cannot be prepared for batched I/O.
    pub(super) fn new(
        socket: UdpSocket,
        commands: mpsc::UnboundedReceiver<Command>,
        others: mpsc::Sender<(Vec<u8>, SocketAddr)>,
    ) -> io::Result<Self> {
        let v6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
        // Also sets "don't fragment" (`IP_PMTUDISC_PROBE`), as libudx does at bind (§2),
        // and enables GRO where the kernel has it.
        let state = UdpSocketState::new((&socket).into())?;
        Ok(Self {
            endpoint: Endpoint::new(),
            socket,
            v6,
            commands,
            others,
            slots: HashMap::new(),
            next_generation: 0,
            state,
            recv_buf: vec![0; RECV_SLOTS * RECV_SLOT],
            meta: vec![RecvMeta::default(); RECV_SLOTS],
            send_buf: Vec::new(),
        })
    }

    /// Runs until every handle is dropped.
    pub(super) async fn run(mut self) {
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
        let sleep = tokio::time::sleep_until(far);
        tokio::pin!(sleep);
        loop {
            let deadline = self.endpoint.poll_timeout();
            if let Some(d) = deadline {
                sleep.as_mut().reset(tokio::time::Instant::from_std(d));
            }
            let wake = tokio::select! {
                biased;
                c = self.commands.recv() => Wake::Command(c),
                r = self.socket.readable() => Wake::Readable(r),
                () = &mut sleep, if deadline.is_some() => Wake::Timer,
            };
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(c)) => {
                    self.command(c);
                    for _ in 0..BATCH {
                        match self.commands.try_recv() {
                            Ok(c) => self.command(c),
                            Err(_) => break,
                        }
                    }
                }
                Wake::Readable(r) => {
                    if r.is_ok() {
                        self.receive();
                    }
                }
                Wake::Timer => {}
            }
            if self.endpoint.poll_timeout().is_some_and(|d| d <= now()) {
                self.endpoint.handle_timeout(now());
            }
            self.drain().await;
        }
        // Every handle is gone: nobody can read or close what is left.
        let t = now();
        for id in self.slots.keys().copied().collect::<Vec<_>>() {
            let _ = self.endpoint.destroy(t, id);
        }
        self.drain().await;
    }

    /// Reads what the socket has ready, in batches, and feeds it to the endpoint.
    fn receive(&mut self) {
        for _ in 0..RECV_ROUNDS {
            let mut slices: Vec<IoSliceMut<'_>> = self
                .recv_buf
                .chunks_mut(RECV_SLOT)
                .map(IoSliceMut::new)
                .collect();
            let (socket, state, meta) = (&self.socket, &self.state, &mut self.meta);
            let r = socket.try_io(Interest::READABLE, || {
                state.recv(socket.into(), &mut slices, meta)
            });
            drop(slices);
            let n = match r {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors of earlier sends (ECONNREFUSED) and the like: nothing to
                // do, keep reading.
                Err(_) => continue,
            };
            for (slot, meta) in self.recv_buf.chunks(RECV_SLOT).zip(&self.meta).take(n) {
                let from = unmap(meta.addr);
                let Some(bytes) = slot.get(..meta.len) else {
                    continue;
                };
                // A GRO slot holds datagrams of `stride` bytes each (the last may be
                // shorter).
                let stride = if meta.stride == 0 {
                    meta.len
                } else {
                    meta.stride
                };
                for datagram in bytes.chunks(stride.max(1)) {
                    feed(&mut self.endpoint, &self.others, from, datagram);
                }
            }
        }
    }

    /// Sends what the endpoint has to send, then delivers its events. Consecutive
    /// datagrams of one size to one destination leave in one GSO send where the kernel
    /// supports it.
    async fn drain(&mut self) {
        let mut batch: Option<(SocketAddr, usize, usize)> = None;
        while let Some(t) = self.endpoint.poll_transmit() {
            if t.ttl.is_some() || t.contents.is_empty() {
                self.flush_batch(&mut batch).await;
                send_one(&self.socket, &self.state, self.v6, &t).await;
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
        while let Some(e) = self.endpoint.poll_event() {
            self.event(e);
        }
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
        send(&self.socket, &self.state, &transmit).await;
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
        self.slots.insert(
            id,
            Slot {
                generation: key.generation,
                data: Some(data_tx),
                messages: Some(messages_tx),
                closed: closed_tx,
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
            // Streams are created with the caller's firewall; an `AcceptAll` stream's
            // first packet needs no answer from this driver (hyperdht's layer decides).
            _ => {}
        }
    }

    fn to_reader(&self, id: u32, chunk: Chunk) {
        if let Some(tx) = self.slots.get(&id).and_then(|s| s.data.as_ref()) {
            let _ = tx.send(chunk);
        }
    }
}

/// Feeds one received datagram to the endpoint; what is not UDX goes to
/// [`recv_other`](super::UdxSocket::recv_other).
fn feed(
    endpoint: &mut Endpoint,
    others: &mpsc::Sender<(Vec<u8>, SocketAddr)>,
    from: SocketAddr,
    bytes: &[u8],
) {
    match endpoint.handle_datagram(now(), SOCKET, from, bytes) {
        Received::Consumed => {}
        // A full queue drops the datagram, as a full socket buffer would.
        Received::NotUdx => {
            let _ = others.try_send((bytes.to_vec(), from));
        }
    }
}

/// The destination as the socket needs it: v4-mapped on an IPv6 socket.
fn map(v6: bool, destination: SocketAddr) -> SocketAddr {
    match destination {
        SocketAddr::V4(a) if v6 => SocketAddr::new(IpAddr::V6(a.ip().to_ipv6_mapped()), a.port()),
        d => d,
    }
}

/// Sends one datagram, with its own TTL if it has one.
async fn send_one(socket: &UdpSocket, state: &UdpSocketState, v6: bool, t: &Transmit) {
    let ttl = t.ttl.filter(|&ttl| ttl > 0).map(u32::from);
    if let Some(ttl) = ttl {
        set_ttl(socket, v6, ttl);
    }
    let transmit = quinn_udp::Transmit {
        destination: map(v6, t.destination),
        ecn: None,
        contents: &t.contents,
        segment_size: None,
        src_ip: None,
    };
    send(socket, state, &transmit).await;
    if ttl.is_some() {
        set_ttl(socket, v6, DEFAULT_TTL);
    }
}

/// Sends a datagram (or a GSO run), waiting while the socket buffer is full. Other send
/// errors are swallowed, as udx-native does; UDX retransmits. A kernel without GSO makes
/// quinn-udp turn segmentation off after the first failed run.
async fn send(socket: &UdpSocket, state: &UdpSocketState, transmit: &quinn_udp::Transmit<'_>) {
    loop {
        if socket.writable().await.is_err() {
            return;
        }
        match socket.try_io(Interest::WRITABLE, || {
            state.try_send(socket.into(), transmit)
        }) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Any other failure (EMSGSIZE for an MTU probe larger than the path, an
            // unreachable destination) is the loss of one datagram: UDX retransmits.
            _ => return,
        }
    }
}

/// Sets the TTL (hop limit) for the datagrams that follow. A failure leaves the socket
/// default: the datagram still leaves, like udx-native's best-effort TTL.
pub(super) fn set_ttl(socket: &UdpSocket, v6: bool, ttl: u32) {
    let sock = SockRef::from(socket);
    if v6 {
        let _ = sock.set_unicast_hops_v6(ttl);
        // A dual-stack socket sends to v4-mapped destinations with the IPv4 TTL.
        let _ = sock.set_ttl_v4(ttl);
    } else {
        let _ = sock.set_ttl_v4(ttl);
    }
}

/// Reports an IPv4-mapped source address as plain IPv4 (§2).
fn unmap(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), a.port()),
            None => addr,
        },
        SocketAddr::V4(_) => addr,
    }
}
