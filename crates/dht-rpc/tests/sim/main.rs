//! Simulated networks of `Dht` cores on `plures-sim`: convergence, loss, churn, scale, and
//! hostile input.

mod adapter;
mod convergence;
mod firewall;
mod hostile;
mod power;
