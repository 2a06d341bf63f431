#!/bin/sh
# Cost of state.path for a transactional producer (docs/guarantees.md, section 3):
# tools/ktx-perf in transactional mode against a one-broker ktx-broker, RUNS rounds each of
#   plain   no state.path
#   state   state.path, state.sync=SYNC (COMMITTING written before every EndTxn(commit),
#           plus COMMITTED after it with transactions v1)
# run back to back (plain first, then state, alternating per round), with transactions of
# TXN_RECORDS records (sized so that one transaction lasts about 100 ms here), and prints
# the records/s of each, the measured milliseconds per transaction, the median
# ktx_commit_transaction() time (which holds the store commits) and the ratio state/plain
# (target >= 0.95). A last line sums every round.
#
#   tools/txn-state-bench.sh [BUILD_DIR] [RECORDS] [TXN_RECORDS] [RUNS] [SYNC] [BROKER_ARGS]
#
# BUILD_DIR is a configured build tree holding tests/broker/ktx-broker and tools/ktx-perf
# (default: the current directory); defaults 2,000,000 records of 100 bytes in transactions
# of 50,000, 5 rounds, state.sync=normal, BROKER_ARGS "" (e.g. "--txn-v2" for transactions
# v2). Benchmark only: not run by `make check`.
set -eu

BUILD=${1:-.}
RECORDS=${2:-2000000}
TXN_RECORDS=${3:-50000}
RUNS=${4:-5}
SYNC=${5:-normal}
BROKER_ARGS=${6:-}
BROKER=$BUILD/tests/broker/ktx-broker
PERF=$BUILD/tools/ktx-perf

for bin in "$BROKER" "$PERF"; do
    if [ ! -x "$bin" ]; then
        echo "txn-state-bench: $bin not built (make tests/broker/ktx-broker tools/ktx-perf)" >&2
        exit 2
    fi
done

# shellcheck source=tools/bench-broker.sh
. "$(dirname "$0")/bench-broker.sh"
# shellcheck disable=SC2086 # BROKER_ARGS is a word list
bench_start_broker txn-state-bench "$BROKER" --brokers 1 --auto-create 4 $BROKER_ARGS

# Runs ktx-perf with the extra arguments "$@"; prints
# "records_per_s elapsed_s commits commit_p50_ms".
perf_run() {
    "$PERF" -b "$BOOTSTRAP" -t bench -n "$RECORDS" -s 100 -p 4 --mode transactional \
        --txn-records "$TXN_RECORDS" -q "$@" | tail -n 1 |
        sed -n 's/.*elapsed_s=\([0-9.]*\).*records_per_s=\([0-9]*\).* commits=\([0-9]*\) commit_p50_ms=\([0-9.]*\).*/\2 \1 \3 \4/p'
}

echo "ktx-broker $BOOTSTRAP $BROKER_ARGS, $(nproc) CPUs, $RUNS rounds of $RECORDS records of" \
    "100 bytes in transactions of $TXN_RECORDS, state.sync=$SYNC"
run=1
tp=0
ts=0
while [ "$run" -le "$RUNS" ]; do
    rm -f "$WORK"/state*
    if [ $((run % 2)) -eq 1 ]; then
        plain=$(perf_run)
        state=$(perf_run -X state.path="$WORK/state-$run.db" -X state.sync="$SYNC")
    else
        state=$(perf_run -X state.path="$WORK/state-$run.db" -X state.sync="$SYNC")
        plain=$(perf_run)
    fi
    line=$(echo "$plain $state" | awk -v run="$run" '{
        printf "run %d: plain %d records/s (%.0f ms per transaction, commit p50 %.3f ms), state %d records/s (%.0f ms per transaction, commit p50 %.3f ms), state/plain %.3f\n",
            run, $1, ($3 > 0 ? 1000 * $2 / $3 : 0), $4, $5, ($7 > 0 ? 1000 * $6 / $7 : 0), $8,
            ($1 > 0 ? $5 / $1 : 0)
    }')
    echo "$line"
    tp=$(echo "$plain $tp" | awk '{ print $1 + $5 }')
    ts=$(echo "$state $ts" | awk '{ print $1 + $5 }')
    run=$((run + 1))
done
awk -v p="$tp" -v s="$ts" 'BEGIN { printf "all rounds: state/plain %.3f\n", (p > 0 ? s / p : 0) }'
