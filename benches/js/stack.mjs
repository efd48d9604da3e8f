// The JS ends of benches/src/bin/stack_bench (run through benches/run-stack.sh): one
// hyperdht 6.34.0 node per process on 127.0.0.1, joined to a local testnet.
//
//   node benches/js/stack.mjs serve  --bootstrap H:P[,H:P..] --seed HEX64
//   node benches/js/stack.mjs client --bootstrap H:P[,H:P..] --key HEX64
//                                    [--connects N] [--bytes N] [--pings N]
//
// Both nodes are `firewalled: false` (reachable on loopback, no holepunch) and otherwise
// adaptive, as the Rust ends (benches/src/bin/stack_bench/peer.rs) are.
//
// `serve` listens on `DHT.keyPair(seed)`, prints {"publicKey":HEX} once the server is
// announced and serves until stdin closes. The first byte a client sends picks the mode:
// `E` echoes everything (that byte included); `B` is echoed alone, then followed by a u64
// LE length L and L bytes, which the server hashes (SHA-256) as they arrive; it then writes
// the 32-byte digest and prints {"ev":"bulk","bytes":L,"secs":S,"cpu":C} (S from the first payload
// byte to the last, C the process CPU seconds meanwhile).
//
// `client` waits until its node is bootstrapped, then measures, each on fresh connections:
// `connects` × (connect(publicKey), write `E`, read the echoed `E`, close), after 2
// unmeasured ones; one connection with `pings` × 64-byte echo round trips (after 50
// unmeasured ones); one connection carrying `bytes` bytes in `B` mode, timed from the
// first write after the `B` acknowledgement to the digest's arrival, checked against the digest of what was sent. It
// prints one line {"connect_ms":[..],"ping_us":[..],"bulk":{"bytes","secs","cpu","ok"}}.
//
// Every process gives up after 300 s. Packages come from ../../testnet/node_modules unless
// NODE_MODULES points elsewhere.

import { createRequire } from 'node:module'
import { createHash } from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const modules = process.env.NODE_MODULES || path.join(here, '../../testnet/node_modules')
const require = createRequire(import.meta.url)
const DHT = require(path.join(modules, 'hyperdht'))

const LIMIT_MS = 300000
const PING = 64
const WARMUP_CONNECTS = 2
const WARMUP_PINGS = 50
const CHUNK = 65536

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt
}
const role = args[0]
const bootstrap = String(opt('--bootstrap', '')).split(',').filter(Boolean)

setTimeout(() => {
  console.error('stack.mjs: gave up after 300 s')
  process.exit(3)
}, LIMIT_MS).unref()

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const cpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
const now = () => Number(process.hrtime.bigint()) / 1e9

function makeNode () {
  return new DHT({ bootstrap, host: '127.0.0.1', firewalled: false })
}

// Exact-length reads on a stream: read(n) resolves with the next n bytes.
function reader (s) {
  let bufs = []
  let len = 0
  let want = 0
  let pending = null
  let failed = null
  const check = () => {
    if (!pending) return
    if (len >= want) {
      const all = bufs.length === 1 ? bufs[0] : Buffer.concat(bufs)
      const rest = all.subarray(want)
      bufs = rest.length ? [rest] : []
      len = rest.length
      const p = pending
      pending = null
      p.resolve(all.subarray(0, want))
    } else if (failed) {
      const p = pending
      pending = null
      p.reject(failed)
    }
  }
  s.on('data', (d) => { bufs.push(d); len += d.length; check() })
  s.on('error', (e) => { failed = failed || e; check() })
  s.on('close', () => { failed = failed || new Error('stream closed'); check() })
  return (n) => new Promise((resolve, reject) => {
    want = n
    pending = { resolve, reject }
    check()
  })
}

