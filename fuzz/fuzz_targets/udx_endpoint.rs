//! The `udx_endpoint` fuzz target: see `plures_fuzz::udx_endpoint`. Built by `cargo fuzz` (`--cfg fuzzing`)
//! this is a libFuzzer binary; built plainly it replays the files and directories given as
//! arguments, to reproduce a crash without cargo-fuzz.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| plures_fuzz::udx_endpoint::run(data));

#[cfg(not(fuzzing))]
fn main() {
    plures_fuzz::replay_main("udx_endpoint");
}
