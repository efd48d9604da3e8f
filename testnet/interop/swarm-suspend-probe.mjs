#!/usr/bin/env node
// Black-box probe of hyperswarm 4.17.2 suspend/resume (for docs/protocol-notes.md):
// what join/flush/joinPeer do while suspended, and whether a suspended swarm's topic
// record and connections go away. Runs a JS testnet of 6 nodes on 127.0.0.1.
//   node interop/swarm-suspend-probe.mjs
import createTestnet from '@hyperswarm/testnet'
import Hyperswarm from 'hyperswarm'

const out = (k, v) => console.log(JSON.stringify({ [k]: v }))
const testnet = await createTestnet(6, { host: '127.0.0.1' })
const bootstrap = testnet.bootstrap
const a = new Hyperswarm({ bootstrap })
const b = new Hyperswarm({ bootstrap })
const topic = Buffer.alloc(32, 0x5c)
const topic2 = Buffer.alloc(32, 0x6d)
const lookup = async (t) => {
  const found = []
  for await (const r of testnet.nodes[1].lookup(t)) for (const p of r.peers) found.push(p.publicKey.toString('hex').slice(0, 8))
  return [...new Set(found)]
}
let bConns = 0
b.on('connection', (s) => { bConns++; s.on('error', () => {}); s.on('close', () => out('b-close', true)) })
a.on('connection', (s) => { s.on('error', () => {}) })
a.join(topic)
await a.flush()
b.join(topic)
await b.flush()
out('a-key', a.keyPair.publicKey.toString('hex').slice(0, 8))
out('connected-before', [a.connections.size, b.connections.size])
out('lookup-before', await lookup(topic))
const t0 = Date.now()
await a.suspend()
out('suspend-ms', Date.now() - t0)
out('connections-after-suspend', [a.connections.size, b.connections.size])
out('lookup-after-suspend', await lookup(topic))
out('a.suspended', a.suspended)
try {
  const d = a.join(topic2)
  out('join-while-suspended', 'no throw')
  const r = await Promise.race([d.flushed().then((x) => 'flushed:' + x), new Promise((resolve) => setTimeout(() => resolve('timeout 3s'), 3000))])
  out('join-flushed-while-suspended', r)
} catch (e) { out('join-while-suspended-error', e.message) }
out('lookup-topic2-while-suspended', await lookup(topic2))
try {
  const r = await Promise.race([a.flush().then((x) => 'flush:' + x), new Promise((resolve) => setTimeout(() => resolve('timeout 3s'), 3000))])
  out('flush-while-suspended', r)
} catch (e) { out('flush-while-suspended-error', e.message) }
try { a.joinPeer(b.keyPair.publicKey); out('joinPeer-while-suspended', 'no throw, connections ' + a.connections.size) } catch (e) { out('joinPeer-error', e.message) }
try { await a.suspend(); out('suspend-twice', 'no throw') } catch (e) { out('suspend-twice-error', e.message) }
const t1 = Date.now()
await a.resume()
out('resume-ms', Date.now() - t1)
out('flush-after-resume', await Promise.race([a.flush().then((x) => 'flush:' + x), new Promise((resolve) => setTimeout(() => resolve('timeout 5s'), 5000))]))
out('lookup-after-resume', await lookup(topic))
out('lookup-topic2-after-resume', await lookup(topic2))
await new Promise((resolve) => setTimeout(resolve, 2000))
out('connections-after-resume', [a.connections.size, b.connections.size, 'b total', bConns])
try { await a.resume(); out('resume-twice', 'no throw') } catch (e) { out('resume-twice-error', e.message) }
await a.destroy(); await b.destroy(); await testnet.destroy()
