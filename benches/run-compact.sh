#!/usr/bin/env bash
# Runs the compact-encoding benchmarks: plures-compact and the datrs crate (criterion,
# benches/benches/compact.rs), then the JS compact-encoding 3.5.2 (benches/js/compact.mjs),
# and prints one combined Markdown table with the machine it ran on.
#
#   benches/run-compact.sh
#
# Needs cargo and node. The JS package comes from testnet/node_modules (npm install in
# testnet/) or from CE_PATH (a compact-encoding directory). Takes about 2 minutes on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

start_ms="$(date +%s%3N)"
cargo bench -p plures-benches --bench compact

js_json="$(mktemp)"
trap 'rm -f "$js_json"' EXIT
node "$here/js/compact.mjs" --json > "$js_json"

target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", d => { s += d }).on("end", () => console.log(JSON.parse(s).target_directory))')"

echo
echo "## compact-encoding: plures-compact vs datrs compact-encoding vs JS compact-encoding"
echo
echo "- command: benches/run-compact.sh"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "- toolchain: $(rustc -V), node $(node -v); datrs crate $(cargo tree -p plures-benches -e dev --prefix none 2>/dev/null | grep -m1 '^compact-encoding ' | cut -d' ' -f2)"
echo
node "$here/js/combine-compact.mjs" "$target_dir/criterion" "$js_json" "$start_ms"
