// Interop peer for the Rust secret-stream: connects to 127.0.0.1:<port> over TCP, runs
// @hyperswarm/secret-stream (standalone XX) as the given role, sends <bytes> random bytes
// (in writes of <chunk> bytes), reads everything the other side sends, and prints one
// JSON line per event on stdout:
//   {"event":"handshake","isInitiator":..,"publicKey":hex,"remotePublicKey":hex,"handshakeHash":hex}
//   {"event":"sent","bytes":n,"sha256":hex}
//   {"event":"received","bytes":n,"sha256":hex}
//   {"event":"close"} | {"event":"error","message":..}
//
// usage: node secret-stream-peer.mjs --port P --role initiator|responder
//                                    [--seed hex32] [--bytes N] [--chunk N] [--keep-alive ms]
import net from 'node:net'
import crypto from 'node:crypto'
import sodium from 'sodium-native'
import NoiseSecretStream from '@hyperswarm/secret-stream'

function args () {
  const out = { port: 0, role: 'initiator', seed: null, bytes: 0, chunk: 65536, keepAlive: 0 }
  const a = process.argv.slice(2)
  for (let i = 0; i < a.length; i += 2) {
    const k = a[i]
    const v = a[i + 1]
    if (k === '--port') out.port = Number(v)
    else if (k === '--role') out.role = v
    else if (k === '--seed') out.seed = Buffer.from(v, 'hex')
    else if (k === '--bytes') out.bytes = Number(v)
    else if (k === '--chunk') out.chunk = Number(v)
    else if (k === '--keep-alive') out.keepAlive = Number(v)
    else throw new Error('unknown argument ' + k)
  }
  return out
}

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const opts = args()
let keyPair
if (opts.seed) {
  const publicKey = Buffer.alloc(32)
  const secretKey = Buffer.alloc(64)
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, opts.seed)
  keyPair = { publicKey, secretKey }
}

const socket = net.connect({ port: opts.port, host: '127.0.0.1', allowHalfOpen: true })
const stream = new NoiseSecretStream(opts.role === 'initiator', socket, {
  keyPair,
  keepAlive: opts.keepAlive
})

let recvBytes = 0
const recvHash = crypto.createHash('sha256')

stream.on('error', (err) => {
  emit({ event: 'error', message: String(err && err.message) })
  process.exitCode = 1
})
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
  emit({ event: 'sent', bytes: opts.bytes, sha256: sendHash.digest('hex') })
})
