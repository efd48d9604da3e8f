//! Noise `IK`/`XX` handshakes with Ed25519 Diffie-Hellman as `noise-handshake` 4.2.0 with
//! `noise-curve-ed` 2.1.0 run them for hyperdht and `@hyperswarm/secret-stream` 6.9.2
//! (spec `shared/spec/noise.md`, `shared/spec/secret-stream.md`).
//!
//! # What exists
//!
//! * [`KeyPair`]: Ed25519 key pairs exactly as libsodium's `crypto_sign_seed_keypair`
//!   (secret key = `seed ‖ publicKey`), from a seed or from the caller's RNG, and the
//!   reference's DH: `[clamp(SHA-512(seed))]·P` on Edwards points (not X25519), rejecting
//!   the points libsodium rejects.
//! * The handshakes `Noise_IK_Ed25519_ChaChaPoly_BLAKE2b` ([`IkInitiator`],
//!   [`IkResponder`]) and `Noise_XX_Ed25519_ChaChaPoly_BLAKE2b` ([`XxInitiator`],
//!   [`XxResponder`]) with prologue and payloads, ending in [`Finished`]: `tx`, `rx`, the
//!   64-byte handshake hash and the remote static key.
//! * [`crypto`]: BLAKE2b, HMAC-BLAKE2b, the Noise HKDF, keyed BLAKE2b-256, namespaces and
//!   the secret-stream [`stream_id`].
//!
//! # Run model
//!
//! Sans-IO and without an RNG: the caller moves bytes and supplies key pairs. A
//! handshake is a chain of consuming states; each step takes the state by value and the
//! peer's message, and returns the next state (or [`Finished`]) plus the bytes to send,
//! or an [`Error`]. Framing is the carrier's job (hyperdht puts the messages into DHT
//! requests; secret-stream prefixes a uint24 length).
//!
//! ```
//! use plures_secret_stream::{IkInitiator, IkResponder, KeyPair};
//!
//! let server = KeyPair::from_seed([2; 32]);
//! let server_pk = *server.public_key();
//! let (msg1, waiting) =
//!     IkInitiator::start(KeyPair::from_seed([1; 32]), KeyPair::from_seed([3; 32]), server_pk, b"", b"hello")?;
//! let received = IkResponder::new(server, b"").handle(&msg1)?;
//! assert_eq!(received.payload(), b"hello");
//! let (msg2, server_done) = received.respond(KeyPair::from_seed([4; 32]), b"world")?;
//! let (client_done, payload) = waiting.handle(&msg2)?;
//! assert_eq!(payload, b"world");
//! assert_eq!(client_done.tx(), server_done.rx());
//! assert_eq!(client_done.handshake_hash(), server_done.handshake_hash());
//! # Ok::<(), plures_secret_stream::Error>(())
//! ```
//!
//! # Panics
//!
//! None on any input bytes: short, long, tampered or off-curve messages are [`Error`]s.
//!
//! # What comes next
//!
//! The secret-stream transport: the header exchange, `crypto_secretstream_xchacha20poly1305`
//! framing with uint24 lengths, keepalives and unordered messages, and `SecretStream<S>`
//! over any `AsyncRead + AsyncWrite` (issue 5).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod crypto;
mod error;
mod handshake;
mod keys;
mod symmetric;

pub use crypto::stream_id;
pub use error::Error;
pub use handshake::{
    Finished, IK_PROTOCOL_NAME, IkAwaitingResponse, IkInitiator, IkReceived, IkResponder,
    XX_PROTOCOL_NAME, XxAwaitingFinal, XxAwaitingResponse, XxInitiator, XxReceived, XxResponder,
    XxResponseReceived,
};
pub use keys::{KeyPair, PUBLIC_KEY_LEN, SECRET_KEY_LEN, SEED_LEN};
