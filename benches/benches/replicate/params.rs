//! The workload size and seed, from the environment.

#[derive(Clone, Debug)]
pub(crate) struct Params {
    pub(crate) records: usize,
    pub(crate) updates: usize,
    pub(crate) concurrent: usize,
    pub(crate) chunk: usize,
    pub(crate) durable_updates: usize,
    /// plures-redb: writes per group commit (`SyncEngine::set_group_commit`), 0 = one
    /// redb transaction per write.
    pub(crate) group: usize,
    pub(crate) seed: u64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

impl Params {
    pub(crate) fn from_env() -> Self {
        Self {
            records: env_usize("REPLICATE_RECORDS", 100_000),
            updates: env_usize("REPLICATE_UPDATES", 1_000_000),
            concurrent: env_usize("REPLICATE_CONCURRENT", 100_000),
            chunk: env_usize("REPLICATE_CHUNK", 1_000).max(1),
            durable_updates: env_usize("REPLICATE_DURABLE_UPDATES", 2_000),
            group: env_usize("REPLICATE_GROUP_COMMIT", 1_000),
            seed: env_usize("REPLICATE_SEED", 1) as u64,
        }
    }
}
