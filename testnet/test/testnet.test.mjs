// Starts testnet.mjs as a child process, talks to it with a separate hyperdht
// client on 127.0.0.1, then closes its stdin and expects a clean exit.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

import { TESTNET_DIR } from '../lib/versions.mjs'
import { freeUdpPort } from '../lib/free-port.mjs'

const require = createRequire(import.meta.url)
const DHT = require('hyperdht')

const HOST = '127.0.0.1'

// Rejects if `promise` has not settled after `ms`.
function within (ms, promise, what) {
  let timer
  const timeout = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function startTestnet (args) {
  const child = spawn(process.execPath, [join(TESTNET_DIR, 'testnet.mjs'), ...args], {
    cwd: TESTNET_DIR,
    stdio: ['pipe', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => { stderr += d })
  const exited = once(child, 'exit').then(([code, signal]) => ({ code, signal }))
  const lines = createInterface({ input: child.stdout })
  const stdoutLines = []
  const firstLine = new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      stdoutLines.push(line)
      if (stdoutLines.length === 1) resolve(line)
    })
    exited.then(({ code }) => reject(new Error(`testnet exited (code ${code}) before printing; stderr:\n${stderr}`)))
  })
  firstLine.catch(() => {})
  return { child, firstLine, exited, stdoutLines, stderr: () => stderr }
}

test('testnet.mjs starts a loopback DHT that a separate client can query, and exits on stdin close', { timeout: 90000 }, async (t) => {
  const net = startTestnet(['--nodes', '3', '--port', '0', '--seconds', '120'])
  t.after(() => { if (net.child.exitCode === null && net.child.signalCode === null) net.child.kill('SIGKILL') })

  const line = await within(45000, net.firstLine, 'the ready line')
  const info = JSON.parse(line)
  assert.deepEqual(Object.keys(info), ['bootstrap', 'nodes'])
  assert.equal(info.nodes, 3)
  assert.equal(info.bootstrap.length, 1)
  const [boot] = info.bootstrap
  assert.equal(boot.host, HOST)
  assert.ok(Number.isInteger(boot.port) && boot.port > 0 && boot.port < 65536)

  const client = new DHT({ bootstrap: [boot], host: HOST, port: await freeUdpPort(HOST), ephemeral: true })
  t.after(() => client.destroy())
  await within(20000, client.ready(), 'the client to bootstrap')

  // dht-rpc PING of the bootstrap node.
  const pong = await within(15000, client.ping(boot), 'a ping reply')
  assert.equal(pong.from.host, HOST)
  assert.equal(pong.from.port, boot.port)

  // A FIND_NODE query walks the network: it must hear from the other nodes too.
  const ports = new Set()
  const query = client.findNode(randomBytes(32))
  await within(20000, (async () => {
    for await (const reply of query) {
      assert.equal(reply.from.host, HOST)
      ports.add(reply.from.port)
    }
  })(), 'the findNode query')
  assert.ok(ports.has(boot.port), 'bootstrap node answered the query')
  assert.ok(ports.size >= 3, `expected replies from all 3 nodes, got ports ${[...ports].join(',')}`)

  await client.destroy()

  net.child.stdin.end()
  const { code, signal } = await within(15000, net.exited, 'the testnet to exit')
  assert.equal(signal, null, net.stderr())
  assert.equal(code, 0, net.stderr())
  assert.equal(net.stdoutLines.length, 1, 'exactly one line on stdout')
})

test('testnet.mjs honours the --seconds deadline', { timeout: 60000 }, async (t) => {
  const net = startTestnet(['--nodes', '1', '--port', '0', '--seconds', '1', '--ignore-stdin'])
  t.after(() => { if (net.child.exitCode === null && net.child.signalCode === null) net.child.kill('SIGKILL') })
  const info = JSON.parse(await within(30000, net.firstLine, 'the ready line'))
  assert.equal(info.nodes, 1)
  const { code } = await within(30000, net.exited, 'the deadline exit')
  assert.equal(code, 0, net.stderr())
})

test('testnet.mjs rejects a non-loopback host', { timeout: 30000 }, async () => {
  const net = startTestnet(['--nodes', '1', '--port', '0', '--host', '0.0.0.0'])
  const { code } = await within(20000, net.exited, 'the exit')
  assert.equal(code, 2)
})
