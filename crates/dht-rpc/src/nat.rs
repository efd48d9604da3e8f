//! NAT sampling (`nat-sampler` 1.0.1, spec §12.1): estimates the node's public host and
//! port from the `to` addresses peers report.
//!
//! Memory is bounded: the ring holds at most 32 entries (16 `add`s, each a full sample and a
//! host-only sample), and the sample objects they point at are compacted once more than 96
//! exist.

use std::net::Ipv4Addr;

/// Entries in the sample ring.
pub const NAT_SAMPLES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sample {
    host: Ipv4Addr,
    port: u16,
    hits: i64,
}

/// The public address estimate built from observed `(host, port)` pairs.
#[derive(Debug, Clone, Default)]
pub struct NatSampler {
    /// Sample objects; the ring and `a`/`b` refer to them by index (the reference shares one
    /// object between ring slots when a sample repeats).
    objects: Vec<Sample>,
    ring: Vec<usize>,
    top: usize,
    size: usize,
    threshold: usize,
    a: Option<usize>,
    b: Option<usize>,
    host: Option<Ipv4Addr>,
    port: u16,
}

impl NatSampler {
    /// An empty sampler.
    pub fn new() -> Self {
        Self::default()
    }

    /// The estimated public host, if any.
    pub fn host(&self) -> Option<Ipv4Addr> {
        self.host
    }

    /// The estimated public port; 0 when unknown or inconsistent ("randomized" NAT).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Number of `add` calls remembered (at most 16).
    pub fn size(&self) -> usize {
        self.size
    }

    /// Adds one observation and returns whether the estimate `(host, port)` changed.
    pub fn add(&mut self, host: Ipv4Addr, port: u16) -> bool {
        let before = (self.host, self.port);
        let sa = self.bump(host, port, 2);
        let sb = self.bump(host, 0, 1);
        if self.ring.len() < NAT_SAMPLES {
            self.size += 1;
            let slack = match self.size {
                0..4 => 0,
                4..8 => 1,
                8..12 => 2,
                _ => 3,
            };
            self.threshold = self.size - slack;
            self.ring.push(sa);
            self.ring.push(sb);
            self.top += 2;
        } else {
            if self.top == NAT_SAMPLES {
                self.top = 0;
            }
            for s in [sa, sb] {
                let old = self.ring[self.top];
                self.objects[old].hits -= 1;
                self.ring[self.top] = s;
                self.top += 1;
            }
        }
        let hits = |i: Option<usize>, objects: &[Sample]| i.map_or(i64::MIN, |i| objects[i].hits);
        if hits(self.a, &self.objects) < self.objects[sa].hits {
            self.a = Some(sa);
        }
        if hits(self.b, &self.objects) < self.objects[sb].hits {
            self.b = Some(sb);
        }
        let threshold = self.threshold as i64;
        let (a, b) = (
            self.a.map(|i| self.objects[i]),
            self.b.map(|i| self.objects[i]),
        );
        match (a, b) {
            (Some(a), _) if a.hits >= threshold => (self.host, self.port) = (Some(a.host), a.port),
            (_, Some(b)) if b.hits >= threshold => (self.host, self.port) = (Some(b.host), 0),
            _ => (self.host, self.port) = (None, 0),
        }
        self.compact();
        before != (self.host, self.port)
    }

    /// Finds the sample among the last four of the same kind and bumps it, or makes a new one.
    fn bump(&mut self, host: Ipv4Addr, port: u16, inc: usize) -> usize {
        let n = NAT_SAMPLES as isize;
        for i in 0..4isize {
            let j = (self.top as isize - inc as isize - 2 * i).rem_euclid(n) as usize;
            let Some(&idx) = self.ring.get(j) else { break };
            let s = &mut self.objects[idx];
            if s.host == host && s.port == port {
                s.hits += 1;
                return idx;
            }
        }
        self.objects.push(Sample {
            host,
            port,
            hits: 1,
        });
        self.objects.len() - 1
    }

    /// Drops sample objects nothing refers to any more.
    fn compact(&mut self) {
        if self.objects.len() <= 3 * NAT_SAMPLES {
            return;
        }
        let mut map = vec![usize::MAX; self.objects.len()];
        let mut kept = Vec::with_capacity(NAT_SAMPLES + 2);
        let mut remap = |i: usize, kept: &mut Vec<Sample>, objects: &[Sample]| {
            if map[i] == usize::MAX {
                map[i] = kept.len();
                kept.push(objects[i]);
            }
            map[i]
        };
        for slot in 0..self.ring.len() {
            self.ring[slot] = remap(self.ring[slot], &mut kept, &self.objects);
        }
        self.a = self.a.map(|i| remap(i, &mut kept, &self.objects));
        self.b = self.b.map(|i| remap(i, &mut kept, &self.objects));
        self.objects = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(inputs: &[(u8, u16)]) -> Vec<String> {
        let mut s = NatSampler::new();
        inputs
            .iter()
            .map(|&(h, p)| {
                s.add(Ipv4Addr::new(h, h, h, h), p);
                match s.host() {
                    None => format!("null:{}", s.port()),
                    Some(host) => format!(
                        "{}:{}",
                        if host.octets()[0] == 1 { "A" } else { "B" },
                        s.port()
                    ),
                }
            })
            .collect()
    }

    #[test]
    fn spec_vectors() {
        let a = 1;
        let b = 2;
        assert_eq!(run(&[(a, 10)]), ["A:10"]);
        assert_eq!(run(&[(a, 10), (a, 10)]), ["A:10", "A:10"]);
        assert_eq!(run(&[(a, 10), (a, 11)]), ["A:10", "A:0"]);
        assert_eq!(run(&[(a, 10), (a, 11), (a, 12)]), ["A:10", "A:0", "A:0"]);
        assert_eq!(
            run(&[(a, 10), (a, 10), (a, 11), (a, 10), (a, 12)]),
            ["A:10", "A:10", "A:0", "A:10", "A:0"]
        );
        assert_eq!(
            run(&[(a, 10), (b, 10), (a, 10), (b, 10)]),
            ["A:10", "null:0", "null:0", "null:0"]
        );
        let mut input = vec![(a, 10); 5];
        input.extend([(a, 11), (a, 12), (a, 13), (a, 14)]);
        let mut want = vec!["A:10"; 6];
        want.extend(["A:0"; 3]);
        assert_eq!(run(&input), want);
        let mut input = vec![(a, 10); 20];
        input.push((a, 11));
        assert_eq!(run(&input), vec!["A:10"; 21]);
    }

    #[test]
    fn bounded() {
        let mut s = NatSampler::new();
        for i in 0..10_000u32 {
            s.add(Ipv4Addr::from(i % 7), (i % 13) as u16);
            assert!(s.objects.len() <= 3 * NAT_SAMPLES + 2);
            assert!(s.ring.len() <= NAT_SAMPLES);
        }
    }
}
