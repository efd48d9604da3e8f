//! plures-secret-stream against the pinned JS reference (`benches/js/secret-stream.mjs`:
//! sodium-native 5.1.0, noise-handshake 4.2.0 with noise-curve-ed 2.1.0) on the same
//! workloads. Run both with `benches/run-secret-stream.sh`; results in `docs/benchmarks.md`.
//!
//! Cases (criterion group / function `ours`):
//! - `secretstream-1k`, `-16k`, `-64k`: one `Push::push` (TAG_MESSAGE, no additional data)
//!   and one `Pull::pull` of a 1 KiB / 16 KiB / 64 KiB message on a long-lived stream pair
//!   (key `[7; 32]`, header `[9; 24]`) with the pure-Rust `secretstream::portable` types
//!   (the default build); throughput counts the message bytes once per push+pull.
//! - `secretstream-libsodium-1k`, `-16k`, `-64k`: the same through `secretstream::{Push,
//!   Pull}` on the libsodium backend; only when plures-secret-stream is built with its
//!   `libsodium` feature (`--features plures-secret-stream/libsodium`, as
//!   `benches/run-secret-stream.sh` does).
//! - `aead-1k`, `-16k`, `-64k`: the raw ChaCha20-Poly1305 (IETF) of the `chacha20poly1305`
//!   crate (the secret-stream crate's Noise cipher), seal then open of the same messages
//!   (in place, after copying the message into the buffer), as the reference point for what
//!   the RustCrypto primitives give.
//! - `handshake-ik`, `handshake-xx`: one whole handshake, both sides, with empty prologue and
//!   payloads: IK = initiator start, responder handle + respond, initiator handle; XX =
//!   the three messages. Each side derives a fresh ephemeral key pair from a seed inside the
//!   iteration (the JS side generates them inside `send`), static key pairs are fixed.

use std::hint::black_box;
use std::time::Duration;

use chacha20poly1305::aead::{AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use criterion::{Criterion, Throughput};
use plures_secret_stream::secretstream::{Pull, Push, SecretStreamError, Tag, portable};
use plures_secret_stream::{IkInitiator, IkResponder, KeyPair, XxInitiator, XxResponder};

const KEY: [u8; 32] = [7; 32];
const HEADER: [u8; 24] = [9; 24];
const NONCE: [u8; 12] = [3; 12];
const SIZES: [(&str, usize); 3] = [("1k", 1024), ("16k", 16 * 1024), ("64k", 64 * 1024)];

/// FNV-1a 64 of the first secretstream message (1 KiB) under `KEY` and `HEADER`;
/// `benches/js/secret-stream.mjs` checks the same constant against libsodium.
const FIRST_1K_DIGEST: u64 = 0xc6a3_1967_4044_8f3e;

/// xorshift64 bytes, the same generator and seeds as the JS script.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x & 0xff) as u8
        })
        .collect()
}

fn fnv1a64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One push/pull pair of a backend.
trait Pair {
    fn push(&mut self, m: &[u8], out: &mut Vec<u8>);
    fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError>;
}

impl Pair for (Push, Pull) {
    fn push(&mut self, m: &[u8], out: &mut Vec<u8>) {
        self.0.push(m, Tag::Message, out);
    }
    fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError> {
        self.1.pull(c, out)
    }
}

impl Pair for (portable::Push, portable::Pull) {
    fn push(&mut self, m: &[u8], out: &mut Vec<u8>) {
        self.0.push(m, Tag::Message, out);
    }
    fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError> {
        self.1.pull(c, out)
    }
}

fn bench_pair<P: Pair>(c: &mut Criterion, prefix: &str, new: impl Fn() -> P) {
    let mut first = Vec::new();
    new().push(&bytes(1024, 5), &mut first);
    assert_eq!(
        fnv1a64(&first),
        FIRST_1K_DIGEST,
        "same ciphertext as libsodium"
    );

    for (name, n) in SIZES {
        let m = bytes(n, 5);
        let mut pair = new();
        let mut ct = Vec::with_capacity(n + 17);
        let mut pt = Vec::with_capacity(n);
        pair.push(&m, &mut ct);
        assert_eq!(pair.pull(&ct, &mut pt), Ok(Tag::Message));
        assert_eq!(pt, m, "round trip");
        let mut g = c.benchmark_group(format!("{prefix}-{name}"));
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function("ours", |b| {
            b.iter(|| {
                ct.clear();
                pair.push(black_box(&m), &mut ct);
                pt.clear();
                let tag = pair.pull(black_box(&ct), &mut pt);
                assert_eq!(tag, Ok(Tag::Message));
                black_box(pt.len())
            })
        });
        g.finish();
    }
}

