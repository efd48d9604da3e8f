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
//! * [`crypto`]: BLAKE2b, HMAC-BLAKE2b, the Noise HKDF, keyed BLAKE2b-256, namespaces,
//!   the secret-stream [`stream_id`] and the unordered-message [`crypto::send_key`].
//! * [`secretstream`]: libsodium's `crypto_secretstream_xchacha20poly1305` ([`secretstream::Push`],
//!   [`secretstream::Pull`]) with an injected header, tags, rekeying and libsodium's MAC
//!   padding, from HChaCha20, ChaCha20 and Poly1305 in pure Rust
//!   ([`secretstream::portable`]), or with the `libsodium` cargo feature on libsodium itself
//!   (faster; the FFI lives in the `plures-sodium-backend` crate).
//! * [`Session`]: the `NoiseSecretStream` core (JS `index.js`): uint24 framing ([`wire`]),
//!   the 59-byte header frame, encrypted data frames, keepalives, zero-length filtering,
//!   unordered `crypto_secretbox` messages for a datagram API, clean end vs error and a
//!   receive frame limit. Started from finished handshake [`Keys`] (what hyperdht does) or
//!   by running XX over the byte stream ([`Start`]).
//! * [`SecretStream`] (feature `tokio`, on by default): the tokio driver, `AsyncRead +
//!   AsyncWrite` over any `AsyncRead + AsyncWrite + Unpin`, usable with `tokio::io::split`.
//!
//! # Run model
//!
//! Everything but the driver is sans-IO, with no clock and no RNG: the caller moves bytes
//! and supplies key pairs, the secretstream header and the message counter start
//! ([`Random`]), and the current time.
//!
//! * A **handshake** is a chain of consuming states; each step takes the state by value
//!   and the peer's message, and returns the next state (or [`Finished`]) plus the bytes
//!   to send, or an [`Error`].
//! * A **[`Session`]** takes raw bytes in any chunking ([`Session::handle_input`]), the
//!   raw stream's end ([`Session::handle_eof`]), timer expiry ([`Session::handle_timeout`])
//!   and writes ([`Session::send`], [`Session::send_datagram`]). After each input, drain
//!   [`Session::poll_transmit`] (bytes for the raw stream), then [`Session::poll_timeout`]
//!   (the keepalive deadline), then [`Session::poll_event`] ([`Event`]s: handshake done,
//!   open, data, unordered message, end). A fatal [`StreamError`] destroys the session;
//!   no plaintext is released from a frame that did not authenticate.
//! * **[`SecretStream`]** reads into the session, writes what it transmits, arms one
//!   timer at `poll_timeout` and draws randomness from the OS; errors reach the caller as
//!   `io::Error`s wrapping the [`StreamError`].
//!
//! ```
//! use std::time::Instant;
//! use plures_secret_stream::{Config, Event, KeyPair, Random, Session, Start};
//!
//! let now = Instant::now();
//! let random = |b| Random { header: [b; 24], send_counter: [b; 8] };
//! let start = |init, b| {
//!     let (static_key, ephemeral) = (KeyPair::from_seed([b; 32]), KeyPair::from_seed([b + 9; 32]));
//!     if init { Start::XxInitiator { static_key, ephemeral } } else { Start::XxResponder { static_key, ephemeral } }
//! };
//! let mut a = Session::new(start(true, 1), random(1), Config::default(), now)?;
//! let mut b = Session::new(start(false, 2), random(2), Config::default(), now)?;
//! a.send(now, b"hello")?; // queued until the handshake is done
//! loop {
//!     let mut idle = true;
//!     if let Some(bytes) = a.poll_transmit() {
//!         b.handle_input(now, &bytes)?;
//!         idle = false;
//!     }
//!     if let Some(bytes) = b.poll_transmit() {
//!         a.handle_input(now, &bytes)?;
//!         idle = false;
//!     }
//!     if idle {
//!         break;
//!     }
//! }
//! assert_eq!(a.remote_public_key(), b.public_key());
//! let events: Vec<Event> = std::iter::from_fn(|| b.poll_event()).collect();
//! assert_eq!(events, [Event::Handshake, Event::Open, Event::Data(b"hello".to_vec())]);
//! # Ok::<(), plures_secret_stream::StreamError>(())
//! ```
//!
//! # Panics
//!
//! None on any input bytes: short, long, tampered, replayed or off-curve input is an
//! [`Error`] or [`StreamError`] (or a dropped datagram), never a panic.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod crypto;
#[cfg(feature = "tokio")]
mod driver;
mod error;
mod handshake;
mod keys;
pub mod secretstream;
mod session;
mod symmetric;
mod unordered;
pub mod wire;

pub use crypto::stream_id;
#[cfg(feature = "tokio")]
pub use driver::SecretStream;
pub use error::{Error, StreamError};
pub use handshake::{
    Finished, IK_PROTOCOL_NAME, IkAwaitingResponse, IkInitiator, IkReceived, IkResponder,
    XX_PROTOCOL_NAME, XxAwaitingFinal, XxAwaitingResponse, XxInitiator, XxReceived, XxResponder,
    XxResponseReceived,
};
pub use keys::{KeyPair, PUBLIC_KEY_LEN, SECRET_KEY_LEN, SEED_LEN};
pub use session::{Config, Event, HEADER_BODY_LEN, Keys, MAX_WRITE, Random, Session, Start};
pub use unordered::ENVELOPE_OVERHEAD;
