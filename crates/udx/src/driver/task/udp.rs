//! The socket side of the task: batched reads into the endpoint, sends that wait only
//! while the send buffer is full, per-datagram TTL.

use std::io::{self, IoSliceMut};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;

use quinn_udp::{RecvMeta, UdpSocketState};
use socket2::SockRef;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use super::others;
use super::{DEFAULT_TTL, RECV_ROUNDS, RECV_SLOT, RECV_SLOTS, SOCKET, now};
use crate::{Endpoint, Received, Transmit};

/// What reading the socket touches, borrowed apart from the socket's readiness guard.
pub(super) struct Input<'a> {
    pub(super) endpoint: &'a mut Endpoint,
    pub(super) others: &'a mut others::Sender,
    pub(super) state: &'a UdpSocketState,
    pub(super) recv_buf: &'a mut Vec<u8>,
    pub(super) meta: &'a mut Vec<RecvMeta>,
}

impl Input<'_> {
    /// Reads what the socket has ready, in batches, and feeds it to the endpoint (one
    /// clock reading per receive call; the non-UDX datagrams of all calls go up as one
    /// batch). True once the socket is known to be empty: the caller then clears the
    /// readiness it waited for.
    ///
    /// A `recvmmsg` that filled fewer slots than it had found the queue empty: it stops
    /// early only at `EAGAIN` or at a pending socket error, and this socket never has one
    /// pending — it is not connected and has no `IP_RECVERR`, and on such a socket Linux
    /// drops ICMP errors instead of reporting them (`udp_err`, `udpv6_err`). So a short
    /// batch clears readiness at once, without the extra call that would only say
    /// `EAGAIN`: datagrams that arrive later raise readiness again (edge-triggered epoll
    /// reports each arrival, and tokio keeps readiness that arrived after the read).
    pub(super) fn receive(&mut self, socket: &UdpSocket) -> bool {
        for _ in 0..RECV_ROUNDS {
            let r = {
                // On the stack: no allocation per call.
                let mut chunks = self.recv_buf.chunks_mut(RECV_SLOT);
                let mut slices: [IoSliceMut<'_>; RECV_SLOTS] =
                    std::array::from_fn(|_| IoSliceMut::new(chunks.next().unwrap_or_default()));
                self.state.recv(socket.into(), &mut slices, self.meta)
            };
            let n = match r {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.others.flush();
                    return true;
                }
                // Anything else (an error a caller's socket options let through): nothing
                // to do, keep reading.
                Err(_) => continue,
            };
            let t = now();
            for (slot, meta) in self
                .recv_buf
                .chunks(RECV_SLOT)
                .zip(self.meta.iter())
                .take(n)
            {
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
                    match self.endpoint.handle_datagram(t, SOCKET, from, datagram) {
                        Received::Consumed => {}
                        // A full queue drops the datagram, as a full socket buffer would.
                        Received::NotUdx => self.others.push(datagram, from),
                    }
                }
            }
            if n < RECV_SLOTS {
                self.others.flush();
                return true;
            }
        }
        self.others.flush();
        false
    }
}

/// The destination as the socket needs it: v4-mapped on an IPv6 socket.
pub(super) fn map(v6: bool, destination: SocketAddr) -> SocketAddr {
    match destination {
        SocketAddr::V4(a) if v6 => SocketAddr::new(IpAddr::V6(a.ip().to_ipv6_mapped()), a.port()),
        d => d,
    }
}

/// Sends one datagram, with its own TTL if it has one.
pub(super) async fn send_one(
    socket: &AsyncFd<UdpSocket>,
    spare: &UdpSocket,
    state: &UdpSocketState,
    v6: bool,
    t: &Transmit,
) {
    let ttl = t.ttl.filter(|&ttl| ttl > 0).map(u32::from);
    if let Some(ttl) = ttl {
        set_ttl(socket.get_ref(), v6, ttl);
    }
    let transmit = quinn_udp::Transmit {
        destination: map(v6, t.destination),
        ecn: None,
        contents: &t.contents,
        segment_size: None,
        src_ip: None,
    };
    send(socket, spare, state, &transmit).await;
    if ttl.is_some() {
        set_ttl(socket.get_ref(), v6, DEFAULT_TTL);
    }
}

/// Sends a datagram (or a GSO run), waiting while the socket buffer is full. Other send
/// errors are swallowed, as udx-native does; UDX retransmits. A kernel without GSO makes
/// quinn-udp turn segmentation off after the first failed run.
///
/// The send is tried first; only a full buffer registers `spare` (the socket's duplicate)
/// for writability, until the datagram is taken.
pub(super) async fn send(
    socket: &AsyncFd<UdpSocket>,
    spare: &UdpSocket,
    state: &UdpSocketState,
    transmit: &quinn_udp::Transmit<'_>,
) {
    let mut waiter: Option<AsyncFd<std::os::fd::BorrowedFd<'_>>> = None;
    loop {
        match state.try_send(socket.get_ref().into(), transmit) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            // Any other failure (EMSGSIZE for an MTU probe larger than the path, an
            // unreachable destination) is the loss of one datagram: UDX retransmits.
            _ => return,
        }
        if waiter.is_none() {
            // `with_interest` is deprecated because a `T` could hand out a descriptor it
            // does not keep open; a `BorrowedFd` names one descriptor that stays open for
            // as long as the registration can live. The alternative is `unsafe`.
            #[allow(deprecated)]
            let registered = AsyncFd::with_interest(spare.as_fd(), Interest::WRITABLE);
            match registered {
                Ok(w) => waiter = Some(w),
                Err(_) => return,
            }
        }
        let Some(w) = &waiter else {
            return;
        };
        match w.writable().await {
            // Ready once; the next try tells whether there is room.
            Ok(mut guard) => guard.clear_ready(),
            Err(_) => return,
        }
    }
}

/// Sets the TTL (hop limit) for the datagrams that follow. A failure leaves the socket
/// default: the datagram still leaves, like udx-native's best-effort TTL.
fn set_ttl(socket: &UdpSocket, v6: bool, ttl: u32) {
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
