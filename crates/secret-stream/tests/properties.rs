//! The spec §7 transcripts, and properties: random key pairs complete IK and XX and
//! agree; flipped bits, garbage and wrong keys give errors, never panics.

use plures_secret_stream::crypto::namespace;
use plures_secret_stream::{
    Error, Finished, IkInitiator, IkResponder, KeyPair, XxInitiator, XxResponder,
};
use proptest::prelude::*;
use rand_core::{CryptoRng, RngCore};

fn kp(b: u8) -> KeyPair {
    KeyPair::from_seed([b; 32])
}

fn ik(
    seeds: [[u8; 32]; 4],
    prologue: &[u8],
    p1: &[u8],
    p2: &[u8],
) -> Result<(Vec<u8>, Vec<u8>, Finished, Finished), Error> {
    let [is, rs, ie, re] = seeds.map(KeyPair::from_seed);
    let (m1, wait) = IkInitiator::start(is, ie, *rs.public_key(), prologue, p1)?;
    let got = IkResponder::new(rs, prologue).handle(&m1)?;
    assert_eq!(got.payload(), p1);
    let (m2, r) = got.respond(re, p2)?;
    let (i, p) = wait.handle(&m2)?;
    assert_eq!(p, p2);
    Ok((m1, m2, i, r))
}

/// Runs XX, applying `tamper` to message `k` (1-based) on the wire.
fn xx_with(
    seeds: [[u8; 32]; 4],
    tamper: impl Fn(usize, &mut Vec<u8>),
) -> Result<([Vec<u8>; 3], Finished, Finished), Error> {
    let [is, rs, ie, re] = seeds.map(KeyPair::from_seed);
    let (mut m1, wait_i) = XxInitiator::start(is, ie, b"", b"")?;
    tamper(1, &mut m1);
    let (mut m2, wait_r) = XxResponder::new(rs, b"").handle(&m1)?.respond(re, b"")?;
    tamper(2, &mut m2);
    let (mut m3, i) = wait_i.handle(&m2)?.finish(b"")?;
    tamper(3, &mut m3);
    let (r, _) = wait_r.handle(&m3)?;
    Ok(([m1, m2, m3], i, r))
}

fn agree(i: &Finished, r: &Finished, i_pub: &[u8; 32], r_pub: &[u8; 32]) {
    assert_eq!(i.tx(), r.rx());
    assert_eq!(i.rx(), r.tx());
    assert_ne!(i.tx(), i.rx());
    assert_eq!(i.handshake_hash(), r.handshake_hash());
    assert_eq!(i.remote_static_key(), r_pub);
    assert_eq!(r.remote_static_key(), i_pub);
    assert!(i.is_initiator() && !r.is_initiator());
}

#[test]
fn spec_section_7_ik_transcript() {
    let prologue = namespace("hyperswarm/dht", 0);
    let (m1, m2, i, r) = ik(
        [[1; 32], [2; 32], [3; 32], [4; 32]],
        &prologue,
        b"hello",
        b"world",
    )
    .unwrap();
    assert_eq!(
        hex::encode(m1),
        "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1\
         605c88a9067c5f85bd7499907d5c869548dd90bed5350bb2e7cb47efe61f60bc\
         315838e49205f95b5a618d7c8c212eeb998231857418c6ba0b73dcbd1ccc3503\
         220b61a18e"
    );
    assert_eq!(
        hex::encode(m2),
        "ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c\
         80b7f07515a3f0efc73084ad7d03fe2cd329e639e2"
    );
    assert_eq!(
        hex::encode(i.handshake_hash()),
        "18b74947225a5486b0845fe42cb857c7d23c5bb8d32045b65bf5f592ff163c02\
         5e97859cb166d8ed8245cca8f8320d2edba6e319d43af770433042fb7aa61a7d"
    );
    assert_eq!(
        hex::encode(i.tx()),
        "cc00d99bd3a15a6779df38fd42fd25a84d73264023e7c1da95cf3bcbdce9c210"
    );
    assert_eq!(
        hex::encode(i.rx()),
        "78dd48ecef5d11fd953197694a8ee2d9f8d86d49d56d856e3dd7c8e78047826b"
    );
    agree(&i, &r, kp(1).public_key(), kp(2).public_key());
}

#[test]
fn spec_section_7_xx_transcript() {
    let ([m1, m2, m3], i, r) = xx_with([[1; 32], [2; 32], [3; 32], [4; 32]], |_, _| {}).unwrap();
    assert_eq!(
        hex::encode(m1),
        "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1"
    );
    assert_eq!(
        hex::encode(m2),
        "ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c\
         8924380c5066a7dcffff1174cebcbfefc17dafd675f6dc2e688de867ff96c431\
         a1fcb7f80997fba29d5bbc64a50e8d74e82bc092a89c62eacaf68db17bb5d0b5"
    );
    assert_eq!(
        hex::encode(m3),
        "585b6e8320c9dfc6764d48e242b912333244a85ae8769c90ee632f1d3bf6945d\
         6d4729ee9c716f0f82946ce191158c480d53f508585c93bb66354bbee6b8bdad"
    );
    assert_eq!(
        hex::encode(i.handshake_hash()),
        "aa42bcea44d843e3803e549191ae7eac847a85dccf21ef3918a7cf228d87b788\
         9b194cdb190b8b2cf82daf543e71e86871532b84ba1d7982489eb3040dcfc412"
    );
    assert_eq!(
        hex::encode(i.tx()),
        "36e72ba85cd0a2b5e7c9f44704a1757d7230c30dd39736e46f2190fcd1300c13"
    );
    assert_eq!(
        hex::encode(i.rx()),
        "29c4a931005b47aaf766f5ec7a119810eb15399b8612e79071f77447826dee17"
    );
    agree(&i, &r, kp(1).public_key(), kp(2).public_key());
}

