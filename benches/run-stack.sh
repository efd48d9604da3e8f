#!/usr/bin/env bash
# Runs the whole-stack benchmark on 127.0.0.1 in one go (benches/src/bin/stack_bench/ with
# the hyperdht ends of benches/js/stack.mjs) and prints one Markdown section: hyperdht
# connections Rust → Rust, JS → JS, Rust → JS and JS → Rust (client → server) on a local
# testnet, with connect latency (DHT lookup + Noise handshake + stream set-up, to the
# first echoed byte: median, p90), 64-byte ping-pong round trips (median, p99) and bulk
# throughput one way (SHA-256 checked, CPU seconds of each end); then PluresDB sync end to
# end (two `plures-sync sync` processes, RedbStore, N puts into one of them).
#
#   benches/run-stack.sh [--testnet rust|js|both] [--nodes N] [--connects N] [--bytes N]
#                        [--pings N] [--puts N]
#
# Defaults: both testnets (the four cases on a Rust `plures-sync testnet`, then again on a
# JS testnet/testnet.mjs), 8 DHT nodes, 30 connects, 64 MiB, 1 000 round trips, 100 000
# puts (0 skips the sync case). Every process runs on 127.0.0.1 with a deadline of its own
# (peers 300 s, testnets and replicas 900 s) and is killed when the run ends, fails or is
# interrupted. CARGO_TARGET_DIR and PLURES_SYNC (see below) are honoured. Needs cargo and node; hyperdht comes from
# testnet/node_modules (npm install in testnet/) or from NODE_MODULES.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

# PLURES_SYNC=PATH uses a plures-sync binary built elsewhere (e.g. from a clean checkout)
# instead of building the one of this tree.
if [ -n "${PLURES_SYNC:-}" ]; then
  cargo build --release -q -p plures-benches --bin stack_bench
else
  cargo build --release -q -p plures-benches --bin stack_bench -p plures-sync --bin plures-sync
fi
target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", d => { s += d }).on("end", () => console.log(JSON.parse(s).target_directory))')"
modules="${NODE_MODULES:-$root/testnet/node_modules}"
# Private copies, so that a concurrent build cannot relink a binary mid-run.
bench="$(mktemp -d)"
pid=""
cleanup() {
  # stack_bench kills its children itself; this catches an interrupted run.
  if [ -n "$pid" ]; then
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
  fi
  rm -rf "$bench"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cp "$target_dir/release/stack_bench" "$bench/"
cp "${PLURES_SYNC:-$target_dir/release/plures-sync}" "$bench/plures-sync"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
"$bench/stack_bench" run --js "$here/js/stack.mjs" --sync "$bench/plures-sync" \
  --testnet-js "$root/testnet/testnet.mjs" "$@" >"$bench/table.md" &
pid=$!
wait "$pid"
pid=""
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "- command: benches/run-stack.sh $*"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "- load average (1/5/15 min): $load_before before, $load_after after"
echo "- toolchain: $(rustc -V), node $(node -v), hyperdht $(node -p "require('$modules/hyperdht/package.json').version")"
cat "$bench/table.md"
