#!/usr/bin/env node
// A hyperswarm 4.17.2 peer on a given DHT bootstrap, driven over stdin/stdout, for the
// Rust swarm interop test (crates/swarm/tests/js_swarm.rs).
//
//   node hyperswarm-peer.mjs --bootstrap HOST:PORT --seed HEX32
//
// Prints {"event":"ready","publicKey":HEX}. Reads JSON lines:
//   {"op":"join","topic":HEX}  -> joins (server + client), prints {"event":"flushed"} once
//                                 the first announce and lookup finished. Optional
//                                 "server"/"client" booleans (default true) pick the roles.
//   {"op":"leave","topic":HEX} -> swarm.leave, then {"event":"left"}
//   {"op":"flush"}             -> swarm.flush, then {"event":"flush","ok":bool}
//   {"op":"listen"}            -> swarm.listen (findable by key), then {"event":"listening"}
//   {"op":"joinPeer","publicKey":HEX} / {"op":"leavePeer","publicKey":HEX}
//   {"op":"drop","remotePublicKey":HEX} -> destroys the open connection to that key
//   {"op":"suspend"} / {"op":"resume"} -> swarm.suspend() / swarm.resume(), then
//                                 {"event":"suspended"} / {"event":"resumed"}
//   {"op":"rawBytes","remotePublicKey":HEX} -> {"event":"rawBytes","read":N,"written":N}
//                                 (the connection's raw stream byte counters, keepalives
//                                 included; -1 if there is no connection)
//   {"op":"status"}            -> {"event":"status","connections":N,"connecting":N,
//                                  "clientAttempted":N,"clientOpened":N,"serverOpened":N}
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
let firewalled = false
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--bootstrap') bootstrap = argv[++i].split(',')
  else if (argv[i] === '--seed') seed = Buffer.from(argv[++i], 'hex')
  else if (argv[i] === '--firewalled') firewalled = true
  else throw new Error('unknown argument ' + argv[i])
}

// Default: reachable (OPEN), so connections need no holepunch. --firewalled: an ephemeral
// node that skips the quick firewall check (which sometimes passes on loopback), so it
// stays firewalled and every connection to a firewalled peer is holepunched.
const dht = firewalled
  ? new DHT({ bootstrap, host: '127.0.0.1', ephemeral: true, quickFirewall: false })
  : new DHT({ bootstrap, host: '127.0.0.1', ephemeral: false, firewalled: false })
const keyPair = DHT.keyPair(seed)
const swarm = new Hyperswarm({ dht, keyPair })
const sockets = new Map()
swarm.on('connection', (socket, info) => {
  const remotePublicKey = hex(socket.remotePublicKey)
  sockets.set(remotePublicKey, socket)
  out({ event: 'connection', remotePublicKey, initiator: socket.isInitiator })
  socket.on('error', () => {})
  socket.on('data', (d) => socket.write(d))
  socket.on('end', () => socket.end())
  socket.on('close', () => {
    if (sockets.get(remotePublicKey) === socket) sockets.delete(remotePublicKey)
    out({ event: 'connection-closed', remotePublicKey })
  })
})

await dht.ready()
out({ event: 'ready', publicKey: hex(keyPair.publicKey) })

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  if (!line.trim()) return
  const op = JSON.parse(line)
  try {
    if (op.op === 'join') {
      const roles = { server: op.server !== false, client: op.client !== false }
      const discovery = swarm.join(Buffer.from(op.topic, 'hex'), roles)
      await discovery.flushed()
      out({ event: 'flushed' })
    } else if (op.op === 'leave') {
      await swarm.leave(Buffer.from(op.topic, 'hex'))
      out({ event: 'left' })
    } else if (op.op === 'flush') {
      const ok = await swarm.flush()
      out({ event: 'flush', ok })
    } else if (op.op === 'listen') {
      await swarm.listen()
      out({ event: 'listening' })
    } else if (op.op === 'joinPeer') {
      swarm.joinPeer(Buffer.from(op.publicKey, 'hex'))
    } else if (op.op === 'leavePeer') {
      swarm.leavePeer(Buffer.from(op.publicKey, 'hex'))
    } else if (op.op === 'drop') {
      const socket = sockets.get(op.remotePublicKey)
      if (socket) socket.destroy()
    } else if (op.op === 'rawBytes') {
      const socket = sockets.get(op.remotePublicKey)
      out({
        event: 'rawBytes',
        read: socket ? socket.rawBytesRead : -1,
        written: socket ? socket.rawBytesWritten : -1
      })
    } else if (op.op === 'suspend') {
      await swarm.suspend()
      out({ event: 'suspended' })
    } else if (op.op === 'resume') {
      await swarm.resume()
      out({ event: 'resumed' })
    } else if (op.op === 'status') {
      const s = swarm.stats
      out({
        event: 'status',
        connections: swarm.connections.size,
        connecting: swarm.connecting,
        clientAttempted: s.connects.client.attempted,
        clientOpened: s.connects.client.opened,
        serverOpened: s.connects.server.opened
      })
    }
  } catch (err) {
    out({ event: 'error', message: String(err && err.message) })
  }
})
lines.on('close', async () => {
  await swarm.destroy()
  process.exit(0)
})
