//! Streams that count the bytes written to them.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

pub(crate) enum Inner {
    Mem(DuplexStream),
    Tcp(TcpStream),
}

/// A duplex stream (in-memory or TCP) that counts every byte written to it.
pub(crate) struct Counted {
    inner: Inner,
    pub(crate) sent: Arc<AtomicU64>,
}

impl Counted {
    pub(crate) fn new(inner: Inner) -> Self {
        Self {
            inner,
            sent: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Mem(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = match &mut this.inner {
            Inner::Mem(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = &r {
            this.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Mem(s) => Pin::new(s).poll_flush(cx),
            Inner::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Mem(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Net {
    Mem,
    Tcp,
}

impl Net {
    pub(crate) fn parse(s: &str) -> Self {
        if s == "tcp" { Self::Tcp } else { Self::Mem }
    }
}

/// A connected pair of counted streams.
pub(crate) async fn pair(net: Net) -> (Counted, Counted) {
    match net {
        Net::Mem => {
            let (a, b) = tokio::io::duplex(256 * 1024);
            (Counted::new(Inner::Mem(a)), Counted::new(Inner::Mem(b)))
        }
        Net::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
            let (a, (b, _)) = (a.expect("connect"), b.expect("accept"));
            a.set_nodelay(true).expect("nodelay");
            b.set_nodelay(true).expect("nodelay");
            (Counted::new(Inner::Tcp(a)), Counted::new(Inner::Tcp(b)))
        }
    }
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}
