#!/usr/bin/env node
// A small JS dht-rpc network plus one ephemeral client node, driven over stdin/stdout,
// for the Rust interop tests (crates/dht-rpc/tests/js_interop.rs).
//
//   node dht-peers.mjs [--nodes N] [--bootstrap HOST:PORT] [--command C]
//
// Starts N persistent dht-rpc nodes on 127.0.0.1 (ephemeral: false, firewalled: false).
// Without --bootstrap the first one is a bootstrapper (DHT.bootstrapper) and the others
// bootstrap from it; with --bootstrap all of them bootstrap from that address. With
// --command C every node answers user command C with the value "js:<port>" and prints
// {"event":"commit","port":P} when such a request carries a (valid) token.
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
//   {"id":5,"op":"has","id":HEX}                 -> {"id":5,"count":k,"of":N}  (JS nodes whose table holds HEX)
//   {"id":6,"op":"ping","host":H,"port":P}       -> {"id":6,"ok":bool,"error":msg}
//
// On stdin end it destroys every node and exits 0. Logs go to stderr.

import { createRequire } from 'node:module'
import readline from 'node:readline'
import { freeUdpPort } from '../lib/free-port.mjs'

const require = createRequire(import.meta.url)
const DHT = require('dht-rpc')

const HOST = '127.0.0.1'
const log = (...a) => process.stderr.write(`[dht-peers] ${a.join(' ')}\n`)
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n')

function parseArgs (argv) {
  const o = { nodes: 5, bootstrap: null, command: null }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--nodes') o.nodes = Number(argv[++i])
    else if (a === '--bootstrap') {
      const [host, port] = argv[++i].split(':')
      o.bootstrap = { host, port: Number(port) }
    } else if (a === '--command') o.command = Number(argv[++i])
    else throw new Error(`unknown argument ${a}`)
  }
  return o
}

const opts = parseArgs(process.argv.slice(2))
const nodes = []
let client = null

function serve (node) {
  if (opts.command === null) return
  node.on('request', (req) => {
    if (req.command !== opts.command) return
    if (req.token) out({ event: 'commit', port: node.address().port })
    req.reply(Buffer.from(`js:${node.address().port}`))
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
      const id = Buffer.from(op.id, 'hex')
      return { count: nodes.filter((n) => n.table.get(id)).length, of: nodes.length }
    }
    case 'ping':
      try {
        await client.ping({ host: op.host, port: op.port })
        return { ok: true, error: null }
      } catch (err) {
        return { ok: false, error: err.message }
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
