#!/usr/bin/env bash
# What CI runs for the fuzz targets (see docs/fuzzing.md):
#   1. fmt + clippy of the fuzz crate (the root workspace excludes it);
#   2. `cargo test` of the fuzz crate: unit tests and every committed corpus file replayed
#      through its target without libFuzzer;
#   3. `cargo fuzz build` of every target (release, AddressSanitizer, --cfg fuzzing);
#   4. per target: the corpus replayed by the libFuzzer binary (-runs=0), then a short fuzz
#      run of FUZZ_SECONDS (default 20) seconds.
# Exits non-zero on any failure or crash; crash inputs are printed in hex. New inputs found
# during the run go to a temporary directory: the tracked corpus is only read.
# Works from a fresh clone (installs cargo-fuzz if missing). No nightly toolchain is needed:
# RUSTC_BOOTSTRAP=1 lets stable rustc take the -Z flags cargo-fuzz passes.
set -euo pipefail
cd "$(dirname "$0")/.."

export RUSTC_BOOTSTRAP=1
seconds="${FUZZ_SECONDS:-20}"
manifest=fuzz/Cargo.toml
start=$SECONDS
step() { printf '\n== fuzz [%4ss] %s\n' "$((SECONDS - start))" "$*"; }

if ! cargo fuzz --version >/dev/null 2>&1; then
  step "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
cargo fuzz --version

step "fmt and clippy (fuzz crate)"
cargo fmt --manifest-path "$manifest" -- --check
cargo clippy --manifest-path "$manifest" --all-targets -- -D warnings

step "unit tests and corpus replay without libFuzzer"
cargo test --manifest-path "$manifest"

step "cargo fuzz build (all targets)"
cargo fuzz build

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

failed=()
for target in $(cargo fuzz list); do
  corpus="fuzz/corpus/$target"
  if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus")" ]; then
    echo "fuzz target $target has no corpus in $corpus"
    failed+=("$target (no corpus)")
    continue
  fi
  new="$work/corpus/$target"
  artifacts="$work/artifacts/$target"
  mkdir -p "$new" "$artifacts"
  # The first directory receives new inputs; the tracked corpus is only read.
  flags=(-artifact_prefix="$artifacts/" -timeout=60 -print_final_stats=1)

  step "$target: replay $(ls "$corpus" | wc -l) corpus inputs"
  if ! cargo fuzz run "$target" "$new" "$corpus" -- "${flags[@]}" -runs=0 \
      >"$work/$target.replay.log" 2>&1; then
    tail -n 60 "$work/$target.replay.log"
    failed+=("$target (replay)")
  else
    grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)' "$work/$target.replay.log" || true
  fi

  step "$target: fuzz for ${seconds}s"
  if ! cargo fuzz run "$target" "$new" "$corpus" -- "${flags[@]}" \
      -max_total_time="$seconds" >"$work/$target.fuzz.log" 2>&1; then
    tail -n 60 "$work/$target.fuzz.log"
    failed+=("$target (fuzz)")
  else
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::number_of_executed_units' "$work/$target.fuzz.log" || true
    echo "$(ls "$new" | wc -l) new inputs (discarded; see docs/fuzzing.md to keep some)"
  fi

  for crash in "$artifacts"/*; do
    [ -f "$crash" ] || continue
    echo "crash input $(basename "$crash") (hex):"
    od -An -v -tx1 "$crash" | tr -d ' \n' | fold -w 128
    echo
  done
done

step "done"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'fuzzing failed: %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzz targets ok: $(cargo fuzz list | tr '\n' ' ')"
