// Joins the criterion estimates of benches/benches/secret_stream.rs with the JSON printed by
// benches/js/secret-stream.mjs --json into one Markdown table. Used by
// benches/run-secret-stream.sh.
//
//   node combine-secret-stream.mjs <criterion dir> <js results json> [<run start, ms since epoch>]

import fs from 'node:fs'
import path from 'node:path'

const [criterionDir, jsFile, startArg] = process.argv.slice(2)
const start = Number(startArg || 0)
const js = JSON.parse(fs.readFileSync(jsFile, 'utf8'))

const KIB = 1024
const GIB = 1024 * 1024 * 1024
// [case, bytes per op (null = handshake)]
const cases = [
  ['secretstream-1k', KIB], ['secretstream-16k', 16 * KIB], ['secretstream-64k', 64 * KIB],
  ['secretstream-libsodium-1k', KIB], ['secretstream-libsodium-16k', 16 * KIB],
  ['secretstream-libsodium-64k', 64 * KIB],
  ['aead-1k', KIB], ['aead-16k', 16 * KIB], ['aead-64k', 64 * KIB],
  ['handshake-ik', null], ['handshake-xx', null]
]

function rust (group) {
  const file = path.join(criterionDir, group, 'ours', 'new', 'estimates.json')
  if (!fs.existsSync(file)) return null
  if (start && fs.statSync(file).mtimeMs < start) {
    console.error(`warning: ${file} predates this run`)
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')).median.point_estimate
}

// Throughput in GiB/s of message bytes per encrypt+decrypt, or handshakes per second.
const rate = (ns, bytes) => ns == null ? null : bytes ? bytes / ns * 1e9 / GIB : 1e9 / ns
const fmt = (r, bytes) => r == null ? '–' : bytes ? `${r.toFixed(3)} GiB/s` : `${r.toFixed(0)} /s`
const time = (x) => x == null ? '–' : x >= 10000 ? `${(x / 1000).toFixed(1)} µs` : `${x.toFixed(0)} ns`

const rows = {}
const rates = {}
console.log('| case | Rust | JS | Rust ÷ JS | Rust time/op | JS time/op |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
for (const [c, bytes] of cases) {
  const r = rust(c)
  // The libsodium-backend rows compare with the same JS secretstream figures.
  const j = js.ns[c.replace('-libsodium', '')]
  const rr = rate(r, bytes)
  const jr = rate(j, bytes)
  rates[c] = { rust: rr, js: jr }
  rows[c] = rr != null && jr != null ? rr / jr : null
  const ratio = rows[c] == null ? '–' : `${rows[c].toFixed(2)}×`
  console.log(`| ${c} | ${fmt(rr, bytes)} | ${fmt(jr, bytes)} | ${ratio} | ${time(r)} | ${time(j)} |`)
}
console.log('')
console.log('Medians. Throughput = message bytes per (encrypt + decrypt) pair, so the bytes pass through')
console.log('the cipher twice; handshakes = whole handshakes (both sides, incl. two ephemeral key')
console.log('generations) per second on one core. Rust ÷ JS > 1 means Rust is faster.')
console.log(`JS: node ${js.node}, sodium-native ${js.sodiumNative}, noise-handshake ${js.noiseHandshake},` +
  ` noise-curve-ed ${js.noiseCurveEd}; first 1 KiB secretstream message FNV-1a ${js.firstDigest} on both sides.`)
const ok = (x, t) => x == null ? 'not measured' : x >= t ? `met (${x.toFixed(2)}×)` : `NOT met (${x.toFixed(2)}×, ${((1 - x / t) * 100).toFixed(0)} % short)`
console.log('')
console.log(`Targets, default build (pure Rust, \`secretstream::portable\`): secretstream-64k ≥ 1.0× sodium-native:` +
  ` ${ok(rows['secretstream-64k'], 1)}; secretstream-1k ≥ 0.8×: ${ok(rows['secretstream-1k'], 0.8)}.`)
if (rows['secretstream-libsodium-64k'] != null || rows['secretstream-libsodium-1k'] != null) {
  console.log(`Targets, feature \`libsodium\`: secretstream-64k ≥ 1.0× sodium-native:` +
    ` ${ok(rows['secretstream-libsodium-64k'], 1)}; secretstream-1k ≥ 0.8×: ${ok(rows['secretstream-libsodium-1k'], 0.8)}.`)
}
const cross = (c, b) => rates[c].rust != null && rates[b].js != null ? rates[c].rust / rates[b].js : null
console.log(`Pure Rust against libsodium's raw ChaCha20-Poly1305 IETF instead (Rust secretstream ÷ sodium-native aead):` +
  ` 64 KiB ${ok(cross('secretstream-64k', 'aead-64k'), 1)}; 1 KiB ${ok(cross('secretstream-1k', 'aead-1k'), 0.8)}.`)
