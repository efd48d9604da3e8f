//! UDX: reliable, ordered byte streams multiplexed over one UDP socket, wire-compatible
//! with `udx-native` 1.21.3 / libudx (specified in `shared/spec/udx.md`).
//!
//! # What is here
//!
//! - [`wire`]: the packet codec. A 20-byte header with DATA / END / SACK / MESSAGE /
//!   DESTROY / HEARTBEAT flags, SACK blocks, MTU-probe padding and payload, read through
//!   a checked view ([`wire::Packet`]) or plain values ([`wire::Header`], [`wire::Repr`]),
//!   and the classifier ([`wire::classify`]) a shared socket uses to tell UDX packets from
//!   dht-rpc messages and holepunch probes.
//! - [`seq`]: 32-bit modular sequence-number comparison.
//!
//! ```
//! use plures_udx::wire::{Datagram, PacketType, Repr, classify};
//!
//! let mut buf = [0u8; 64];
//! let mut data = Repr::new(PacketType::DATA, 2, 4_194_304, 0, 0);
//! data.payload = b"hello";
//! let len = data.emit(&mut buf).unwrap();
//! assert_eq!(&buf[..4], &[0xff, 0x01, 0x01, 0x00]);
//!
//! let Datagram::Udx(packet) = classify(&buf[..len]) else { panic!("not udx") };
//! assert_eq!(packet.id(), 2);
//! assert_eq!(packet.payload().unwrap(), b"hello");
//! assert_eq!(Repr::parse(&packet).unwrap(), data);
//! ```
//!
//! - [`Endpoint`]: the sans-IO UDX instance (`udx_t`). It owns streams keyed by their
//!   local `u32` id, shared by any number of the owner's UDP sockets (named by an opaque
//!   [`SocketId`]); it implements the receiver (§6), the sender with RTO, RACK-TLP and
//!   SACK-driven fast retransmit (§7–§8), END/DESTROY lifecycles (§5), messages (§10),
//!   keepalive (§8.6), relaying (§11) and the demultiplexing of a shared socket (§13).
//! - [`congestion`]: the [`CongestionController`](congestion::CongestionController)
//!   trait, the default [`Bbr`](congestion::Bbr) (BBR v1-style, as libudx) and
//!   [`NewReno`](congestion::NewReno).
//!
//! # Driving an endpoint
//!
//! The core owns no socket, clock or random number generator. Time is an input:
//! every `handle_*` call and every command takes `now`. The owner's loop:
//!
//! 1. feed each received datagram to [`Endpoint::handle_datagram`]; if it returns
//!    [`Received::NotUdx`], the datagram belongs to dht-rpc or the holepuncher and the
//!    owner passes its own bytes on unchanged;
//! 2. at [`Endpoint::poll_timeout`], call [`Endpoint::handle_timeout`];
//! 3. after any input or command, drain [`Endpoint::poll_transmit`] (send each
//!    [`Transmit`] from its socket), then read [`Endpoint::poll_timeout`], then drain
//!    [`Endpoint::poll_event`].
//!
//! `poll_transmit` is where written bytes become packets: bytes written since the last
//! call are coalesced into packets of up to `max_payload` bytes, and a partly filled
//! packet is sent then, if the windows allow (a sans-IO core has no event-loop tick to
//! flush at; this is the replacement). Its send time is the latest `now` the endpoint
//! was given.
//!
//! # What is implemented, and what is not (yet)
//!
//! - MTU: packets start at the base MTU 1200 (payload 1152 to IPv4, 1132 to IPv6
//!   remotes). With [`StreamConfig::mtu_probing`] (on in `UdxSocket::create_stream`,
//!   off by default in the core) a stream searches up to 1500 as §9 describes: one fresh
//!   DATA packet at a time padded (`doff`) to the target, +32 per acked probe, a lost
//!   probe resent unpadded and not counted as congestion, three lost probes in a row end
//!   the search; [`Endpoint::mtu`] reports where it stands. The OS path MTU is not
//!   queried (the spec's "unavailable → 1500"). Received `doff` padding is skipped.
//! - Congestion control: BBR v1-style in packets (`congestion/bbr.rs`, §8.5) by default,
//!   with the ACK-aggregation allowance, without the long-term bandwidth model; NewReno
//!   (`congestion/reno.rs`) can be chosen per stream. Delivery-rate samples follow the
//!   `tcp_rate.c` scheme (`stream/rate.rs`).
//! - Pacing: the token bucket of §7 (initial 25 000 bytes; when empty, refilled by
//!   assignment to `elapsed_ms * rate` at least 1 ms after it emptied, with a timer in
//!   [`Endpoint::poll_timeout`]). Controllers without a pacing rate (NewReno) are not
//!   paced. A tail-loss probe ignores the bucket.
//! - Loss recovery: RTO with the §8.3 schedule and give-up (`ETIMEDOUT` 13 s after the
//!   first transmission with no acks), RACK with reordering window, tail-loss probe and
//!   SACK-driven retransmission (§8.4). Recovery ends when the cumulative ack reaches the
//!   `high_seq` recorded at its start (`>=`, where the spec writes `>`); a tail-loss probe
//!   that would not fire before the RTO is not armed (so the RTO schedule of U7 holds).
//! - Zero-window probing and keepalive use HEARTBEAT (§8.6).
//! - Receive window: every packet advertises the constant 4 194 304 like udx-native. The
//!   out-of-order buffer accepts packets at most [`MAX_OOO_DISTANCE`] ahead of the
//!   cumulative ack, so a peer cannot make it grow without bound.
//! - The firewall is a policy ([`Firewall`]) rather than a callback; with
//!   [`Firewall::AcceptAll`] an unconnected stream reports [`Event::Incoming`] so the
//!   owner can connect it to the peer's socket and address.
//! - The RTO estimator's min-RTT filter keeps the smallest sample for 300 s instead of
//!   a min-max filter.
//! - Streams are addressed by their local id; there is no handle type.
//! - Close: as in libudx, a stream is freed as soon as both ENDs are acknowledged, with
//!   no TIME-WAIT; if the very last ACK is lost, the peer's END retransmissions are
//!   handed back as [`Received::NotUdx`] and the peer closes with
//!   [`CloseReason::TimedOut`].
//! - Relaying forwards datagrams verbatim (id rewritten), so a relayed datagram may be
//!   as large as what the peer sent; everything the endpoint builds itself stays within
//!   the MTU the stream has confirmed (the base MTU unless it probes).
//! - Written bytes are queued as the chunks they came in ([`Endpoint::write_bytes`]
//!   takes them without a copy); a packet's payload is a slice of a chunk, shared by its
//!   retransmissions.
//!
//! # The tokio driver
//!
//! With the default feature `tokio`, [`driver`] runs an endpoint on a real UDP socket:
//! [`UdxSocket`] (one background task per socket; non-UDX datagrams come out of
//! [`UdxSocket::recv_other`] unchanged, raw datagrams with their own TTL go out through
//! [`UdxSocket::send_raw`]; datagrams leave in GSO batches and arrive through
//! `recvmmsg`/GRO, via quinn-udp, falling back to one per call where the kernel lacks
//! them) and [`UdxStream`] (`AsyncRead` + `AsyncWrite`, messages,
//! END on shutdown, destroy; errors as `std::io::Error`). Without the feature the crate
//! is the sans-IO core only and needs no tokio.
//!
//! # Bad input
//!
//! Nothing in this crate panics on bytes from the network: classification and decoding
//! are total and report failures as a small `Copy` [`DecodeError`]; datagrams a stream
//! cannot use are dropped and counted in [`StreamStats`] / [`EndpointStats`].
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod congestion;
#[cfg(feature = "tokio")]
pub mod driver;
mod endpoint;
mod error;
pub mod seq;
mod stream;
pub mod wire;

pub use endpoint::{
    CloseReason, Endpoint, EndpointStats, Event, Firewall, Received, SocketId, StreamConfig,
    Transmit,
};
pub use error::{DecodeError, EmitError, StreamError};
pub use stream::{BASE_MTU, MAX_OOO_DISTANCE, RWND, StreamStats, max_payload};

#[cfg(feature = "tokio")]
pub use driver::{UdxMessages, UdxSocket, UdxStream};
