// Joins the criterion estimates of benches/benches/compact.rs with the JSON printed by
// benches/js/compact.mjs --json into one Markdown table. Used by benches/run-compact.sh.
//
//   node combine-compact.mjs <criterion dir> <js results json> [<run start, ms since epoch>]

import fs from 'node:fs'
import path from 'node:path'

const [criterionDir, jsFile, startArg] = process.argv.slice(2)
const start = Number(startArg || 0)
const js = JSON.parse(fs.readFileSync(jsFile, 'utf8'))

const cases = [
  'uint10k-encode', 'uint10k-decode', 'msg-encode', 'msg-decode',
  'buf1k-encode', 'buf1k-decode', 'buf64k-encode', 'buf64k-decode'
]

function rust (group, fn) {
  const file = path.join(criterionDir, group, fn, 'new', 'estimates.json')
  if (!fs.existsSync(file)) return null
  if (start && fs.statSync(file).mtimeMs < start) {
    console.error(`warning: ${file} predates this run`)
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')).median.point_estimate
}

const ns = (x) => x == null ? '–' : x >= 10000 ? `${(x / 1000).toFixed(1)} µs` : `${x.toFixed(1)} ns`
const ratio = (a, b) => a == null || b == null ? '–' : `${(a / b).toFixed(2)}×`

console.log('| case | ours | ours-owned | datrs | JS | datrs ÷ ours | datrs ÷ ours-owned | JS ÷ ours |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const c of cases) {
  const o = rust(c, 'ours')
  const oo = rust(c, 'ours-owned')
  const d = rust(c, 'datrs')
  const j = js.ns[c]
  console.log(`| ${c} | ${ns(o)} | ${ns(oo)} | ${ns(d)} | ${ns(j)} | ${ratio(d, o)} | ${ratio(d, oo)} | ${ratio(j, o)} |`)
}
console.log('')
console.log('Medians per operation (one call encodes or decodes the whole case). `ours` = plures-compact\'s')
console.log('borrowing API; `ours-owned` = the same plus copying byte strings into `Vec`s, like datrs (decode only).')
console.log(`JS: node ${js.node}, compact-encoding ${js.compactEncoding}.`)
