//! Non-UDX datagrams on their way from the socket task to
//! [`UdxSocket::recv_other`](crate::UdxSocket::recv_other) and friends: in batches (one per
//! turn of reading the socket), each batch one buffer plus an entry per datagram, and the
//! emptied batches go back to the task for reuse. In steady state nothing is allocated per
//! datagram.

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

/// Non-UDX datagrams that may wait between the task and the handle; more are dropped, as
/// a full socket buffer would drop them.
const OTHERS_QUEUE: usize = 1024;
/// Emptied batches kept for reuse.
const SPARE_BATCHES: usize = 16;
/// The room a new batch starts with: datagrams, and bytes.
const NEW_BATCH: (usize, usize) = (64, 16 << 10);
/// A batch that grew beyond this many bytes (a burst of large datagrams) is freed, not
/// kept for reuse.
const SPARE_MAX_BYTES: usize = 256 << 10;

/// Datagrams received together: their bytes in one buffer, one entry (range and source)
/// per datagram, in arrival order.
#[derive(Debug, Default)]
pub(in crate::driver) struct Datagrams {
    bytes: Vec<u8>,
    entries: Vec<(Range<usize>, SocketAddr)>,
}

impl Datagrams {
    /// An empty batch.
    const fn new() -> Self {
        Self {
            bytes: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// How many datagrams it holds.
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds none.
    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Datagram `i` and its source.
    fn get(&self, i: usize) -> Option<(&[u8], SocketAddr)> {
        let (range, from) = self.entries.get(i)?;
        Some((self.bytes.get(range.clone())?, *from))
    }

    /// The datagrams and their sources, in arrival order.
    fn iter(&self) -> impl ExactSizeIterator<Item = (&[u8], SocketAddr)> + '_ {
        self.entries
            .iter()
            .map(|(range, from)| (self.bytes.get(range.clone()).unwrap_or_default(), *from))
    }

    /// Forgets the datagrams and keeps the buffers.
    fn clear(&mut self) {
        self.bytes.clear();
        self.entries.clear();
    }

    /// Appends one datagram.
    fn push(&mut self, datagram: &[u8], from: SocketAddr) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(datagram);
        self.entries.push((start..self.bytes.len(), from));
    }
}

/// What the task and the handle share: the number of datagrams in flight between them
/// and the emptied batches.
#[derive(Debug, Default)]
struct Shared {
    queued: AtomicUsize,
    spare: Mutex<Vec<Datagrams>>,
}

impl Shared {
    fn take_spare(&self) -> Datagrams {
        self.spare
            .lock()
            .ok()
            .and_then(|mut s| s.pop())
            .unwrap_or_else(|| Datagrams {
                bytes: Vec::with_capacity(NEW_BATCH.1),
                entries: Vec::with_capacity(NEW_BATCH.0),
            })
    }

    fn give_back(&self, mut batch: Datagrams) {
        if batch.bytes.capacity() == 0 || batch.bytes.capacity() > SPARE_MAX_BYTES {
            return;
        }
        batch.clear();
        if let Ok(mut s) = self.spare.lock() {
            if s.len() < SPARE_BATCHES {
                s.push(batch);
            }
        }
    }
}

/// A channel for batches of non-UDX datagrams: the task's end and the handle's end.
pub(in crate::driver) fn channel() -> (Sender, Receiver) {
    let shared = Arc::new(Shared::default());
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Sender {
            tx,
            shared: Arc::clone(&shared),
            current: Datagrams::new(),
        },
        Receiver {
            rx,
            shared,
            front: Datagrams::new(),
            pos: 0,
        },
    )
}

/// The task's end: gathers the datagrams of one turn of reading and hands them over in
/// one go.
#[derive(Debug)]
pub(in crate::driver) struct Sender {
    tx: mpsc::UnboundedSender<Datagrams>,
    shared: Arc<Shared>,
    current: Datagrams,
}

impl Sender {
    /// Adds a datagram to the batch being gathered, or drops it if [`OTHERS_QUEUE`] wait
    /// already.
    pub(super) fn push(&mut self, datagram: &[u8], from: SocketAddr) {
        if self.shared.queued.load(Ordering::Relaxed) + self.current.len() >= OTHERS_QUEUE {
            return;
        }
        self.current.push(datagram, from);
    }

