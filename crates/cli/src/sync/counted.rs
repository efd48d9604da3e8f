//! A stream wrapper that counts the bytes each connection carried, for the `status`
//! command: it tells a stalled transport (no bytes move) from a stalled sync session
//! (bytes move, records do not).

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Byte counts of one connection.
#[derive(Debug)]
pub(crate) struct ConnStats {
    remote: [u8; 32],
    read: AtomicU64,
    written: AtomicU64,
    closed: AtomicBool,
}

/// Every connection of this process so far.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registry(Arc<Mutex<Vec<Arc<ConnStats>>>>);

impl Registry {
    /// Wraps `inner` (a connection to `remote`) and registers its counters.
    pub(crate) fn wrap<T>(&self, inner: T, remote: [u8; 32]) -> Counted<T> {
        let stats = Arc::new(ConnStats {
            remote,
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        if let Ok(mut all) = self.0.lock() {
            // Keep the open ones and the last few closed ones.
            if all.len() >= 64 {
                all.retain(|s| !s.closed.load(Ordering::Relaxed));
            }
            all.push(Arc::clone(&stats));
        }
        Counted { inner, stats }
    }

    /// `[{"remote_public_key","read","written","open"}]`, oldest first.
    pub(crate) fn to_json(&self) -> Value {
        let all = self.0.lock().map(|a| a.clone()).unwrap_or_default();
        all.iter()
            .map(|s| {
                json!({
                    "remote_public_key": hex::encode(s.remote),
                    "read": s.read.load(Ordering::Relaxed),
                    "written": s.written.load(Ordering::Relaxed),
                    "open": !s.closed.load(Ordering::Relaxed),
                })
            })
            .collect()
    }
}

/// A stream whose traffic is counted in its [`ConnStats`].
#[derive(Debug)]
pub(crate) struct Counted<T> {
    inner: T,
    stats: Arc<ConnStats>,
}

impl<T> Drop for Counted<T> {
    fn drop(&mut self) {
        self.stats.closed.store(true, Ordering::Relaxed);
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len().saturating_sub(before);
        self.stats.read.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.stats.written.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_both_directions_and_the_close() {
        let reg = Registry::default();
        let (a, mut b) = tokio::io::duplex(64);
        let mut a = reg.wrap(a, [7; 32]);
        a.write_all(b"hello").await.unwrap();
        b.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        a.read_exact(&mut buf).await.unwrap();
        let v = reg.to_json();
        assert_eq!(v[0]["written"], 5);
        assert_eq!(v[0]["read"], 2);
        assert_eq!(v[0]["open"], true);
        assert_eq!(v[0]["remote_public_key"], hex::encode([7u8; 32]));
        drop(a);
        assert_eq!(reg.to_json()[0]["open"], false);
    }
}
