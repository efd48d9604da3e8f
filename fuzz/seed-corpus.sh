#!/usr/bin/env bash
# Writes the seed corpora (fuzz/corpus/<target>/seed-*) from the JS-recorded reference
# vectors. Usage: fuzz/seed-corpus.sh [VECTORS_JSON] [CORPUS_DIR]
# Defaults: ../shared/reference-vectors/compact-encoding.json beside the repository, and
# fuzz/corpus. Files the fuzzer added are left alone; the seeds are overwritten in place.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec cargo run --quiet --manifest-path "$here/Cargo.toml" --example seed_corpus -- "$@"
