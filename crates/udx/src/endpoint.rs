//! The UDX instance: streams keyed by local id, shared by the owner's sockets
//! (`shared/spec/udx.md` §1, §6, §11–§13).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::congestion::CongestionController;
use crate::error::StreamError;
use crate::seq::seq_max;
use crate::stream::{Io, Remote, Stream, StreamStats, max_payload};
use crate::wire::{Packet, PacketType, is_udx};

/// An opaque index naming one of the owner's UDP sockets. The endpoint never looks
/// inside: the owner numbers its sockets and passes the index with every datagram, and
/// each [`Transmit`] says which socket to send it from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub usize);

/// A datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The socket to send from.
    pub socket: SocketId,
    /// Where to send it.
    pub destination: SocketAddr,
    /// The datagram.
    pub contents: Vec<u8>,
    /// A TTL for this datagram only (`None`: the socket's default, 64).
    pub ttl: Option<u8>,
}

/// Why a stream closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Both directions ended and every END was acknowledged (status 0).
    Ended,
    /// Closed locally by [`Endpoint::destroy`] (status 0), or because the stream it was
    /// relaying to closed.
    Destroyed,
    /// The peer sent DESTROY (`ECONNRESET`).
    Reset,
    /// A packet was not acknowledged after 6 retransmission timeouts (`ETIMEDOUT`).
    TimedOut,
}

/// Something for the owner to know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// In-order stream bytes.
    Data {
        /// Local stream id.
        id: u32,
        /// The bytes (one packet's payload).
        data: Vec<u8>,
    },
    /// The peer ended its direction: no more [`Event::Data`] for this stream.
    End {
        /// Local stream id.
        id: u32,
    },
    /// An unreliable message (MESSAGE packet), possibly empty.
    Message {
        /// Local stream id.
        id: u32,
        /// The message.
        data: Vec<u8>,
    },
    /// The send queue fell below the high watermark after a write returned `false`.
    Drained {
        /// Local stream id.
        id: u32,
    },
    /// A [`change_remote`](Endpoint::change_remote) completed.
    RemoteChanged {
        /// Local stream id.
        id: u32,
    },
    /// A datagram for a stream that is not connected passed its firewall
    /// ([`Firewall::AcceptAll`]). The owner may connect the stream to `socket` and
    /// `from` now (what hyperdht's firewall hook does); acks are deferred until then.
    Incoming {
        /// Local stream id.
        id: u32,
        /// The socket it arrived on.
        socket: SocketId,
        /// Its source address.
        from: SocketAddr,
    },
    /// The stream closed; its id is free again.
    Closed {
        /// Local stream id.
        id: u32,
        /// Why.
        reason: CloseReason,
    },
}

/// What happens to datagrams for a stream that arrive on another socket than the
/// stream's own, including every datagram before `connect` (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Firewall {
    /// Process them (and emit [`Event::Incoming`] while unconnected).
    AcceptAll,
    /// Consume and drop them: udx-native's default `firewallAll`.
    #[default]
    RejectForeign,
}

/// Options of a new stream.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct StreamConfig {
    /// The firewall policy.
    pub firewall: Firewall,
    /// The first sequence number to send (udx-native option `seq`; hyperdht uses 0).
    pub initial_seq: u32,
    /// The congestion controller; `None` for [`Bbr`](crate::congestion::Bbr), as in
    /// libudx ([`NewReno`](crate::congestion::NewReno) is the alternative).
    pub congestion: Option<Box<dyn CongestionController>>,
    /// Search for a larger MTU than the base 1200 by padding DATA packets into probes
    /// (§9), as libudx does. Off by default in the core (every packet is then sized for
    /// 1200, which is always safe); the driver's `UdxSocket::create_stream` turns
    /// it on.
    pub mtu_probing: bool,
}

impl StreamConfig {
    /// The defaults with another firewall policy.
    #[must_use]
    pub fn with_firewall(mut self, firewall: Firewall) -> Self {
        self.firewall = firewall;
        self
    }

    /// The defaults with MTU probing switched on or off.
    #[must_use]
    pub const fn with_mtu_probing(mut self, on: bool) -> Self {
        self.mtu_probing = on;
        self
    }

    /// The defaults with another initial sequence number.
    #[must_use]
    pub fn with_initial_seq(mut self, seq: u32) -> Self {
        self.initial_seq = seq;
        self
    }
}

