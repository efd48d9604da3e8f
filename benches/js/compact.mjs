// The workloads of benches/benches/compact.rs on the JS compact-encoding (3.5.2), for
// comparison with plures-compact and the datrs crate. Prints ns/op per case (median over
// batches), or JSON with --json. Run through benches/run-compact.sh.
//
// compact-encoding is loaded from ../../testnet/node_modules/compact-encoding (relative to
// this file) unless CE_PATH points to another copy (a directory or its index.js), e.g. after
// `npm install compact-encoding@3.5.2` in a scratch directory.
//
// Env: BENCH_WARMUP_MS (default 500), BENCH_MEASURE_MS (default 2000), as in the criterion
// configuration of the Rust bench.

import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
let cePath = process.env.CE_PATH || path.join(here, '../../testnet/node_modules/compact-encoding')
if (!cePath.endsWith('.js')) cePath = path.join(cePath, 'index.js')
const require = createRequire(import.meta.url)
const c = require(cePath)
const ceVersion = require(path.join(path.dirname(cePath), 'package.json')).version

const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS || 500)
const MEASURE_MS = Number(process.env.BENCH_MEASURE_MS || 2000)
const json = process.argv.includes('--json')

// ---- data: the same generator, seed and mix as the Rust bench --------------------------

const MASK = (1n << 64n) - 1n
function xorshift (seed) {
  let x = seed
  return () => {
    x ^= (x << 13n) & MASK
    x ^= x >> 7n
    x ^= (x << 17n) & MASK
    return x
  }
}

const SEED = 0x9e3779b97f4a7c15n

function uints () {
  const next = xorshift(SEED)
  const out = new Array(10000)
  for (let i = 0; i < out.length; i++) {
    const cls = next() % 100n
    let v
    if (cls < 60n) v = next() % 0xfdn
    else if (cls < 85n) v = 0xfdn + next() % (0x10000n - 0xfdn)
    else if (cls < 95n) v = 0x10000n + next() % (0x100000000n - 0x10000n)
    else v = 0x100000000n + next() % ((1n << 53n) - 0x100000000n)
    out[i] = Number(v)
  }
  return out
}

function bytes (n, seed) {
  const next = xorshift(BigInt(seed))
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = Number(next() & 0xffn)
  return b
}

function message () {
  const nodes = []
  for (let i = 0; i < 20; i++) nodes.push({ host: `10.0.${i}.${1 + i}`, port: 10000 + i })
  return {
    tid: 0xbeef,
    to: { host: '192.0.2.7', port: 49737 },
    id: bytes(32, 1),
    token: bytes(32, 2),
    command: 3,
    target: bytes(32, 3),
    value: bytes(100, 4),
    nodes
  }
}

// ---- codecs -----------------------------------------------------------------------------

const nodesEnc = c.array(c.ipv4Address)

function flagsOf (m) {
  return (m.id ? 1 : 0) | (m.token ? 2 : 0) | (m.target ? 4 : 0) | (m.value ? 8 : 0) |
    (m.nodes && m.nodes.length ? 16 : 0)
}

