// Interop peer for the Rust secret-stream over UDX (crates/secret-stream/tests/js_udx_interop.rs).
//
// Binds a udx-native socket on 127.0.0.1 port 0, creates UDX stream <id> and prints
//   {"event":"listening","port":P,"id":ID}
// then reads one JSON line on stdin, {"port":P,"id":R}: the other side's socket port and
// stream id. It connects the UDX stream to them (printing {"event":"connected"}), wraps
// it in @hyperswarm/secret-stream (its own XX handshake over the UDX byte stream) as the
// given role, sends <bytes> random bytes in writes of <chunk> bytes, ends, reads
// everything the other side sends, and prints one JSON line per event:
//   {"event":"handshake","isInitiator":..,"publicKey":hex,"remotePublicKey":hex,"handshakeHash":hex}
//   {"event":"sent","bytes":n,"sha256":hex,"ms":t}     after the last write and end()
//   {"event":"received","bytes":n,"sha256":hex}        on the secret stream's end
//   {"event":"close"}                                   the secret stream closed
//   {"event":"raw-close"}                               the UDX stream closed (then exit)
//   {"event":"error","where":"secret"|"raw","code":..,"message":..}
//
// usage: node secret-stream-udx-peer.mjs --role initiator|responder [--id N]
//                                        [--seed hex32] [--bytes N] [--chunk N]
import crypto from 'node:crypto'
import readline from 'node:readline'
import sodium from 'sodium-native'
import UDX from 'udx-native'
import NoiseSecretStream from '@hyperswarm/secret-stream'

function args () {
  const out = { role: 'initiator', id: 1, seed: null, bytes: 0, chunk: 65536 }
  const a = process.argv.slice(2)
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i]
    const v = a[i + 1]
    if (k === '--role') out.role = v
    else if (k === '--id') out.id = Number(v)
    else if (k === '--seed') out.seed = Buffer.from(v, 'hex')
    else if (k === '--bytes') out.bytes = Number(v)
    else if (k === '--chunk') out.chunk = Number(v)
    else throw new Error('unknown argument ' + k)
  }
  return out
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function fail (where, err) {
  emit({ event: 'error', where, code: (err && err.code) || null, message: String(err && err.message) })
  process.exitCode = 1
}

const opts = args()
let keyPair
if (opts.seed) {
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, opts.seed)
  keyPair = { publicKey, secretKey }
}

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
// Created now, so nothing the peer sends after we connect can miss it.
const raw = udx.createStream(opts.id)
raw.on('error', (err) => fail('raw', err))
raw.on('close', () => {
  emit({ event: 'raw-close' })
  socket.close()
})
emit({ event: 'listening', port: socket.address().port, id: opts.id })

function start (remote) {
  raw.connect(socket, remote.id, remote.port, '127.0.0.1')
  emit({ event: 'connected' })

  const stream = new NoiseSecretStream(opts.role === 'initiator', raw, { keyPair })
  let recvBytes = 0
  const recvHash = crypto.createHash('sha256')

  stream.on('error', (err) => fail('secret', err))
  stream.on('close', () => emit({ event: 'close' }))
  stream.on('data', (chunk) => {
    recvBytes += chunk.length
    recvHash.update(chunk)
  })
  stream.on('end', () => {
    emit({ event: 'received', bytes: recvBytes, sha256: recvHash.digest('hex') })
  })
  stream.on('connect', async () => {
    emit({
      event: 'handshake',
      isInitiator: stream.isInitiator,
      publicKey: stream.publicKey.toString('hex'),
      remotePublicKey: stream.remotePublicKey.toString('hex'),
      handshakeHash: stream.handshakeHash.toString('hex')
    })
    const started = Date.now()
    const sendHash = crypto.createHash('sha256')
    let left = opts.bytes
    while (left > 0) {
      const n = Math.min(left, opts.chunk)
      const buf = crypto.randomBytes(n)
      sendHash.update(buf)
      left -= n
      if (!stream.write(buf)) await new Promise((resolve) => stream.once('drain', resolve))
    }
    stream.end()
    emit({ event: 'sent', bytes: opts.bytes, sha256: sendHash.digest('hex'), ms: Date.now() - started })
  })
}

let started = false
const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (started || !line.trim()) return
  started = true
  try {
    start(JSON.parse(line))
  } catch (err) {
    fail('setup', err)
  }
})
// The test closes stdin when it is done (or dies): do not outlive it.
lines.on('close', () => process.exit())
