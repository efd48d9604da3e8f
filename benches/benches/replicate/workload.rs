//! The seeded workload every system runs, and the measurement helpers.

use std::time::Duration;

pub(crate) const COLL: &str = "records";
pub(crate) const FIELDS: [&str; 3] = ["title", "done", "rank"];

/// SplitMix64: a small deterministic generator for the workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One update: set field `field` of record `rec` to `value`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Update {
    pub(crate) rec: u32,
    pub(crate) field: u8,
    pub(crate) value: u8,
}

pub(crate) fn updates(seed: u64, n: usize, records: usize) -> Vec<Update> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let r = rng.next();
            Update {
                rec: (r % records as u64) as u32,
                field: ((r >> 32) % 3) as u8,
                value: ((r >> 40) % 100) as u8,
            }
        })
        .collect()
}

pub(crate) fn initial_value(rec: usize, field: usize) -> i64 {
    ((rec * 3 + field) % 100) as i64
}

pub(crate) fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r{i}")).collect()
}

/// Peak resident set of this process in MB, from `/proc/self/status`.
pub(crate) fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

pub(crate) fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

pub(crate) struct Written {
    pub(crate) load_wps: f64,
    pub(crate) update_wps: f64,
}
