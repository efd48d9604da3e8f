//! With the `libsodium` feature: the libsodium backend of [`secretstream::Push`] /
//! [`secretstream::Pull`] against the pure-Rust [`secretstream::portable`] types in the
//! same process, byte for byte: every length 0–300 and around the 16 KiB switch between
//! the scalar and the AVX2 Poly1305, all tags and an odd tag byte, explicit rekeys, the
//! counter wrap, and rejection of tampered ciphertexts without a state change.
//! (`tests/libsodium_oracle.rs` checks both against sodium-native as well.)
//!
//! Without the feature there is one backend and nothing to compare.
#![cfg(feature = "libsodium")]

use plures_secret_stream::secretstream::{Pull, Push, SecretStreamError, Tag, portable};

fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

#[test]
fn libsodium_is_in_use() {
    assert!(Push::new(&[1; 32], [2; 24]).uses_libsodium());
    assert!(Pull::new(&[1; 32], &[2; 24]).uses_libsodium());
}

#[test]
fn libsodium_backend_matches_portable() {
    let mut next = xorshift(0x0123_4567_89ab_cdef);
    let lens: Vec<usize> = (0..=300)
        .chain([1023, 1024, 1025, 16383, 16384, 16385, 65536, 65539])
        .collect();
    for counter in [None, Some(u32::MAX - 2)] {
        let mut key = [0u8; 32];
        key.iter_mut().for_each(|b| *b = next() as u8);
        let mut header = [0u8; 24];
        header.iter_mut().for_each(|b| *b = next() as u8);
        let mut sp = Push::new(&key, header);
        let mut sl = Pull::new(&key, &header);
        let mut pp = portable::Push::new(&key, header);
        let mut pl = portable::Pull::new(&key, &header);
        if let Some(c) = counter {
            sp.set_counter_for_test(c);
            sl.set_counter_for_test(c);
            pp.set_counter_for_test(c);
            pl.set_counter_for_test(c);
        }
        for (i, &len) in lens.iter().enumerate() {
            let m: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let tag = match next() % 16 {
                0 => Tag::Push,
                1 => Tag::Rekey,
                2 => Tag::Final,
                3 => Tag::Other(0x16),
                _ => Tag::Message,
            };
            // Both sides append after what `out` already holds.
            let mut a = vec![0xee];
            let mut b = vec![0xee];
            sp.push(&m, tag, &mut a);
            pp.push(&m, tag, &mut b);
            assert_eq!(
                a, b,
                "message {i}: len {len}, tag {tag:?}, counter {counter:?}"
            );
            let c = &a[1..];

            // A flipped bit anywhere (tag, body or MAC) fails in both, appends nothing and
            // leaves the state able to open the genuine message.
            let mut bad = c.to_vec();
            let at = (next() as usize) % bad.len();
            bad[at] ^= 1 << (next() % 8);
            let mut out = vec![0x77];
            assert_eq!(sl.pull(&bad, &mut out), Err(SecretStreamError::Mac));
            assert_eq!(pl.pull(&bad, &mut out), Err(SecretStreamError::Mac));
            assert_eq!(
                sl.pull(&c[..16], &mut out),
                Err(SecretStreamError::TooShort)
            );
            assert_eq!(out, [0x77]);

            let mut x = vec![0x55];
            let mut y = vec![0x55];
            assert_eq!(sl.pull(c, &mut x), Ok(tag));
            assert_eq!(pl.pull(c, &mut y), Ok(tag));
            assert_eq!(x[1..], m[..]);
            assert_eq!(x, y);

            if i % 97 == 50 {
                sp.rekey();
                pp.rekey();
                sl.rekey();
                pl.rekey();
            }
        }
    }
}
