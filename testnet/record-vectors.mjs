#!/usr/bin/env node
// Deterministic vector recorder.
//
//   node record-vectors.mjs [--out DIR] [--suite NAME]...
//
// Writes DIR/<suite>.json for every registered suite (or only the named ones).
// DIR defaults to ../vectors relative to this script. Output is pretty-printed JSON
// (2-space indent, trailing newline) and contains no timestamps or unseeded
// randomness, so re-running produces byte-identical files.
//
// To add a layer: write vectors/<suite>.mjs exporting SUITE and record() (which
// returns the suite object) and add it to SUITES below.

import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import * as compactEncoding from './vectors/compact-encoding.mjs'

const SUITES = [compactEncoding]

const HERE = dirname(fileURLToPath(import.meta.url))

function usage (code) {
  const names = SUITES.map((s) => s.SUITE).join(', ')
  process.stderr.write(`usage: node record-vectors.mjs [--out DIR] [--suite NAME]...\nsuites: ${names}\n`)
  process.exit(code)
}

function parseArgs (argv) {
  const opts = { out: join(HERE, '..', 'vectors'), suites: [] }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const value = () => {
      if (i + 1 >= argv.length) usage(2)
      return argv[++i]
    }
    if (arg === '--out') opts.out = resolve(value())
    else if (arg.startsWith('--out=')) opts.out = resolve(arg.slice(6))
    else if (arg === '--suite') opts.suites.push(value())
    else if (arg.startsWith('--suite=')) opts.suites.push(arg.slice(8))
    else if (arg === '--help' || arg === '-h') usage(0)
    else usage(2)
  }
  return opts
}

export function serialize (suite) {
  return JSON.stringify(suite, null, 2) + '\n'
}

function main () {
  const opts = parseArgs(process.argv.slice(2))
  const known = new Map(SUITES.map((s) => [s.SUITE, s]))
  for (const name of opts.suites) {
    if (!known.has(name)) {
      process.stderr.write(`unknown suite: ${name}\n`)
      usage(2)
    }
  }
  const selected = opts.suites.length ? opts.suites.map((n) => known.get(n)) : SUITES

  mkdirSync(opts.out, { recursive: true })
  for (const mod of selected) {
    const suite = mod.record()
    const file = join(opts.out, `${mod.SUITE}.json`)
    writeFileSync(file, serialize(suite))
    process.stderr.write(`wrote ${file} (${suite.vectors.length} vectors)\n`)
  }
}

main()
