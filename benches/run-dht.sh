#!/usr/bin/env bash
# Runs the dht-rpc benchmark on loopback in one go (benches/src/bin/dht_bench.rs with the
# JS node of benches/js/dht.mjs) and prints one Markdown section: PING requests answered
# per second by a plain UDP echo (for scale), one JS dht-rpc node and one Rust
# plures-dht-rpc node under the same raw UDP load generators, with reply loss and CPU
# seconds of each server process; memory per routing-table entry and per in-flight
# request; and the ≥ 5 × target.
#
#   benches/run-dht.sh [--secs S] [--warmup S] [--window N] [--sockets N]
#                      [--generator batched|plain|both] [--sim]
#
# Defaults: 1 s warm-up, 5 s measured, 256 requests outstanding over 4 client sockets, both
# generators (batched: each socket's free window as one GSO send, replies by recvmmsg;
# plain: one send / recv system call per datagram). CARGO_TARGET_DIR is honoured.
# Every server runs in its own process and exits by itself after 300 s. --sim also runs
# the 1 000-node simulated lookup (hops and messages per lookup) of plures-dht-rpc's sim
# tests. Needs cargo and node; dht-rpc comes from testnet/node_modules (npm install in
# testnet/) or from NODE_MODULES.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

sim=0
args=()
for a in "$@"; do
  if [ "$a" = "--sim" ]; then sim=1; else args+=("$a"); fi
done

cargo build --release -q -p plures-benches --bin dht_bench
target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", d => { s += d }).on("end", () => console.log(JSON.parse(s).target_directory))')"
modules="${NODE_MODULES:-$root/testnet/node_modules}"
# Run a private copy, so that a concurrent build cannot relink the binary mid-run.
bench="$(mktemp -d)"
trap 'rm -rf "$bench"' EXIT
cp "$target_dir/release/dht_bench" "$bench/dht_bench"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
table="$("$bench/dht_bench" run --js "$here/js/dht.mjs" ${args[@]+"${args[@]}"})"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "- command: benches/run-dht.sh $*"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "- load average (1/5/15 min): $load_before before, $load_after after"
echo "- toolchain: $(rustc -V), node $(node -v), dht-rpc $(node -p "require('$modules/dht-rpc/package.json').version")"
echo
echo "$table"

if [ "$sim" = 1 ]; then
  echo
  echo "1 000-node simulated lookups (cargo test -p plures-dht-rpc --release --test sim -- --ignored --nocapture thousand):"
  echo
  cargo test -q -p plures-dht-rpc --release --test sim -- --ignored --nocapture thousand 2>/dev/null |
    grep '^1000 nodes' | sed 's/^/- /'
fi
