#!/usr/bin/env node
// Looks for one node in a DHT from the outside (crates/dht-rpc/tests/js_interop.rs).
//
//   node dht-probe.mjs --bootstrap HOST:PORT --node HOST:PORT
//
// An ephemeral dht-rpc client bootstraps from --bootstrap and runs findNode for the id of
// --node (id = BLAKE2b-256 of its address, what a persistent node uses). It prints one line:
//
//   {"replies":n,"listedBy":k,"replied":bool,"closest":[{host,port}]}
//
// listedBy: how many responders listed --node among their closer nodes, i.e. had it in
// their routing table; replied: --node itself answered with a valid id (it is among the
// closest replies). Exits 0, or 1 on failure.

import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const DHT = require('dht-rpc')
const { id: addressId } = require('dht-rpc/lib/peer.js')

function hostPort (s) {
  const [host, port] = s.split(':')
  return { host, port: Number(port) }
}

const args = process.argv.slice(2)
const opt = (name) => {
  const i = args.indexOf(name)
  if (i === -1 || i + 1 >= args.length) throw new Error(`missing ${name}`)
  return args[i + 1]
}

async function main () {
  const bootstrap = hostPort(opt('--bootstrap'))
  const target = hostPort(opt('--node'))
  const client = new DHT({ bootstrap: [bootstrap], host: '127.0.0.1', ephemeral: true })
  await client.fullyBootstrapped()
  const q = client.findNode(addressId(target.host, target.port))
  let replies = 0
  let listedBy = 0
  const same = (n) => n.host === target.host && n.port === target.port
  for await (const r of q) {
    replies++
    if (r.closerNodes && r.closerNodes.some(same)) listedBy++
  }
  const closest = q.closestReplies.map((r) => ({ host: r.from.host, port: r.from.port }))
  process.stdout.write(JSON.stringify({ replies, listedBy, replied: closest.some(same), closest }) + '\n')
  await client.destroy()
}

main().catch((err) => {
  process.stderr.write(`[dht-probe] ${err && err.stack}\n`)
  process.exit(1)
})
