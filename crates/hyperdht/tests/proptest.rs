//! Property tests: round trips (`encoded_len` is the length, decode(encode(x)) == x) and
//! totality (arbitrary bytes, truncations, absurd counts never panic).

use std::fmt::Debug;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use plures_compact::{Decode, Encode};
use plures_hyperdht::wire::{
    HolepunchInfo, HolepunchRelay, RelayThroughInfo, SecretStreamInfo, UdxInfo,
};
use plures_hyperdht::{
    Announce, Handshake, Holepunch, HolepunchPayload, HyperdhtAddress, LookupRawReply,
    MutableGetResponse, MutablePutRequest, MutableSignable, NoisePayload, Peer, PluginRequest,
    SecurePayload, crypto,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

const MAX: u64 = (1 << 53) - 1;

fn uint() -> impl Strategy<Value = u64> {
    prop_oneof![
        0..=0xfcu64,
        0xfd..=0xffffu64,
        0x1_0000..=0xffff_ffffu64,
        0..=MAX
    ]
}

fn v4() -> impl Strategy<Value = SocketAddrV4> {
    (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

fn v6() -> impl Strategy<Value = SocketAddrV6> {
    (any::<u128>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..80)
}

fn peer() -> impl Strategy<Value = Peer> {
    (any::<[u8; 32]>(), vec(v4(), 0..4)).prop_map(|(public_key, relay_addresses)| Peer {
        public_key,
        relay_addresses,
    })
}

fn handshake() -> impl Strategy<Value = Handshake> {
    (uint(), bytes(), of(v4()), of(v4())).prop_map(|(mode, noise, peer_address, relay_address)| {
        Handshake {
            mode,
            noise,
            peer_address,
            relay_address,
        }
    })
}

fn holepunch() -> impl Strategy<Value = Holepunch> {
    (uint(), uint(), bytes(), of(v4())).prop_map(|(mode, id, payload, peer_address)| Holepunch {
        mode,
        id,
        payload,
        peer_address,
    })
}

fn noise_payload() -> impl Strategy<Value = NoisePayload> {
    let holepunch = (uint(), vec((v4(), v4()), 0..3)).prop_map(|(id, relays)| HolepunchInfo {
        id,
        relays: relays
            .into_iter()
            .map(|(relay_address, peer_address)| HolepunchRelay {
                relay_address,
                peer_address,
            })
            .collect(),
    });
    let udx = (uint(), any::<bool>(), uint(), uint()).prop_map(|(version, r, id, seq)| UdxInfo {
        version,
        reusable_socket: r,
        id,
        seq,
    });
    let relay = (uint(), any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(version, pk, t)| {
        RelayThroughInfo {
            version,
            public_key: pk,
            token: t,
        }
    });
    (
        (
            uint(),
            uint(),
            of(holepunch),
            vec(v4(), 0..3),
            vec(v6(), 0..3),
        ),
        (
            of(udx),
            of(uint().prop_map(|version| SecretStreamInfo { version })),
            of(relay),
            of(vec(v4(), 0..3)),
        ),
    )
        .prop_map(
            |(
                (error, firewall, holepunch, addresses4, addresses6),
                (udx, secret_stream, relay_through, relay_addresses),
            )| NoisePayload {
                version: 1,
                error,
                firewall,
                holepunch,
                addresses4,
                addresses6,
                udx,
                secret_stream,
                relay_through,
                relay_addresses,
            },
        )
}

fn holepunch_payload() -> impl Strategy<Value = HolepunchPayload> {
    (
        (uint(), uint(), uint(), any::<bool>(), any::<bool>()),
        (
            of(vec(v4(), 0..3)),
            of(v4()),
            of(any::<[u8; 32]>()),
            of(any::<[u8; 32]>()),
        ),
    )
        .prop_map(
            |((error, firewall, round, connected, punching), (addresses, remote, t, rt))| {
                HolepunchPayload {
                    error,
                    firewall,
                    round,
                    connected,
                    punching,
                    addresses,
                    remote_address: remote,
                    token: t,
                    remote_token: rt,
                }
            },
        )
}

fn announce() -> impl Strategy<Value = Announce> {
    (
        of(peer()),
        of(any::<[u8; 32]>()),
        of(vec(any::<u8>(), 64)),
        uint(),
    )
        .prop_map(|(peer, refresh, sig, bump)| Announce {
            peer,
            refresh,
            signature: sig.and_then(|s| s.try_into().ok()),
            bump,
        })
}

fn sig() -> impl Strategy<Value = [u8; 64]> {
    vec(any::<u8>(), 64).prop_map(|s| s.try_into().unwrap_or([0; 64]))
}

/// `encoded_len` is the length, and decoding gives the value back with nothing left over.
fn round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: Encode + for<'a> Decode<'a> + PartialEq + Debug,
{
    let bytes = value
        .to_bytes()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(value.encoded_len(), bytes.len());
    let mut d = plures_compact::Decoder::new(&bytes);
    let back = T::decode(&mut d).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert!(d.is_empty(), "decoder left {} bytes", d.remaining());
    prop_assert_eq!(&back, value);
    // Every strict prefix is either refused or decodes to something that round-trips.
    for cut in 0..bytes.len() {
        if let Ok(v) = T::from_bytes(&bytes[..cut]) {
            let again = v
                .to_bytes()
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(T::from_bytes(&again).ok(), Some(v));
        }
    }
    Ok(())
}

/// Whatever decodes re-encodes into bytes that decode to the same value.
fn total<T>(data: &[u8])
where
    T: Encode + for<'a> Decode<'a> + PartialEq + Debug,
{
    if let Ok(v) = T::from_bytes(data) {
        let bytes = v.to_bytes().expect("a decoded value encodes");
        assert_eq!(v.encoded_len(), bytes.len());
        assert_eq!(T::from_bytes(&bytes).expect("re-decodes"), v);
    }
}

fn all_total(data: &[u8]) {
    total::<Handshake>(data);
    total::<Holepunch>(data);
    total::<NoisePayload>(data);
    total::<HolepunchPayload>(data);
    total::<Peer>(data);
    total::<LookupRawReply>(data);
    total::<Announce>(data);
    total::<MutableSignable>(data);
    total::<MutablePutRequest>(data);
    total::<MutableGetResponse>(data);
    total::<PluginRequest>(data);
    total::<HyperdhtAddress>(data);
}

proptest! {
    #[test]
    fn handshake_round_trip(v in handshake()) { round_trip(&v)?; }

    #[test]
    fn holepunch_round_trip(v in holepunch()) { round_trip(&v)?; }

    #[test]
    fn noise_payload_round_trip(v in noise_payload()) { round_trip(&v)?; }

    #[test]
    fn holepunch_payload_round_trip(v in holepunch_payload()) { round_trip(&v)?; }

    #[test]
    fn peer_round_trip(v in peer()) { round_trip(&v)?; }

    #[test]
    fn lookup_round_trip(peers in vec(peer(), 0..4), bump in uint()) {
        round_trip(&LookupRawReply { peers, bump })?;
    }

    #[test]
    fn announce_round_trip(v in announce()) { round_trip(&v)?; }

    #[test]
    fn mutable_round_trip(pk in any::<[u8; 32]>(), seq in uint(), value in bytes(), sig in sig()) {
        round_trip(&MutableSignable { seq, value: value.clone() })?;
        round_trip(&MutableGetResponse { seq, value: value.clone(), signature: sig })?;
        round_trip(&MutablePutRequest { public_key: pk, seq, value, signature: sig })?;
    }

    #[test]
    fn plugin_round_trip(plugin in ".{0,20}", version in uint(), command in uint(), value in of(bytes())) {
        round_trip(&PluginRequest { plugin, version, command, value })?;
    }

    #[test]
    fn address_round_trip(public_key in any::<[u8; 32]>(), nodes in of(vec(v4(), 0..4))) {
        round_trip(&HyperdhtAddress { public_key, nodes })?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in vec(any::<u8>(), 0..300)) {
        all_total(&data);
    }

    #[test]
    fn secure_payload_round_trip(
        secret in any::<[u8; 32]>(),
        nonce in any::<[u8; 24]>(),
        p in holepunch_payload(),
        flip in any::<usize>(),
    ) {
        let sp = SecurePayload::new(&secret);
        let sealed = sp.encrypt(&p, &nonce).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(sealed.len(), crypto::SECURE_PAYLOAD_OVERHEAD + p.encoded_len());
        prop_assert_eq!(sp.decrypt(&sealed).ok(), Some(p));
        let mut forged = sealed.clone();
        forged[flip % sealed.len()] ^= 0x20;
        prop_assert!(sp.decrypt(&forged).is_err());
        for cut in 0..=crypto::SECURE_PAYLOAD_OVERHEAD {
            prop_assert!(sp.decrypt(&sealed[..cut.min(sealed.len())]).is_err());
        }
    }

    #[test]
    fn secure_payload_decrypt_is_total(secret in any::<[u8; 32]>(), data in vec(any::<u8>(), 0..120)) {
        prop_assert!(SecurePayload::new(&secret).decrypt(&data).is_err());
    }
}

/// Counts that claim far more elements than the input holds are refused at once.
#[test]
fn absurd_counts() {
    let huge = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00];
    let big = [0xfe, 0xff, 0xff, 0x0f, 0x00];
    for count in [&huge[..], &big[..], &[0xfc][..]] {
        // peer: key then relayAddresses count.
        let mut peer = vec![7u8; 32];
        peer.extend_from_slice(count);
        assert!(Peer::from_bytes(&peer).is_err());
        // lookupRawReply: record count.
        assert!(LookupRawReply::from_bytes(count).is_err());
        // noisePayload: addresses4 count, then holepunch relays count.
        let mut np = vec![1, 0x02, 0, 0];
        np.extend_from_slice(count);
        assert!(NoisePayload::from_bytes(&np).is_err());
        let mut np = vec![1, 0x01, 0, 0, 5];
        np.extend_from_slice(count);
        assert!(NoisePayload::from_bytes(&np).is_err());
        // holepunchPayload: addresses count.
        let mut hp = vec![0x04, 0, 0, 0];
        hp.extend_from_slice(count);
        assert!(HolepunchPayload::from_bytes(&hp).is_err());
        // buffers.
        let mut hs = vec![0, 0];
        hs.extend_from_slice(count);
        assert!(Handshake::from_bytes(&hs).is_err());
        all_total(count);
    }
}

#[test]
fn noise_payload_other_versions() {
    // A version other than 1 reads nothing more: `0207` is version 2 with defaults.
    let v = NoisePayload::from_bytes(&[0x02, 0x07]).expect("decodes");
    assert_eq!(
        v,
        NoisePayload {
            version: 2,
            ..NoisePayload::default()
        }
    );
    assert_eq!(v.to_bytes().expect("encodes"), [0x02]);
    assert_eq!(NoisePayload::from_bytes(&[]).ok(), None);
}

#[test]
fn empty_lists_and_zero_bump() {
    // An empty addresses4 is not flagged; an empty relayAddresses is.
    let p = NoisePayload {
        relay_addresses: Some(Vec::new()),
        ..NoisePayload::default()
    };
    assert_eq!(p.to_bytes().expect("encodes"), [1, 0x40, 0, 0, 0]);
    // A flagged empty addresses4 decodes to the same value as an absent one.
    let flagged = NoisePayload::from_bytes(&[1, 0x02, 0, 0, 0]).expect("decodes");
    assert_eq!(flagged, NoisePayload::default());
    // A zero bump is not written; a flagged zero bump decodes as 0.
    let a = Announce::from_bytes(&[0x08, 0x00]).expect("decodes");
    assert_eq!(a, Announce::default());
    assert_eq!(a.to_bytes().expect("encodes"), [0x00]);
    // lookupRawReply without a bump.
    assert_eq!(
        LookupRawReply::from_bytes(&[0]).expect("decodes"),
        LookupRawReply::default()
    );
    // A hyperdht address without flags.
    // A hyperdht address without flags; an empty node list is still flagged (as in
    // `hyperdht-address`: `encode(key, [])` = key ‖ 01 00).
    let addr = HyperdhtAddress::from_bytes(&[9; 32]).expect("decodes");
    assert_eq!(addr.nodes, None);
    assert_eq!(addr.to_bytes().expect("encodes")[32..], [0]);
    let empty = HyperdhtAddress {
        public_key: [9; 32],
        nodes: Some(Vec::new()),
    };
    assert_eq!(empty.to_bytes().expect("encodes")[32..], [1, 0]);
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut bytes = Peer::default().to_bytes().expect("encodes");
    bytes.extend_from_slice(&[1, 2, 3]);
    assert_eq!(Peer::from_bytes(&bytes).expect("decodes"), Peer::default());
}

#[test]
fn token_ignores_the_port() {
    let secret = [3u8; 32];
    let a = crypto::holepunch_token(&secret, Ipv4Addr::LOCALHOST);
    assert_eq!(a, crypto::keyed_hash(&secret, b"127.0.0.1"));
    assert_ne!(
        a,
        crypto::holepunch_token(&secret, Ipv4Addr::new(127, 0, 0, 2))
    );
}

#[test]
fn namespaces_are_derived() {
    use plures_secret_stream::crypto::namespace;
    for (ns, id) in [
        (crypto::NS_PEER_HANDSHAKE, 0),
        (crypto::NS_PEER_HOLEPUNCH, 1),
        (crypto::NS_ANNOUNCE, 4),
        (crypto::NS_UNANNOUNCE, 5),
        (crypto::NS_MUTABLE_PUT, 6),
        (crypto::NS_PLUGIN, 10),
    ] {
        assert_eq!(ns, namespace("hyperswarm/dht", id));
    }
}

#[test]
fn announce_signature_is_bound_to_node_and_token() {
    let kp = plures_hyperdht::KeyPair::from_seed([5; 32]);
    let peer = Peer {
        public_key: *kp.public_key(),
        relay_addresses: Vec::new(),
    };
    let target = crypto::target(kp.public_key());
    let sig = crypto::sign_announce(&kp, &target, &[1; 32], &[2; 32], &peer, None);
    let ok = |node: [u8; 32], token: [u8; 32]| {
        crypto::verify(
            kp.public_key(),
            &crypto::announce_signable(&target, &node, &token, &peer, None),
            &sig,
        )
    };
    assert!(ok([1; 32], [2; 32]));
    assert!(!ok([9; 32], [2; 32]));
    assert!(!ok([1; 32], [9; 32]));
    // Not valid as an unannounce either.
    assert!(!crypto::verify(
        kp.public_key(),
        &crypto::unannounce_signable(&target, &[1; 32], &[2; 32], &peer, None),
        &sig
    ));
}
