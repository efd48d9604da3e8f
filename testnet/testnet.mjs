#!/usr/bin/env node
// Local JS DHT for interop tests.
//
//   node testnet.mjs --nodes N --port P [--host 127.0.0.1] [--seconds S] [--ignore-stdin]
//
// Starts N hyperdht nodes bound to HOST (loopback only): one bootstrap node on port
// P (0 = any free port) and N-1 persistent nodes bootstrapped from it, each on its
// own free port. When every node is up it prints exactly one JSON line to stdout:
//
//   {"bootstrap":[{"host":"127.0.0.1","port":12345}],"nodes":N}
//
// and then keeps running until stdin closes (unless --ignore-stdin), the deadline
// of S seconds passes (default 600), or SIGINT/SIGTERM arrives. It then destroys
// every node and exits with code 0. Everything else is logged to stderr.
//
// Ports are chosen explicitly because hyperdht treats port 0 as "use the default"
// (49737..49741 first), which would collide with anything else using the default.

import { createRequire } from 'node:module'
import { freeUdpPort } from './lib/free-port.mjs'

const require = createRequire(import.meta.url)
const DHT = require('hyperdht')

const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/

function log (...args) {
  process.stderr.write(`[testnet] ${args.join(' ')}\n`)
}

function fail (message, code = 2) {
  log(message)
  process.exit(code)
}

function parseArgs (argv) {
  const opts = { nodes: 3, port: 0, host: '127.0.0.1', seconds: 600, ignoreStdin: false }
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i]
    let inline = null
    const eq = arg.indexOf('=')
    if (arg.startsWith('--') && eq !== -1) {
      inline = arg.slice(eq + 1)
      arg = arg.slice(0, eq)
    }
    const value = () => {
      if (inline !== null) return inline
      if (i + 1 >= argv.length) fail(`missing value for ${arg}`)
      return argv[++i]
    }
    const int = (name, min, max) => {
      const raw = value()
      const n = Number(raw)
      if (!Number.isInteger(n) || n < min || n > max) fail(`bad ${name}: ${raw}`)
      return n
    }
    if (arg === '--nodes') opts.nodes = int('--nodes', 1, 1000)
    else if (arg === '--port') opts.port = int('--port', 0, 65535)
    else if (arg === '--host') opts.host = value()
    else if (arg === '--seconds') opts.seconds = int('--seconds', 1, 7 * 24 * 3600)
    else if (arg === '--ignore-stdin') opts.ignoreStdin = true
    else if (arg === '--help' || arg === '-h') {
      process.stderr.write('usage: node testnet.mjs --nodes N --port P [--host 127.0.0.1] [--seconds S] [--ignore-stdin]\n')
      process.exit(0)
    } else fail(`unknown argument: ${arg}`)
  }
  // All traffic must stay on this machine.
  if (!LOOPBACK_V4.test(opts.host)) fail(`--host must be an IPv4 loopback address, got ${opts.host}`)
  return opts
}

// Binds a node on a free port, retrying if another process grabbed the port
// between probing and binding.
async function startNode (makeNode, host, fixedPort) {
  for (let attempt = 0; ; attempt++) {
    const port = fixedPort || await freeUdpPort(host)
    const node = makeNode(port)
    try {
      await node.ready()
      if (node.address().port !== port) {
        // hyperdht falls back to another port when the wanted one is taken.
        await node.destroy()
        throw new Error(`wanted port ${port}, got ${node.address().port}`)
      }
      return node
    } catch (err) {
      await node.destroy().catch(() => {})
      if (fixedPort || attempt >= 4) throw err
      log(`retrying bind: ${err.message}`)
    }
  }
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  const { host } = opts
  const nodes = []
  let closing = null

  const shutdown = (reason) => {
    if (closing) return closing
    log(`shutting down (${reason})`)
    const watchdog = setTimeout(() => {
      log('destroy timed out')
      process.exit(1)
    }, 10000)
    closing = Promise.allSettled(nodes.map((n) => n.destroy())).then((results) => {
      clearTimeout(watchdog)
      const failed = results.filter((r) => r.status === 'rejected')
      for (const r of failed) log(`destroy failed: ${r.reason && r.reason.message}`)
      process.exit(failed.length ? 1 : 0)
    })
    return closing
  }

  const deadline = setTimeout(() => shutdown(`deadline of ${opts.seconds}s`), opts.seconds * 1000)
  process.on('SIGINT', () => shutdown('SIGINT'))
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  if (!opts.ignoreStdin) {
    process.stdin.on('end', () => shutdown('stdin closed'))
    process.stdin.on('close', () => shutdown('stdin closed'))
    process.stdin.on('error', () => shutdown('stdin error'))
    process.stdin.resume() // data on stdin is ignored; only its end matters
  }

  try {
    // The bootstrap node: persistent, not firewalled, its id derived from host:port.
    const bootstrap = await startNode(
      (port) => DHT.bootstrapper(port, host, { host }),
      host,
      opts.port
    )
    nodes.push(bootstrap)
    const bootstrapAddress = { host, port: bootstrap.address().port }
    log(`bootstrap node on ${host}:${bootstrapAddress.port}`)

    const others = []
    for (let i = 1; i < opts.nodes; i++) {
      others.push(startNode(
        (port) => new DHT({
          bootstrap: [bootstrapAddress],
          host,
          port,
          ephemeral: false,
          firewalled: false
        }),
        host,
        0
      ).then((node) => {
        nodes.push(node)
        return node
      }))
    }
    const started = await Promise.all(others)
    await Promise.all(started.map((n) => n.fullyBootstrapped()))
    log(`${nodes.length} nodes up: ${nodes.map((n) => n.address().port).join(' ')}`)

    if (closing) return
    process.stdout.write(JSON.stringify({ bootstrap: [bootstrapAddress], nodes: nodes.length }) + '\n')
  } catch (err) {
    log(`startup failed: ${err && err.stack}`)
    await Promise.allSettled(nodes.map((n) => n.destroy()))
    process.exit(1)
  }
}

main()
