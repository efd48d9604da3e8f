//! XX: `-> e  <- e, ee, s, es  -> s, se`. secret-stream's standalone handshake.

use super::{Finished, XX_PROTOCOL_NAME, initialise, mix_dh, read_e, read_s, write_e};
use crate::error::Error;
use crate::keys::KeyPair;
use crate::symmetric::SymmetricState;

/// Starts an XX handshake as initiator.
#[derive(Debug)]
pub struct XxInitiator;

impl XxInitiator {
    /// Builds message 1 (`e` + payload, sent in plaintext) and the state that awaits
    /// message 2.
    pub fn start(
        local_static: KeyPair,
        ephemeral: KeyPair,
        prologue: &[u8],
        payload: &[u8],
    ) -> Result<(Vec<u8>, XxAwaitingResponse), Error> {
        let mut ss = initialise(XX_PROTOCOL_NAME, prologue);
        let mut out = Vec::with_capacity(32 + payload.len());
        write_e(&mut ss, &ephemeral, &mut out);
        ss.encrypt_and_hash(payload, &mut out)?;
        let next = XxAwaitingResponse {
            ss,
            s: local_static,
            e: ephemeral,
        };
        Ok((out, next))
    }
}

/// XX initiator after message 1: waits for message 2.
pub struct XxAwaitingResponse {
    ss: SymmetricState,
    s: KeyPair,
    e: KeyPair,
}

impl XxAwaitingResponse {
    /// Reads message 2 (`e, ee, s, es` + payload): the responder's static key and payload,
    /// and the state that writes message 3.
    pub fn handle(mut self, msg: &[u8]) -> Result<XxResponseReceived, Error> {
        let mut buf = msg;
        let re = read_e(&mut self.ss, &mut buf)?;
        mix_dh(&mut self.ss, &self.e, &re)?;
        let rs = read_s(&mut self.ss, &mut buf)?;
        mix_dh(&mut self.ss, &self.e, &rs)?;
        let payload = self.ss.decrypt_and_hash(buf)?;
        Ok(XxResponseReceived {
            ss: self.ss,
            s: self.s,
            re,
            rs,
            payload,
        })
    }
}

/// XX initiator after message 2: the responder is known; finish with message 3.
pub struct XxResponseReceived {
    ss: SymmetricState,
    s: KeyPair,
    re: [u8; 32],
    rs: [u8; 32],
    payload: Vec<u8>,
}

impl XxResponseReceived {
    /// The responder's static public key, learnt from message 2.
    pub fn remote_static_key(&self) -> &[u8; 32] {
        &self.rs
    }

    /// The responder's payload from message 2.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Builds message 3 (`s, se` + payload) and finishes the handshake.
    pub fn finish(mut self, payload: &[u8]) -> Result<(Vec<u8>, Finished), Error> {
        let mut out = Vec::with_capacity(64 + payload.len());
        self.ss.encrypt_and_hash(self.s.public_key(), &mut out)?;
        mix_dh(&mut self.ss, &self.s, &self.re)?;
        self.ss.encrypt_and_hash(payload, &mut out)?;
        Ok((out, Finished::new(&self.ss, &self.s, self.rs, true)))
    }
}

/// XX responder before message 1.
pub struct XxResponder {
    ss: SymmetricState,
    s: KeyPair,
}

impl XxResponder {
    /// A responder with static key pair `local_static`.
    pub fn new(local_static: KeyPair, prologue: &[u8]) -> Self {
        Self {
            ss: initialise(XX_PROTOCOL_NAME, prologue),
            s: local_static,
        }
    }

    /// Reads message 1 (`e` + plaintext payload).
    pub fn handle(mut self, msg: &[u8]) -> Result<XxReceived, Error> {
        let mut buf = msg;
        let re = read_e(&mut self.ss, &mut buf)?;
        let payload = self.ss.decrypt_and_hash(buf)?;
        Ok(XxReceived {
            ss: self.ss,
            s: self.s,
            re,
            payload,
        })
    }
}

/// XX responder after message 1: answer with message 2.
pub struct XxReceived {
    ss: SymmetricState,
    s: KeyPair,
    re: [u8; 32],
    payload: Vec<u8>,
}

impl XxReceived {
    /// The initiator's (plaintext) payload from message 1.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Builds message 2 (`e, ee, s, es` + payload) and the state that awaits message 3.
    pub fn respond(
        mut self,
        ephemeral: KeyPair,
        payload: &[u8],
    ) -> Result<(Vec<u8>, XxAwaitingFinal), Error> {
        let mut out = Vec::with_capacity(96 + payload.len());
        write_e(&mut self.ss, &ephemeral, &mut out);
        mix_dh(&mut self.ss, &ephemeral, &self.re)?;
        self.ss.encrypt_and_hash(self.s.public_key(), &mut out)?;
        mix_dh(&mut self.ss, &self.s, &self.re)?;
        self.ss.encrypt_and_hash(payload, &mut out)?;
        let next = XxAwaitingFinal {
            ss: self.ss,
            s: self.s,
            e: ephemeral,
        };
        Ok((out, next))
    }
}

/// XX responder after message 2: waits for message 3.
pub struct XxAwaitingFinal {
    ss: SymmetricState,
    s: KeyPair,
    e: KeyPair,
}

impl XxAwaitingFinal {
    /// Reads message 3 (`s, se` + payload): the finished handshake and the initiator's
    /// payload.
    pub fn handle(mut self, msg: &[u8]) -> Result<(Finished, Vec<u8>), Error> {
        let mut buf = msg;
        let rs = read_s(&mut self.ss, &mut buf)?;
        mix_dh(&mut self.ss, &self.e, &rs)?;
        let payload = self.ss.decrypt_and_hash(buf)?;
        Ok((Finished::new(&self.ss, &self.s, rs, false), payload))
    }
}