fn bench_secretstream(c: &mut Criterion) {
    bench_pair(c, "secretstream", || {
        (
            portable::Push::new(&KEY, HEADER),
            portable::Pull::new(&KEY, &HEADER),
        )
    });
    if Push::new(&KEY, HEADER).uses_libsodium() {
        bench_pair(c, "secretstream-libsodium", || {
            (Push::new(&KEY, HEADER), Pull::new(&KEY, &HEADER))
        });
    }
}

fn bench_aead(c: &mut Criterion) {
    let aead = ChaCha20Poly1305::new(Key::from_slice(&KEY));
    let nonce = Nonce::from_slice(&NONCE);
    for (name, n) in SIZES {
        let m = bytes(n, 5);
        let mut buf = m.clone();
        let tag = aead
            .encrypt_in_place_detached(nonce, &[], &mut buf)
            .expect("seal");
        aead.decrypt_in_place_detached(nonce, &[], &mut buf, &tag)
            .expect("open");
        assert_eq!(buf, m, "round trip");
        let mut g = c.benchmark_group(format!("aead-{name}"));
        g.throughput(Throughput::Bytes(n as u64));
        g.bench_function("ours", |b| {
            b.iter(|| {
                buf.copy_from_slice(black_box(&m));
                let tag = aead
                    .encrypt_in_place_detached(nonce, &[], &mut buf)
                    .expect("seal");
                aead.decrypt_in_place_detached(nonce, &[], &mut buf, &tag)
                    .expect("open");
                black_box(buf[0])
            })
        });
        g.finish();
    }
}

/// A fresh ephemeral seed per handshake side.
fn seed(counter: &mut u64) -> [u8; 32] {
    *counter += 1;
    let mut s = [0x55; 32];
    s[..8].copy_from_slice(&counter.to_le_bytes());
    s
}

fn bench_handshakes(c: &mut Criterion) {
    let si = KeyPair::from_seed([1; 32]);
    let sr = KeyPair::from_seed([2; 32]);
    let rs = *sr.public_key();
    let mut counter = 0u64;

    let mut g = c.benchmark_group("handshake-ik");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ours", |b| {
        b.iter(|| {
            let ei = KeyPair::from_seed(seed(&mut counter));
            let (m1, wait) = IkInitiator::start(si.clone(), ei, rs, &[], &[]).expect("ik 1");
            let got = IkResponder::new(sr.clone(), &[])
                .handle(&m1)
                .expect("ik 1 in");
            let er = KeyPair::from_seed(seed(&mut counter));
            let (m2, fr) = got.respond(er, &[]).expect("ik 2");
            let (fi, _) = wait.handle(&m2).expect("ik 2 in");
            assert_eq!(fi.tx(), fr.rx());
            black_box(fi.tx()[0])
        })
    });
    g.finish();

    let mut g = c.benchmark_group("handshake-xx");
    g.throughput(Throughput::Elements(1));
    g.bench_function("ours", |b| {
        b.iter(|| {
            let ei = KeyPair::from_seed(seed(&mut counter));
            let (m1, wait) = XxInitiator::start(si.clone(), ei, &[], &[]).expect("xx 1");
            let got = XxResponder::new(sr.clone(), &[])
                .handle(&m1)
                .expect("xx 1 in");
            let er = KeyPair::from_seed(seed(&mut counter));
            let (m2, fin) = got.respond(er, &[]).expect("xx 2");
            let (m3, fi) = wait
                .handle(&m2)
                .expect("xx 2 in")
                .finish(&[])
                .expect("xx 3");
            let (fr, _) = fin.handle(&m3).expect("xx 3 in");
            assert_eq!(fi.tx(), fr.rx());
            black_box(fi.tx()[0])
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn main() {
    let mut c = config().configure_from_args();
    bench_secretstream(&mut c);
    bench_aead(&mut c);
    bench_handshakes(&mut c);
    c.final_summary();
}
