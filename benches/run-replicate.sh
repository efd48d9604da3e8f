#!/usr/bin/env bash
# Runs the replication benchmark (benches/benches/replicate/) in release and prints one
# Markdown section: plures-replicate (MemoryStore, RedbStore) against loro and yrs on the
# workload of the replication issue, with the machine, the load and the targets.
#
#   benches/run-replicate.sh
#
# Sizes come from the environment (defaults are the issue's full size): REPLICATE_RECORDS
# (100 000), REPLICATE_UPDATES (1 000 000), REPLICATE_CONCURRENT (100 000 per replica),
# REPLICATE_CHUNK (1 000), REPLICATE_DURABLE_UPDATES (2 000), REPLICATE_SYSTEMS
# (plures-mem,plures-redb,loro,yrs), REPLICATE_SEED (1), REPLICATE_GROUP_COMMIT (1 000:
# plures-redb writes per redb transaction, 0 = one per write). Every configuration runs in its
# own child process; progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

cargo bench -q -p plures-benches --bench replicate --no-run
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
table="$(cargo bench -q -p plures-benches --bench replicate)"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

version() {
  grep -A1 "^name = \"$1\"$" Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p' | head -1
}

echo
echo "- command: REPLICATE_SYSTEMS=${REPLICATE_SYSTEMS:-plures-mem,plures-redb,loro,yrs} benches/run-replicate.sh"
echo "- date: $(date -u +%Y-%m-%d)"
echo "- machine: $(nproc) cores, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1), $(free -g | awk '/^Mem/ {print $2}') GiB"
echo "- load average (1, 5, 15 min): $load_before before, $load_after after"
echo "- versions: $(rustc --version), loro $(version loro), yrs $(version yrs), redb $(version redb)"
echo
echo "$table"
