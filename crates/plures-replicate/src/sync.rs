//! The sync API: [`SyncEngine`] wraps a [`Store`], takes local writes, and runs one
//! [`Session`](crate::session::Session) per connection from a [`ConnectionSource`].
//!
//! - [`SyncEngine::set_sync_key`] stores the key in the store's metadata (`sync.key`:
//!   epoch, current key, grace keys). The key never appears in `Debug` output or logs.
//! - [`SyncEngine::enable_sync`] starts accepting connections; each gets a thin tokio driver
//!   (the `driver` module) that pumps a session over the stream. [`SyncEngine::disable_sync`] stops
//!   accepting and closes every connection with BYE.
//! - [`SyncEngine::events`] streams [`SyncEvent`]s; [`SyncEngine::changes`] ticks on every
//!   committed batch (local or remote).
//! - [`SyncEngine::rotate_key`] announces a new key in band to connected peers; both keys are
//!   accepted (and proved in HELLO) until the grace period ends, then the old one is dropped.
//!   A peer that receives a rotation adopts the key with the same grace period.
//!
//! Wall-clock time is read here and only here ([`now_ms`]); the sessions get it injected.

use crate::clock::{Clock, Hlc, ReplicaId, Stamp};
use crate::crdt::{Action, Op, Record};
use crate::error::{ClockError, StoreError};
use crate::key::SyncKey;
use crate::session::{self, Collections, Keyring, valid_collection_name};
use crate::store::Store;
use crate::wire::Link;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

mod driver;
mod source;

pub use source::{
    Connection, ConnectionSource, MemoryDialer, MemorySource, TcpDialSource, TcpListenerSource,
    connect_memory, memory_source,
};

/// The metadata name under which the sync keys are stored.
pub const SYNC_KEY_META: &str = "sync.key";

/// What [`SyncEngine::enable_sync`] runs with.
#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// A key to store first (as [`SyncEngine::set_sync_key`]); `None` uses the stored one.
    pub key: Option<SyncKey>,
    /// Which collections to sync.
    pub collections: Collections,
    /// Operations per OPS batch.
    pub batch_ops: usize,
    /// Operations a peer may have outstanding (see [`session::Config::window_ops`]).
    pub window_ops: u64,
    /// How long an old key stays accepted after a rotation.
    pub key_grace: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            key: None,
            collections: Collections::all(),
            batch_ops: 256,
            window_ops: 256,
            key_grace: Duration::from_secs(24 * 3600),
        }
    }
}

/// Why a peer connection ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// Sync was disabled here.
    LocalClose,
    /// The peer said BYE with this reason code.
    PeerBye(u64),
    /// The stream ended.
    Eof,
    /// The stream failed.
    Io(std::io::ErrorKind),
    /// The peer's capability proof did not verify.
    Capability,
    /// The peer speaks another protocol version.
    Version(u64),
    /// The peer violated the protocol (the message names the rule).
    Protocol(&'static str),
    /// No HELLO in time.
    Timeout,
    /// The local store failed.
    Store,
}

impl From<&session::Error> for DisconnectReason {
    fn from(e: &session::Error) -> Self {
        match e {
            session::Error::Capability => Self::Capability,
            session::Error::Version(v) => Self::Version(*v),
            session::Error::Violation(what) => Self::Protocol(what),
            session::Error::Wire(_) => Self::Protocol("malformed frame"),
            session::Error::Timeout => Self::Timeout,
            _ => Self::Store,
        }
    }
}

/// What the engine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyncEvent {
    /// A peer's HELLO verified.
    PeerConnected {
        /// Its replica id.
        peer: ReplicaId,
    },
    /// A connected peer went away.
    PeerDisconnected {
        /// Its replica id.
        peer: ReplicaId,
        /// Why.
        reason: DisconnectReason,
    },
    /// A connection closed before its peer was verified (e.g. wrong key).
    PeerRejected {
        /// Why.
        reason: DisconnectReason,
    },
    /// Everything `peer` had when the connection started is applied here.
    SyncComplete {
        /// The peer.
        peer: ReplicaId,
        /// The collections it sent.
        collections: Vec<String>,
    },
    /// The sync key moved to `epoch` (here or announced by a peer).
    KeyRotated {
        /// The new key's epoch.
        epoch: u64,
    },
}

