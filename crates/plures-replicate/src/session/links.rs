//! LINKS: what this side announces about its other live sessions (see the module docs of
//! `session`, "Relaying in a mesh").

use super::{Error, Session};
use crate::store::Store;
use crate::wire::{Link, Links, Message};

impl Session {
    /// The peer as a [`Link`] (its replica id and HELLO collection patterns), once its
    /// HELLO verified: what this replica announces to its other peers in LINKS.
    pub fn peer_link(&self) -> Option<Link> {
        self.peer.as_ref().map(|p| Link {
            replica: p.replica,
            collections: p.patterns.clone(),
        })
    }

    /// This replica's live links (every verified session, this one included: the peer's
    /// own entry is left out when sending). Announced to the peer in LINKS whenever they
    /// change, so that it stops relaying operations we get from their origin directly; when
    /// a link disappears the announcement carries our version vectors and the peer resumes
    /// relaying from them.
    pub fn set_links(&mut self, mut links: Vec<Link>) {
        links.sort_by_key(|l| l.replica);
        links.dedup_by(|a, b| a.replica == b.replica);
        self.links = links;
    }

    /// The LINKS message to send, if the announced links are out of date.
    pub(super) fn links_update<S: Store + ?Sized>(
        &mut self,
        store: &S,
    ) -> Result<Option<Message>, Error> {
        let Some(p) = self.peer.as_ref() else {
            return Ok(None);
        };
        let links: Vec<Link> = self
            .links
            .iter()
            .filter(|l| l.replica != p.replica)
            .cloned()
            .collect();
        let shrunk = match &p.links_sent {
            Some(sent) if *sent == links => return Ok(None),
            None if links.is_empty() => return Ok(None),
            Some(sent) => sent
                .iter()
                .any(|s| !links.iter().any(|l| l.replica == s.replica)),
            None => false,
        };
        let mut vectors = Vec::new();
        if shrunk {
            for c in store.collections()? {
                if self.shares(&c) {
                    let vv = store.version_vector(&c)?;
                    vectors.push((c, vv));
                }
            }
        }
        if let Some(p) = self.peer.as_mut() {
            p.links_sent = Some(links.clone());
        }
        Ok(Some(Message::Links(Links { links, vectors })))
    }
}
