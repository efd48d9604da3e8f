#!/usr/bin/env node
// A small JS dht-rpc network plus one ephemeral client node, driven over stdin/stdout,
// for the Rust interop tests (crates/dht-rpc/tests/js_interop.rs).
//
//   node dht-peers.mjs [--nodes N] [--bootstrap HOST:PORT] [--command C] [--relay-command R]
//
// Starts N persistent dht-rpc nodes on 127.0.0.1 (ephemeral: false, firewalled: false).
// Without --bootstrap the first one is a bootstrapper (DHT.bootstrapper) and the others
// bootstrap from it; with --bootstrap all of them bootstrap from that address. With
// --command C every node answers user command C with the value "js:<port>" and prints
// {"event":"commit","port":P} when such a request carries a (valid) token. With
// --relay-command R every node answers user command R, whose value is the UTF-8 text
// "host:port" of some other address, with reply("js-relayed:<port>", {to: that address})
// (the last hop of a relayed request, spec §6.3).
// When all are bootstrapped it prints one line:
//
//   {"ready":true,"bootstrap":[{host,port}],"nodes":[{host,port,id}],"client":{host,port}}
//
// Then each stdin line is a JSON op answered by one JSON line with the same "id":
//
//   {"id":1,"op":"findNode","target":HEX}       -> {"id":1,"closest":[{host,port,id}],"replies":n}
//   {"id":2,"op":"query","target":HEX,"command":C,"value":HEX,"commit":true}
//                                                -> {"id":2,"closest":[...],"replies":n,"values":[..],"error":null}
//   {"id":3,"op":"table","port":P}               -> {"id":3,"id":HEX,"nodes":[{host,port}]}   (node P's table)
//   {"id":4,"op":"addNodes","port":P,"nodes":[{host,port}]}  -> {"id":4,"size":n}
//   {"id":5,"op":"has","node":HEX}               -> {"id":5,"count":k,"of":N}  (JS nodes whose table holds HEX)
//   {"id":6,"op":"ping","host":H,"port":P}       -> {"id":6,"ok":bool,"error":msg}
//   {"id":7,"op":"delayedPing","host":H,"port":P,"delay":MS}
//        client.delayedPing without retries -> {"id":7,"ok":bool,"ms":elapsed since the send,"error":msg}
//   {"id":8,"op":"request","host":H,"port":P,"command":C,"target":HEX?,"value":HEX?,"token":HEX?}
//        client.request -> {"id":8,"ok":bool,"from":{host,port},"value":HEX|null,"token":HEX|null,
//                          "closerNodes":[{host,port}],"error":msg|null,"code":n|null}
//        (ok false: the promise rejected; code: the error code the JS error carries, if any)
//   {"id":9,"op":"raw","host":H,"port":P,"hex":HEX|[HEX,...],"waitMs":MS,"max":N}
//        sends the datagram(s), in order, from a fresh UDP socket and collects up to N datagrams coming
//        back within MS -> {"id":9,"from":{host,port},"replies":[{"hex":HEX,"ms":t}]}
//        (t: ms since the send; from: the socket it was sent from). With "ports":[P,...]
//        instead of "port" the same is done for each port in parallel, each from its own
//        socket -> {"id":9,"results":[{"from":..,"replies":[..]}, ...]}
//   {"id":10,"op":"defaultNode"}                 a JS node with default options (adaptive,
//        firewalled) joins, bootstraps and is destroyed
//        -> {"id":10,"firewalled":bool,"ephemeral":bool,"host":H|null,"port":P}
//
// On stdin end it destroys every node and exits 0. Logs go to stderr.

import { createRequire } from 'node:module'
import readline from 'node:readline'
import dgram from 'node:dgram'
import { freeUdpPort } from '../lib/free-port.mjs'

const require = createRequire(import.meta.url)
const DHT = require('dht-rpc')