/// Errors of the sync API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The clock cannot stamp the write.
    #[error(transparent)]
    Clock(#[from] ClockError),
    /// No sync key is set.
    #[error("no sync key set")]
    NoKey,
    /// The stored key metadata is corrupt.
    #[error("stored sync key is corrupt")]
    CorruptKey,
    /// A collection name is reserved (`*` or starting with `!`).
    #[error("reserved collection name")]
    InvalidCollection,
    /// `enable_sync` was called outside a tokio runtime.
    #[error("enable_sync needs a tokio runtime")]
    NoRuntime,
}

#[derive(Clone, Debug)]
pub(crate) enum Notice {
    Changed(String),
    /// The set of live links changed (read it from `Shared::links`).
    Links,
    Rotate {
        epoch: u64,
        key: SyncKey,
    },
    Shutdown,
}

struct Running {
    accept: JoinHandle<()>,
    opts: SyncOptions,
    grace_timer: Option<JoinHandle<()>>,
}

pub(crate) struct Shared<S> {
    replica: ReplicaId,
    store: Mutex<S>,
    clock: Mutex<Clock>,
    keys: Mutex<Option<Keyring>>,
    running: Mutex<Option<Running>>,
    events: broadcast::Sender<SyncEvent>,
    notices: broadcast::Sender<Notice>,
    changes: watch::Sender<u64>,
    /// Verified sessions per peer replica (a peer may be connected more than once), with
    /// its HELLO collection patterns: announced to every peer in LINKS.
    links: Mutex<BTreeMap<ReplicaId, (usize, Link)>>,
    /// Group commit: local writes not yet applied to the store (see
    /// [`SyncEngine::set_group_commit`]), and the most a batch may hold (0: write-through).
    pending: Mutex<Vec<Op>>,
    group_max: std::sync::atomic::AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Milliseconds since the Unix epoch: the engine's one clock seam.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn encode_keys(k: &Keyring) -> Vec<u8> {
    let mut out = k.epoch.to_le_bytes().to_vec();
    for key in std::iter::once(&k.current).chain(&k.grace) {
        out.extend_from_slice(key.as_bytes());
    }
    out
}

fn decode_keys(bytes: &[u8]) -> Option<Keyring> {
    let (epoch, rest) = bytes.split_first_chunk::<8>()?;
    if rest.is_empty() || rest.len() % 32 != 0 {
        return None;
    }
    let mut keys = rest
        .chunks_exact(32)
        .filter_map(|c| <[u8; 32]>::try_from(c).ok())
        .map(SyncKey::from_bytes);
    let current = keys.next()?;
    Some(Keyring {
        epoch: u64::from_le_bytes(*epoch),
        current,
        grace: keys.collect(),
    })
}