    /// Hands the gathered batch over (if any).
    pub(super) fn flush(&mut self) {
        if self.current.is_empty() {
            return;
        }
        if self.tx.is_closed() {
            // Nobody reads any more.
            self.current.clear();
            return;
        }
        let next = self.shared.take_spare();
        let batch = std::mem::replace(&mut self.current, next);
        let n = batch.len();
        self.shared.queued.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(batch).is_err() {
            self.shared.queued.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// The handle's end: the batch being read from and the channel.
#[derive(Debug)]
pub(in crate::driver) struct Receiver {
    rx: mpsc::UnboundedReceiver<Datagrams>,
    shared: Arc<Shared>,
    /// The batch being read from; `pos` datagrams of it are taken.
    front: Datagrams,
    pos: usize,
}

impl Receiver {
    /// Makes `batch` the one being read from; the old one goes back to the task.
    fn set_front(&mut self, batch: Datagrams) {
        self.shared.queued.fetch_sub(batch.len(), Ordering::Relaxed);
        let old = std::mem::replace(&mut self.front, batch);
        self.pos = 0;
        self.shared.give_back(old);
    }

    /// Waits until a datagram can be taken; false once the task is gone.
    async fn wait(&mut self) -> bool {
        if self.pos < self.front.len() {
            return true;
        }
        loop {
            match self.rx.recv().await {
                Some(batch) if batch.is_empty() => self.shared.give_back(batch),
                Some(batch) => {
                    self.set_front(batch);
                    return true;
                }
                None => return false,
            }
        }
    }

    /// Takes the next batch that is already queued, if any.
    fn next_ready(&mut self) -> bool {
        while let Ok(batch) = self.rx.try_recv() {
            if !batch.is_empty() {
                self.set_front(batch);
                return true;
            }
            self.shared.give_back(batch);
        }
        false
    }

    /// The next datagram; `None` once the task is gone.
    pub(in crate::driver) async fn recv(&mut self) -> Option<(Vec<u8>, SocketAddr)> {
        if !self.wait().await {
            return None;
        }
        let (d, from) = self.front.get(self.pos)?;
        self.pos += 1;
        Some((d.to_vec(), from))
    }

    /// Appends up to `limit` (at least one) of the datagrams waiting now to `out`, waiting
    /// while there is none; 0 once the task is gone.
    pub(in crate::driver) async fn recv_many(
        &mut self,
        out: &mut Vec<(Vec<u8>, SocketAddr)>,
        limit: usize,
    ) -> usize {
        if !self.wait().await {
            return 0;
        }
        let mut n = 0;
        while n < limit.max(1) {
            if self.pos >= self.front.len() && !self.next_ready() {
                break;
            }
            if let Some((d, from)) = self.front.get(self.pos) {
                out.push((d.to_vec(), from));
                n += 1;
            }
            self.pos += 1;
        }
        n
    }

    /// Appends every datagram waiting now to `bytes` and `datagrams` (a range of `bytes`
    /// and the source each), waiting while there is none; 0 once the task is gone. Empty
    /// vectors take the first batch as it is (no copy) and hand their own buffers back to
    /// the task.
    pub(in crate::driver) async fn recv_into(
        &mut self,
        bytes: &mut Vec<u8>,
        datagrams: &mut Vec<(Range<usize>, SocketAddr)>,
    ) -> usize {
        if !self.wait().await {
            return 0;
        }
        let before = datagrams.len();
        loop {
            if self.pos == 0 && datagrams.is_empty() && bytes.is_empty() {
                // `front` keeps the caller's old, empty buffers: they go back to the task
                // with the next `set_front`.
                std::mem::swap(bytes, &mut self.front.bytes);
                std::mem::swap(datagrams, &mut self.front.entries);
            } else {
                for (d, from) in self.front.iter().skip(self.pos) {
                    let start = bytes.len();
                    bytes.extend_from_slice(d);
                    datagrams.push((start..bytes.len(), from));
                }
                self.front.clear();
            }
            self.pos = 0;
            if !self.next_ready() {
                break;
            }
        }
        datagrams.len() - before
    }
}
