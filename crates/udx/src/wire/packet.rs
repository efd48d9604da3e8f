//! The fixed 20-byte header: a checked view over a buffer and its plain-value form.

use std::fmt;

use super::flags::PacketType;
use super::sack::SackList;
use crate::error::{DecodeError, EmitError};

/// Header byte 0 of every UDX packet (`UDX_MAGIC_BYTE`).
pub const MAGIC: u8 = 0xff;
/// Header byte 1: the only version there is (`UDX_VERSION`).
pub const VERSION: u8 = 1;
/// Length of the fixed header (`UDX_HEADER_SIZE`).
pub const HEADER_LEN: usize = 20;
/// The size of libudx's receive buffer: longer datagrams are truncated to this length by a
/// libudx receiver, so nothing longer may be sent to one.
pub const MAX_DATAGRAM_LEN: usize = 2048;

/// Byte offsets of the header fields.
mod field {
    pub(super) const MAGIC: usize = 0;
    pub(super) const VERSION: usize = 1;
    pub(super) const TYPE: usize = 2;
    pub(super) const DOFF: usize = 3;
    pub(super) const ID: usize = 4;
    pub(super) const RWND: usize = 8;
    pub(super) const SEQ: usize = 12;
    pub(super) const ACK: usize = 16;
}

fn byte(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or(0)
}

fn u32_le(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn set_byte(bytes: &mut [u8], at: usize, value: u8) {
    if let Some(b) = bytes.get_mut(at) {
        *b = value;
    }
}

fn set_u32_le(bytes: &mut [u8], at: usize, value: u32) {
    if let Some(s) = bytes.get_mut(at..at + 4) {
        s.copy_from_slice(&value.to_le_bytes());
    }
}

/// The bytes after the header (empty for a short buffer).
pub(crate) fn rest(bytes: &[u8]) -> &[u8] {
    bytes.get(HEADER_LEN..).unwrap_or_default()
}

/// The SACK area of the bytes after the header: the first `doff` bytes when
/// `0 < doff < rest.len()`, otherwise all of them (`#process_packet`).
pub(crate) fn sack_area(rest: &[u8], doff: u8) -> &[u8] {
    let doff = usize::from(doff);
    if doff > 0 && doff < rest.len() {
        rest.get(..doff).unwrap_or(rest)
    } else {
        rest
    }
}

/// The payload: the bytes after the header with the first `doff` skipped.
pub(crate) fn payload(rest: &[u8], doff: u8) -> Result<&[u8], DecodeError> {
    rest.get(usize::from(doff)..)
        .ok_or(DecodeError::DataOffsetTooLarge {
            doff,
            rest: rest.len(),
        })
}

/// A read/write view of a UDX packet in a buffer.
///
/// [`new_checked`](Self::new_checked) admits exactly what the reference hands to its
/// stream code: at least 20 bytes, magic `0xff`, version 1. Type bits and the data
/// offset are not judged here. Every accessor is total: on a buffer that was not checked
/// (or is too short) getters return 0 or an empty slice and setters do nothing, so no
/// input makes the view panic.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it (for writing a packet into a fresh buffer).
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a buffer that holds a UDX packet.
    pub fn new_checked(buffer: T) -> Result<Self, DecodeError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Whether the buffer holds a UDX packet: at least [`HEADER_LEN`] bytes starting with
    /// [`MAGIC`] and [`VERSION`].
    pub fn check(&self) -> Result<(), DecodeError> {
        let bytes = self.buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated(bytes.len()));
        }
        if self.magic() != MAGIC {
            return Err(DecodeError::BadMagic(self.magic()));
        }
        if self.version() != VERSION {
            return Err(DecodeError::BadVersion(self.version()));
        }
        Ok(())
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole datagram.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Byte 0, the magic.
    pub fn magic(&self) -> u8 {
        byte(self.buffer.as_ref(), field::MAGIC)
    }

    /// Byte 1, the version.
    pub fn version(&self) -> u8 {
        byte(self.buffer.as_ref(), field::VERSION)
    }

    /// Byte 2, the type flags.
    pub fn packet_type(&self) -> PacketType {
        PacketType::from_bits_retain(byte(self.buffer.as_ref(), field::TYPE))
    }

    /// Byte 3, the data offset: extension bytes (SACK blocks or MTU-probe padding) between
    /// the header and the payload.
    pub fn data_offset(&self) -> u8 {
        byte(self.buffer.as_ref(), field::DOFF)
    }

    /// The receiving stream's id.
    pub fn id(&self) -> u32 {
        u32_le(self.buffer.as_ref(), field::ID)
    }

    /// The sender's receive window in bytes.
    pub fn rwnd(&self) -> u32 {
        u32_le(self.buffer.as_ref(), field::RWND)
    }

    /// The sequence number (see the packet kinds in `shared/spec/udx.md` §4).
    pub fn seq(&self) -> u32 {
        u32_le(self.buffer.as_ref(), field::SEQ)
    }

    /// The cumulative acknowledgement: the next sequence number the sender expects.
    pub fn ack(&self) -> u32 {
        u32_le(self.buffer.as_ref(), field::ACK)
    }

    /// Everything after the 20-byte header.
    pub fn rest(&self) -> &[u8] {
        rest(self.buffer.as_ref())
    }

    /// The SACK blocks, when the SACK flag is set (empty otherwise). They are read from the
    /// first `doff` bytes after the header when `0 < doff < rest`, else from all of them;
    /// a trailing partial block is ignored.
    pub fn sack_blocks(&self) -> SackList<'_> {
        if self.packet_type().contains(PacketType::SACK) {
            SackList::from_wire(sack_area(self.rest(), self.data_offset()))
        } else {
            SackList::EMPTY
        }
    }

    /// The payload as the reference computes it: the bytes after the header with the
    /// first `doff` skipped, whatever the type. Fails when `doff` points past the end; the
    /// reference drops such a packet.
    ///
    /// For a SACK packet with `doff = 0` this is the SACK area itself; [`Repr`] instead
    /// reports an empty payload there.
    ///
    /// [`Repr`]: super::Repr
    pub fn payload(&self) -> Result<&[u8], DecodeError> {
        payload(self.rest(), self.data_offset())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes magic and version.
    pub fn set_magic_and_version(&mut self) {
        let bytes = self.buffer.as_mut();
        set_byte(bytes, field::MAGIC, MAGIC);
        set_byte(bytes, field::VERSION, VERSION);
    }

    /// Writes the type byte.
    pub fn set_packet_type(&mut self, value: PacketType) {
        set_byte(self.buffer.as_mut(), field::TYPE, value.bits());
    }

    /// Writes the data offset.
    pub fn set_data_offset(&mut self, value: u8) {
        set_byte(self.buffer.as_mut(), field::DOFF, value);
    }

    /// Writes the stream id (a relay rewrites only this field).
    pub fn set_id(&mut self, value: u32) {
        set_u32_le(self.buffer.as_mut(), field::ID, value);
    }

    /// Writes the receive window.
    pub fn set_rwnd(&mut self, value: u32) {
        set_u32_le(self.buffer.as_mut(), field::RWND, value);
    }

    /// Writes the sequence number.
    pub fn set_seq(&mut self, value: u32) {
        set_u32_le(self.buffer.as_mut(), field::SEQ, value);
    }

    /// Writes the acknowledgement (a retransmission refreshes it, with the window).
    pub fn set_ack(&mut self, value: u32) {
        set_u32_le(self.buffer.as_mut(), field::ACK, value);
    }

    /// Everything after the 20-byte header, writable.
    pub fn rest_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or_default()
    }
}

