//! Section 4: totality on random and adversarial input, each decoder in a child process.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// 4. Totality
// ---------------------------------------------------------------------------------------

pub(super) type DecodeFn = fn(&[u8]) -> bool;

pub(super) fn dd<T: CompactEncoding<D>, D>(b: &[u8]) -> bool {
    T::decode(b).is_ok()
}

/// Every decoder of the datrs crate, by the type it decodes.
pub(super) const DATRS: &[(&str, DecodeFn)] = &[
    ("u8", dd::<u8, u8>),
    ("u16", dd::<u16, u16>),
    ("u32 (varint)", dd::<u32, u32>),
    ("u64 (varint)", dd::<u64, u64>),
    ("usize (varint)", dd::<usize, usize>),
    ("FixedWidthU32", |b| FixedWidthU32::decode(b).is_ok()),
    ("FixedWidthU64", |b| FixedWidthU64::decode(b).is_ok()),
    ("String", dd::<String, String>),
    ("Vec<u8>", dd::<Vec<u8>, Vec<u8>>),
    ("Box<[u8]>", dd::<Box<[u8]>, Box<[u8]>>),
    ("[u8; 32]", dd::<[u8; 32], [u8; 32]>),
    ("[u8; 64]", dd::<[u8; 64], [u8; 64]>),
    ("Ipv4Addr", dd::<Ipv4Addr, Ipv4Addr>),
    ("Ipv6Addr", dd::<Ipv6Addr, Ipv6Addr>),
    ("SocketAddrV4", dd::<SocketAddrV4, SocketAddrV4>),
    ("SocketAddrV6", dd::<SocketAddrV6, SocketAddrV6>),
    ("Vec<u32>", dd::<Vec<u32>, Vec<u32>>),
    ("Vec<[u8; 32]>", dd::<Vec<[u8; 32]>, Vec<[u8; 32]>>),
    (
        "Vec<SocketAddrV4>",
        dd::<Vec<SocketAddrV4>, Vec<SocketAddrV4>>,
    ),
    (
        "Vec<SocketAddrV6>",
        dd::<Vec<SocketAddrV6>, Vec<SocketAddrV6>>,
    ),
    ("Vec<String>", dd::<Vec<String>, Vec<String>>),
    ("Vec<Vec<u8>>", dd::<Vec<Vec<u8>>, Vec<Vec<u8>>>),
];

/// The plures-compact decoders.
pub(super) const OURS: &[(&str, DecodeFn)] = &[
    ("uint", |b| Decoder::new(b).uint().is_ok()),
    ("int", |b| Decoder::new(b).int().is_ok()),
    ("uint8", |b| Decoder::new(b).u8().is_ok()),
    ("uint16", |b| Decoder::new(b).u16().is_ok()),
    ("uint24", |b| Decoder::new(b).u24().is_ok()),
    ("uint32", |b| Decoder::new(b).u32().is_ok()),
    ("uint64", |b| Decoder::new(b).u64().is_ok()),
    ("uint64be", |b| Decoder::new(b).uint_be(8).is_ok()),
    ("bool", |b| Decoder::new(b).bool().is_ok()),
    ("buffer", |b| Decoder::new(b).buffer().is_ok()),
    ("optionalBuffer", |b| {
        Decoder::new(b).optional_buffer().is_ok()
    }),
    ("string", |b| Decoder::new(b).string().is_ok()),
    ("fixed32", |b| Decoder::new(b).fixed::<32>().is_ok()),
    ("fixed64", |b| Decoder::new(b).fixed::<64>().is_ok()),
    ("ipv4Address", |b| Decoder::new(b).ipv4_address().is_ok()),
    ("ipv6Address", |b| Decoder::new(b).ipv6_address().is_ok()),
    ("ipAddress", |b| Decoder::new(b).ip_address().is_ok()),
    ("array(uint)", |b| {
        Decoder::new(b).array(Decoder::uint).is_ok()
    }),
    ("array(fixed32)", |b| {
        Decoder::new(b).array(Decoder::fixed::<32>).is_ok()
    }),
    ("array(ipv4Address)", |b| {
        Decoder::new(b).array(Decoder::ipv4_address).is_ok()
    }),
    ("array(ipv6Address)", |b| {
        Decoder::new(b).array(Decoder::ipv6_address).is_ok()
    }),
    ("array(string)", |b| {
        Decoder::new(b).array(Decoder::string).is_ok()
    }),
    ("array(buffer)", |b| {
        Decoder::new(b).array(Decoder::buffer).is_ok()
    }),
    ("frame(string)", |b| {
        Decoder::new(b).frame(Decoder::string).is_ok()
    }),
    ("bitfield(7)", |b| Decoder::new(b).bitfield(7).is_ok()),
    ("bitfield(64)", |b| Decoder::new(b).bitfield(64).is_ok()),
];

