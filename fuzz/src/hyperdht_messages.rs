//! The `hyperdht_messages` target: every hyperdht message decoder of
//! `plures_hyperdht::wire` runs on the whole input, and a secure payload is opened from it.
//!
//! Asserts: no decoder panics; a decoded message re-encodes into exactly `encoded_len()`
//! bytes, which decode to the same message and re-encode to the same bytes (the canonical
//! form is stable); opening arbitrary bytes as a secure payload fails without panicking.

use std::fmt::Debug;

use plures_compact::{Decode, Encode};
use plures_hyperdht::{
    Announce, Handshake, Holepunch, HolepunchPayload, HyperdhtAddress, LookupRawReply,
    MutableGetResponse, MutablePutRequest, MutableSignable, NoisePayload, Peer, PluginRequest,
    SecurePayload,
};

fn check<T>(data: &[u8])
where
    T: Encode + for<'a> Decode<'a> + PartialEq + Debug,
{
    let Ok(value) = T::from_bytes(data) else {
        return;
    };
    let bytes = value.to_bytes().expect("a decoded message encodes");
    assert_eq!(value.encoded_len(), bytes.len());
    let again = T::from_bytes(&bytes).expect("a re-encoded message decodes");
    assert_eq!(again, value);
    assert_eq!(again.to_bytes().expect("encodes"), bytes);
}

/// Runs one input.
pub fn run(data: &[u8]) {
    check::<Handshake>(data);
    check::<Holepunch>(data);
    check::<NoisePayload>(data);
    check::<HolepunchPayload>(data);
    check::<Peer>(data);
    check::<LookupRawReply>(data);
    check::<Announce>(data);
    check::<MutableSignable>(data);
    check::<MutablePutRequest>(data);
    check::<MutableGetResponse>(data);
    check::<PluginRequest>(data);
    check::<HyperdhtAddress>(data);
    // Without the key no input authenticates; the point is that nothing panics.
    assert!(SecurePayload::new(&[7; 32]).decrypt(data).is_err());
}