#[test]
fn large_payloads() {
    let big = vec![0xabu8; 1000];
    let (m1, _, i, r) = ik([[5; 32], [6; 32], [7; 32], [8; 32]], b"", &big, &big).unwrap();
    assert_eq!(m1.len(), 96 + 1000);
    agree(&i, &r, kp(5).public_key(), kp(6).public_key());
    let too_big = vec![0u8; 65535 - 15];
    let res = IkInitiator::start(kp(5), kp(7), *kp(6).public_key(), b"", &too_big);
    assert_eq!(res.err(), Some(Error::TooLarge));
    let ok = vec![0u8; 65535 - 16];
    assert!(IkInitiator::start(kp(5), kp(7), *kp(6).public_key(), b"", &ok).is_ok());
}

#[test]
fn ik_to_the_wrong_responder_fails() {
    let (m1, _) = IkInitiator::start(kp(1), kp(3), *kp(9).public_key(), b"", b"").unwrap();
    let res = IkResponder::new(kp(2), b"").handle(&m1);
    assert_eq!(res.err(), Some(Error::Decrypt));
}

#[test]
fn short_messages_fail() {
    assert_eq!(
        IkResponder::new(kp(2), b"").handle(&[0; 31]).err(),
        Some(Error::MessageTooShort("ephemeral key"))
    );
    let (m1, _) = IkInitiator::start(kp(1), kp(3), *kp(2).public_key(), b"", b"").unwrap();
    for len in 0..m1.len() {
        assert!(
            IkResponder::new(kp(2), b"").handle(&m1[..len]).is_err(),
            "len {len}"
        );
    }
}

/// A deterministic "RNG" for the generate API (counter through BLAKE2b).
struct TestRng(u64);

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 += 1;
        let h = plures_secret_stream::crypto::blake2b_256(&[&self.0.to_le_bytes()]);
        u64::from_le_bytes(h[..8].try_into().unwrap())
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        for chunk in dst.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

impl CryptoRng for TestRng {}

#[test]
fn generated_key_pairs_complete_xx() {
    let mut rng = TestRng(0);
    let (is, ie, rs, re) = (
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
        KeyPair::generate(&mut rng),
    );
    assert_ne!(is.public_key(), ie.public_key());
    let (ip, rp) = (*is.public_key(), *rs.public_key());
    let (m1, w) = XxInitiator::start(is, ie, b"p", b"one").unwrap();
    let got = XxResponder::new(rs, b"p").handle(&m1).unwrap();
    assert_eq!(got.payload(), b"one");
    let (m2, wr) = got.respond(re, b"two").unwrap();
    let got = w.handle(&m2).unwrap();
    assert_eq!(got.payload(), b"two");
    let (m3, i) = got.finish(b"three").unwrap();
    let (r, p) = wr.handle(&m3).unwrap();
    assert_eq!(p, b"three");
    agree(&i, &r, &ip, &rp);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn random_ik_agrees(seeds in any::<[[u8; 32]; 4]>(), prologue in proptest::collection::vec(any::<u8>(), 0..40),
                        p1 in proptest::collection::vec(any::<u8>(), 0..300), p2 in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (_, _, i, r) = ik(seeds, &prologue, &p1, &p2).unwrap();
        agree(&i, &r, KeyPair::from_seed(seeds[0]).public_key(), KeyPair::from_seed(seeds[1]).public_key());
    }

    #[test]
    fn random_xx_agrees(seeds in any::<[[u8; 32]; 4]>()) {
        let (_, i, r) = xx_with(seeds, |_, _| {}).unwrap();
        agree(&i, &r, KeyPair::from_seed(seeds[0]).public_key(), KeyPair::from_seed(seeds[1]).public_key());
    }

    #[test]
    fn flipped_bit_in_ik_fails(seeds in any::<[[u8; 32]; 4]>(), which in 0usize..2, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let [is, rs, ie, re] = seeds.map(KeyPair::from_seed);
        let (mut m1, wait) = IkInitiator::start(is, ie, *rs.public_key(), b"", b"hi").unwrap();
        if which == 0 {
            let i = pos.index(m1.len());
            m1[i] ^= 1 << bit;
            prop_assert!(IkResponder::new(rs, b"").handle(&m1).is_err());
        } else {
            let (mut m2, _) = IkResponder::new(rs, b"").handle(&m1).unwrap().respond(re, b"yo").unwrap();
            let i = pos.index(m2.len());
            m2[i] ^= 1 << bit;
            prop_assert!(wait.handle(&m2).is_err());
        }
    }

    #[test]
    fn flipped_bit_in_xx_fails(seeds in any::<[[u8; 32]; 4]>(), which in 1usize..4, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let res = xx_with(seeds, |k, m| if k == which { let i = pos.index(m.len()); m[i] ^= 1 << bit; });
        prop_assert!(res.is_err());
    }

    #[test]
    fn garbage_never_panics(msg in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = IkResponder::new(kp(2), b"").handle(&msg);
        let (_, w) = IkInitiator::start(kp(1), kp(3), *kp(2).public_key(), b"", b"").unwrap();
        let _ = w.handle(&msg);
        if let Ok(got) = XxResponder::new(kp(2), b"").handle(&msg) {
            let _ = got.respond(kp(4), b"");
        }
        let (_, w) = XxInitiator::start(kp(1), kp(3), b"", b"").unwrap();
        let _ = w.handle(&msg);
        let (m1, _) = XxInitiator::start(kp(1), kp(3), b"", b"").unwrap();
        let (_, w) = XxResponder::new(kp(2), b"").handle(&m1).unwrap().respond(kp(4), b"").unwrap();
        let _ = w.handle(&msg);
    }
}
