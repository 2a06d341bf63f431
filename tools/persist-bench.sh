#!/bin/sh
# Cost of the durable journal (docs/guarantees.md, section 2): tools/ktx-perf in idempotent
# mode against a one-broker ktx-broker, RUNS runs each of
#   plain      no state.path
#   state      state.path, state.sync=SYNC (identity and sequences only)
#   journal    state.path, state.journal=true, state.sync=SYNC (group commits on the journal
#              thread, each holding every batch drained while the previous one ran)
#   base       (only with BASE_BUILD) the journal run with BASE_BUILD's ktx-perf, e.g. a tree
#              of the previous commit: a side-by-side comparison of two versions
# and prints the records/s of each and the ratio journal/plain (target >= 0.7 with
# state.sync=normal), then the journal run's store statistics, which the producer logs at
# close (ktx-perf -v): SQLite commits and commits/s, sender turns that drained (at most one
# commit each), WAL checkpoints, the fsync estimate (per commit: with state.sync=full one
# per commit plus two per WAL checkpoint) and the commit time p50/p99/max.
#
#   tools/persist-bench.sh [BUILD_DIR] [RECORDS] [RUNS] [SYNC] [BASE_BUILD]
#
# BUILD_DIR is a configured build tree holding tests/broker/ktx-broker and tools/ktx-perf
# (default: the current directory); defaults 500000 records of 100 bytes, 3 runs, normal.
# Benchmark only: not run by `make check`. The commit times are log2 buckets (upper bounds).
set -eu

BUILD=${1:-.}
RECORDS=${2:-500000}
RUNS=${3:-3}
SYNC=${4:-normal}
BASE=${5:-}
BROKER=$BUILD/tests/broker/ktx-broker
PERF=$BUILD/tools/ktx-perf

for bin in "$BROKER" "$PERF" ${BASE:+"$BASE/tools/ktx-perf"}; do
    if [ ! -x "$bin" ]; then
        echo "persist-bench: $bin not built (make tests/broker/ktx-broker tools/ktx-perf)" >&2
        exit 2
    fi
done

# shellcheck source=tools/bench-broker.sh
. "$(dirname "$0")/bench-broker.sh"
bench_start_broker persist-bench "$BROKER" --brokers 1 --auto-create 4

# Runs ktx-perf with the extra arguments "$@"; prints its records/s.
perf_rps() {
    "$PERF" -b "$BOOTSTRAP" -t bench -n "$RECORDS" -s 100 -p 4 --mode idempotent -q "$@" |
        tail -n 1 | sed -n 's/.*records_per_s=\([0-9]*\).*/\1/p'
}

echo "ktx-broker $BOOTSTRAP, $(nproc) CPUs, $RUNS runs of $RECORDS records of 100 bytes, state.sync=$SYNC"
run=1
while [ "$run" -le "$RUNS" ]; do
    rm -f "$WORK"/state*
    plain=$(perf_rps)
    state=$(perf_rps -X state.path="$WORK/state-$run.db" -X state.sync="$SYNC")
    "$PERF" -b "$BOOTSTRAP" -t bench -n "$RECORDS" -s 100 -p 4 --mode idempotent -q -v \
        -X state.path="$WORK/state-j$run.db" -X state.journal=true -X state.sync="$SYNC" \
        >"$WORK/journal.out" 2>"$WORK/journal.log"
    journal=$(tail -n 1 "$WORK/journal.out" | sed -n 's/.*records_per_s=\([0-9]*\).*/\1/p')
    awk -v run="$run" -v p="$plain" -v s="$state" -v j="$journal" 'BEGIN {
        printf "run %d: plain %d records/s, state %d records/s, journal %d records/s, journal/plain %.2f\n",
            run, p, s, j, (p > 0 ? j / p : 0)
    }'
    sed -n 's/.*journal statistics: /    journal store: /p' "$WORK/journal.log"
    if [ -n "$BASE" ]; then
        "$BASE/tools/ktx-perf" -b "$BOOTSTRAP" -t bench -n "$RECORDS" -s 100 -p 4 --mode idempotent \
            -q -v -X state.path="$WORK/state-b$run.db" -X state.journal=true -X state.sync="$SYNC" \
            >"$WORK/base.out" 2>"$WORK/base.log"
        base=$(tail -n 1 "$WORK/base.out" | sed -n 's/.*records_per_s=\([0-9]*\).*/\1/p')
        awk -v p="$plain" -v b="$base" -v j="$journal" 'BEGIN {
            printf "    base journal %d records/s, base/plain %.2f, journal/base %.2f\n",
                b, (p > 0 ? b / p : 0), (b > 0 ? j / b : 0)
        }'
        sed -n 's/.*journal statistics: /    base store: /p' "$WORK/base.log"
    fi
    run=$((run + 1))
done
