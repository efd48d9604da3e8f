//! The hasher of the stores' in-memory maps.
//!
//! Record ids (and field names) come from the network, so a map keyed by them must not let
//! a peer pick keys that collide: std's SipHash is keyed for that reason, but on the short
//! ids of a replicated collection it was a tenth of the receiver's instructions. [`Keyed`]
//! is foldhash (a fast non-cryptographic hash) keyed with a shared seed drawn once per
//! process from std's `RandomState` (whose keys come from the operating system's random
//! source) and a per-map seed from the same source, so a peer that does not know the seed
//! cannot aim its ids at one bucket. The chunk maps of `RedbStore` are keyed by locally
//! assigned numbers and use the same hasher for simplicity.

use foldhash::SharedSeed;
use foldhash::fast::{FoldHasher, SeedableRandomState};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::OnceLock;

/// A `HashMap` with the [`Keyed`] hasher.
pub(crate) type Map<K, V> = HashMap<K, V, Keyed>;

/// A random `u64` from std's keyed SipHash (`RandomState` draws its keys from the OS).
fn random_u64(salt: u64) -> u64 {
    std::collections::hash_map::RandomState::new().hash_one(salt)
}

/// foldhash with a random per-process shared seed and a random per-map seed.
#[derive(Clone, Debug)]
pub(crate) struct Keyed(SeedableRandomState);

impl Default for Keyed {
    fn default() -> Self {
        static SHARED: OnceLock<SharedSeed> = OnceLock::new();
        let shared = SHARED.get_or_init(|| SharedSeed::from_u64(random_u64(0x7265_706c)));
        Self(SeedableRandomState::with_seed(random_u64(1), shared))
    }
}

impl BuildHasher for Keyed {
    type Hasher = FoldHasher<'static>;

    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}
