// The udx-native end of benches/src/bin/udx_bench.rs (run through benches/run-udx.sh).
//
//   node benches/js/udx.mjs peer --role send|recv|ping|pong [--bytes N] [--pings N]
//
// Binds a udx-native 1.21.3 socket on 127.0.0.1:0 and prints {"port":P}; reads the other
// end's {"port":Q} from stdin; connects stream 1 (send, ping) or 2 (recv, pong) to the other
// id, runs its role and prints one JSON result line:
//   send: writes N bytes of the pattern (byte i = i % 251) in 64 KiB chunks, ends, waits for
//         close                                      -> {"bytes","secs","cpu"}
//   recv: reads to the peer's END; secs from the first byte to END, cpu = process.cpuUsage()
//         over the same stretch                      -> {"bytes","secs","cpu"}
//   ping: 100 warm-up + N round trips of 32 bytes    -> {"count","median_us","p99_us"}
//   pong: echoes until END                           -> {"ok":true}
// Gives up after 300 s with {"error":...}.
//
// Packages come from ../../testnet/node_modules unless NODE_MODULES points elsewhere.

import { createRequire } from 'node:module'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const modules = process.env.NODE_MODULES || path.join(here, '../../testnet/node_modules')
const require = createRequire(import.meta.url)
const UDX = require(path.join(modules, 'udx-native'))

const CHUNK = 65536
const PERIOD = 251
const PING = 32
const WARMUP_PINGS = 100
const LIMIT_MS = 300000

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt
}
if (args[0] !== 'peer') {
  console.error('usage: udx.mjs peer --role send|recv|ping|pong [--bytes N] [--pings N]')
  process.exit(2)
}
const role = opt('--role')
const bytes = Number(opt('--bytes', 256 * 1024 * 1024))
const pings = Number(opt('--pings', 10000))

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const cpuSeconds = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
setTimeout(() => {
  emit({ error: 'timed out' })
  process.exit(1)
}, LIMIT_MS).unref()

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
emit({ port: socket.address().port })

const input = readline.createInterface({ input: process.stdin })
const first = await new Promise((resolve) => input.once('line', resolve))
const otherPort = JSON.parse(first).port
const [id, remoteId] = role === 'send' || role === 'ping' ? [1, 2] : [2, 1]
const stream = udx.createStream(id)
stream.on('error', (err) => {
  emit({ error: String(err.code || err.message) })
  process.exit(1)
})
stream.connect(socket, remoteId, otherPort, '127.0.0.1')

const closed = new Promise((resolve) => stream.once('close', resolve))

async function send () {
  const pattern = Buffer.alloc(CHUNK + PERIOD)
  for (let i = 0; i < pattern.length; i++) pattern[i] = i % PERIOD
  const cpu = cpuSeconds()
  const started = process.hrtime.bigint()
  let sent = 0
  while (sent < bytes) {
    const n = Math.min(CHUNK, bytes - sent)
    const start = sent % PERIOD
    sent += n
    if (!stream.write(pattern.subarray(start, start + n))) {
      await new Promise((resolve) => stream.once('drain', resolve))
    }
  }
  stream.end()
  stream.resume()
  await closed
  const secs = Number(process.hrtime.bigint() - started) / 1e9
  return { bytes: sent, secs, cpu: cpuSeconds() - cpu }
}

async function recv () {
  const cpu = cpuSeconds()
  let firstAt = null
  let received = 0
  let result = null
  stream.on('data', (data) => {
    if (firstAt === null) firstAt = process.hrtime.bigint()
    received += data.length
  })
  stream.on('end', () => {
    const secs = firstAt === null ? 0 : Number(process.hrtime.bigint() - firstAt) / 1e9
    result = { bytes: received, secs, cpu: cpuSeconds() - cpu }
    stream.end()
  })
  await closed
  return result
}

async function ping () {
  const msg = Buffer.alloc(PING, 7)
  const rtts = []
  let want = 0
  let wake = null
  stream.on('data', (data) => {
    want -= data.length
    if (want <= 0 && wake) {
      const w = wake
      wake = null
      w()
    }
  })
  for (let i = 0; i < WARMUP_PINGS + pings; i++) {
    const t = process.hrtime.bigint()
    want += PING
    const back = new Promise((resolve) => { wake = resolve })
    stream.write(msg)
    await back
    if (i >= WARMUP_PINGS) rtts.push(Number(process.hrtime.bigint() - t) / 1e3)
  }
  stream.end()
  await closed
  rtts.sort((a, b) => a - b)
  const at = (q) => rtts[Math.round((rtts.length - 1) * q)]
  return { count: rtts.length, median_us: at(0.5), p99_us: at(0.99) }
}

async function pong () {
  stream.on('data', (data) => stream.write(data))
  stream.on('end', () => stream.end())
  await closed
  return { ok: true }
}

const roles = { send, recv, ping, pong }
if (!roles[role]) {
  emit({ error: 'unknown role ' + role })
  process.exit(2)
}
const result = await roles[role]()
emit(result)
socket.close()
input.close()
process.exit(0)