const HOST = '127.0.0.1'
const log = (...a) => process.stderr.write(`[dht-peers] ${a.join(' ')}\n`)
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

function parseArgs (argv) {
  const o = { nodes: 5, bootstrap: null, command: null, relayCommand: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--nodes') o.nodes = Number(argv[++i])
    else if (a === '--bootstrap') {
      const [host, port] = argv[++i].split(':')
      o.bootstrap = { host, port: Number(port) }
    } else if (a === '--command') o.command = Number(argv[++i])
    else if (a === '--relay-command') o.relayCommand = Number(argv[++i])
    else throw new Error(`unknown argument ${a}`)
  }
  return o
}

const opts = parseArgs(process.argv.slice(2))
const nodes = []
let client = null

function serve (node) {
  if (opts.command === null && opts.relayCommand === null) return
  node.on('request', (req) => {
    if (opts.relayCommand !== null && req.command === opts.relayCommand) {
      const [host, port] = Buffer.from(req.value || []).toString().split(':')
      out({ event: 'relayed', port: node.address().port, from: { host: req.from.host, port: req.from.port } })
      req.reply(Buffer.from(`js-relayed:${node.address().port}`), { to: { host, port: Number(port) } })
      return
    }
    if (req.command !== opts.command) return
    if (req.token) out({ event: 'commit', port: node.address().port })
    req.reply(Buffer.from(`js:${node.address().port}`))
  })
}

const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const unhex = (h) => (h ? Buffer.from(h, 'hex') : null)

function raw (op) {
  if (!op.ports) return rawTo(op, op.port)
  return Promise.all(op.ports.map((p) => rawTo(op, p))).then((results) => ({ results }))
}

function rawTo (op, port) {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4')
    const replies = []
    let start = 0
    let timer = null
    const done = () => {
      clearTimeout(timer)
      const a = sock.address()
      sock.close()
      resolve({ from: { host: a.address, port: a.port }, replies })
    }
    sock.on('error', reject)
    sock.on('message', (msg) => {
      replies.push({ hex: msg.toString('hex'), ms: Number(process.hrtime.bigint() - start) / 1e6 })
      if (replies.length >= (op.max || 1)) done()
    })
    sock.bind(0, HOST, () => {
      start = process.hrtime.bigint()
      for (const h of [].concat(op.hex)) sock.send(Buffer.from(h, 'hex'), port, op.host)
      timer = setTimeout(done, op.waitMs)
    })
  })
}

async function startNode (make) {
  for (let attempt = 0; ; attempt++) {
    const port = await freeUdpPort(HOST)
    const node = make(port)
    try {
      await node.ready()
      if (node.address().port !== port) throw new Error(`wanted ${port}, got ${node.address().port}`)
      return node
    } catch (err) {
      await node.destroy().catch(() => {})
      if (attempt >= 4) throw err
    }
  }
}

const peer = (n) => ({ host: n.host, port: n.port, id: n.id ? Buffer.from(n.id).toString('hex') : null })

async function runQuery (q) {
  const values = []
  let replies = 0
  for await (const r of q) {
    replies++
    if (r.value) values.push(Buffer.from(r.value).toString())
  }
  const closest = q.closestReplies.map((r) => peer(r.from))
  return { closest, replies, values }
}