impl<S: Store + Send + 'static> Shared<S> {
    fn emit(&self, e: SyncEvent) {
        let _ = self.events.send(e);
    }

    fn committed(&self, collection: &str) {
        let _ = self.notices.send(Notice::Changed(collection.to_owned()));
        self.changes.send_modify(|n| *n += 1);
    }

    /// Applies the buffered local writes as one batch (one store transaction) and pushes
    /// them to peers. On error nothing was applied and the writes stay buffered.
    fn flush(&self) -> Result<(), StoreError> {
        let mut store = lock(&self.store);
        let ops = std::mem::take(&mut *lock(&self.pending));
        if ops.is_empty() {
            return Ok(());
        }
        if let Err(e) = store.apply(&ops) {
            let mut pending = lock(&self.pending);
            let later = std::mem::replace(&mut *pending, ops);
            pending.extend(later);
            return Err(e);
        }
        drop(store);
        let mut done: Vec<&str> = Vec::new();
        for op in &ops {
            if !done.contains(&op.collection.as_str()) {
                done.push(&op.collection);
                self.committed(&op.collection);
            }
        }
        Ok(())
    }

    fn links(&self) -> Vec<Link> {
        lock(&self.links).values().map(|(_, l)| l.clone()).collect()
    }

    fn link_up(&self, link: Link) {
        lock(&self.links)
            .entry(link.replica)
            .or_insert_with(|| (0, link))
            .0 += 1;
        let _ = self.notices.send(Notice::Links);
    }

    fn link_down(&self, replica: ReplicaId) {
        {
            let mut links = lock(&self.links);
            if let Some(entry) = links.get_mut(&replica) {
                entry.0 -= 1;
                if entry.0 == 0 {
                    links.remove(&replica);
                }
            }
        }
        let _ = self.notices.send(Notice::Links);
    }

    fn save_keys(&self, keys: Option<Keyring>) -> Result<(), StoreError> {
        let bytes = keys.as_ref().map(encode_keys);
        lock(&self.store).set_meta(SYNC_KEY_META, bytes.as_deref())?;
        *lock(&self.keys) = keys;
        Ok(())
    }

    fn session_config(&self, opts: &SyncOptions) -> Option<session::Config> {
        let keys = lock(&self.keys).clone()?;
        let mut cfg = session::Config::new(self.replica, keys.current.clone());
        cfg.keys = keys;
        cfg.collections = opts.collections.clone();
        cfg.batch_ops = opts.batch_ops;
        cfg.window_ops = opts.window_ops;
        Some(cfg)
    }

    /// Moves to `next` at `epoch` if newer, keeping the old key for the grace period.
    fn adopt_key(self: &Arc<Self>, epoch: u64, next: SyncKey) -> Result<bool, StoreError> {
        let mut keys = match lock(&self.keys).clone() {
            Some(k) if k.epoch < epoch => k,
            _ => return Ok(false),
        };
        let old = std::mem::replace(&mut keys.current, next.clone());
        keys.grace.push(old);
        keys.epoch = epoch;
        self.save_keys(Some(keys))?;
        let _ = self.notices.send(Notice::Rotate { epoch, key: next });
        self.emit(SyncEvent::KeyRotated { epoch });
        if let Some(run) = lock(&self.running).as_mut() {
            let me = Arc::clone(self);
            let grace = run.opts.key_grace;
            if let Some(t) = run.grace_timer.take() {
                t.abort();
            }
            run.grace_timer = Some(tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let _ = me.end_grace();
            }));
        }
        Ok(true)
    }

    fn end_grace(&self) -> Result<(), StoreError> {
        let keys = lock(&self.keys).clone();
        if let Some(mut k) = keys {
            k.grace.clear();
            self.save_keys(Some(k))?;
        }
        Ok(())
    }
}

/// A replica: a [`Store`], a clock, and (once enabled) peer-to-peer sync.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use plures_replicate::sync::{SyncEngine, SyncOptions, TcpListenerSource};
/// use plures_replicate::{Collections, MemoryStore, ReplicaId, SyncKey};
///
/// let db = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([1; 16]))?;
/// db.set_sync_key(SyncKey::from_hex(&"ab".repeat(32))?)?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let mut events = db.events();
/// db.enable_sync(
///     SyncOptions { collections: Collections::all().excluding("secret"), ..Default::default() },
///     TcpListenerSource::new(listener),
/// )?;
/// db.set("notes", "n1", "title", serde_json::json!("hello"))?;
/// while let Ok(event) = events.recv().await {
///     println!("{event:?}");
/// }
/// # Ok(()) }
/// ```
pub struct SyncEngine<S> {
    shared: Arc<Shared<S>>,
    /// Applies buffered writes when the engine is dropped (`Drop` cannot name `S: Store`).
    flush_on_drop: Box<dyn Fn() + Send + Sync>,
}

impl<S> std::fmt::Debug for SyncEngine<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("replica", &self.shared.replica)
            .finish_non_exhaustive()
    }
}

