//! The `hyperdht_storage` fuzz target: see `plures_fuzz::hyperdht_storage`. Built by
//! `cargo fuzz` (`--cfg fuzzing`) this is a libFuzzer binary; built plainly it replays the
//! files and directories given as arguments, to reproduce a crash without cargo-fuzz.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| plures_fuzz::hyperdht_storage::run(data));

#[cfg(not(fuzzing))]
fn main() {
    plures_fuzz::replay_main("hyperdht_storage");
}