async function handle (op) {
  switch (op.op) {
    case 'findNode':
      return runQuery(client.findNode(Buffer.from(op.target, 'hex')))
    case 'query': {
      const q = client.query({
        target: Buffer.from(op.target, 'hex'),
        command: op.command,
        value: op.value ? Buffer.from(op.value, 'hex') : null
      }, { commit: !!op.commit })
      try {
        return { ...(await runQuery(q)), error: null }
      } catch (err) {
        return { closest: [], replies: 0, values: [], error: err.message }
      }
    }
    case 'table': {
      const node = nodes.find((n) => n.address().port === op.port)
      return { nodeId: Buffer.from(node.id).toString('hex'), nodes: node.toArray() }
    }
    case 'addNodes': {
      const node = nodes.find((n) => n.address().port === op.port)
      for (const n of op.nodes) node.addNode(n)
      return { size: node.table.toArray().length }
    }
    case 'has': {
      const id = Buffer.from(op.node, 'hex')
      return { count: nodes.filter((n) => n.table.get(id)).length, of: nodes.length }
    }
    case 'ping':
      try {
        await client.ping({ host: op.host, port: op.port })
        return { ok: true, error: null }
      } catch (err) {
        return { ok: false, error: err.message }
      }
    case 'delayedPing': {
      const start = process.hrtime.bigint()
      const elapsed = () => Number(process.hrtime.bigint() - start) / 1e6
      try {
        await client.delayedPing({ host: op.host, port: op.port }, op.delay, { retry: false })
        return { ok: true, ms: elapsed(), error: null }
      } catch (err) {
        return { ok: false, ms: elapsed(), error: err.message }
      }
    }
    case 'request':
      try {
        const r = await client.request({
          token: unhex(op.token),
          target: unhex(op.target),
          command: op.command,
          value: unhex(op.value)
        }, { host: op.host, port: op.port })
        return {
          ok: true,
          from: { host: r.from.host, port: r.from.port },
          value: hex(r.value),
          token: hex(r.token),
          closerNodes: (r.closerNodes || []).map((n) => ({ host: n.host, port: n.port })),
          error: null,
          code: r.error === undefined ? null : r.error
        }
      } catch (err) {
        return { ok: false, error: err.message, code: err.code === undefined ? null : err.code }
      }
    case 'raw':
      return raw(op)
    case 'defaultNode': {
      const node = new DHT({ bootstrap: [opts.bootstrap || { host: HOST, port: nodes[0].address().port }], host: HOST })
      await node.fullyBootstrapped()
      const res = { firewalled: node.firewalled, ephemeral: node.ephemeral, host: node.host, port: node.port }
      await node.destroy()
      return res
    }
    default:
      throw new Error(`unknown op ${op.op}`)
  }
}

async function main () {
  let bootstrap = opts.bootstrap
  let first = 0
  if (!bootstrap) {
    const b = await startNode((port) => DHT.bootstrapper(port, HOST, { host: HOST }))
    serve(b)
    nodes.push(b)
    bootstrap = { host: HOST, port: b.address().port }
    first = 1
  }
  const started = []
  for (let i = first; i < opts.nodes; i++) {
    started.push(startNode((port) => new DHT({ bootstrap: [bootstrap], host: HOST, port, ephemeral: false, firewalled: false })))
  }
  for (const n of await Promise.all(started)) {
    serve(n)
    nodes.push(n)
  }
  await Promise.all(nodes.map((n) => n.fullyBootstrapped()))
  client = new DHT({ bootstrap: [bootstrap], host: HOST, ephemeral: true })
  await client.fullyBootstrapped()
  log(`${nodes.length} nodes up`)
  out({
    ready: true,
    bootstrap: [bootstrap],
    nodes: nodes.map((n) => ({ host: HOST, port: n.address().port, id: Buffer.from(n.id).toString('hex') })),
    client: { host: HOST, port: client.address().port }
  })

  const rl = readline.createInterface({ input: process.stdin })
  let pending = Promise.resolve()
  rl.on('line', (line) => {
    if (!line.trim()) return
    const op = JSON.parse(line)
    pending = pending.then(async () => {
      try {
        out({ id: op.id, ...(await handle(op)) })
      } catch (err) {
        out({ id: op.id, fatal: err.message })
      }
    })
  })
  rl.on('close', async () => {
    await pending
    await Promise.allSettled([...nodes, client].map((n) => n.destroy()))
    process.exit(0)
  })
}

main().catch((err) => {
  log(`failed: ${err && err.stack}`)
  process.exit(1)
})
