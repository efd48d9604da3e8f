//! A Kademlia RPC node that a JavaScript `dht-rpc` 6.27.0 network accepts as one of its own
//! (see `shared/spec/dht-rpc.md`).
//!
//! This crate will hold the request/response packet codec, node ids, the XOR routing table,
//! tokens, the request tracker with retries and congestion window, the iterative query
//! engine, NAT sampling, and a thin tokio driver, all with a sans-IO core.
//!
//! Nothing is implemented yet; the work is tracked in issue 6.
#![forbid(unsafe_code)]
