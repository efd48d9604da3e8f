//! The hyperdht suites, checked with `plures-hyperdht`:
//!
//! * `hyperdht-messages`: an encode vector's input must encode to its `hex`, which must
//!   decode to the reference's `decoded`; a decode vector's `input.hex` must decode to
//!   `decoded` and re-encode to bytes that decode the same.
//! * `hashes-and-signatures`: namespaces, key pairs, hashes, targets, discovery keys,
//!   announce / unannounce / mutable signables, signatures and announce values. A vector
//!   that records no secret key (the unannounce ones) passes when the recorded signature
//!   verifies under its public key over the signable computed here; the crate's own tests
//!   also re-sign those with the key of the matching announce vector.
//! * `hyperdht-secure-payload`: the encoded payload, the sealed box with the recorded
//!   nonce, its decryption, refusal of tampered and short boxes, and the holepunch token.
//!
//! The checks themselves live in `hyperdht/js.rs`, shared word for word with
//! `crates/hyperdht/tests/common/js.rs`.

mod js;

use crate::model::Vector;
use crate::report::Outcome;

fn case(v: &Vector) -> js::Case<'_> {
    js::Case {
        func: &v.func,
        input: &v.input,
        hex: v.hex.as_deref(),
        output: v.output.as_ref(),
        decoded: v.decoded.as_ref(),
        known_keys: &[],
    }
}

fn outcome(result: Result<(), String>) -> Outcome {
    match result {
        Ok(()) => Outcome::Pass,
        Err(why) if why.starts_with("unknown function") => Outcome::Unsupported(why),
        Err(why) => Outcome::Fail(why),
    }
}

/// Runs one vector of `hyperdht-messages`.
pub(crate) fn run_messages(v: &Vector) -> Outcome {
    outcome(js::check_message(&case(v)))
}

/// Runs one vector of `hashes-and-signatures`.
pub(crate) fn run_hashes(v: &Vector) -> Outcome {
    outcome(js::check_hash(&case(v)))
}

/// Runs one vector of `hyperdht-secure-payload`.
pub(crate) fn run_secure_payload(v: &Vector) -> Outcome {
    outcome(js::check_secure_payload(&case(v)))
}
