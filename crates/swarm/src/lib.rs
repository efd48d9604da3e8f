//! Hyperswarm on top of `plures-hyperdht`, behaving like `hyperswarm` 4.17.2 (see
//! `shared/spec/hyperswarm.md`).
//!
//! This crate will hold topic join/leave sessions and refresh, peer records and priorities,
//! dial limits, the duplicate-connection rule, back-off, bans, flush and explicit peers.
//!
//! Nothing is implemented yet.
#![forbid(unsafe_code)]
