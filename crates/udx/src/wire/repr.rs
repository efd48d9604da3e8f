//! A whole UDX datagram as plain values, for writing packets and reading them back.

use super::flags::PacketType;
use super::packet::{self, HEADER_LEN, Header, MAX_DATAGRAM_LEN, Packet};
use super::sack::{MAX_SACK_BLOCKS, SackList};
use crate::error::{DecodeError, EmitError};

/// A UDX datagram: header fields, SACK blocks, MTU-probe padding and payload.
///
/// Layout written by [`emit`](Self::emit), following what libudx sends:
///
/// - without the SACK flag: header with `doff = padding`, `padding` zero bytes, payload
///   (`padding > 0` only on MTU probes); `sacks` must be empty;
/// - with the SACK flag and no payload: header with `doff = 0`, then the blocks (the
///   reference form, at most [`MAX_SACK_BLOCKS`]);
/// - with the SACK flag and a payload (libudx never sends this; the wire allows it): header
///   with `doff` = the blocks' length, the blocks, the payload. That needs at least one and
///   at most 31 blocks.
///
/// [`parse`](Self::parse) reads any UDX datagram back into this form. For a SACK packet
/// it reports the blocks of the SACK area and the bytes after that area as the payload
/// (empty when the area is the whole rest), and drops a partial trailing block; for other
/// packets `padding` is the data offset, whose bytes are skipped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Type flags.
    pub packet_type: PacketType,
    /// The receiving stream's id (the sender's remote id).
    pub id: u32,
    /// The sender's receive window in bytes.
    pub rwnd: u32,
    /// Sequence number.
    pub seq: u32,
    /// Cumulative acknowledgement.
    pub ack: u32,
    /// SACK blocks (only with the SACK flag).
    pub sacks: SackList<'a>,
    /// Zero bytes between header and payload (MTU probes; not with the SACK flag).
    pub padding: u8,
    /// Stream data or message bytes.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// A packet with no body: pure ACK, END, DESTROY or HEARTBEAT depending on the type.
    #[must_use]
    pub const fn new(packet_type: PacketType, id: u32, rwnd: u32, seq: u32, ack: u32) -> Self {
        Self {
            packet_type,
            id,
            rwnd,
            seq,
            ack,
            sacks: SackList::EMPTY,
            padding: 0,
            payload: &[],
        }
    }

    /// Reads a UDX datagram. Fails when the buffer is not a UDX packet or its data offset
    /// points past the end.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self, DecodeError> {
        let header = Header::parse(packet)?;
        let whole: &'a T = packet.into_inner();
        let rest = packet::rest(whole.as_ref());
        let doff = header.data_offset;
        let after_doff = packet::payload(rest, doff)?;
        let mut repr = Self::new(
            header.packet_type,
            header.id,
            header.rwnd,
            header.seq,
            header.ack,
        );
        if header.packet_type.contains(PacketType::SACK) {
            let area = packet::sack_area(rest, doff);
            repr.sacks = SackList::from_wire(area);
            // The payload follows the area only when the area is a proper prefix.
            if area.len() < rest.len() {
                repr.payload = after_doff;
            }
        } else {
            repr.padding = doff;
            repr.payload = after_doff;
        }
        Ok(repr)
    }

    /// The header [`emit`](Self::emit) writes, with the data offset the layout needs.
    pub fn header(&self) -> Result<Header, EmitError> {
        Ok(Header {
            packet_type: self.packet_type,
            data_offset: self.data_offset()?,
            id: self.id,
            rwnd: self.rwnd,
            seq: self.seq,
            ack: self.ack,
        })
    }

    fn data_offset(&self) -> Result<u8, EmitError> {
        if !self.packet_type.contains(PacketType::SACK) {
            if !self.sacks.is_empty() {
                return Err(EmitError::Unrepresentable(
                    "SACK blocks without the SACK flag",
                ));
            }
            return Ok(self.padding);
        }
        if self.padding != 0 {
            return Err(EmitError::Unrepresentable("padding on a SACK packet"));
        }
        let n = self.sacks.len();
        if n > MAX_SACK_BLOCKS {
            return Err(EmitError::TooManySackBlocks(n));
        }
        if self.payload.is_empty() {
            return Ok(0);
        }
        if n == 0 {
            return Err(EmitError::Unrepresentable(
                "payload on a SACK packet without blocks",
            ));
        }
        u8::try_from(self.sacks.wire_len()).map_err(|_| EmitError::TooManySackBlocks(n))
    }

    /// The length [`emit`](Self::emit) writes.
    #[must_use]
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.sacks.wire_len() + usize::from(self.padding) + self.payload.len()
    }

    /// Checks the layout and the size limit; returns the header and the length.
    fn prepare(&self) -> Result<(Header, usize), EmitError> {
        let header = self.header()?;
        let len = self.buffer_len();
        if len > MAX_DATAGRAM_LEN {
            return Err(EmitError::TooLong(len));
        }
        Ok((header, len))
    }

    /// Writes the datagram to the front of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let (header, len) = self.prepare()?;
        let available = buf.len();
        let too_small = EmitError::BufferTooSmall {
            needed: len,
            available,
        };
        let out = buf.get_mut(..len).ok_or(too_small)?;
        let (head, body) = out.split_at_mut_checked(HEADER_LEN).ok_or(too_small)?;
        head.copy_from_slice(&header.to_bytes());
        let (sacks, body) = body
            .split_at_mut_checked(self.sacks.wire_len())
            .ok_or(too_small)?;
        self.sacks.write(sacks);
        let (padding, payload) = body
            .split_at_mut_checked(usize::from(self.padding))
            .ok_or(too_small)?;
        padding.fill(0);
        payload.copy_from_slice(self.payload);
        Ok(len)
    }

    /// Appends the datagram to `out` (one reservation); returns its length.
    pub fn emit_to_vec(&self, out: &mut Vec<u8>) -> Result<usize, EmitError> {
        let (header, len) = self.prepare()?;
        out.reserve(len);
        out.extend_from_slice(&header.to_bytes());
        for block in self.sacks {
            out.extend_from_slice(&block.to_bytes());
        }
        out.resize(out.len() + usize::from(self.padding), 0);
        out.extend_from_slice(self.payload);
        Ok(len)
    }
}
