//! Mutable records and plugin requests (spec §4.7).

use std::borrow::Cow;

use plures_compact::{Decode, DecodeError, Decoder, Encode, Sink};

use super::has;

/// `mutableSignable`: `uint seq ‖ buffer value`, the message whose hash a mutable
/// signature covers ([`crate::crypto::mutable_signable`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MutableSignable {
    /// Sequence number; higher replaces lower.
    pub seq: u64,
    /// The stored value.
    pub value: Vec<u8>,
}

impl Encode for MutableSignable {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint(self.seq);
        s.buffer(&self.value);
    }
}

impl Decode<'_> for MutableSignable {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            seq: d.uint()?,
            value: d.buffer()?.to_vec(),
        })
    }
}

/// `mutablePutRequest`: `fixed32 publicKey ‖ uint seq ‖ buffer value ‖ fixed64
/// signature`, the value of MUTABLE_PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutablePutRequest {
    /// The writer's key; the target is its hash.
    pub public_key: [u8; 32],
    /// Sequence number.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
    /// Signature over the [`MutableSignable`].
    pub signature: [u8; 64],
}

impl Encode for MutablePutRequest {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.fixed(&self.public_key, 32);
        s.uint(self.seq);
        s.buffer(&self.value);
        s.fixed(&self.signature, 64);
    }
}

impl Decode<'_> for MutablePutRequest {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            public_key: d.fixed()?,
            seq: d.uint()?,
            value: d.buffer()?.to_vec(),
            signature: d.fixed()?,
        })
    }
}

/// `mutableGetResponse`: `uint seq ‖ buffer value ‖ fixed64 signature`, the value of a
/// MUTABLE_GET reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutableGetResponse {
    /// Sequence number.
    pub seq: u64,
    /// The value.
    pub value: Vec<u8>,
    /// Signature over the [`MutableSignable`].
    pub signature: [u8; 64],
}

impl Encode for MutableGetResponse {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint(self.seq);
        s.buffer(&self.value);
        s.fixed(&self.signature, 64);
    }
}

impl Decode<'_> for MutableGetResponse {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            seq: d.uint()?,
            value: d.buffer()?.to_vec(),
            signature: d.fixed()?,
        })
    }
}

const VALUE: u64 = 1;

/// `pluginRequest`: `string plugin ‖ uint version ‖ uint command ‖ uint flags ‖ [buffer
/// value]`, the value of PLUGIN.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PluginRequest {
    /// The plugin's registered name. Invalid UTF-8 decodes with U+FFFD replacements, as
    /// Node's decoder does.
    pub plugin: String,
    /// The plugin version the sender speaks.
    pub version: u64,
    /// A plugin-defined command.
    pub command: u64,
    /// A plugin-defined argument.
    pub value: Option<Vec<u8>>,
}

impl Encode for PluginRequest {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.string(&self.plugin);
        s.uint(self.version);
        s.uint(self.command);
        match &self.value {
            Some(v) => {
                s.uint(VALUE);
                s.buffer(v);
            }
            None => s.uint(0),
        }
    }
}

impl Decode<'_> for PluginRequest {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let plugin = Cow::into_owned(d.string()?);
        let version = d.uint()?;
        let command = d.uint()?;
        let flags = d.uint()?;
        let value = if has(flags, VALUE) {
            Some(d.buffer()?.to_vec())
        } else {
            None
        };
        Ok(Self {
            plugin,
            version,
            command,
            value,
        })
    }
}
