//! The outgoing-request tracker (`dht-rpc lib/io.js#IO.createRequest`, `#Request.send`,
//! `#oncycle`, `#CongestionWindow`; spec §7).
//!
//! [`Io`] allocates transaction ids, keeps the encoded bytes of every request in flight for
//! retransmission, matches responses by tid **and** source address (a request may opt out
//! of the address check: PING_NAT replies come from another socket of the same peer), fires
//! per-attempt timeouts and retransmits up to the request's retry count, and rate-limits
//! transmissions with the reference's four-slot congestion window.
//!
//! Each request carries a caller context `T` that comes back with its completion.
//!
//! # Caps
//!
//! At most [`MAX_IN_FLIGHT`] requests (sent or queued behind the window) exist at a time; a
//! further [`Io::send`] returns [`Error::Busy`]. Each holds its encoded
//! packet (at most one UDP payload). The queue and the timeout index hold only tids of
//! those requests, so memory is bounded by `MAX_IN_FLIGHT` packets.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use crate::error::Error;

/// Retries of a single request: 3, so 4 transmissions.
pub const DEFAULT_RETRIES: u32 = 3;
/// Retries of a query's requests: 5, so 6 transmissions.
pub const QUERY_RETRIES: u32 = 5;
/// Per-attempt timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);
/// Period of the congestion window's drain tick.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(750);
/// Default transmissions per window slot (`maxWindow`).
pub const MAX_WINDOW: usize = 80;
/// Most requests tracked at once (sent or queued).
pub const MAX_IN_FLIGHT: usize = 4096;

/// Which of the node's sockets a datagram uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Socket {
    /// The server socket (bound to the configured port; the node's id is valid only here).
    Server,
    /// The client socket (ephemeral port; firewalled nodes send from it).
    Client,
    /// A socket a higher layer feeds in (hyperdht's holepunch sockets), by its own number.
    Other(u32),
}

/// How one request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    /// Retransmissions after the first send.
    pub retries: u32,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Bypass the congestion window.
    pub force: bool,
    /// Accept a response from any source (PING_NAT).
    pub any_source: bool,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            retries: DEFAULT_RETRIES,
            timeout: DEFAULT_TIMEOUT,
            force: false,
            any_source: false,
        }
    }
}

/// A datagram ready to go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The socket to send from.
    pub socket: Socket,
    /// Where to.
    pub destination: SocketAddrV4,
    /// The packet.
    pub contents: Vec<u8>,
}

/// What a timeout did to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoEvent<T> {
    /// The first attempt timed out; the request is being retried.
    Slow {
        /// The request's context.
        ctx: T,
        /// Its destination.
        destination: SocketAddrV4,
    },
    /// The last attempt timed out; the request is gone.
    Failed {
        /// The request's context.
        ctx: T,
        /// Its destination.
        destination: SocketAddrV4,
    },
}

/// The four-slot congestion window (spec §7.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    slots: [usize; 4],
    i: usize,
    total: usize,
    max: usize,
}

impl Window {
    /// An empty window allowing `max` transmissions per slot.
    pub fn new(max: usize) -> Self {
        Self {
            slots: [0; 4],
            i: 0,
            total: 0,
            max,
        }
    }

    /// Whether a non-forced transmission must wait.
    pub fn is_full(&self) -> bool {
        self.total >= 2 * self.max || self.slots[self.i] >= self.max
    }

    /// Transmissions counted in the window.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Counts one transmission.
    pub fn add(&mut self) {
        self.total += 1;
        self.slots[self.i] += 1;
    }

    /// Credits one response (or destroyed request) to the current slot.
    pub fn credit(&mut self) {
        if self.slots[self.i] > 0 {
            self.slots[self.i] -= 1;
            self.total -= 1;
        }
    }

    /// The drain tick: move to the next slot and forget what it counted.
    pub fn drain(&mut self) {
        self.i = (self.i + 1) % 4;
        self.total -= self.slots[self.i];
        self.slots[self.i] = 0;
    }
}

#[derive(Debug)]
struct Entry<T> {
    destination: SocketAddrV4,
    socket: Socket,
    bytes: Vec<u8>,
    ctx: T,
    sent: u32,
    opts: SendOptions,
    deadline: Option<Instant>,
    queued: bool,
}

/// The tracker. See the module docs.
#[derive(Debug)]
pub struct Io<T> {
    next_tid: u16,
    entries: HashMap<u16, Entry<T>>,
    deadlines: BTreeSet<(Instant, u16)>,
    queue: VecDeque<u16>,
    window: Window,
    next_drain: Option<Instant>,
    out: VecDeque<Transmit>,
    transmissions: u64,
}

impl<T: Copy> Io<T> {
    /// A tracker whose first tid is `first_tid` (the reference starts at a random value).
    pub fn new(first_tid: u16, max_window: usize) -> Self {
        Self {
            next_tid: first_tid,
            entries: HashMap::new(),
            deadlines: BTreeSet::new(),
            queue: VecDeque::new(),
            window: Window::new(max_window),
            next_drain: None,
            out: VecDeque::new(),
            transmissions: 0,
        }
    }

    /// Requests tracked (sent or queued).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Requests waiting for room in the window.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The congestion window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Transmissions so far, retries included.
    pub fn transmissions(&self) -> u64 {
        self.transmissions
    }

