//! Integration tests of the simulator, all in virtual time.

mod basics;
mod hosts;
mod impairments;
mod nat;
mod props;
