#!/usr/bin/env bash
# Runs the secret-stream benchmarks: plures-secret-stream (both secretstream backends: the
# pure-Rust default and the optional libsodium one, so the bench is built with
# plures-secret-stream's `libsodium` feature) and the RustCrypto ChaCha20-Poly1305
# (criterion, benches/benches/secret_stream.rs), then sodium-native 5.1.0 and noise-handshake
# 4.2.0 + noise-curve-ed 2.1.0 (benches/js/secret-stream.mjs), and prints one combined
# Markdown table (Rust, JS, Rust ÷ JS) with the machine it ran on.
#
#   benches/run-secret-stream.sh
#
# Needs cargo and node. The JS packages come from testnet/node_modules (npm install in
# testnet/) or from NODE_MODULES. Takes about 2 minutes on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

start_ms="$(date +%s%3N)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
cargo bench -p plures-benches --features plures-secret-stream/libsodium --bench secret_stream

js_json="$(mktemp)"
trap 'rm -f "$js_json"' EXIT
node "$here/js/secret-stream.mjs" --json > "$js_json"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

target_dir="$(cargo metadata --format-version 1 --no-deps |
  node -e 'let s = ""; process.stdin.on("data", d => { s += d }).on("end", () => console.log(JSON.parse(s).target_directory))')"

echo
echo "## secret-stream: plures-secret-stream vs sodium-native"
echo
echo "- command: benches/run-secret-stream.sh"
echo "- date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "- machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') (family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | tr -d ' '), model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, $(uname -sr)"
echo "- load average (1/5/15 min): $load_before before, $load_after after"
deps="$(cargo tree -p plures-benches --features plures-secret-stream/libsodium -e normal,dev --prefix none 2>/dev/null)"
dep() { echo "$deps" | grep -m1 "^$1 " | cut -d' ' -f2; }
echo "- toolchain: $(rustc -V), node $(node -v); chacha20poly1305 $(dep chacha20poly1305), chacha20 $(dep chacha20), poly1305 $(dep poly1305), curve25519-dalek $(dep curve25519-dalek), blake2 $(dep blake2), libsodium-sys-stable $(dep libsodium-sys-stable) (libsodium $(cat "$target_dir"/release/build/libsodium-sys-stable-*/out/installed/include/sodium/version.h 2>/dev/null | sed -n 's/^#define SODIUM_VERSION_STRING "\(.*\)"$/\1/p' | head -1)); RUSTFLAGS='${RUSTFLAGS:-}'"
echo
node "$here/js/combine-secret-stream.mjs" "$target_dir/criterion" "$js_json" "$start_ms"
