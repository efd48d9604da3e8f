// The JS dht-rpc end of benches/src/bin/dht_bench.rs (run through benches/run-dht.sh).
//
//   node benches/js/dht.mjs serve --port P
//
// Starts one dht-rpc 6.27.0 node as `DHT.bootstrapper(P, '127.0.0.1')` (persistent, not
// firewalled, no bootstrap peers), waits for it to be ready, prints {"port":P} and serves
// until stdin closes; it answers the generator's PINGs itself. Gives up after 300 s.
//
// Packages come from ../../testnet/node_modules unless NODE_MODULES points elsewhere.

import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const modules = process.env.NODE_MODULES || path.join(here, '../../testnet/node_modules')
const require = createRequire(import.meta.url)
const DHT = require(path.join(modules, 'dht-rpc'))

const LIMIT_MS = 300000

const args = process.argv.slice(2)
const opt = (name, dflt) => {
  const i = args.indexOf(name)
  return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt
}
if (args[0] !== 'serve') {
  console.error('usage: dht.mjs serve --port P')
  process.exit(2)
}
const port = Number(opt('--port', 0))

setTimeout(() => {
  console.error('dht.mjs: gave up after 300 s')
  process.exit(1)
}, LIMIT_MS).unref()

const node = DHT.bootstrapper(port, '127.0.0.1')
await node.ready()
process.stdout.write(JSON.stringify({ port: node.address().port }) + '\n')

process.stdin.resume()
process.stdin.on('end', async () => {
  await node.destroy()
  process.exit(0)
})