impl<S: Store + Send + 'static> SyncEngine<S> {
    /// Wraps `store` as replica `replica`, loading any stored sync key.
    pub fn new(store: S, replica: ReplicaId) -> Result<Self, SyncError> {
        let keys = match store.meta(SYNC_KEY_META)? {
            Some(bytes) => Some(decode_keys(&bytes).ok_or(SyncError::CorruptKey)?),
            None => None,
        };
        let mut last = Hlc::ZERO;
        for c in store.collections()? {
            for (_, h) in store.version_vector(&c)?.iter() {
                last = last.max(h);
            }
        }
        let shared = Arc::new(Shared {
            replica,
            store: Mutex::new(store),
            clock: Mutex::new(Clock::with_last(replica, last)),
            keys: Mutex::new(keys),
            running: Mutex::new(None),
            events: broadcast::channel(1024).0,
            notices: broadcast::channel(1024).0,
            changes: watch::channel(0).0,
            links: Mutex::new(BTreeMap::new()),
            pending: Mutex::new(Vec::new()),
            group_max: std::sync::atomic::AtomicUsize::new(0),
        });
        let weak = Arc::downgrade(&shared);
        Ok(Self {
            shared,
            flush_on_drop: Box::new(move || {
                if let Some(shared) = weak.upgrade() {
                    let _ = shared.flush();
                }
            }),
        })
    }

    /// This replica's id.
    pub fn replica(&self) -> ReplicaId {
        self.shared.replica
    }

    /// Stores `key` (epoch 0, no grace keys) in the store's metadata. Connections made
    /// afterwards use it.
    pub fn set_sync_key(&self, key: SyncKey) -> Result<(), SyncError> {
        Ok(self.shared.save_keys(Some(Keyring::new(key)))?)
    }

    /// The current sync key, if set.
    pub fn sync_key(&self) -> Option<SyncKey> {
        lock(&self.shared.keys).as_ref().map(|k| k.current.clone())
    }

    /// Moves the group to `next`: announced in band to every connected peer; the old key
    /// stays accepted for [`SyncOptions::key_grace`] (or until [`Self::end_key_grace`]).
    /// Returns the new epoch.
    pub fn rotate_key(&self, next: SyncKey) -> Result<u64, SyncError> {
        let epoch = lock(&self.shared.keys)
            .as_ref()
            .ok_or(SyncError::NoKey)?
            .epoch
            + 1;
        self.shared.adopt_key(epoch, next)?;
        Ok(epoch)
    }

    /// Drops the keys kept for a rotation's grace period now.
    pub fn end_key_grace(&self) -> Result<(), SyncError> {
        Ok(self.shared.end_grace()?)
    }

    /// Starts syncing over the connections `source` yields. Replaces a previous run.
    pub fn enable_sync<C: ConnectionSource>(
        &self,
        opts: SyncOptions,
        mut source: C,
    ) -> Result<(), SyncError> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| SyncError::NoRuntime)?;
        if let Some(key) = opts.key.clone() {
            self.set_sync_key(key)?;
        }
        if lock(&self.shared.keys).is_none() {
            return Err(SyncError::NoKey);
        }
        self.disable_sync();
        let shared = Arc::clone(&self.shared);
        let run_opts = opts.clone();
        let accept = handle.spawn(async move {
            while let Some(conn) = source.next().await {
                let Some(cfg) = shared.session_config(&run_opts) else {
                    break;
                };
                tokio::spawn(driver::drive(Arc::clone(&shared), conn, cfg));
            }
        });
        *lock(&self.shared.running) = Some(Running {
            accept,
            opts,
            grace_timer: None,
        });
        Ok(())
    }

    /// Stops accepting connections and closes every open one with BYE.
    pub fn disable_sync(&self) {
        if let Some(run) = lock(&self.shared.running).take() {
            run.accept.abort();
            if let Some(t) = run.grace_timer {
                t.abort();
            }
            let _ = self.shared.notices.send(Notice::Shutdown);
        }
    }

    /// A stream of [`SyncEvent`]s from now on.
    pub fn events(&self) -> broadcast::Receiver<SyncEvent> {
        self.shared.events.subscribe()
    }

    /// Ticks after every committed batch, local or remote.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// Runs `f` with the store (keep it short: sessions wait for it). Buffered writes (see
    /// [`Self::set_group_commit`]) are applied first; if that fails they stay buffered and
    /// `f` sees the store without them.
    pub fn with_store<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        let _ = self.shared.flush();
        f(&lock(&self.shared.store))
    }

    /// The merged record, if any operation touched it (buffered writes included).
    pub fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, SyncError> {
        self.shared.flush()?;
        Ok(lock(&self.shared.store).get(collection, id)?)
    }

    /// Group commit: with `max_ops > 0`, [`Self::write`] (and `set`, `delete`) stamps the
    /// write and buffers it instead of applying it; the buffer is applied to the store as
    /// **one batch** (one [`Store::apply`], i.e. one redb transaction for a
    /// [`RedbStore`](crate::RedbStore)) and pushed to peers:
    ///
    /// - when it holds `max_ops` operations or more (inside that `write` call),
    /// - on [`Self::flush`], [`Self::get`] and [`Self::with_store`],
    /// - at the end of the burst: the first buffered write schedules a flush on the tokio
    ///   runtime, which runs once the writing task yields;
    /// - when the engine is dropped (errors ignored).
    ///
    /// **Durability:** a buffered write is in memory only. It is durable once a flush that
    /// includes it returned `Ok` (with a store that is durable per apply, e.g. a `RedbStore`
    /// with [`set_durable(true)`](crate::RedbStore::set_durable), the default); a crash
    /// before that loses it, never part of a flushed batch, since each flush is one atomic
    /// `apply`. A failed flush applies nothing and keeps the writes buffered (the next
    /// flush retries); the automatic flush's error is reported by the next `flush`, `get`
    /// or full-buffer `write`. `0` (the default) turns buffering off: every write is
    /// applied (and, per the store, durable) before `write` returns. Turning it off
    /// flushes.
    pub fn set_group_commit(&self, max_ops: usize) -> Result<(), SyncError> {
        self.shared
            .group_max
            .store(max_ops, std::sync::atomic::Ordering::Relaxed);
        if max_ops == 0 {
            self.shared.flush()?;
        }
        Ok(())
    }

    /// Applies the buffered writes now (see [`Self::set_group_commit`]): once this returns
    /// `Ok`, every write made before the call is in the store, and durable if the store's
    /// `apply` is.
    pub fn flush(&self) -> Result<(), SyncError> {
        Ok(self.shared.flush()?)
    }

    /// Applies `actions` to record `id` as one write (one stamp) and pushes it to peers.
    pub fn write(
        &self,
        collection: &str,
        id: &str,
        actions: Vec<Action>,
    ) -> Result<Stamp, SyncError> {
        if !valid_collection_name(collection) {
            return Err(SyncError::InvalidCollection);
        }
        let stamp = lock(&self.shared.clock).now(now_ms())?;
        let ops: Vec<Op> = actions
            .into_iter()
            .map(|action| Op {
                collection: collection.to_owned(),
                id: id.to_owned(),
                stamp,
                action,
            })
            .collect();
        let group_max = self
            .shared
            .group_max
            .load(std::sync::atomic::Ordering::Relaxed);
        if group_max > 0 {
            let (first, full) = {
                let mut pending = lock(&self.shared.pending);
                let first = pending.is_empty();
                pending.extend(ops);
                (first, pending.len() >= group_max)
            };
            if full {
                self.shared.flush()?;
            } else if first {
                if let Ok(handle) = tokio::runtime::Handle::try_current() {
                    let shared = Arc::clone(&self.shared);
                    handle.spawn(async move {
                        tokio::task::yield_now().await;
                        let _ = shared.flush();
                    });
                }
            }
            return Ok(stamp);
        }
        lock(&self.shared.store).apply(&ops)?;
        self.shared.committed(collection);
        Ok(stamp)
    }

    /// Sets one field.
    pub fn set(
        &self,
        collection: &str,
        id: &str,
        field: &str,
        value: serde_json::Value,
    ) -> Result<Stamp, SyncError> {
        let field = field.to_owned();
        self.write(collection, id, vec![Action::Set { field, value }])
    }

    /// Deletes a record.
    pub fn delete(&self, collection: &str, id: &str) -> Result<Stamp, SyncError> {
        self.write(collection, id, vec![Action::Delete])
    }
}

impl<S> Drop for SyncEngine<S> {
    fn drop(&mut self) {
        (self.flush_on_drop)();
        if let Some(run) = lock(&self.shared.running).take() {
            run.accept.abort();
            if let Some(t) = run.grace_timer {
                t.abort();
            }
            let _ = self.shared.notices.send(Notice::Shutdown);
        }
    }
}