impl<T: AsRef<[u8]>> fmt::Debug for Packet<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Err(e) = self.check() {
            return f.debug_tuple("Packet").field(&e).finish();
        }
        f.debug_struct("Packet")
            .field("type", &self.packet_type())
            .field("doff", &self.data_offset())
            .field("id", &self.id())
            .field("rwnd", &self.rwnd())
            .field("seq", &self.seq())
            .field("ack", &self.ack())
            .field("rest_len", &self.rest().len())
            .finish()
    }
}

/// The 20-byte header as plain values, every field as on the wire (unknown type bits
/// included), so that parse followed by emit reproduces the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// Type flags.
    pub packet_type: PacketType,
    /// Data offset: extension bytes between header and payload.
    pub data_offset: u8,
    /// The receiving stream's id.
    pub id: u32,
    /// The sender's receive window in bytes.
    pub rwnd: u32,
    /// Sequence number.
    pub seq: u32,
    /// Cumulative acknowledgement.
    pub ack: u32,
}

impl Header {
    /// Reads the header of a UDX packet (checking length, magic and version).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Self, DecodeError> {
        packet.check()?;
        Ok(Self {
            packet_type: packet.packet_type(),
            data_offset: packet.data_offset(),
            id: packet.id(),
            rwnd: packet.rwnd(),
            seq: packet.seq(),
            ack: packet.ack(),
        })
    }

    /// The encoded length, always [`HEADER_LEN`].
    #[must_use]
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The wire form.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        let mut packet = Packet::new_unchecked(&mut out[..]);
        packet.set_magic_and_version();
        packet.set_packet_type(self.packet_type);
        packet.set_data_offset(self.data_offset);
        packet.set_id(self.id);
        packet.set_rwnd(self.rwnd);
        packet.set_seq(self.seq);
        packet.set_ack(self.ack);
        out
    }

    /// Writes the header to the front of `buf`; returns the bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let available = buf.len();
        let Some(dst) = buf.first_chunk_mut::<HEADER_LEN>() else {
            return Err(EmitError::BufferTooSmall {
                needed: HEADER_LEN,
                available,
            });
        };
        *dst = self.to_bytes();
        Ok(HEADER_LEN)
    }
}
