//! Requests whose reply may come from a node other than the one asked: the last hop of a
//! relayed request (spec §6.3) answers the originator directly with
//! `reply(value, {to: originator})`, and the reference matches responses by tid only
//! (§3.5), so the originator's request completes with a response from that last hop.
//! [`Dht::request`] checks the source as well (only PING_NAT skips it); this variant
//! skips it.

use std::net::SocketAddrV4;
use std::time::Instant;

use super::{Ctx, Dht, RequestId};
use crate::command::Command;
use crate::error::Error;
use crate::id::NodeId;
use crate::io::SendOptions;
use crate::token::Token;

impl Dht {
    /// Sends one request like [`request`](Self::request), and accepts its reply from any
    /// address: a relayed reply (§6.3) comes from the node at the end of the relay chain,
    /// not from `to`. The [`Reply`](super::Reply) names the node that answered in `from`.
    pub fn request_relayed(
        &mut self,
        now: Instant,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
    ) -> Result<RequestId, Error> {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let opts = SendOptions {
            any_source: true,
            ..SendOptions::default()
        };
        self.send_request(now, to, command, target, value, token, Ctx::User(id), opts)?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddrV4;
    use std::time::Instant;

    use plures_compact::Encode;

    use crate::command::Command;
    use crate::io::Socket;
    use crate::node::{Config, Dht, Event, RequestId};
    use crate::wire::{Packet, Response};

    fn a(s: &str) -> SocketAddrV4 {
        s.parse().unwrap()
    }

    const ME: &str = "127.0.0.1:50000";
    /// The node asked (the relayer).
    const ASKED: &str = "127.0.0.1:50001";
    /// The last hop, which answers the originator directly.
    const LAST_HOP: &str = "127.0.0.1:50002";

    fn node(now: Instant) -> Dht {
        let mut node = Dht::new(Config::bootstrapper(a(ME), 7), now);
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
        node
    }

    /// The tid of the request `node` just sent to `to`.
    fn sent_tid(node: &mut Dht, to: SocketAddrV4) -> u16 {
        let t = node.poll_transmit().expect("the request goes out");
        assert_eq!(t.destination, to);
        match Packet::decode(&t.contents) {
            Ok(Packet::Request(r)) => r.tid,
            other => panic!("not a request: {other:?}"),
        }
    }

    /// Feeds a reply with `tid` and `value` from `from`; returns the request it completed.
    fn answer(node: &mut Dht, now: Instant, from: SocketAddrV4, tid: u16) -> Option<RequestId> {
        let mut r = Response::new(tid, a(ME));
        r.value = Some(b"from the last hop");
        let bytes = r.to_bytes().unwrap();
        let _ = node.handle_datagram(now, Socket::Server, from, &bytes);
        std::iter::from_fn(|| node.poll_event()).find_map(|e| match e {
            Event::Response { request, reply } => {
                assert_eq!(reply.from, from);
                assert_eq!(reply.value.as_deref(), Some(&b"from the last hop"[..]));
                Some(request)
            }
            _ => None,
        })
    }

    #[test]
    fn a_relayed_reply_completes_only_a_request_that_accepts_it() {
        let now = Instant::now();
        let mut node = node(now);
        let (asked, last_hop) = (a(ASKED), a(LAST_HOP));

        // `request`: a reply with the right tid from another address is not its reply.
        let plain = node
            .request(now, asked, Command::User(43), None, Some(b"x"), None)
            .unwrap();
        let tid = sent_tid(&mut node, asked);
        assert_eq!(answer(&mut node, now, last_hop, tid), None);
        assert_eq!(node.requests_in_flight(), 1);
        // From the address asked, it is.
        assert_eq!(answer(&mut node, now, asked, tid), Some(plain));

        // `request_relayed`: the last hop's reply completes it.
        let relayed = node
            .request_relayed(now, asked, Command::User(43), None, Some(b"x"), None)
            .unwrap();
        let tid = sent_tid(&mut node, asked);
        assert_eq!(answer(&mut node, now, last_hop, tid), Some(relayed));
        assert_eq!(node.requests_in_flight(), 0);
        // Once only: a second copy matches nothing.
        assert_eq!(answer(&mut node, now, asked, tid), None);
    }
}
