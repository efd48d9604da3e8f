#!/usr/bin/env node
// A hyperdht 6.34.0 client (an ephemeral node) driven over stdin/stdout, for the Rust
// storage-node interop test (crates/hyperdht/tests/js_storage.rs).
//
//   node hyperdht-client.mjs --bootstrap HOST:PORT[,HOST:PORT..]
//
// Prints {"event":"ready","firewalled":bool,"port":P} once bootstrapped, then answers each stdin line (a JSON op)
// with one line {"event":"result","id":..,...}. Seeds, topics, keys and values are hex.
//
//   {"id":1,"op":"announce","seed":S,"topic":T,"relays":[{host,port}]} -> {"closest":n}
//   {"id":2,"op":"lookup","topic":T}            -> {"replies":n,"peers":[{publicKey,relayAddresses}]} (deduplicated)
//   {"id":3,"op":"unannounce","seed":S,"topic":T} -> {}
//   {"id":4,"op":"mutablePut","seed":S,"value":V,"seq":n} -> {"publicKey","seq","closest":n}
//   {"id":5,"op":"mutableGet","publicKey":K,"seq":n}      -> {"found":bool,"value","seq"}
//   {"id":6,"op":"immutablePut","value":V}      -> {"hash","closest":n}
//   {"id":7,"op":"immutableGet","hash":H}       -> {"found":bool,"value"}
//   {"id":8,"op":"listen","seed":S}             -> {"publicKey"}  (a server announcing itself)
//   {"id":9,"op":"findPeer","publicKey":K}      -> {"replies":n,"repliesWithPeer":n,"peers":[..]}
//   {"id":10,"op":"connect","publicKey":K,"seed":S,"data":V} -> {"remotePublicKey","echo":V'}
//        (connects, writes V, reads back as many bytes, closes; optional "localConnection"
//        and "fastOpen" booleans are passed to dht.connect; the result also carries
//        "punches": dht.stats.punches after the connection opened)
//   {"id":11,"op":"stats"}                      -> {"punches":dht.stats.punches}
// Optional, for the firewall and holepunch-veto tests (crates/hyperdht/tests/js_firewall.rs):
// "listen" takes "firewall": true (reject every client handshake; each call is printed as
// {"event":"firewall","remotePublicKey":K,"host":H,"port":P}) and "holepunch": false (veto
// every punch of this server); "connect" takes "holepunch": false (veto the client's
// punch). A failed connect answers {"error","code"} with the connect error's code.
// A server started with "listen" echoes every byte it receives and prints
//   {"event":"connection","remotePublicKey":K} for each client.
// Options: --persistent makes this node ephemeral: false, firewalled: false (so it is
// reachable and says firewall OPEN in its handshakes); --firewalled skips the quick
// firewall check during bootstrap, which on loopback sometimes passes, so the node stays
// firewalled (firewall UNKNOWN in its handshakes).
// An op that throws answers {"error":message,"code":..}. On stdin end: destroy and exit.
import readline from 'node:readline'
import DHT from 'hyperdht'

const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const hex = (b) => Buffer.from(b).toString('hex')
const buf = (h) => Buffer.from(h, 'hex')

const argv = process.argv.slice(2)
let bootstrap = []
let persistent = false
let firewalled = false
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === '--bootstrap') bootstrap = argv[++i].split(',')
  else if (argv[i] === '--persistent') persistent = true
  else if (argv[i] === '--firewalled') firewalled = true
  else throw new Error('unknown argument ' + argv[i])
}

const dht = persistent
  ? new DHT({ bootstrap, ephemeral: false, firewalled: false, host: '127.0.0.1' })
  : new DHT({ bootstrap, ephemeral: true, host: '127.0.0.1', quickFirewall: !firewalled })
const servers = []

const peerOut = (p) => ({
  publicKey: hex(p.publicKey),
  relayAddresses: p.relayAddresses.map((a) => ({ host: a.host, port: a.port }))
})

