//! Driving queries: starting them, sending their visits and commits, and finishing them
//! (spec §10).

use std::net::SocketAddrV4;
use std::time::Instant;

use super::query::{Owner, Phase, Query, Visit};
use super::{Ctx, DOWN_HINTS_RATE_LIMIT, Dht, Event, QueryError, QueryId, REFRESH_TICKS, Reply};
use crate::command::Command;
use crate::error::Error;
use crate::id::NodeId;
use crate::io::{QUERY_RETRIES, SendOptions};
use crate::node::MAX_QUERIES;
use crate::token::Token;

impl Dht {
    /// Starts an iterative query toward `target` sending `command`/`value` to every node
    /// visited; successful replies stream as [`Event::QueryReply`], the end is
    /// [`Event::QueryDone`]. With `commit`, the command is sent again with each closest
    /// node's token once the lookup converged.
    pub fn query(
        &mut self,
        now: Instant,
        target: NodeId,
        command: Command,
        value: Option<&[u8]>,
        commit: bool,
    ) -> Result<QueryId, Error> {
        self.start_query(
            now,
            Owner::User,
            target,
            command,
            value.map(<[u8]>::to_vec),
            commit,
            &[],
        )
    }

    /// A FIND_NODE query for `target`.
    pub fn find_node(&mut self, now: Instant, target: NodeId) -> Result<QueryId, Error> {
        self.query(now, target, Command::FindNode, None, false)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_query(
        &mut self,
        now: Instant,
        owner: Owner,
        target: NodeId,
        command: Command,
        value: Option<Vec<u8>>,
        commit: bool,
        seeds: &[SocketAddrV4],
    ) -> Result<QueryId, Error> {
        self.check_active()?;
        if self.queries.len() >= MAX_QUERIES {
            return Err(Error::Busy);
        }
        self.next_query += 1;
        let qid = QueryId(self.next_query);
        self.refresh_countdown = REFRESH_TICKS;
        let background = owner != Owner::User;
        let mut q = Query::new(
            owner,
            self.table.id(),
            target,
            command,
            value,
            commit,
            self.config.concurrency,
            background,
        );
        q.open(seeds, &self.table, &self.config.bootstrap);
        self.queries.insert(qid, q);
        self.drive_query(now, qid);
        Ok(qid)
    }

    pub(super) fn drive_query(&mut self, now: Instant, qid: QueryId) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        if q.phase != Phase::Lookup {
            return;
        }
        let next = q.read_more(&self.table, &self.config.bootstrap);
        let (command, target) = (q.command, q.target);
        let value = q.value.clone();
        for Visit { addr, hops, .. } in next.visits {
            let ctx = Ctx::Query {
                query: qid,
                hops,
                commit: false,
            };
            let opts = SendOptions {
                retries: QUERY_RETRIES,
                ..SendOptions::default()
            };
            if self
                .send_request(
                    now,
                    addr,
                    command,
                    Some(target),
                    value.as_deref(),
                    None,
                    ctx,
                    opts,
                )
                .is_err()
            {
                if let Some(q) = self.queries.get_mut(&qid) {
                    q.on_failure(addr, false);
                }
            }
        }
        if next.finished {
            self.finish_lookup(now, qid);
        }
    }

    pub(super) fn finish_lookup(&mut self, now: Instant, qid: QueryId) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        if !q.commit {
            self.complete_query(now, qid, None);
            return;
        }
        let commits: Vec<(SocketAddrV4, Option<Token>)> =
            q.closest_replies().map(|r| (r.from, r.token)).collect();
        let (command, target, value) = (q.command, q.target, q.value.clone());
        if commits.is_empty() {
            self.complete_query(now, qid, Some(QueryError::TooFewNodes));
            return;
        }
        q.phase = Phase::Commit {
            pending: commits.len(),
            ok: 0,
        };
        for (addr, token) in commits {
            let ctx = Ctx::Query {
                query: qid,
                hops: 0,
                commit: true,
            };
            let sent = token.is_some()
                && self
                    .send_request(
                        now,
                        addr,
                        command,
                        Some(target),
                        value.as_deref(),
                        token,
                        ctx,
                        SendOptions::default(),
                    )
                    .is_ok();
            if !sent {
                self.commit_settled(now, qid, false);
            }
        }
    }

    pub(super) fn commit_settled(&mut self, now: Instant, qid: QueryId, ok: bool) {
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        let Phase::Commit { pending, ok: oks } = &mut q.phase else {
            return;
        };
        *pending -= 1;
        if ok {
            *oks += 1;
            q.stats.commits += 1;
        }
        if *pending == 0 {
            let error = (*oks == 0).then_some(QueryError::CommitFailed);
            self.complete_query(now, qid, error);
        }
    }

    pub(super) fn complete_query(&mut self, now: Instant, qid: QueryId, error: Option<QueryError>) {
        let Some(q) = self.queries.remove(&qid) else {
            return;
        };
        match q.owner {
            Owner::User => {
                let (closest, stats) = q.result();
                self.push_event(Event::QueryDone {
                    query: qid,
                    closest,
                    stats,
                    error,
                });
            }
            Owner::Bootstrap(iteration) => self.bootstrap_done(now, iteration),
            Owner::Refresh => {}
        }
    }

    pub(super) fn on_query_reply(
        &mut self,
        now: Instant,
        qid: QueryId,
        hops: u32,
        commit: bool,
        reply: Reply,
    ) {
        if commit {
            self.commit_settled(now, qid, reply.error == 0);
            return;
        }
        let few_in_flight = self.io.len() < 3;
        let Some(q) = self.queries.get_mut(&qid) else {
            return;
        };
        if q.phase != Phase::Lookup {
            return;
        }
        if q.owner != Owner::User && few_in_flight {
            q.raise_concurrency();
        }
        let quick = q.owner == Owner::Bootstrap(1);
        let hints = q.on_reply(&reply, hops);
        let emit = q.owner == Owner::User && reply.error == 0;
        if quick {
            self.quick_firewall(now, qid, reply.from);
        }
        self.send_down_hints(now, hints);
        if emit {
            self.push_event(Event::QueryReply { query: qid, reply });
        }
        self.drive_query(now, qid);
    }

    pub(super) fn send_down_hints(
        &mut self,
        now: Instant,
        hints: Vec<(SocketAddrV4, SocketAddrV4)>,
    ) {
        if !self.config.down_hints {
            return;
        }
        for (to, about) in hints {
            if self.down_hints_sent >= DOWN_HINTS_RATE_LIMIT {
                return;
            }
            self.down_hints_sent += 1;
            let mut value = [0u8; 6];
            value[..4].copy_from_slice(&about.ip().octets());
            value[4..].copy_from_slice(&about.port().to_le_bytes());
            let _ = self.send_request(
                now,
                to,
                Command::DownHint,
                None,
                Some(&value),
                None,
                Ctx::DownHint,
                SendOptions::default(),
            );
        }
    }
}
