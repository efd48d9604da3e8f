#!/usr/bin/env bash
# Runs the UDX benchmark on loopback in one go (benches/src/bin/udx_bench.rs with the
# udx-native ends of benches/js/udx.mjs) and prints one Markdown section: the plain UDP
# ceiling with 1200-byte datagrams, stream throughput JS → JS, Rust → Rust, Rust → JS and
# JS → Rust with CPU seconds per GiB on each side, 32-byte ping-pong RTT (median, p99),
# memory per idle stream, and the targets of the UDX issue.
#
#   benches/run-udx.sh [--bytes N] [--pings N] [--streams N]
#
# Defaults: 256 MiB per transfer, 10 000 round trips, 10 000 idle stream pairs. Every
# case runs in its own processes (one per side) and gives up by itself after 300 s.
# Needs cargo and node; udx-native comes from testnet/node_modules (npm install in
# testnet/) or from NODE_MODULES.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

cargo build --release -q -p plures-benches --bin udx_bench
target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", d => { s += d }).on("end", () => console.log(JSON.parse(s).target_directory))')"
modules="${NODE_MODULES:-$root/testnet/node_modules}"
# Run a private copy: another build relinking target/release/udx_bench mid-run would
# otherwise pull the binary from under the peers it spawns.
bench="$(mktemp -d)"
trap 'rm -rf "$bench"' EXIT
cp "$target_dir/release/udx_bench" "$bench/udx_bench"

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
table="$("$bench/udx_bench" run --js "$here/js/udx.mjs" "$@")"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "- command: benches/run-udx.sh $*"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "- load average (1/5/15 min): $load_before before, $load_after after"
echo "- toolchain: $(rustc -V), node $(node -v), udx-native $(node -p "require('$modules/udx-native/package.json').version")"
echo
echo "$table"
