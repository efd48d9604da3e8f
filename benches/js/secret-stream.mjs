// The workloads of benches/benches/secret_stream.rs on the pinned JS reference: sodium-native
// 5.1.0 (libsodium's crypto_secretstream_xchacha20poly1305 and ChaCha20-Poly1305 IETF) and
// noise-handshake 4.2.0 with noise-curve-ed 2.1.0 (IK and XX). Prints ns/op per case (median
// over batches), or JSON with --json. Run through benches/run-secret-stream.sh.
//
// Packages are loaded from ../../testnet/node_modules (relative to this file) unless
// NODE_MODULES points to another node_modules directory.
//
// Env: BENCH_WARMUP_MS (default 500), BENCH_MEASURE_MS (default 2000), as in the criterion
// configuration of the Rust bench.

import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const modules = process.env.NODE_MODULES || path.join(here, '../../testnet/node_modules')
const require = createRequire(import.meta.url)
const load = (name) => require(path.join(modules, name))
const version = (name) => require(path.join(modules, name, 'package.json')).version
const sodium = load('sodium-native')
const Noise = load('noise-handshake')
const curve = load('noise-curve-ed')

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS || 500)
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS || 2000)
const json = process.argv.includes('--json')

// ---- data: the same generator, seed and keys as the Rust bench --------------------------

const MASK = (1n << 64n) - 1n
function bytes (n, seed) {
  let x = BigInt(seed)
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) {
    x ^= (x << 13n) & MASK
    x ^= x >> 7n
    x ^= (x << 17n) & MASK
    b[i] = Number(x & 0xffn)
  }
  return b
}

function fnv1a64 (b) {
  let h = 0xcbf29ce484222325n
  for (const x of b) h = ((h ^ BigInt(x)) * 0x100000001b3n) & MASK
  return h
}

const KEY = Buffer.alloc(32, 7)
const HEADER = Buffer.alloc(24, 9)
const NONCE = Buffer.alloc(12, 3)
const SIZES = [['1k', 1024], ['16k', 16 * 1024], ['64k', 64 * 1024]]
// FNV-1a 64 of the first secretstream message (1 KiB, TAG_MESSAGE) under KEY and HEADER:
// the Rust bench asserts the same constant, so both sides encrypt identical bytes.
const FIRST_1K_DIGEST = 0xc6a3196740448f3en

// ---- workloads --------------------------------------------------------------------------

function secretstream (n) {
  const m = bytes(n, 5)
  const c = Buffer.alloc(n + sodium.crypto_secretstream_xchacha20poly1305_ABYTES)
  const out = Buffer.alloc(n)
  const tag = Buffer.alloc(1)
  const tx = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
  const rx = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
  initStreams(tx, rx)
  return () => {
    sodium.crypto_secretstream_xchacha20poly1305_push(tx, c, m, null, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
    sodium.crypto_secretstream_xchacha20poly1305_pull(rx, out, tag, c, null)
    return out
  }
}

// init_push draws a random header; overwrite the state with init_pull's (the two states
// are the same layout), so the stream is deterministic like the Rust bench's.
function initStreams (tx, rx) {
  const header = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES)
  sodium.crypto_secretstream_xchacha20poly1305_init_push(tx, header, KEY)
  sodium.crypto_secretstream_xchacha20poly1305_init_pull(tx, HEADER, KEY)
  sodium.crypto_secretstream_xchacha20poly1305_init_pull(rx, HEADER, KEY)
}

function firstMessageDigest () {
  const m = bytes(1024, 5)
  const c = Buffer.alloc(1024 + sodium.crypto_secretstream_xchacha20poly1305_ABYTES)
  const tx = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
  const rx = Buffer.alloc(sodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
  initStreams(tx, rx)
  sodium.crypto_secretstream_xchacha20poly1305_push(tx, c, m, null, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE)
  return fnv1a64(c)
}

function aead (n) {
  const m = bytes(n, 5)
  const c = Buffer.alloc(n + sodium.crypto_aead_chacha20poly1305_ietf_ABYTES)
  const out = Buffer.alloc(n)
  return () => {
    sodium.crypto_aead_chacha20poly1305_ietf_encrypt(c, m, null, null, NONCE, KEY)
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, c, null, NONCE, KEY)
    return out
  }
}

// Static keys from fixed seeds, as in the Rust bench; ephemerals are generated inside each
// handshake (noise-handshake calls crypto_sign_keypair; the Rust bench derives them from
// fresh seeds), so every handshake does two Ed25519 key generations.
function seedKeyPair (b) {
  return curve.generateKeyPair(Buffer.alloc(32, b))
}
const SI = seedKeyPair(1)
const SR = seedKeyPair(2)
const EMPTY = Buffer.alloc(0)

function ik () {
  const i = new Noise('IK', true, SI, { curve })
  const r = new Noise('IK', false, SR, { curve })
  i.initialise(EMPTY, SR.publicKey)
  r.initialise(EMPTY)
  r.recv(i.send())
  i.recv(r.send())
  if (!i.tx.equals(r.rx)) throw new Error('IK keys differ')
  return i.tx
}

function xx () {
  const i = new Noise('XX', true, SI, { curve })
  const r = new Noise('XX', false, SR, { curve })
  i.initialise(EMPTY)
  r.initialise(EMPTY)
  r.recv(i.send())
  i.recv(r.send())
  r.recv(i.send())
  if (!i.tx.equals(r.rx)) throw new Error('XX keys differ')
  return i.tx
}

// ---- harness (as benches/js/compact.mjs) -------------------------------------------------

let sink = 0
function consume (x) {
  sink ^= x[0] | 0
}

function bench (fn) {
  // Calibrate a batch of ~10 ms, warm up, then collect batches for MEASURE_MS.
  let iters = 1
  for (;;) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iters; i++) consume(fn())
    const dt = Number(process.hrtime.bigint() - t0)
    if (dt > 10e6) break
    iters *= 2
  }
  const warmEnd = Date.now() + WARMUP_MS
  while (Date.now() < warmEnd) for (let i = 0; i < iters; i++) consume(fn())
  const samples = []
  const end = Date.now() + MEASURE_MS
  while (Date.now() < end || samples.length < 5) {
    const t0 = process.hrtime.bigint()
    for (let i = 0; i < iters; i++) consume(fn())
    samples.push(Number(process.hrtime.bigint() - t0) / iters)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]
}

const digest = firstMessageDigest()
if (digest !== FIRST_1K_DIGEST) {
  throw new Error('the secretstream workload differs from the Rust bench')
}

const cases = []
for (const [name, n] of SIZES) cases.push([`secretstream-${name}`, secretstream(n)])
for (const [name, n] of SIZES) cases.push([`aead-${name}`, aead(n)])
cases.push(['handshake-ik', ik], ['handshake-xx', xx])

const results = {}
for (const [name, fn] of cases) {
  results[name] = bench(fn)
  if (!json) console.log(`${name.padEnd(18)} ${results[name].toFixed(1).padStart(12)} ns/op`)
}

const versions = {
  node: process.version,
  sodiumNative: version('sodium-native'),
  noiseHandshake: version('noise-handshake'),
  noiseCurveEd: version('noise-curve-ed')
}
if (json) {
  console.log(JSON.stringify({ ...versions, firstDigest: '0x' + digest.toString(16), ns: results }))
} else {
  console.log(`(${JSON.stringify(versions)}, first 1 KiB message FNV-1a 0x${digest.toString(16)}, sink ${sink})`)
}
