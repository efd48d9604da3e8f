// Interop peer for a hyperdht-style connection set-up without the DHT
// (crates/hyperdht/tests/js_noise_udx.rs): hyperdht's own NoiseWrap (Noise IK with the
// PEER_HANDSHAKE prologue, noisePayload plaintexts) runs over the test's stdin/stdout in
// place of the DHT relay, then a udx-native stream is connected to the stream id and
// address the other side put in its payload, and @hyperswarm/secret-stream starts on it
// from the finished handshake (no Noise bytes on the stream), as hyperdht does.
//
// Roles: client (initiator, knows the server's key: --remote hex) and server.
// Prints {"event":"listening","port":P,"id":ID,"publicKey":hex}; then
//   client: prints {"event":"noise","message":hex}, reads {"noise":hex} (the reply);
//   server: reads {"noise":hex}, prints {"event":"noise","message":hex};
// each side prints {"event":"payload", ...the decoded payload of the other side} and
//   {"event":"handshake","isInitiator","publicKey","remotePublicKey","hash","holepunchSecret","remoteId"}
// then connects its UDX stream ({"event":"connected"}), reads one more line (the test's
// go-ahead, so the other side is connected too), starts the secret stream, sends <bytes>
// bytes, ends and reports {"event":"sent"|"received"|"close"|"raw-close"} as
// secret-stream-udx-peer.mjs does.
//
// usage: node hyperdht-noise-udx-peer.mjs --role client|server --seed hex32
//                                        [--remote hex32] [--id N] [--bytes N]
import crypto from 'node:crypto'
import readline from 'node:readline'
import sodium from 'sodium-native'
import UDX from 'udx-native'
import NoiseSecretStream from '@hyperswarm/secret-stream'
import NoiseWrap from 'hyperdht/lib/noise-wrap.js'

function args () {
  const out = { role: 'client', id: 7, seed: null, remote: null, bytes: 0 }
  const a = process.argv.slice(2)
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i]
    const v = a[i + 1]
    if (k === '--role') out.role = v
    else if (k === '--id') out.id = Number(v)
    else if (k === '--seed') out.seed = Buffer.from(v, 'hex')
    else if (k === '--remote') out.remote = Buffer.from(v, 'hex')
    else if (k === '--bytes') out.bytes = Number(v)
    else throw new Error('unknown argument ' + k)
  }
  return out
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')
const hex = (b) => b ? Buffer.from(b).toString('hex') : null
function fail (where, err) {
  emit({ event: 'error', where, code: (err && err.code) || null, message: String(err && err.message) })
  process.exitCode = 1
}

const opts = args()
const publicKey = Buffer.alloc(32)
const secretKey = Buffer.alloc(64)
sodium.crypto_sign_seed_keypair(publicKey, secretKey, opts.seed)
const keyPair = { publicKey, secretKey }
const client = opts.role === 'client'

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, '127.0.0.1')
const raw = udx.createStream(opts.id)
raw.on('error', (err) => fail('raw', err))
raw.on('close', () => {
  emit({ event: 'raw-close' })
  socket.close()
})
const port = socket.address().port
emit({ event: 'listening', port, id: opts.id, publicKey: hex(publicKey) })

// What hyperdht puts in its own payload for a loopback connection.
const ourPayload = {
  version: 1,
  error: 0,
  firewall: 1,
  holepunch: null,
  addresses4: [{ host: '127.0.0.1', port }],
  addresses6: [],
  udx: { version: 1, reusableSocket: false, id: opts.id, seq: 0 },
  secretStream: { version: 1 },
  relayThrough: null,
  relayAddresses: client ? null : []
}

const noise = new NoiseWrap(keyPair, client ? opts.remote : null)
let handshake = null

function accept (payload) {
  emit({
    event: 'payload',
    version: payload.version,
    error: payload.error,
    firewall: payload.firewall,
    addresses4: payload.addresses4,
    udx: payload.udx,
    secretStream: payload.secretStream,
    relayAddresses: payload.relayAddresses
  })
  const hs = noise.final()
  handshake = hs
  emit({
    event: 'handshake',
    isInitiator: hs.isInitiator,
    publicKey: hex(hs.publicKey),
    remotePublicKey: hex(hs.remotePublicKey),
    hash: hex(hs.hash),
    holepunchSecret: hex(hs.holepunchSecret),
    remoteId: hex(hs.remoteId)
  })
  const to = payload.addresses4[0]
  raw.connect(socket, payload.udx.id, to.port, to.host)
  emit({ event: 'connected' })
}

function startStream () {
  const stream = new NoiseSecretStream(handshake.isInitiator, raw, { handshake })
  let recvBytes = 0
  const recvHash = crypto.createHash('sha256')
  stream.on('error', (err) => fail('secret', err))
  stream.on('close', () => emit({ event: 'close' }))
  stream.on('data', (chunk) => {
    recvBytes += chunk.length
    recvHash.update(chunk)
  })
  stream.on('end', () => emit({ event: 'received', bytes: recvBytes, sha256: recvHash.digest('hex') }))
  stream.on('connect', async () => {
    emit({ event: 'open', remotePublicKey: hex(stream.remotePublicKey), handshakeHash: hex(stream.handshakeHash) })
    const sendHash = crypto.createHash('sha256')
    let left = opts.bytes
    while (left > 0) {
      const buf = crypto.randomBytes(Math.min(left, 65536))
      sendHash.update(buf)
      left -= buf.length
      if (!stream.write(buf)) await new Promise((resolve) => stream.once('drain', resolve))
    }
    stream.end()
    emit({ event: 'sent', bytes: opts.bytes, sha256: sendHash.digest('hex') })
  })
}

if (client) emit({ event: 'noise', message: hex(noise.send(ourPayload)) })

let step = 0
const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (!line.trim()) return
  try {
    const msg = JSON.parse(line)
    if (step === 0) {
      const payload = noise.recv(Buffer.from(msg.noise, 'hex'))
      if (!client) emit({ event: 'noise', message: hex(noise.send(ourPayload)) })
      accept(payload)
    } else if (step === 1) {
      startStream()
    }
    step++
  } catch (err) {
    fail('setup', err)
  }
})
lines.on('close', () => process.exit())
