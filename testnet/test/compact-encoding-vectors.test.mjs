// Checks the committed compact-encoding vectors: format, coverage, and that
// replaying each vector from its JSON alone reproduces the recorded result (so the
// file is complete and unambiguous for checkers in other languages). Also replays
// the shared reference vectors, when present, against the same JS packages.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import { TESTNET_DIR, installedVersion } from '../lib/versions.mjs'
import { parseFn } from '../lib/ce-codecs.mjs'
import { replay, expectation } from '../lib/ce-replay.mjs'

const FILE = join(TESTNET_DIR, '..', 'vectors', 'compact-encoding.json')
const REFERENCE = join(TESTNET_DIR, '..', '..', 'shared', 'reference-vectors', 'compact-encoding.json')

const load = () => JSON.parse(readFileSync(FILE, 'utf8'))

test('file header and vector shape', () => {
  const suite = load()
  assert.deepEqual(Object.keys(suite), ['suite', 'generator', 'seed', 'versions', 'vectors'])
  assert.equal(suite.suite, 'compact-encoding')
  assert.equal(suite.generator, 'testnet/record-vectors.mjs')
  assert.equal(typeof suite.seed, 'string')
  assert.deepEqual(suite.versions, {
    'compact-encoding': '3.5.2',
    'compact-encoding-net': '1.3.0',
    'compact-encoding-bitfield': '1.1.0'
  })
  assert.equal(installedVersion('compact-encoding'), '3.5.2', 'top-level compact-encoding must be 3.5.2')
  assert.ok(suite.vectors.length >= 300, `only ${suite.vectors.length} vectors`)
  assert.ok(statSync(FILE).size < 1.1e6, 'file should stay around 1 MB or less')

  const names = new Set()
  for (const v of suite.vectors) {
    assert.equal(typeof v.name, 'string')
    assert.ok(!names.has(v.name), `duplicate name ${v.name}`)
    names.add(v.name)
    assert.equal(typeof v.description, 'string', v.name)
    const { op } = parseFn(v.fn)
    if (op === 'encode') {
      assert.deepEqual(Object.keys(v.input), ['value'], v.name)
    } else {
      assert.deepEqual(Object.keys(v.input), ['hex'], v.name)
      assert.match(v.input.hex, /^([0-9a-f]{2})*$/, v.name)
    }
    if ('hex' in v) {
      assert.equal(op, 'encode', `${v.name}: only encode vectors carry hex`)
      assert.match(v.hex, /^([0-9a-f]{2})*$/, v.name)
      assert.ok(!('output' in v), v.name)
    } else {
      const keys = Object.keys(v.output)
      assert.ok(keys.length === 1 && (keys[0] === 'value' || keys[0] === 'error'), v.name)
      if (op === 'encode') assert.equal(keys[0], 'error', `${v.name}: a successful encode must use hex`)
    }
  }
})

test('coverage: every required encoding has encode and decode vectors', () => {
  const fns = new Set(load().vectors.map((v) => v.fn))
  const exprs = [
    'c.uint', 'c.uint8', 'c.uint16', 'c.uint24', 'c.uint32', 'c.uint40', 'c.uint48', 'c.uint56', 'c.uint64',
    'c.uint32be', 'c.uint64be', 'c.int', 'c.int8', 'c.int16', 'c.int24', 'c.int32', 'c.int40', 'c.int48',
    'c.int56', 'c.int64', 'c.float32', 'c.float64', 'c.buffer', 'c.optionalBuffer', 'c.string', 'c.utf8',
    'c.bool', 'c.none', 'c.fixed32', 'c.fixed64', 'c.fixed(16)', 'c.raw', 'c.array(c.uint)',
    'c.array(c.ipv4Address)', 'c.array(c.buffer)', 'c.array(c.string)', 'c.frame(c.string)', 'c.frame(c.uint)',
    'c.ipv4', 'c.ipv4Address', 'c.ipv6', 'c.ipv6Address', 'c.ip', 'c.ipAddress',
    'cenet.ipv4Address', 'cenet.ipv6Address', 'cenet.ipAddress',
    'bitfield(7)', 'bitfield(8)', 'bitfield(16)', 'bitfield(32)', 'bitfield(64)'
  ]
  for (const e of exprs) {
    assert.ok(fns.has(`${e}.encode`), `missing ${e}.encode`)
    const ns = e.startsWith('cenet.') ? 'cenet' : 'c'
    assert.ok(fns.has(`${ns}.decode(${e}, hex)`), `missing ${ns}.decode(${e}, hex)`)
  }
})

test('every successful encode has a decode vector of its bytes', () => {
  const vectors = load().vectors
  const decodes = new Set(vectors.filter((v) => parseFn(v.fn).op === 'decode').map((v) => `${parseFn(v.fn).codec.expr} ${v.input.hex}`))
  for (const v of vectors) {
    if (!('hex' in v) || v.name.startsWith('js-quirk/')) continue
    if (v.name === 'buffer/encode/len65535' || v.name === 'buffer/encode/len65536') continue // size budget
    assert.ok(decodes.has(`${parseFn(v.fn).codec.expr} ${v.hex}`), `no decode vector for ${v.name}`)
  }
})

test('replaying each vector from its JSON reproduces the recorded result', () => {
  for (const v of load().vectors) {
    assert.deepEqual(replay(v), expectation(v), v.name)
  }
})

// The shared reference file uses a few looser spellings; map them onto ours.
function normalizeReference (v) {
  let fn = v.fn.replace(/ \(.*\)$/, '')
  const m = /^compact-encoding-net (\w+)\.encode$/.exec(fn)
  if (m) fn = `cenet.${m[1]}.encode`
  const input = parseFn(fn).op === 'encode' && !('value' in v.input) ? { value: v.input } : v.input
  return { ...v, fn, input }
}

test('shared reference vectors agree with the installed JS packages', (t) => {
  if (!existsSync(REFERENCE)) {
    t.skip(`reference vectors not present at ${REFERENCE}`)
    return
  }
  const ref = JSON.parse(readFileSync(REFERENCE, 'utf8'))
  assert.ok(ref.vectors.length > 0)
  for (const raw of ref.vectors) {
    const v = normalizeReference(raw)
    assert.deepEqual(replay(v), expectation(v), v.name)
  }
})
