// Interop peer for the Rust UDX driver (crates/udx/tests/js_interop.rs, js_relay.rs,
// netns_loss.rs).
//
// Binds a udx-native socket on 127.0.0.1 (or `--host H`) port 0 and prints
// {"event":"listening","port":P}.
// Then reads one JSON command per line on stdin:
//   {"cmd":"connect","id":L,"remoteId":R,"port":P[,"host":H][,"mode":"sink"|"echo"]
//    [,"autoEnd":false]}
//        create stream L and connect it to stream R at H:P          -> {"event":"connected"}
//        sink (default): count and hash received bytes; echo: write them back.
//        On the peer's END, either mode ends its own side too, unless autoEnd is false
//        (then only `send` or `end` ends it).
//   {"cmd":"send","bytes":N}   write N bytes of the pattern (byte i = i % 251), then end
//                                                                  -> {"event":"sent",...}
//   {"cmd":"end"}              end the local side
//   {"cmd":"message","hex":H}  send one unreliable message         -> {"event":"message-sent"}
//   {"cmd":"destroy"}          destroy the stream
//   {"cmd":"stats"}            -> {"event":"stats","stats":{...}}
// Events on stdout, one JSON object per line:
//   {"event":"end","bytes":n,"sha256":hex}   the peer's END (bytes received before it)
//   {"event":"finish"}                       our END was flushed
//   {"event":"message","hex":hex}
//   {"event":"error","code":code,"message":text}
//   {"event":"close","stats":{...}}
// stats: the udx-native stream counters (retransmits, rtoCount, fastRecoveries,
// packetsTransmitted, bytesTransmitted, packetsReceived, bytesReceived, rtt, mtu).
// udx-native reads retransmits and fastRecoveries through 16-bit views: they wrap at 65536.
// The process exits when stdin closes.
import crypto from 'node:crypto'
import readline from 'node:readline'
import UDX from 'udx-native'

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const PERIOD = 251
const CHUNK = 65536
// Every chunk of the pattern is a slice of this buffer, starting at (offset % PERIOD).
const PATTERN = Buffer.alloc(PERIOD * 512 + CHUNK)
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i % PERIOD

const hostArg = process.argv.indexOf('--host')
const HOST = hostArg === -1 ? '127.0.0.1' : process.argv[hostArg + 1]

const udx = new UDX()
const socket = udx.createSocket()
socket.bind(0, HOST)
emit({ event: 'listening', port: socket.address().port })

let stream = null
let ended = false
let received = 0
const hash = crypto.createHash('sha256')

function endOnce () {
  if (ended) return
  ended = true
  stream.end()
}

function stats () {
  if (!stream) return null
  const out = {}
  for (const k of ['retransmits', 'rtoCount', 'fastRecoveries', 'packetsTransmitted',
    'bytesTransmitted', 'packetsReceived', 'bytesReceived', 'rtt', 'mtu']) {
    try { out[k] = stream[k] } catch { out[k] = null }
  }
  return out
}

function connect (cmd) {
  const mode = cmd.mode || 'sink'
  const autoEnd = cmd.autoEnd !== false
  stream = udx.createStream(cmd.id)
  stream.on('data', (data) => {
    received += data.length
    if (mode === 'echo') {
      if (!stream.write(data)) {
        stream.pause()
        stream.once('drain', () => stream.resume())
      }
    } else {
      hash.update(data)
    }
  })
  stream.on('end', () => {
    emit({ event: 'end', bytes: received, sha256: mode === 'echo' ? null : hash.digest('hex') })
    if (autoEnd) endOnce()
  })
  stream.on('finish', () => emit({ event: 'finish' }))
  stream.on('message', (buf) => emit({ event: 'message', hex: buf.toString('hex') }))
  stream.on('error', (err) => emit({ event: 'error', code: err.code || null, message: String(err.message) }))
  stream.on('close', () => {
    emit({ event: 'close', stats: stats() })
    socket.close()
  })
  stream.connect(socket, cmd.remoteId, cmd.port, cmd.host || '127.0.0.1')
  emit({ event: 'connected' })
}

async function send (total) {
  const started = Date.now()
  const h = crypto.createHash('sha256')
  let sent = 0
  while (sent < total) {
    const n = Math.min(CHUNK, total - sent)
    const start = sent % PERIOD
    const chunk = PATTERN.subarray(start, start + n)
    h.update(chunk)
    sent += n
    if (!stream.write(chunk)) await new Promise((resolve) => stream.once('drain', resolve))
  }
  endOnce()
  emit({ event: 'sent', bytes: sent, sha256: h.digest('hex'), ms: Date.now() - started })
}

async function run (cmd) {
  switch (cmd.cmd) {
    case 'connect': connect(cmd); break
    case 'send': await send(cmd.bytes); break
    case 'end': endOnce(); break
    case 'message':
      await stream.send(Buffer.from(cmd.hex, 'hex'))
      emit({ event: 'message-sent' })
      break
    case 'destroy': stream.destroy(); break
    case 'stats': emit({ event: 'stats', stats: stats() }); break
    default: emit({ event: 'error', code: 'EBADCMD', message: 'unknown command ' + cmd.cmd })
  }
}

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (!line.trim()) return
  run(JSON.parse(line)).catch((err) => emit({ event: 'error', code: err.code || null, message: String(err.message) }))
})
lines.on('close', () => process.exit(0))