async function collect (stream, pick) {
  let replies = 0
  let repliesWithPeer = 0
  const seen = new Map()
  for await (const data of stream) {
    replies++
    const found = pick(data)
    if (found.length > 0) repliesWithPeer++
    for (const p of found) seen.set(hex(p.publicKey), peerOut(p))
  }
  return { replies, repliesWithPeer, peers: [...seen.values()] }
}

async function run (op) {
  switch (op.op) {
    case 'announce': {
      const kp = DHT.keyPair(buf(op.seed))
      const q = dht.announce(buf(op.topic), kp, op.relays || [])
      await q.finished()
      return { closest: q.closestReplies.length }
    }
    case 'lookup':
      return collect(dht.lookup(buf(op.topic)), (d) => d.peers)
    case 'unannounce':
      await dht.unannounce(buf(op.topic), DHT.keyPair(buf(op.seed)))
      return {}
    case 'mutablePut': {
      const r = await dht.mutablePut(DHT.keyPair(buf(op.seed)), buf(op.value), { seq: op.seq })
      return { publicKey: hex(r.publicKey), seq: r.seq, closest: r.closestNodes.length }
    }
    case 'mutableGet': {
      const r = await dht.mutableGet(buf(op.publicKey), { seq: op.seq, latest: true })
      return r ? { found: true, value: hex(r.value), seq: r.seq } : { found: false }
    }
    case 'immutablePut': {
      const r = await dht.immutablePut(buf(op.value))
      return { hash: hex(r.hash), closest: r.closestNodes.length }
    }
    case 'immutableGet': {
      const r = await dht.immutableGet(buf(op.hash))
      return r ? { found: true, value: hex(r.value) } : { found: false }
    }
    case 'listen': {
      const serverOpts = {}
      if (op.firewall === true) {
        serverOpts.firewall = (remotePublicKey, payload, address) => {
          out({ event: 'firewall', remotePublicKey: hex(remotePublicKey), host: address.host, port: address.port })
          return true
        }
      }
      if (op.holepunch === false) serverOpts.holepunch = () => false
      const server = dht.createServer(serverOpts, (socket) => {
        out({ event: 'connection', remotePublicKey: hex(socket.remotePublicKey) })
        socket.on('error', () => {})
        socket.on('data', (d) => socket.write(d))
        socket.on('end', () => socket.end())
      })
      servers.push(server)
      await server.listen(DHT.keyPair(buf(op.seed)))
      return { publicKey: hex(server.publicKey) }
    }
    case 'connect': {
      const opts = { keyPair: DHT.keyPair(buf(op.seed)) }
      if (op.localConnection !== undefined) opts.localConnection = op.localConnection
      if (op.fastOpen !== undefined) opts.fastOpen = op.fastOpen
      if (op.holepunch === false) opts.holepunch = () => false
      const socket = dht.connect(buf(op.publicKey), opts)
      const data = buf(op.data)
      const echo = await new Promise((resolve, reject) => {
        const got = []
        let n = 0
        socket.on('error', reject)
        socket.on('open', () => socket.write(data))
        socket.on('data', (d) => {
          got.push(d)
          n += d.length
          if (n >= data.length) resolve(Buffer.concat(got))
        })
      })
      const remotePublicKey = hex(socket.remotePublicKey)
      socket.end()
      return { remotePublicKey, echo: hex(echo), punches: dht.stats.punches }
    }
    case 'stats':
      return { punches: dht.stats.punches }
    case 'findPeer':
      return collect(dht.findPeer(buf(op.publicKey)), (d) => (d.peer ? [d.peer] : []))
    default:
      throw new Error('unknown op ' + op.op)
  }
}

await dht.ready()
out({ event: 'ready', firewalled: dht.firewalled, port: dht.address().port })

const lines = readline.createInterface({ input: process.stdin })
lines.on('line', async (line) => {
  if (!line.trim()) return
  const op = JSON.parse(line)
  try {
    out({ event: 'result', id: op.id, ...(await run(op)) })
  } catch (err) {
    out({ event: 'result', id: op.id, error: String(err && err.message), code: (err && err.code) || null })
  }
})
lines.on('close', async () => {
  for (const s of servers) await s.close().catch(() => {})
  await dht.destroy()
  process.exit(0)
})
