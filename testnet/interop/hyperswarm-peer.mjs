#!/usr/bin/env node
// A hyperswarm 4.17.2 peer on a given DHT bootstrap, driven over stdin/stdout, for the
// Rust swarm interop test (crates/swarm/tests/js_swarm.rs).
//
//   node hyperswarm-peer.mjs --bootstrap HOST:PORT --seed HEX32
//
// Prints {"event":"ready","publicKey":HEX}. Reads JSON lines:
//   {"op":"join","topic":HEX}  -> joins (server + client), prints {"event":"flushed"} once
//                                 the first announce and lookup finished.
// Every connection is echoed (each byte received is written back) and reported as
//   {"event":"connection","remotePublicKey":HEX,"initiator":bool}
// and its close as {"event":"connection-closed","remotePublicKey":HEX}.
// On stdin end: destroy and exit.
import readline from 'node:readline'
import DHT from 'hyperdht'
import Hyperswarm from 'hyperswarm'

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const hex = (b) => Buffer.from(b).toString('hex')

const argv = process.argv.slice(2)
let bootstrap = []
let seed = null
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--bootstrap') bootstrap = argv[++i].split(',')
  else if (argv[i] === '--seed') seed = Buffer.from(argv[++i], 'hex')
  else throw new Error('unknown argument ' + argv[i])
}

// Reachable (OPEN): the Rust side does not holepunch yet, and a firewalled JS node on
// loopback may offer no usable LAN address before its local-address check finished.
const dht = new DHT({ bootstrap, host: '127.0.0.1', ephemeral: false, firewalled: false })
const keyPair = DHT.keyPair(seed)
const swarm = new Hyperswarm({ dht, keyPair })
swarm.on('connection', (socket, info) => {
  const remotePublicKey = hex(socket.remotePublicKey)
  out({ event: 'connection', remotePublicKey, initiator: socket.isInitiator })
  socket.on('error', () => {})
  socket.on('data', (d) => socket.write(d))
  socket.on('end', () => socket.end())
  socket.on('close', () => out({ event: 'connection-closed', remotePublicKey }))
})

await dht.ready()
out({ event: 'ready', publicKey: hex(keyPair.publicKey) })

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  if (!line.trim()) return
  const op = JSON.parse(line)
  try {
    if (op.op === 'join') {
      const discovery = swarm.join(Buffer.from(op.topic, 'hex'), { server: true, client: true })
      await discovery.flushed()
      out({ event: 'flushed' })
    }
  } catch (err) {
    out({ event: 'error', message: String(err && err.message) })
  }
})
lines.on('close', async () => {
  await swarm.destroy()
  process.exit(0)
})