const Msg = {
  preencode (state, m) {
    c.uint.preencode(state, flagsOf(m))
    c.uint16.preencode(state, m.tid)
    c.ipv4Address.preencode(state, m.to)
    if (m.id) c.fixed32.preencode(state, m.id)
    if (m.token) c.fixed32.preencode(state, m.token)
    c.uint.preencode(state, m.command)
    if (m.target) c.fixed32.preencode(state, m.target)
    if (m.value) c.buffer.preencode(state, m.value)
    if (m.nodes && m.nodes.length) nodesEnc.preencode(state, m.nodes)
  },
  encode (state, m) {
    c.uint.encode(state, flagsOf(m))
    c.uint16.encode(state, m.tid)
    c.ipv4Address.encode(state, m.to)
    if (m.id) c.fixed32.encode(state, m.id)
    if (m.token) c.fixed32.encode(state, m.token)
    c.uint.encode(state, m.command)
    if (m.target) c.fixed32.encode(state, m.target)
    if (m.value) c.buffer.encode(state, m.value)
    if (m.nodes && m.nodes.length) nodesEnc.encode(state, m.nodes)
  },
  decode (state) {
    const flags = c.uint.decode(state)
    return {
      tid: c.uint16.decode(state),
      to: c.ipv4Address.decode(state),
      id: flags & 1 ? c.fixed32.decode(state) : null,
      token: flags & 2 ? c.fixed32.decode(state) : null,
      command: c.uint.decode(state),
      target: flags & 4 ? c.fixed32.decode(state) : null,
      value: flags & 8 ? c.buffer.decode(state) : null,
      nodes: flags & 16 ? nodesEnc.decode(state) : []
    }
  }
}

function uintsEncode (v) {
  const state = c.state()
  for (let i = 0; i < v.length; i++) c.uint.preencode(state, v[i])
  state.buffer = Buffer.allocUnsafe(state.end)
  for (let i = 0; i < v.length; i++) c.uint.encode(state, v[i])
  return state.buffer
}

function uintsDecode (buf, n) {
  const state = c.state(0, buf.byteLength, buf)
  let acc = 0
  for (let i = 0; i < n; i++) acc += c.uint.decode(state)
  return acc
}

// FNV-1a 64 of the encoded workloads: the Rust bench asserts the same constants, so all
// three implementations work on identical bytes.
function fnv1a64 (b) {
  let h = 0xcbf29ce484222325n
  for (const x of b) h = ((h ^ BigInt(x)) * 0x100000001b3n) & MASK
  return h
}
const UINTS_DIGEST = [23186, 0x63debd9bad5dff3an]
const MSG_DIGEST = 0xd2382d959642a7b8n

// ---- harness ----------------------------------------------------------------------------

let sink = 0
function consume (x) {
  // Keeps results alive so that the work cannot be dropped.
  sink ^= (x && (x.length ?? x.byteLength ?? x.tid)) | 0
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

const v = uints()
const uintBuf = uintsEncode(v)
const m = message()
const msgBuf = c.encode(Msg, m)
if (uintBuf.byteLength !== UINTS_DIGEST[0] || fnv1a64(uintBuf) !== UINTS_DIGEST[1]) {
  throw new Error('the uint workload differs from the Rust bench')
}
if (msgBuf.byteLength !== 328 || fnv1a64(msgBuf) !== MSG_DIGEST) {
  throw new Error('the message differs from the Rust bench')
}
const buf1k = c.encode(c.buffer, bytes(1024, 5))
const buf64k = c.encode(c.buffer, bytes(64 * 1024, 5))
const p1k = bytes(1024, 5)
const p64k = bytes(64 * 1024, 5)

const cases = [
  ['uint10k-encode', () => uintsEncode(v)],
  ['uint10k-decode', () => uintsDecode(uintBuf, v.length)],
  ['msg-encode', () => c.encode(Msg, m)],
  ['msg-decode', () => c.decode(Msg, msgBuf)],
  ['buf1k-encode', () => c.encode(c.buffer, p1k)],
  ['buf1k-decode', () => c.decode(c.buffer, buf1k)],
  ['buf64k-encode', () => c.encode(c.buffer, p64k)],
  ['buf64k-decode', () => c.decode(c.buffer, buf64k)]
]

const results = {}
for (const [name, fn] of cases) {
  results[name] = bench(fn)
  if (!json) console.log(`${name.padEnd(16)} ${results[name].toFixed(1).padStart(12)} ns/op`)
}

if (json) {
  console.log(JSON.stringify({ node: process.version, compactEncoding: ceVersion, ns: results }))
} else {
  console.log(`(node ${process.version}, compact-encoding ${ceVersion}, sink ${sink})`)
}
