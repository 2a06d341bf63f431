#!/bin/sh
# Throughput of ktx-broker: librdkafka's producer (tools/rdkafka-perf) sends 100-byte
# records in well-filled batches (acks=all, linger.ms=5, batch.size=1000000, idempotent)
# to a one-broker ktx-broker, several runs on one broker process. For each run it prints
# the client's records/s and the CPU the broker spent (user and system, from
# /proc/PID/stat), so that the broker's own capacity (records per broker CPU second) shows
# even when the client is the bottleneck, as it is on a small machine.
#
#   tools/broker-bench.sh [BUILD_DIR] [RECORDS_PER_RUN] [RUNS] [PARTITIONS]
#
# BUILD_DIR is a configured build tree holding tests/broker/ktx-broker and
# tools/rdkafka-perf (default: the current directory); defaults 2000000 records, 5 runs,
# 4 partitions. Benchmark only: not run by `make check`.
set -eu

BUILD=${1:-.}
RECORDS=${2:-2000000}
RUNS=${3:-5}
PARTITIONS=${4:-4}
BROKER=$BUILD/tests/broker/ktx-broker
PERF=$BUILD/tools/rdkafka-perf

for bin in "$BROKER" "$PERF"; do
    if [ ! -x "$bin" ]; then
        echo "broker-bench: $bin not built (make tests/broker/ktx-broker tools/rdkafka-perf)" >&2
        exit 2
    fi
done

WORK=$(mktemp -d /tmp/broker-bench.XXXXXX)
mkfifo "$WORK/ctl"
"$BROKER" --brokers 1 --auto-create "$PARTITIONS" <"$WORK/ctl" >"$WORK/out" 2>"$WORK/err" &
PID=$!
exec 3>"$WORK/ctl" # keeps the broker's stdin open; closing it stops the broker
cleanup() {
    exec 3>&-
    wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

i=0
while ! grep -q '^BOOTSTRAP ' "$WORK/out" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 100 ]; then
        echo "broker-bench: no BOOTSTRAP line" >&2
        exit 1
    fi
    sleep 0.05
done
BOOTSTRAP=$(sed -n 's/^BOOTSTRAP //p' "$WORK/out")
TICKS=$(getconf CLK_TCK)

# The broker's user and system CPU so far, in clock ticks.
broker_cpu() {
    awk '{ print $14, $15 }' "/proc/$PID/stat"
}

echo "ktx-broker $BOOTSTRAP, $(nproc) CPUs, $RUNS runs of $RECORDS records of 100 bytes, $PARTITIONS partitions"
run=1
while [ $run -le "$RUNS" ]; do
    set -- $(broker_cpu)
    u0=$1 s0=$2
    line=$("$PERF" -b "$BOOTSTRAP" -t bench -n "$RECORDS" -s 100 -p "$PARTITIONS" -q \
        -X acks=all -X linger.ms=5 -X batch.size=1000000 | tail -n 1)
    set -- $(broker_cpu)
    u1=$1 s1=$2
    rps=$(echo "$line" | sed -n 's/.*records_per_s=\([0-9]*\).*/\1/p')
    failed=$(echo "$line" | sed -n 's/.* failed=\([0-9]*\).*/\1/p')
    awk -v run="$run" -v rps="$rps" -v failed="$failed" -v n="$RECORDS" -v t="$TICKS" \
        -v u="$((u1 - u0))" -v s="$((s1 - s0))" 'BEGIN {
        cpu = (u + s) / t
        printf "run %d: client %d records/s (failed %d); broker CPU %.2f s (user %.2f, sys %.2f) = %.3f us/record, capacity %.0f records per broker CPU second\n",
            run, rps, failed, cpu, u / t, s / t, cpu * 1e6 / n, (cpu > 0 ? n / cpu : 0)
    }'
    run=$((run + 1))
done