pub(super) const N_UNIFORM: usize = 2048;
pub(super) const N_PREFIXED: usize = 1024;
pub(super) const SEED: u64 = 0x5eed_c0de_2026_0001;

/// The adversarial inputs: name, hex prefix, number of zero bytes appended.
pub(super) const ADVERSARIAL: &[(&str, &str, usize)] = &[
    ("empty input", "", 0),
    ("fd01 (truncated varint)", "fd01", 0),
    ("ff (truncated varint)", "ff", 0),
    ("uint 2^53 (ff0000000000002000)", "ff0000000000002000", 0),
    (
        "9-byte form of 1 (ff0100000000000000)",
        "ff0100000000000000",
        0,
    ),
    ("len/count 2^31-1 (feffffff7f)", "feffffff7f", 0),
    (
        "len/count 2^32 (ff0000000001000000)",
        "ff0000000001000000",
        0,
    ),
    (
        "len/count 2^53-1 (ffffffffffffff1f00)",
        "ffffffffffffff1f00",
        0,
    ),
    (
        "len/count 2^64-1 (ffffffffffffffffff)",
        "ffffffffffffffffff",
        0,
    ),
    ("count 2^31-1 + 1 KiB zeros", "feffffff7f", 1024),
    ("count 2^32 + 1 KiB zeros", "ff0000000001000000", 1024),
    (
        "count 0x100000 (the limit) + 1 MiB zeros",
        "fe00001000",
        1 << 20,
    ),
    (
        "count 0x100001 + 32 MiB zeros",
        "fe01001000",
        0x10_0001 * 32,
    ),
    ("invalid UTF-8 (02ff41)", "02ff41", 0),
];

/// xorshift64* seeded through splitmix64, one stream per corpus index.
pub(super) struct Rng(u64);

