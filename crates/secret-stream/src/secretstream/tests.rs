use super::*;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn arr<const N: usize>(s: &str) -> [u8; N] {
    h(s).try_into().unwrap()
}

const KEY: &str = "cc00d99bd3a15a6779df38fd42fd25a84d73264023e7c1da95cf3bcbdce9c210";

fn check_sequence(key: &str, header: &str, steps: &[(&[u8], Tag, &str)]) {
    let key = arr(key);
    let header = arr(header);
    let mut push = Push::new(&key, header);
    let mut pull = Pull::new(&key, &header);
    for (m, tag, want) in steps {
        let mut c = Vec::new();
        push.push(m, *tag, &mut c);
        assert_eq!(hex::encode(&c), *want, "push {m:?}");
        let mut p = Vec::new();
        assert_eq!(pull.pull(&c, &mut p), Ok(*tag));
        assert_eq!(p, *m);
    }
}

#[test]
fn spec_standalone_vector_covers_padding() {
    check_sequence(
        KEY,
        "4785f9fdb473d02cd5e765e389a299ba864dcc8aecfb2574",
        &[
            (b"", Tag::Message, "5e32f577ad3825733aa0f613dee5b48e4f"),
            (
                b"hello",
                Tag::Message,
                "c86cb70ccb7750f91940c2fe344ae150208bd23713dd",
            ),
            (
                &[b'a'; 17],
                Tag::Message,
                "3af96cb07e2e240cd8d59ea1121ec7d39da70c246a62018d68c7cf0f2015fb85c3ca",
            ),
            (
                &[b'b'; 64],
                Tag::Message,
                "473876940dc881f48006507e4389be9a559925b6ef2e6b5db7f7d23ac8ea20e8\
                 e242022185aa795b7b9abfa56a428912f5f31342410e23638541a453dbcb4ad8\
                 513945551fa83396c2e20149458b1fdc1a",
            ),
        ],
    );
}

#[test]
fn spec_rekey_vector() {
    check_sequence(
        KEY,
        "8693273b1292d0efd15cc745fc978700c2e6abcc1bc7b1d0",
        &[
            (b"a", Tag::Rekey, "1a8309a8825c24b39e88aa588b06290948ab"),
            (b"b", Tag::Message, "51640491e441f96111e395469bfe1d88ca8b"),
            (b"c", Tag::Final, "278ad97ca08305425b95aaa8c8004e5028cb"),
        ],
    );
}

#[test]
fn raw_sequence_reference_vector() {
    check_sequence(
        "5aca87a18c187653537813b108088e362541022db22f222f79ccf46d35157a4f",
        "6955212ee592e4316b773d9bdd94041b162981004e8665e5",
        &[
            (b"a", Tag::Message, "99e02ecc2430d6d00a07785831095eb2fd5c"),
            (
                b"bc",
                Tag::Message,
                "926616cfcdb0102ec9c642f1806215a12c7446",
            ),
            (b"", Tag::Message, "4e9d29d89889f057dec2676668697237ee"),
            (b"", Tag::Final, "4ca72eb8d341bb82e94bcef8ae8b53095e"),
        ],
    );
}

#[test]
fn tampering_fails_and_keeps_state() {
    let key = arr(KEY);
    let header = [7u8; HEADER_LEN];
    let mut push = Push::new(&key, header);
    let mut pull = Pull::new(&key, &header);
    let mut c = Vec::new();
    push.push(b"some message", Tag::Message, &mut c);
    for i in 0..c.len() * 8 {
        let mut bad = c.clone();
        bad[i / 8] ^= 1 << (i % 8);
        let mut out = Vec::new();
        assert_eq!(pull.pull(&bad, &mut out), Err(SecretStreamError::Mac));
        assert!(out.is_empty());
    }
    for n in 0..ABYTES {
        assert_eq!(
            pull.pull(&c[..n], &mut Vec::new()),
            Err(SecretStreamError::TooShort)
        );
    }
    assert!(pull.pull(&c[..c.len() - 1], &mut Vec::new()).is_err());
    let mut out = Vec::new();
    assert_eq!(pull.pull(&c, &mut out), Ok(Tag::Message));
    assert_eq!(out, b"some message");
    // A replay fails: the nonce has moved on.
    assert_eq!(pull.pull(&c, &mut Vec::new()), Err(SecretStreamError::Mac));
}

#[test]
fn counter_wrap_rekeys() {
    // Checked byte for byte against libsodium in tests/libsodium_oracle.rs.
    let key = arr(KEY);
    let header = [3u8; HEADER_LEN];
    let mut push = portable::Push::new(&key, header);
    let mut pull = portable::Pull::new(&key, &header);
    push.set_counter_for_test(u32::MAX);
    pull.set_counter_for_test(u32::MAX);
    for m in [&b"x"[..], b"y", b"z"] {
        let mut c = Vec::new();
        push.push(m, Tag::Message, &mut c);
        let mut out = Vec::new();
        assert_eq!(pull.pull(&c, &mut out), Ok(Tag::Message));
        assert_eq!(out, m);
    }
    // Wrapped to 0, rekeyed to 1, then two more messages.
    assert_eq!(push.counter(), 3);
}

#[test]
fn long_messages_round_trip() {
    let key = arr(KEY);
    let header = [9u8; HEADER_LEN];
    let mut push = Push::new(&key, header);
    let mut pull = Pull::new(&key, &header);
    for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 1 << 16, (1 << 16) + 3] {
        let m: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
        let mut c = Vec::new();
        push.push(&m, Tag::Message, &mut c);
        assert_eq!(c.len(), len + ABYTES);
        let mut out = Vec::new();
        pull.pull(&c, &mut out).unwrap();
        assert_eq!(out, m);
    }
}