    /// Starts a request: picks a free tid, lets `encode` build the packet for it, and sends
    /// it now or queues it behind the window.
    pub fn send(
        &mut self,
        now: Instant,
        destination: SocketAddrV4,
        socket: Socket,
        encode: impl FnOnce(u16) -> Result<Vec<u8>, Error>,
        ctx: T,
        opts: SendOptions,
    ) -> Result<u16, Error> {
        if self.entries.len() >= MAX_IN_FLIGHT {
            return Err(Error::Busy);
        }
        // Post-increment with wrap, skipping tids still in use (there are fewer than 65536).
        let mut tid = self.next_tid;
        while self.entries.contains_key(&tid) {
            tid = tid.wrapping_add(1);
        }
        self.next_tid = tid.wrapping_add(1);
        let bytes = encode(tid)?;
        self.entries.insert(
            tid,
            Entry {
                destination,
                socket,
                bytes,
                ctx,
                sent: 0,
                opts,
                deadline: None,
                queued: false,
            },
        );
        self.attempt(now, tid);
        Ok(tid)
    }

    /// Transmits now if the window allows (or the request is forced), else queues.
    fn attempt(&mut self, now: Instant, tid: u16) {
        let full = self.window.is_full();
        let Some(e) = self.entries.get_mut(&tid) else {
            return;
        };
        if full && !e.opts.force {
            if !e.queued {
                e.queued = true;
                self.queue.push_back(tid);
            }
            return;
        }
        e.queued = false;
        e.sent += 1;
        let deadline = now + e.opts.timeout;
        e.deadline = Some(deadline);
        self.deadlines.insert((deadline, tid));
        self.out.push_back(Transmit {
            socket: e.socket,
            destination: e.destination,
            contents: e.bytes.clone(),
        });
        self.transmissions += 1;
        self.window.add();
        if self.next_drain.is_none() {
            self.next_drain = Some(now + DRAIN_INTERVAL);
        }
    }

    fn remove(&mut self, tid: u16) -> Option<Entry<T>> {
        let e = self.entries.remove(&tid)?;
        if let Some(d) = e.deadline {
            self.deadlines.remove(&(d, tid));
        }
        if e.queued {
            self.queue.retain(|&t| t != tid);
        }
        Some(e)
    }

    /// Matches a response: the request with `tid` sent to `source` (or to anyone, if it
    /// accepts any source). Returns its context and destination and forgets it.
    pub fn handle_response(&mut self, tid: u16, source: SocketAddrV4) -> Option<(T, SocketAddrV4)> {
        let e = self.entries.get(&tid)?;
        if e.destination != source && !e.opts.any_source {
            return None;
        }
        let e = self.remove(tid)?;
        self.window.credit();
        Some((e.ctx, e.destination))
    }

    /// Destroys a request without a response (credits the window like the reference).
    pub fn cancel(&mut self, tid: u16) -> Option<T> {
        let e = self.remove(tid)?;
        self.window.credit();
        Some(e.ctx)
    }

    /// Destroys every request whose context matches; returns how many.
    pub fn cancel_where(&mut self, mut matches: impl FnMut(&T) -> bool) -> usize {
        let tids: Vec<u16> = self
            .entries
            .iter()
            .filter(|(_, e)| matches(&e.ctx))
            .map(|(&t, _)| t)
            .collect();
        for &tid in &tids {
            self.cancel(tid);
        }
        tids.len()
    }

    /// The next deadline: an attempt timeout or the drain tick.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let first = self.deadlines.first().map(|&(d, _)| d);
        match (first, self.next_drain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the drain tick and attempt timeouts due at `now`, pushing what happened.
    pub fn handle_timeout(&mut self, now: Instant, events: &mut Vec<IoEvent<T>>) {
        if let Some(drain) = self.next_drain.filter(|&d| d <= now) {
            self.window.drain();
            while !self.window.is_full() {
                let Some(tid) = self.queue.pop_front() else {
                    break;
                };
                if let Some(e) = self.entries.get_mut(&tid) {
                    e.queued = false;
                }
                self.attempt(now, tid);
            }
            // The drain tick only matters while the window counts something or requests wait.
            self.next_drain = if self.window.total() > 0 || !self.queue.is_empty() {
                let next = drain + DRAIN_INTERVAL;
                Some(if next <= now {
                    now + DRAIN_INTERVAL
                } else {
                    next
                })
            } else {
                None
            };
        }
        while let Some(&(deadline, tid)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(e) = self.entries.get_mut(&tid) else {
                continue;
            };
            e.deadline = None;
            if e.sent > e.opts.retries {
                if let Some(e) = self.remove(tid) {
                    events.push(IoEvent::Failed {
                        ctx: e.ctx,
                        destination: e.destination,
                    });
                }
                continue;
            }
            if e.sent == 1 {
                events.push(IoEvent::Slow {
                    ctx: e.ctx,
                    destination: e.destination,
                });
            }
            self.attempt(now, tid);
        }
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.pop_front()
    }

    /// Suspend (spec §16): forgets every request (sent or queued) and every unsent
    /// datagram, and clears the congestion window. Returns the forgotten requests'
    /// contexts and destinations, in tid order, for the caller to fail. The next tid is
    /// kept, so tids of requests after a resume do not repeat the old ones at once.
    pub fn suspend(&mut self) -> Vec<(T, SocketAddrV4)> {
        let mut tids: Vec<u16> = self.entries.keys().copied().collect();
        tids.sort_unstable();
        let failed = tids
            .iter()
            .filter_map(|t| self.entries.remove(t))
            .map(|e| (e.ctx, e.destination))
            .collect();
        self.deadlines.clear();
        self.queue.clear();
        self.out.clear();
        self.window = Window::new(self.window.max);
        self.next_drain = None;
        failed
    }
}

#[cfg(test)]
mod tests;