async function serve () {
  const seed = Buffer.from(opt('--seed', ''), 'hex')
  const dht = makeNode()
  await dht.ready()
  const server = dht.createServer((s) => {
    s.on('error', () => {})
    let mode = null
    let acked = false
    let header = Buffer.alloc(0)
    let left = 0
    let hash = null
    let t0 = 0
    let c0 = 0
    let total = 0
    const bulk = (d) => {
      if (d.length === 0) return
      if (t0 === 0) { t0 = now(); c0 = cpu() }
      const take = d.subarray(0, left)
      hash.update(take)
      left -= take.length
      if (left === 0) {
        const secs = now() - t0
        s.write(hash.digest())
        out({ ev: 'bulk', bytes: total, secs, cpu: cpu() - c0 })
        mode = 'done'
      }
    }
    s.on('data', (d) => {
      if (mode === 'E') return s.write(d)
      if (mode === 'B') return bulk(d)
      if (mode === 'done') return
      header = Buffer.concat([header, d])
      if (header[0] === 0x45) { // 'E'
        mode = 'E'
        s.write(header)
        return
      }
      if (header[0] !== 0x42) return s.destroy()
      if (!acked) { // 'B': acknowledged, so that the client's clock starts on an open stream
        acked = true
        s.write(header.subarray(0, 1))
      }
      if (header.length >= 9) { // 'B' + u64 LE
        mode = 'B'
        total = Number(header.readBigUInt64LE(1))
        left = total
        hash = createHash('sha256')
        if (left === 0) {
          s.write(hash.digest())
          mode = 'done'
        } else bulk(header.subarray(9))
      }
    })
    s.on('end', () => s.end())
  })
  await server.listen(DHT.keyPair(seed))
  out({ publicKey: server.publicKey.toString('hex') })
  process.stdin.resume()
  process.stdin.on('end', async () => {
    await server.close().catch(() => {})
    await dht.destroy().catch(() => {})
    process.exit(0)
  })
}

// A connection in mode `E` or `B`, open once the server echoed (acknowledged) the mode.
async function open (dht, key, mode = 'E') {
  const s = dht.connect(key, { keyPair: DHT.keyPair() })
  s.on('error', () => {})
  const read = reader(s)
  s.write(Buffer.from(mode))
  const first = await read(1)
  if (first[0] !== mode.charCodeAt(0)) throw new Error('bad echo')
  return { s, read }
}

// Ends the stream and waits (up to 2 s, outside every measurement) until it closed.
async function close (s) {
  const closed = new Promise((resolve) => s.once('close', resolve))
  s.end()
  const limit = new Promise((resolve) => setTimeout(resolve, 2000).unref())
  await Promise.race([closed, limit])
  s.destroy()
}

// The payload: a 1 MiB xorshift block repeated, the same bytes as the Rust client.
function payloadBlock () {
  const block = Buffer.alloc(1 << 20)
  let x = 0x9e3779b97f4a7c15n
  const mask = (1n << 64n) - 1n
  for (let i = 0; i < block.length; i += 8) {
    x ^= (x << 13n) & mask
    x ^= x >> 7n
    x ^= (x << 17n) & mask
    block.writeBigUInt64LE(x, i)
  }
  return block
}

async function client () {
  const key = Buffer.from(opt('--key', ''), 'hex')
  const connects = Number(opt('--connects', 30))
  const bytes = Number(opt('--bytes', 64 << 20))
  const pings = Number(opt('--pings', 1000))
  const dht = makeNode()
  await dht.ready()

  const connectMs = []
  for (let i = 0; i < WARMUP_CONNECTS + connects; i++) {
    const t0 = now()
    const { s } = await open(dht, key)
    const ms = (now() - t0) * 1000
    if (i >= WARMUP_CONNECTS) connectMs.push(ms)
    await close(s)
  }

  const pingUs = []
  {
    const { s, read } = await open(dht, key)
    const msg = Buffer.alloc(PING, 7)
    for (let i = 0; i < WARMUP_PINGS + pings; i++) {
      const t0 = now()
      s.write(msg)
      await read(PING)
      if (i >= WARMUP_PINGS) pingUs.push((now() - t0) * 1e6)
    }
    await close(s)
  }

  let bulk = null
  if (bytes > 0) {
    const block = payloadBlock()
    const want = createHash('sha256')
    for (let off = 0; off < bytes; off += block.length) want.update(block.subarray(0, Math.min(block.length, bytes - off)))
    const digest = want.digest()
    const { s: b, read: readB } = await open(dht, key, 'B')
    const header = Buffer.alloc(8)
    header.writeBigUInt64LE(BigInt(bytes), 0)
    const t0 = now()
    const c0 = cpu()
    b.write(header)
    for (let off = 0; off < bytes; off += CHUNK) {
      const o = off % block.length
      const n = Math.min(CHUNK, bytes - off, block.length - o)
      if (!b.write(block.subarray(o, o + n))) await new Promise((resolve) => b.once('drain', resolve))
    }
    const got = await readB(32)
    const secs = now() - t0
    bulk = { bytes, secs, cpu: cpu() - c0, ok: got.equals(digest) }
    await close(b)
  }

  out({ connect_ms: connectMs, ping_us: pingUs, bulk })
  await dht.destroy().catch(() => {})
  process.exit(0)
}

if (role === 'serve') await serve()
else if (role === 'client') await client()
else {
  console.error('usage: stack.mjs serve|client --bootstrap H:P --seed|--key HEX64 ...')
  process.exit(2)
}
