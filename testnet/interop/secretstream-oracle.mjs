// libsodium oracle for crypto_secretstream_xchacha20poly1305 (via sodium-native).
// Reads {"key": hex, "cases": [{"header": hex, "counter": n|null, "msgs": [{"m": hex, "tag": n}]}]}
// from stdin and prints {"cases": [{"ciphertexts": [hex], "pulled": [{"tag": n, "m": hex}]}]}.
// The push state is made with init_pull on the given header, which equals init_push's state
// for that header; "counter" overwrites the 32-bit counter in the libsodium state
// (bytes 32..36: k(32) | nonce = counter(4) | inonce(8) | pad(8)) to reach the wrap-around.
import sodium from 'sodium-native'

const S = 'crypto_secretstream_xchacha20poly1305_'
const chunks = []
for await (const c of process.stdin) chunks.push(c)
const input = JSON.parse(Buffer.concat(chunks).toString())
const key = Buffer.from(input.key, 'hex')

function state (header, counter) {
  const st = Buffer.alloc(sodium[S + 'STATEBYTES'])
  sodium[S + 'init_pull'](st, header, key)
  if (counter !== null && counter !== undefined) st.writeUInt32LE(counter, 32)
  return st
}

const out = []
for (const c of input.cases) {
  const header = Buffer.from(c.header, 'hex')
  const push = state(header, c.counter)
  const pull = state(header, c.counter)
  const ciphertexts = []
  const pulled = []
  for (const { m, tag } of c.msgs) {
    const msg = Buffer.from(m, 'hex')
    const ct = Buffer.alloc(msg.length + sodium[S + 'ABYTES'])
    sodium[S + 'push'](push, ct, msg, null, tag)
    ciphertexts.push(ct.toString('hex'))
    const back = Buffer.alloc(msg.length)
    const t = Buffer.alloc(1)
    sodium[S + 'pull'](pull, back, t, ct, null)
    pulled.push({ tag: t[0], m: back.toString('hex') })
  }
  out.push({ ciphertexts, pulled })
}
process.stdout.write(JSON.stringify({ cases: out }) + '\n')
