//! The thin tokio driver: pumps one [`Session`] over one stream.
//!
//! It makes no protocol decisions. It waits on the stream, on the engine's notices (commits,
//! key rotations, shutdown) and on the session's timeout; feeds the session; then drains
//! it: applies batches to the store (ACK follows), maps session events to [`SyncEvent`]s,
//! and hands frames to a writer task, so a slow peer never blocks reading (the writer's
//! queue is bounded by the peer's credit plus control messages).

use super::{DisconnectReason, Notice, Shared, SyncEvent, lock, now_ms};
use crate::clock::ReplicaId;
use crate::session::{self, BYE_NORMAL, Event, Session};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

use super::source::Connection;

struct Pump<'a, S> {
    shared: &'a Arc<Shared<S>>,
    tx: &'a mpsc::UnboundedSender<Vec<u8>>,
    peer: Option<ReplicaId>,
    bye: Option<u64>,
    /// The peer counted in the engine's live links.
    linked: Option<ReplicaId>,
}

impl<S: Store + Send + 'static> Pump<'_, S> {
    fn drain(&mut self, session: &mut Session) -> Result<(), session::Error> {
        loop {
            while let Some(batch) = session.poll_apply_packed() {
                lock(&self.shared.store).apply_packed(&batch)?;
                if let Some(max) = batch.ops.iter().map(|o| o.stamp.hlc).max() {
                    // The session already refused stamps beyond the drift limit.
                    let _ = lock(&self.shared.clock).update(max, now_ms());
                }
                self.shared.committed(&batch.collection);
                session.handle_applied(batch.seq);
            }
            while let Some(event) = session.poll_event() {
                if matches!(event, Event::Connected { .. }) && self.linked.is_none() {
                    if let Some(link) = session.peer_link() {
                        self.linked = Some(link.replica);
                        self.shared.link_up(link);
                    }
                }
                self.on_event(event);
            }
            let mut sent = false;
            {
                let store = lock(&self.shared.store);
                while let Some(frame) = session.poll_transmit(&*store)? {
                    let _ = self.tx.send(frame);
                    sent = true;
                }
            }
            if !sent {
                return Ok(());
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Connected { peer } => {
                self.peer = Some(peer);
                self.shared.emit(SyncEvent::PeerConnected { peer });
            }
            Event::SyncComplete { collections } => {
                if let Some(peer) = self.peer {
                    self.shared
                        .emit(SyncEvent::SyncComplete { peer, collections });
                }
            }
            Event::KeyRotated { epoch, key } => {
                let _ = self.shared.adopt_key(epoch, key);
            }
            Event::Closed { reason } => self.bye = Some(reason),
        }
    }
}

/// Runs one connection to its end.
pub(crate) async fn drive<S, T>(shared: Arc<Shared<S>>, conn: Connection<T>, cfg: session::Config)
where
    S: Store + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let mut notices = shared.notices.subscribe();
    let mut session = Session::new(cfg, &conn.handshake_hash, conn.role, now_ms());
    session.set_links(shared.links());
    let (mut rd, mut wr) = tokio::io::split(conn.stream);
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if wr.write_all(&frame).await.is_err() {
                return;
            }
            // A stream may keep written bytes until flushed (a secret-stream does): flush
            // whenever the queue runs dry, so the last frame never waits in a buffer.
            if rx.is_empty() && wr.flush().await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let mut pump = Pump {
        shared: &shared,
        tx: &tx,
        peer: None,
        bye: None,
        linked: None,
    };
    let mut buf = vec![0u8; 64 * 1024];
    let mut local_close = false;
    let reason = loop {
        if let Err(e) = pump.drain(&mut session) {
            break DisconnectReason::from(&e);
        }
        if session.is_closed() {
            break match pump.bye {
                Some(code) => DisconnectReason::PeerBye(code),
                None if local_close => DisconnectReason::LocalClose,
                None => DisconnectReason::Eof,
            };
        }
        let wait = session
            .poll_timeout()
            .map(|t| Duration::from_millis(t.saturating_sub(now_ms())));
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break DisconnectReason::Eof,
                Err(e) => break DisconnectReason::Io(e.kind()),
                Ok(n) => {
                    if let Err(e) = session.handle_input(now_ms(), &buf[..n]) {
                        let _ = pump.drain(&mut session);
                        break DisconnectReason::from(&e);
                    }
                }
            },
            n = notices.recv() => {
                // Coalesce: take every notice already queued, then drain the session once.
                let mut next = Some(n);
                while let Some(n) = next {
                    local_close |= on_notice(&shared, &mut session, n);
                    next = match notices.try_recv() {
                        Ok(n) => Some(Ok(n)),
                        Err(broadcast::error::TryRecvError::Lagged(k)) => {
                            Some(Err(broadcast::error::RecvError::Lagged(k)))
                        }
                        Err(_) => None,
                    };
                }
            }
            () = sleep(wait) => {
                if let Err(e) = session.handle_timeout(now_ms()) {
                    let _ = pump.drain(&mut session);
                    break DisconnectReason::from(&e);
                }
            }
        }
    };
    let peer = pump.peer;
    if let Some(r) = pump.linked {
        shared.link_down(r);
    }
    drop(tx);
    let _ = writer.await;
    shared.emit(match peer {
        Some(peer) => SyncEvent::PeerDisconnected { peer, reason },
        None => SyncEvent::PeerRejected { reason },
    });
}

/// Feeds one engine notice to the session; returns whether it closed the session locally.
fn on_notice<S: Store + Send + 'static>(
    shared: &Shared<S>,
    session: &mut Session,
    n: Result<Notice, broadcast::error::RecvError>,
) -> bool {
    match n {
        Ok(Notice::Changed(c)) => session.handle_local_write(&c),
        Ok(Notice::Links) => session.set_links(shared.links()),
        Ok(Notice::Rotate { epoch, key }) => session.rotate_key(epoch, &key),
        Ok(Notice::Shutdown) | Err(broadcast::error::RecvError::Closed) => {
            session.close(BYE_NORMAL);
            return true;
        }
        Err(broadcast::error::RecvError::Lagged(_)) => {
            session.set_links(shared.links());
            let all = lock(&shared.store).collections().unwrap_or_default();
            for c in all {
                session.handle_local_write(&c);
            }
        }
    }
    false
}

async fn sleep(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
