//! Noise `IK`/`XX` handshakes with Ed25519 Diffie-Hellman, and the encrypted framed stream
//! of `@hyperswarm/secret-stream` 6.9.2 (see `shared/spec/noise.md` and
//! `shared/spec/secret-stream.md`).
//!
//! This crate will hold key pairs derived from seeds as the reference derives them, the
//! handshake as plain values driven by bytes, the `crypto_secretstream_xchacha20poly1305`
//! framing, keepalives and unordered messages, and `SecretStream<S>` over any
//! `AsyncRead + AsyncWrite`.
//!
//! Nothing is implemented yet; the work is tracked in issue 5.
#![forbid(unsafe_code)]
