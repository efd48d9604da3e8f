//! [`UdxSocket`]: binding, stream creation, raw datagrams in and out.

use std::io;
use std::net::SocketAddr;
use std::ops::Range;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{Mutex, mpsc, oneshot};

use super::stream::UdxStream;
use super::task::{Command, DEFAULT_TTL, Driver, others};
use super::{command_error, driver_gone};
use crate::StreamConfig;

/// `SO_SNDBUF` set at bind (§2).
const SEND_BUFFER: usize = 212_992;
/// `SO_RCVBUF` sizes tried at bind, in order (§2).
const RECV_BUFFERS: [usize; 4] = [1 << 20, 512 << 10, 256 << 10, 208 << 10];

/// A UDP socket with a UDX endpoint, driven by a background task.
///
/// Dropping it does not stop the task while stream handles are alive; the task stops when
/// the last handle is gone.
#[derive(Debug)]
pub struct UdxSocket {
    commands: mpsc::UnboundedSender<Command>,
    others: Mutex<others::Receiver>,
    local_addr: SocketAddr,
}

impl UdxSocket {
    /// Binds `addr` and starts the socket's task on the current tokio runtime.
    ///
    /// As libudx does at bind: TTL 64, `SO_SNDBUF` 212 992, the largest `SO_RCVBUF` of
    /// 1 MiB / 512 KiB / 256 KiB / 208 KiB that is accepted; an IPv6 address is bound
    /// dual-stack. Fails outside a tokio runtime.
    pub fn bind(addr: SocketAddr) -> io::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(io::Error::other)?;
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            // Dual-stack where the system allows it.
            let _ = socket.set_only_v6(false);
            socket.set_unicast_hops_v6(DEFAULT_TTL)?;
        } else {
            socket.set_ttl_v4(DEFAULT_TTL)?;
        }
        // Buffer sizes are best effort, as in libudx.
        let _ = socket.set_send_buffer_size(SEND_BUFFER);
        for size in RECV_BUFFERS {
            if socket.set_recv_buffer_size(size).is_ok() {
                break;
            }
        }
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        let socket: std::net::UdpSocket = socket.into();
        let local_addr = socket.local_addr()?;
        let socket = {
            let _guard = runtime.enter();
            // Readable interest only (see `task::Driver::socket`). `with_interest` is
            // deprecated because a `T` could hand out a descriptor it does not keep open;
            // an owned `UdpSocket` keeps its one descriptor for the registration's life.
            // The alternative is `unsafe`.
            #[allow(deprecated)]
            let registered = AsyncFd::with_interest(socket, Interest::READABLE)?;
            registered
        };
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (others_tx, others) = others::channel();
        let driver = Driver::new(socket, commands_rx, others_tx)?;
        runtime.spawn(driver.run());
        Ok(Self {
            commands,
            others: Mutex::new(others),
            local_addr,
        })
    }

    /// The bound address (with the port the OS chose for port 0).
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Creates a stream with local id `id` and udx-native's defaults (`createStream(id)`):
    /// packets before `connect` are dropped, and MTU probing is on.
    pub async fn create_stream(&self, id: u32) -> io::Result<UdxStream> {
        let config = StreamConfig::default().with_mtu_probing(true);
        self.create_stream_with(id, config).await
    }

    /// Creates a stream with local id `id` and the given options.
    pub async fn create_stream_with(&self, id: u32, config: StreamConfig) -> io::Result<UdxStream> {
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Command::Create { id, config, reply })
            .map_err(|_| driver_gone())?;
        let link = rx
            .await
            .map_err(|_| driver_gone())?
            .map_err(command_error)?;
        Ok(UdxStream::new(link, self.commands.clone()))
    }

    /// Sends a datagram that is not UDX from this socket, in order with the stream
    /// packets. `ttl` (1..=255; `None` or 0 for the default 64) applies to this datagram
    /// only; the socket's TTL is restored after it (§2). Send errors are not reported,
    /// as in udx-native.
    pub fn send_raw(
        &self,
        destination: SocketAddr,
        contents: &[u8],
        ttl: Option<u8>,
    ) -> io::Result<()> {
        self.commands
            .send(Command::Raw {
                destination,
                contents: contents.to_vec(),
                ttl: ttl.filter(|&t| t > 0),
            })
            .map_err(|_| driver_gone())
    }

    /// Sends datagrams that are not UDX from this socket, in order, like one
    /// [`send_raw`](Self::send_raw) each with the default TTL, for the price of one call.
    /// Consecutive datagrams of one size to one destination leave in one GSO send where the
    /// kernel supports it, so a caller that groups its datagrams by destination sends
    /// fewer system calls. Send errors are not reported.
    pub fn send_raw_batch(
        &self,
        datagrams: impl IntoIterator<Item = (SocketAddr, Vec<u8>)>,
    ) -> io::Result<()> {
        let datagrams: Vec<_> = datagrams.into_iter().collect();
        if datagrams.is_empty() {
            return Ok(());
        }
        self.commands
            .send(Command::RawBatch(datagrams))
            .map_err(|_| driver_gone())
    }

    /// Every datagram that [`recv_other`](Self::recv_other) would return now, up to
    /// `limit` (at least one), appended to `out`; waits while there is none. Returns how
    /// many were appended, never 0. One wake-up for a batch of datagrams.
    pub async fn recv_other_batch(
        &self,
        out: &mut Vec<(Vec<u8>, SocketAddr)>,
        limit: usize,
    ) -> io::Result<usize> {
        match self.others.lock().await.recv_many(out, limit.max(1)).await {
            0 => Err(driver_gone()),
            n => Ok(n),
        }
    }

    /// Every datagram that [`recv_other`](Self::recv_other) would return now, appended:
    /// the bytes to `bytes`, and per datagram the range of `bytes` it occupies and its
    /// source to `datagrams`; waits while there is none. Returns how many were appended,
    /// never 0. The datagrams come as the task read them, in one buffer per wake-up of the
    /// task, and empty vectors take that buffer as it is (no copy) and give their own back
    /// to the task: a caller that keeps both vectors and clears them after use allocates
    /// nothing per datagram.
    pub async fn recv_others(
        &self,
        bytes: &mut Vec<u8>,
        datagrams: &mut Vec<(Range<usize>, SocketAddr)>,
    ) -> io::Result<usize> {
        match self.others.lock().await.recv_into(bytes, datagrams).await {
            0 => Err(driver_gone()),
            n => Ok(n),
        }
    }

    /// The next datagram that is not for a live UDX stream (§13), unchanged, with its
    /// source address (IPv4-mapped sources reported as IPv4). Up to 1024 wait here;
    /// more are dropped.
    pub async fn recv_other(&self) -> io::Result<(Vec<u8>, SocketAddr)> {
        self.others
            .lock()
            .await
            .recv()
            .await
            .ok_or_else(driver_gone)
    }
}
