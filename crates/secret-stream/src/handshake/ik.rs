//! IK: `<- s ... -> e, es, s, ss  <- e, ee, se`. hyperdht's connect handshake
//! (`NoiseWrap`), where the client knows the server's static key in advance.

use super::{Finished, IK_PROTOCOL_NAME, initialise, mix_dh, read_e, read_s, write_e};
use crate::error::Error;
use crate::keys::KeyPair;
use crate::symmetric::SymmetricState;

/// Starts an IK handshake as initiator.
#[derive(Debug)]
pub struct IkInitiator;

impl IkInitiator {
    /// Builds message 1 (`e, es, s, ss` + payload) to the responder whose static public
    /// key is `remote_static`, and the state that awaits message 2.
    ///
    /// Fails if `remote_static` is not a usable point ([`Error::InvalidPoint`]) or the
    /// payload is too large ([`Error::TooLarge`]).
    pub fn start(
        local_static: KeyPair,
        ephemeral: KeyPair,
        remote_static: [u8; 32],
        prologue: &[u8],
        payload: &[u8],
    ) -> Result<(Vec<u8>, IkAwaitingResponse), Error> {
        let mut ss = initialise(IK_PROTOCOL_NAME, prologue);
        ss.mix_hash(&remote_static);
        let mut out = Vec::with_capacity(96 + payload.len());
        write_e(&mut ss, &ephemeral, &mut out);
        mix_dh(&mut ss, &ephemeral, &remote_static)?;
        ss.encrypt_and_hash(local_static.public_key(), &mut out)?;
        mix_dh(&mut ss, &local_static, &remote_static)?;
        ss.encrypt_and_hash(payload, &mut out)?;
        let next = IkAwaitingResponse {
            ss,
            s: local_static,
            e: ephemeral,
            rs: remote_static,
        };
        Ok((out, next))
    }
}

/// IK initiator after message 1: waits for the responder's message 2.
pub struct IkAwaitingResponse {
    ss: SymmetricState,
    s: KeyPair,
    e: KeyPair,
    rs: [u8; 32],
}

impl IkAwaitingResponse {
    /// Reads message 2 (`e, ee, se` + payload): the finished handshake and the
    /// responder's payload.
    pub fn handle(mut self, msg: &[u8]) -> Result<(Finished, Vec<u8>), Error> {
        let mut buf = msg;
        let re = read_e(&mut self.ss, &mut buf)?;
        mix_dh(&mut self.ss, &self.e, &re)?;
        mix_dh(&mut self.ss, &self.s, &re)?;
        let payload = self.ss.decrypt_and_hash(buf)?;
        Ok((Finished::new(&self.ss, &self.s, self.rs, true), payload))
    }
}

/// IK responder before message 1.
pub struct IkResponder {
    ss: SymmetricState,
    s: KeyPair,
}

impl IkResponder {
    /// A responder with static key pair `local_static`.
    pub fn new(local_static: KeyPair, prologue: &[u8]) -> Self {
        let mut ss = initialise(IK_PROTOCOL_NAME, prologue);
        ss.mix_hash(local_static.public_key());
        Self {
            ss,
            s: local_static,
        }
    }

    /// Reads message 1: the initiator's static key and payload, and the state that
    /// writes message 2.
    pub fn handle(mut self, msg: &[u8]) -> Result<IkReceived, Error> {
        let mut buf = msg;
        let re = read_e(&mut self.ss, &mut buf)?;
        mix_dh(&mut self.ss, &self.s, &re)?;
        let rs = read_s(&mut self.ss, &mut buf)?;
        mix_dh(&mut self.ss, &self.s, &rs)?;
        let payload = self.ss.decrypt_and_hash(buf)?;
        Ok(IkReceived {
            ss: self.ss,
            s: self.s,
            re,
            rs,
            payload,
        })
    }
}

/// IK responder after message 1: the initiator is known; answer with message 2.
pub struct IkReceived {
    ss: SymmetricState,
    s: KeyPair,
    re: [u8; 32],
    rs: [u8; 32],
    payload: Vec<u8>,
}

impl IkReceived {
    /// The initiator's static public key, learnt from message 1.
    pub fn remote_static_key(&self) -> &[u8; 32] {
        &self.rs
    }

    /// The initiator's payload from message 1.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Builds message 2 (`e, ee, se` + payload) and finishes the handshake.
    pub fn respond(
        mut self,
        ephemeral: KeyPair,
        payload: &[u8],
    ) -> Result<(Vec<u8>, Finished), Error> {
        let mut out = Vec::with_capacity(48 + payload.len());
        write_e(&mut self.ss, &ephemeral, &mut out);
        mix_dh(&mut self.ss, &ephemeral, &self.re)?;
        mix_dh(&mut self.ss, &ephemeral, &self.rs)?;
        self.ss.encrypt_and_hash(payload, &mut out)?;
        Ok((out, Finished::new(&self.ss, &self.s, self.rs, false)))
    }
}