impl Rng {
    fn new(i: u64) -> Self {
        let mut z = SEED.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

pub(super) fn corpus_len() -> usize {
    ADVERSARIAL.len() + N_UNIFORM + N_PREFIXED
}

/// Input `i` of the totality corpus: the adversarial inputs, then `N_UNIFORM` uniformly
/// random byte strings of 0..64 bytes, then `N_PREFIXED` that start with a varint prefix
/// byte (fd, fe, ff) so that lengths and counts are large.
pub(super) fn corpus_item(i: usize) -> (String, Vec<u8>) {
    if let Some(&(name, prefix, zeros)) = ADVERSARIAL.get(i) {
        let mut b = unhex(prefix);
        b.resize(b.len() + zeros, 0);
        return (name.to_owned(), b);
    }
    let j = i - ADVERSARIAL.len();
    let mut rng = Rng::new(i as u64);
    let len = (rng.next() % 64) as usize;
    let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if j >= N_UNIFORM {
        let prefix = [0xfd, 0xfe, 0xff][(rng.next() % 3) as usize];
        b.insert(0, prefix);
        (format!("prefixed random #{}", j - N_UNIFORM), b)
    } else {
        (format!("random #{j}"), b)
    }
}

pub(super) fn decoder(imp: &str, idx: usize) -> (&'static str, DecodeFn) {
    if imp == "datrs" {
        DATRS[idx]
    } else {
        OURS[idx]
    }
}

/// Child mode: decode corpus inputs from `start` with one decoder, one line per input:
/// `index outcome bytes_allocated`. Flushes each line, so the parent knows where an abort hit.
pub(super) fn child(imp: &str, idx: usize, start: usize) {
    std::panic::set_hook(Box::new(|_| {}));
    let (_, f) = decoder(imp, idx);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in start..corpus_len() {
        let (_, bytes) = corpus_item(i);
        let (r, extra) = measure(|| catch_unwind(AssertUnwindSafe(|| f(&bytes))));
        let (outcome, message) = match r {
            Ok(true) => ("ok", String::new()),
            Ok(false) => ("err", String::new()),
            Err(payload) => (
                "panic",
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default(),
            ),
        };
        writeln!(out, "{i} {outcome} {extra} {message}").expect("stdout");
        out.flush().expect("flush");
    }
}

#[derive(Default)]
pub(super) struct Totality {
    ok: usize,
    err: usize,
    panic: usize,
    abort: usize,
    /// Largest allocation during one decode, and the input.
    max_alloc: (usize, String),
    /// Largest allocation request that failed (from the abort message).
    max_failed: usize,
    /// Inputs whose decode allocated more than 4 KiB beyond the input's own length.
    amplified: usize,
    /// Error results that allocated.
    alloc_errors: usize,
    notable: Vec<String>,
    /// The distinct panic messages.
    panic_messages: Vec<String>,
}

pub(super) fn run_decoder(imp: &str, idx: usize) -> Totality {
    let exe = std::env::current_exe().expect("current_exe");
    let n = corpus_len();
    let (names, lens): (Vec<String>, Vec<usize>) = (0..n)
        .map(|i| {
            let (name, b) = corpus_item(i);
            (name, b.len())
        })
        .unzip();
    let mut t = Totality::default();
    let mut start = 0;
    while start < n {
        let output = Command::new(&exe)
            .args(["--child", imp, &idx.to_string(), &start.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("spawn child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut next = start;
        for line in stdout.lines() {
            let mut it = line.splitn(4, ' ');
            let (Some(i), Some(outcome), Some(extra)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let message = it.next().unwrap_or_default();
            let (i, extra): (usize, usize) = (i.parse().expect("i"), extra.parse().expect("n"));
            next = i + 1;
            match outcome {
                "ok" => t.ok += 1,
                "err" => {
                    t.err += 1;
                    if extra > 0 {
                        t.alloc_errors += 1;
                    }
                }
                _ => {
                    t.panic += 1;
                    if !t.panic_messages.iter().any(|m| m == message) {
                        t.panic_messages.push(message.to_owned());
                    }
                    if i < ADVERSARIAL.len() {
                        t.notable.push(format!(
                            "{} ({} bytes): panic \"{message}\" after allocating {extra} bytes",
                            names[i], lens[i]
                        ));
                    }
                }
            }
            if extra > t.max_alloc.0 {
                t.max_alloc = (extra, names[i].clone());
            }
            if extra > lens[i] + 4096 {
                t.amplified += 1;
                if i < ADVERSARIAL.len() {
                    t.notable.push(format!(
                        "{} ({} bytes): {outcome} after allocating {extra} bytes",
                        names[i], lens[i]
                    ));
                }
            }
        }
        if output.status.success() {
            break;
        }
        // The child died on input `next`: an abort (failed allocation) or a crash.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let failed = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("memory allocation of "))
            .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
            .next_back();
        t.abort += 1;
        if let Some(f) = failed {
            t.max_failed = t.max_failed.max(f);
        }
        if next < n && next < ADVERSARIAL.len() {
            t.notable.push(format!(
                "{} ({} bytes): process ABORTED (signal {:?}){}",
                names[next],
                lens[next],
                output.status.signal(),
                failed.map_or(String::new(), |f| format!(", failed to allocate {f} bytes")),
            ));
        }
        start = next + 1;
    }
    t
}

pub(super) fn section_totality() -> (usize, usize) {
    println!(
        "## 4. Totality: {} adversarial + {N_UNIFORM} random + {N_PREFIXED} varint-prefixed random inputs (seed {SEED:#x}) per decoder\n",
        ADVERSARIAL.len()
    );
    println!(
        "Each decode runs in catch_unwind in a child process; ABORT = the child was killed by a failed allocation (uncatchable)."
    );
    println!(
        "'> input+4KiB' counts decodes that allocated more than 4 KiB beyond their input's length.\n"
    );
    println!(
        "| crate | decoder | ok | err | panic (message) | ABORT | > input+4KiB | errors that allocate | max allocated by one decode | largest failed request |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut notable = Vec::new();
    let (mut bad_datrs, mut bad_ours) = (0, 0);
    for (imp, list) in [("datrs", DATRS), ("ours", OURS)] {
        for (idx, (name, _)) in list.iter().enumerate() {
            let t = run_decoder(imp, idx);
            println!(
                "| {imp} | {name} | {} | {} | {}{} | {} | {} | {} | {} B{} | {} |",
                t.ok,
                t.err,
                t.panic,
                if t.panic_messages.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", t.panic_messages.join("; "))
                },
                t.abort,
                t.amplified,
                t.alloc_errors,
                t.max_alloc.0,
                if t.max_alloc.0 > 0 {
                    format!(" ({})", t.max_alloc.1)
                } else {
                    String::new()
                },
                if t.max_failed > 0 {
                    format!("{} B", t.max_failed)
                } else {
                    "-".to_owned()
                }
            );
            let bad = t.panic + t.abort;
            if imp == "datrs" {
                bad_datrs += bad;
            } else {
                bad_ours += bad;
            }
            notable.extend(t.notable.iter().map(|n| format!("{imp} {name}: {n}")));
        }
    }
    println!("\nNotable adversarial outcomes (panic, abort, or > input + 4 KiB allocated):\n");
    for n in &notable {
        println!("- {n}");
    }
    println!();
    (bad_datrs, bad_ours)
}
