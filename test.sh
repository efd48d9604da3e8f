#!/usr/bin/env bash
# The project's test command (see README): Rust tests of the whole workspace, the vector
# checks against our recorded vectors and the shared reference set, and the Node harness
# tests. Installs the pinned JS reference packages first when Node is present.
set -euo pipefail
cd "$(dirname "$0")"

have_node=0
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  have_node=1
  echo "== npm install (testnet/, pinned JS reference)"
  (cd testnet && npm install --no-audit --no-fund --loglevel=error)
else
  echo "== node/npm not found: JS interop tests are skipped"
fi

echo "== cargo test --workspace"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== plures-sync vectors check"
paths=(vectors)
[ -d ../shared/reference-vectors ] && paths+=(../shared/reference-vectors)
cargo run --quiet -p plures-sync -- vectors check "${paths[@]}"

if [ "$have_node" = 1 ]; then
  echo "== testnet/ node tests"
  (cd testnet && npm test)
fi
