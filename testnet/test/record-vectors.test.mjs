// The recorder must be deterministic and the committed vectors must be what it
// produces with the pinned packages.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

import { TESTNET_DIR } from '../lib/versions.mjs'

const run = promisify(execFile)
const RECORDER = join(TESTNET_DIR, 'record-vectors.mjs')
const COMMITTED = join(TESTNET_DIR, '..', 'vectors')

async function record (args) {
  return run(process.execPath, [RECORDER, ...args], { cwd: TESTNET_DIR, timeout: 60000 })
}

test('recorder output is byte-identical across runs and matches the committed vectors', { timeout: 120000 }, async (t) => {
  const a = await mkdtemp(join(tmpdir(), 'vectors-a-'))
  const b = await mkdtemp(join(tmpdir(), 'vectors-b-'))
  t.after(() => Promise.all([rm(a, { recursive: true, force: true }), rm(b, { recursive: true, force: true })]))

  await record(['--out', a])
  await record(['--out', b])

  const files = (await readdir(a)).sort()
  assert.deepEqual(files, (await readdir(b)).sort())
  assert.ok(files.includes('compact-encoding.json'), 'compact-encoding.json written')

  for (const file of files) {
    const first = await readFile(join(a, file))
    const second = await readFile(join(b, file))
    assert.ok(first.equals(second), `${file} differs between two runs`)

    let committed
    try {
      committed = await readFile(join(COMMITTED, file))
    } catch (err) {
      assert.fail(`vectors/${file} is missing: run "node record-vectors.mjs" in testnet/ (${err.code})`)
    }
    assert.ok(first.equals(committed), `vectors/${file} is stale: re-run "node record-vectors.mjs" in testnet/`)
  }
})

test('--suite records only the named suite; unknown suites are rejected', { timeout: 60000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'vectors-suite-'))
  t.after(() => rm(dir, { recursive: true, force: true }))

  await record(['--out', dir, '--suite', 'compact-encoding'])
  assert.deepEqual(await readdir(dir), ['compact-encoding.json'])

  await assert.rejects(record(['--out', dir, '--suite', 'no-such-suite']), (err) => err.code === 2)
})
