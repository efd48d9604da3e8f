//! Tests of the endpoint: byte-exact scripts against the recorded vectors, simulated
//! transfers over a small lossy link, and a proptest for arbitrary datagrams.

mod harness;
mod prop;
mod script;
mod sim;