/// What [`Endpoint::handle_datagram`] did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Received {
    /// UDX took it (possibly dropping it).
    Consumed,
    /// Not for UDX: the owner hands its own bytes, unchanged, to dht-rpc / holepunching.
    NotUdx,
}

/// Counters of the endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EndpointStats {
    /// Datagrams given to [`Endpoint::handle_datagram`].
    pub datagrams: u64,
    /// Datagrams handed back as [`Received::NotUdx`].
    pub not_udx: u64,
    /// Datagrams consumed by a stream.
    pub consumed: u64,
    /// Datagrams consumed and dropped by a stream's firewall.
    pub firewalled: u64,
    /// Datagrams for a relaying stream whose destination is gone or unconnected.
    pub relay_dropped: u64,
    /// Raw datagrams queued by [`Endpoint::send_raw`].
    pub raw_sent: u64,
}

/// One UDX instance: a sans-IO state machine owning all streams of the owner's sockets.
#[derive(Debug, Default)]
pub struct Endpoint {
    streams: BTreeMap<u32, Stream>,
    out: VecDeque<Transmit>,
    events: VecDeque<Event>,
    now: Option<Instant>,
    stats: EndpointStats,
}

impl Endpoint {
    /// An endpoint without streams.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn touch(&mut self, now: Instant) -> Instant {
        let now = self.now.map_or(now, |t| t.max(now));
        self.now = Some(now);
        now
    }

    /// Runs `f` on stream `id` with the output queues, then reaps closed streams.
    fn with_stream<R>(
        &mut self,
        now: Instant,
        id: u32,
        f: impl FnOnce(&mut Stream, &mut Io<'_>) -> Result<R, StreamError>,
    ) -> Result<R, StreamError> {
        let now = self.touch(now);
        let stream = self
            .streams
            .get_mut(&id)
            .ok_or(StreamError::UnknownStream(id))?;
        let mut io = Io {
            now,
            out: &mut self.out,
            events: &mut self.events,
        };
        let result = f(stream, &mut io);
        self.reap();
        result
    }

    /// Registers a stream under `local_id` (`udx_stream_init`). Ids are the owner's
    /// choice; hyperdht picks random unused ones.
    pub fn create_stream(
        &mut self,
        local_id: u32,
        config: StreamConfig,
    ) -> Result<(), StreamError> {
        if self.streams.contains_key(&local_id) {
            return Err(StreamError::IdInUse(local_id));
        }
        self.streams.insert(local_id, Stream::new(local_id, config));
        Ok(())
    }

    /// Connects stream `id` to the peer stream `remote_id` at `addr`, sending from
    /// `socket` (§5.2). `ack`, when given, is the first sequence number expected from the
    /// peer (udx-native connect option `ack`).
    pub fn connect(
        &mut self,
        now: Instant,
        id: u32,
        socket: SocketId,
        remote_id: u32,
        addr: SocketAddr,
        ack: Option<u32>,
    ) -> Result<(), StreamError> {
        if addr.port() == 0 {
            return Err(StreamError::InvalidPort);
        }
        self.with_stream(now, id, |s, io| {
            if s.is_connected() {
                return Err(StreamError::AlreadyConnected);
            }
            let remote = Remote {
                socket,
                id: remote_id,
                addr,
            };
            s.connect(io, remote, ack);
            Ok(())
        })
    }

    /// Queues bytes on stream `id`. Returns `Ok(false)` when more than the high watermark
    /// (256 KiB + the send window) is queued: wait for [`Event::Drained`].
    ///
    /// Packetisation is lazy: bytes written between two calls of
    /// [`poll_transmit`](Self::poll_transmit) are coalesced into full packets; a partly
    /// filled packet is sent when `poll_transmit` is called and the window allows.
    pub fn write(&mut self, now: Instant, id: u32, data: &[u8]) -> Result<bool, StreamError> {
        self.write_bytes(now, id, Bytes::copy_from_slice(data))
    }

    /// [`write`](Self::write) without a copy: the stream keeps `data` and cuts its
    /// packets' payloads out of it (a `Vec<u8>` converts for free).
    pub fn write_bytes(
        &mut self,
        now: Instant,
        id: u32,
        data: impl Into<Bytes>,
    ) -> Result<bool, StreamError> {
        let data = data.into();
        self.with_stream(now, id, |s, _| {
            if !s.is_connected() {
                return Err(StreamError::NotConnected);
            }
            if s.has_ended() {
                return Err(StreamError::Ended);
            }
            Ok(s.write(data))
        })
    }

    /// Ends the local direction of stream `id` after the queued bytes (half close).
    pub fn end(&mut self, now: Instant, id: u32) -> Result<(), StreamError> {
        self.with_stream(now, id, |s, _| {
            if !s.is_connected() {
                return Err(StreamError::NotConnected);
            }
            s.end();
            Ok(())
        })
    }

    /// Sends one unreliable MESSAGE datagram on stream `id` (§10). At most the stream's
    /// maximum payload (1152 bytes to IPv4, 1132 to IPv6) so that no datagram exceeds
    /// the base MTU.
    pub fn send_message(&mut self, now: Instant, id: u32, data: &[u8]) -> Result<(), StreamError> {
        self.with_stream(now, id, |s, io| {
            if !s.is_connected() {
                return Err(StreamError::NotConnected);
            }
            let max = s.max_payload();
            if data.len() > max {
                return Err(StreamError::MessageTooLong {
                    len: data.len(),
                    max,
                });
            }
            s.send_message(io, data);
            Ok(())
        })
    }

    /// Destroys stream `id`: one DESTROY packet if it is connected and not relaying,
    /// then closed at once ([`CloseReason::Destroyed`]); queued data is discarded.
    pub fn destroy(&mut self, now: Instant, id: u32) -> Result<(), StreamError> {
        self.with_stream(now, id, |s, io| {
            s.destroy(io);
            Ok(())
        })
    }

    /// Moves stream `id` to a new socket, remote id and address (§5.6). Packets in flight
    /// are retransmitted to their old destination; [`Event::RemoteChanged`] follows once
    /// the peer acknowledges everything sent before the change.
    pub fn change_remote(
        &mut self,
        now: Instant,
        id: u32,
        socket: SocketId,
        remote_id: u32,
        addr: SocketAddr,
    ) -> Result<(), StreamError> {
        if addr.port() == 0 {
            return Err(StreamError::InvalidPort);
        }
        self.with_stream(now, id, |s, io| {
            if !s.is_connected() {
                return Err(StreamError::NotConnected);
            }
            let remote = Remote {
                socket,
                id: remote_id,
                addr,
            };
            s.change_remote(io, remote);
            Ok(())
        })
    }

    /// Makes stream `id` forward every UDX datagram it receives to stream `dst`'s peer,
    /// with the id rewritten to `dst`'s remote id (§11). Closing `dst` destroys `id`.
    pub fn relay_to(&mut self, now: Instant, id: u32, dst: u32) -> Result<(), StreamError> {
        if id == dst {
            return Err(StreamError::RelayToSelf);
        }
        if !self.streams.contains_key(&dst) {
            return Err(StreamError::UnknownStream(dst));
        }
        self.with_stream(now, id, |s, _| {
            s.relay_to = Some(dst);
            Ok(())
        })
    }

    /// Sends a HEARTBEAT every `interval` while nothing is in flight (`None` or zero: off).
    pub fn set_keepalive(
        &mut self,
        now: Instant,
        id: u32,
        interval: Option<Duration>,
    ) -> Result<(), StreamError> {
        self.with_stream(now, id, |s, _| {
            s.set_keepalive(now, interval);
            Ok(())
        })
    }

    /// Queues a datagram that is not UDX (a holepunch probe, a dht-rpc message) to leave
    /// through the same socket, in order with the stream packets.
    pub fn send_raw(
        &mut self,
        socket: SocketId,
        destination: SocketAddr,
        contents: Vec<u8>,
        ttl: Option<u8>,
    ) {
        self.stats.raw_sent += 1;
        self.out.push_back(Transmit {
            socket,
            destination,
            contents,
            ttl,
        });
    }

    /// Feeds a datagram received on `socket` from `from` (§6, §13). Returns
    /// [`Received::NotUdx`] when no live stream takes it: no stream exists, the datagram is
    /// shorter than 20 bytes or does not start `ff 01`, or its id names no stream. Once a
    /// live stream is found the datagram is consumed, even if it is then dropped.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        socket: SocketId,
        from: SocketAddr,
        datagram: &[u8],
    ) -> Received {
        let now = self.touch(now);
        self.stats.datagrams += 1;
        if self.streams.is_empty() || !is_udx(datagram) {
            self.stats.not_udx += 1;
            return Received::NotUdx;
        }
        let packet = Packet::new_unchecked(datagram);
        let id = packet.id();
        let Some(stream) = self.streams.get_mut(&id) else {
            self.stats.not_udx += 1;
            return Received::NotUdx;
        };
        self.stats.consumed += 1;
        let (accepted, foreign) = stream.admits(socket);
        if !accepted {
            self.stats.firewalled += 1;
            return Received::Consumed;
        }
        if foreign && !stream.is_connected() {
            self.events.push_back(Event::Incoming { id, socket, from });
        }
        if let Some(dst) = stream.relay_to {
            self.relay(id, dst, &packet);
        } else {
            let mut io = Io {
                now,
                out: &mut self.out,
                events: &mut self.events,
            };
            stream.handle_packet(&mut io, &packet);
        }
        self.reap();
        Received::Consumed
    }

    /// Forwards a datagram for relaying stream `src` to `dst`'s peer (§11).
    fn relay(&mut self, src: u32, dst: u32, packet: &Packet<&[u8]>) {
        let target = self.streams.get(&dst).and_then(|s| s.remote);
        let Some(stream) = self.streams.get_mut(&src) else {
            return;
        };
        if let Some(target) = target {
            let mut contents = packet.as_bytes().to_vec();
            Packet::new_unchecked(&mut contents[..]).set_id(target.id);
            self.out.push_back(Transmit {
                socket: target.socket,
                destination: target.addr,
                contents,
                ttl: None,
            });
            stream.stats.relayed += 1;
        } else {
            self.stats.relay_dropped += 1;
        }
        stream.seq = seq_max(stream.seq, packet.seq());
        if packet.packet_type().contains(PacketType::DESTROY) {
            stream.close(CloseReason::Reset);
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.touch(now);
        for stream in self.streams.values_mut() {
            if stream.poll_timeout().is_some_and(|d| d <= now) {
                let mut io = Io {
                    now,
                    out: &mut self.out,
                    events: &mut self.events,
                };
                stream.handle_timeout(&mut io);
            }
        }
        self.reap();
    }

    /// The next datagram to send. When the queue is empty, every stream first sends what
    /// its windows allow, using the time of the latest input.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.out.pop_front() {
            return Some(t);
        }
        let now = self.now?;
        for stream in self.streams.values_mut() {
            let mut io = Io {
                now,
                out: &mut self.out,
                events: &mut self.events,
            };
            stream.flush(&mut io);
        }
        self.out.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.streams.values().filter_map(Stream::poll_timeout).min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether a live stream has this local id.
    #[must_use]
    pub fn has_stream(&self, id: u32) -> bool {
        self.streams.contains_key(&id)
    }

    /// The counters of stream `id`.
    #[must_use]
    pub fn stream_stats(&self, id: u32) -> Option<StreamStats> {
        self.streams.get(&id).map(|s| s.stats)
    }

    /// The largest DATA payload of stream `id` (by its remote's address family).
    #[must_use]
    pub fn max_payload(&self, id: u32) -> Option<usize> {
        let s = self.streams.get(&id)?;
        Some(s.remote.map_or(s.max_payload(), |r| max_payload(&r.addr)))
    }

    /// The IP MTU stream `id` sizes its DATA packets for: the base 1200 until MTU
    /// probing (§9, [`StreamConfig::mtu_probing`]) has confirmed more.
    #[must_use]
    pub fn mtu(&self, id: u32) -> Option<usize> {
        self.streams.get(&id).map(Stream::mtu)
    }

    /// The endpoint's counters.
    #[must_use]
    pub const fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// Removes closed streams (emitting [`Event::Closed`]) and destroys the streams
    /// relaying into them.
    fn reap(&mut self) {
        loop {
            let closed: Vec<(u32, CloseReason)> = self
                .streams
                .iter()
                .filter_map(|(id, s)| s.closing.map(|r| (*id, r)))
                .collect();
            if closed.is_empty() {
                return;
            }
            for (id, reason) in closed {
                self.streams.remove(&id);
                self.events.push_back(Event::Closed { id, reason });
                for s in self.streams.values_mut() {
                    if s.relay_to == Some(id) {
                        s.close(CloseReason::Destroyed);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
