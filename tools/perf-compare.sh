#!/bin/sh
# perf-compare.sh: kafkatx against librdkafka, side by side, against ONE cluster in one run.
#
# Starts the peer (librdkafka's mock cluster through tests/cluster/ktx-mock, or kafkatx's
# reference broker tests/broker/ktx-broker) with 3 brokers and a topic of 6 partitions,
# then runs tools/ktx-perf and tools/rdkafka-perf alternately REPS times with the same
# settings (the first of each pair alternates too, so that neither client always runs on
# a warmer or colder machine), and prints per client the median, min and max of each figure
# and the ratios of the medians kafkatx/librdkafka. Stops the peer on exit.
#
# Machines are shared and noisy: read the ratios and the spread, not one run.
# See docs/benchmarks.md for what every figure means.
#
# Run it from a build directory (or pass --build-dir):
#   /work/main/tools/perf-compare.sh [-r REPS] [-n RECORDS] [-s SIZE] [--mode MODE]
#       [--peer mock|broker] [--txn-records N] [-z none|zstd] [-k] [-X prop=value ...]
#       [--build-dir DIR] [--keep DIR] [--run-timeout SECONDS] [--vs-idempotent]
#
# --vs-idempotent (transactional mode): each repetition also runs ktx-perf in idempotent
# mode against the same peer (a third column, kafkatx_idem) and a last line gives the ratios
# kafkatx transactional / kafkatx idempotent (the "% of its own idempotent throughput").
#
# Exit status: 0 when every run succeeded (or was skipped with status 77 because the
# client lacks the API for the mode), 1 when a run failed, 2 on a usage error.

set -u

REPS=5
RECORDS=1000000
SIZE=100
MODE=idempotent
PEER=mock
TXN_RECORDS=10000
CODEC=none
KEYED=
EXTRA=
BUILD=${KTX_BUILD_DIR:-.}
KEEP=
RUN_TIMEOUT=600
VS_IDEM=
TOPIC=perf
PARTITIONS=6

usage() {
    sed -n '14,21p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

while [ $# -gt 0 ]; do
    case $1 in
    -r) REPS=$2; shift ;;
    -n) RECORDS=$2; shift ;;
    -s) SIZE=$2; shift ;;
    --mode) MODE=$2; shift ;;
    --peer) PEER=$2; shift ;;
    --txn-records) TXN_RECORDS=$2; shift ;;
    -z) CODEC=$2; shift ;;
    -k) KEYED=-k ;;
    -X) EXTRA="$EXTRA -X $2"; shift ;;
    --build-dir) BUILD=$2; shift ;;
    --keep) KEEP=$2; shift ;;
    --run-timeout) RUN_TIMEOUT=$2; shift ;;
    --vs-idempotent) VS_IDEM=1 ;;
    -h|--help) usage ;;
    *) echo "perf-compare: unknown argument: $1" >&2; usage ;;
    esac
    [ $# -gt 0 ] && shift
done

case $PEER in
mock) PEER_BIN=$BUILD/tests/cluster/ktx-mock ;;
broker) PEER_BIN=$BUILD/tests/broker/ktx-broker ;;
*) echo "perf-compare: --peer must be mock or broker" >&2; exit 2 ;;
esac
KTX_PERF=$BUILD/tools/ktx-perf
RDK_PERF=$BUILD/tools/rdkafka-perf
for bin in "$PEER_BIN" "$RDK_PERF"; do
    if [ ! -x "$bin" ]; then
        echo "perf-compare: $bin is missing: run from a build directory (or --build-dir) after" >&2
        echo "  make tools/ktx-perf tools/rdkafka-perf ${PEER_BIN#"$BUILD"/}" >&2
        exit 2
    fi
done
# ktx-perf may be missing while the producer is being written: librdkafka still runs.
[ -x "$KTX_PERF" ] || echo "perf-compare: $KTX_PERF is missing: kafkatx runs are skipped" >&2

TMP=$(mktemp -d "${TMPDIR:-/tmp}/perf-compare.XXXXXX") || exit 1
PEER_PID=
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    if [ -n "$PEER_PID" ]; then
        echo quit >&3 2>/dev/null
        exec 3>&-
        i=0
        while kill -0 "$PEER_PID" 2>/dev/null && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill "$PEER_PID" 2>/dev/null
        wait "$PEER_PID" 2>/dev/null
    fi
    if [ -n "$KEEP" ]; then
        mkdir -p "$KEEP" && cp "$TMP"/*.out "$TMP"/*.err "$TMP"/results "$KEEP"/ 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits up to 10 s until file $1 has at least $2 lines; prints line $2.
wait_line() {
    i=0
    while [ "$(wc -l < "$1")" -lt "$2" ]; do
        i=$((i + 1))
        if [ $i -gt 100 ] || ! kill -0 "$PEER_PID" 2>/dev/null; then
            echo "perf-compare: the peer did not answer; its stderr:" >&2
            tail -20 "$TMP/peer.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    sed -n "${2}p" "$1"
}

mkfifo "$TMP/ctl" || exit 1
"$PEER_BIN" --brokers 3 < "$TMP/ctl" > "$TMP/peer.out" 2> "$TMP/peer.err" &
PEER_PID=$!
exec 3> "$TMP/ctl"
BOOTSTRAP=$(wait_line "$TMP/peer.out" 1 | sed -n 's/^BOOTSTRAP //p')
[ -n "$BOOTSTRAP" ] || { echo "perf-compare: no BOOTSTRAP line from the peer" >&2; exit 1; }
echo "topic $TOPIC $PARTITIONS 3" >&3
answer=$(wait_line "$TMP/peer.out" 2)
[ "$answer" = OK ] || { echo "perf-compare: topic creation: $answer" >&2; exit 1; }

TIMEOUT=
command -v timeout > /dev/null 2>&1 && TIMEOUT="timeout $RUN_TIMEOUT"
FAILED=0
: > "$TMP/results"

# Runs client $1 (ktx, rdk, or idem: ktx-perf in idempotent mode) for repetition $2 and
# appends its result line.
run_one() {
    mode=$MODE
    case $1 in
    ktx) bin=$KTX_PERF ;;
    idem) bin=$KTX_PERF; mode=idempotent ;;
    *) bin=$RDK_PERF ;;
    esac
    out=$TMP/$1-$2.out
    if [ ! -x "$bin" ]; then
        echo "  rep $2 $1: skipped ($bin is missing)"
        return
    fi
    # shellcheck disable=SC2086 # EXTRA and KEYED are lists of words on purpose
    $TIMEOUT "$bin" -b "$BOOTSTRAP" -t "$TOPIC" -n "$RECORDS" -s "$SIZE" --mode "$mode" \
        --txn-records "$TXN_RECORDS" -z "$CODEC" -p "$PARTITIONS" -q $KEYED $EXTRA \
        > "$out" 2> "$TMP/$1-$2.err"
    rc=$?
    line=$(grep '^client=' "$out" | tail -1)
    [ "$1" = idem ] && line=$(echo "$line" | sed 's/^client=kafkatx /client=kafkatx_idem /')
    if [ $rc -eq 77 ]; then
        echo "  rep $2 $1: skipped ($(tail -1 "$TMP/$1-$2.err"))"
    elif [ $rc -ne 0 ] || [ -z "$line" ]; then
        echo "  rep $2 $1: FAILED (exit $rc): $(tail -3 "$TMP/$1-$2.err" | tr '\n' ' ')"
        FAILED=1
    else
        echo "$line" >> "$TMP/results"
        echo "  rep $2 $1: $(echo "$line" | tr ' ' '\n' |
            grep -E '^(records_per_s|cpu_us_per_record|p50_ms|p99_ms|commit_p50_ms)=' | tr '\n' ' ')"
    fi
}

echo "perf-compare: peer=$PEER ($BOOTSTRAP) topic=$TOPIC partitions=$PARTITIONS records=$RECORDS" \
     "size=$SIZE mode=$MODE codec=$CODEC reps=$REPS${KEYED:+ keyed}${EXTRA:+ extra:$EXTRA}"
rep=1
while [ $rep -le "$REPS" ]; do
    if [ $((rep % 2)) -eq 1 ]; then
        [ -n "$VS_IDEM" ] && run_one idem $rep
        run_one ktx $rep; run_one rdk $rep
    else
        run_one rdk $rep; run_one ktx $rep
        [ -n "$VS_IDEM" ] && run_one idem $rep
    fi
    rep=$((rep + 1))
done

# Medians, spread and ratios of the medians (kafkatx / librdkafka).
awk '
function fmt(x) { return x >= 10000 ? sprintf("%.0f", x) : sprintf("%.4g", x) }
function median(v, n,    i, j, t) {
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
{
    c = ""
    for (i = 1; i <= NF; i++) {
        split($i, kv, "=")
        if (kv[1] == "client") c = kv[2]
        else if (kv[1] in want) { n = ++cnt[c, kv[1]]; val[c, kv[1], n] = kv[2] + 0 }
    }
}
BEGIN {
    nm = split("records_per_s mb_per_s cpu_us_per_record p50_ms p95_ms p99_ms p999_ms " \
               "max_ms batches_per_request commit_p50_ms commit_p99_ms", names, " ")
    for (i = 1; i <= nm; i++) want[names[i]] = 1
    nc = split("kafkatx librdkafka kafkatx_idem", clients, " ")
}
END {
    if (cnt["kafkatx_idem", "records_per_s"] == 0) nc = 2
    printf "\n%-20s %-40s %-40s %s%s\n", "figure", "kafkatx median [min..max] spread", \
           "librdkafka median [min..max] spread", \
           nc == 3 ? sprintf("%-40s ", "kafkatx idempotent median [min..max]") : "", \
           "kafkatx/librdkafka"
    line = "ratio"
    idem_line = "ratio_vs_idempotent"
    for (i = 1; i <= nm; i++) {
        k = names[i]; row = sprintf("%-20s", k); have = 0
        for (j = 1; j <= nc; j++) {
            c = clients[j]; n = cnt[c, k]; med[c] = ""
            if (n == 0) { row = row sprintf(" %-40s", "n/a"); continue }
            lo = hi = val[c, k, 1]
            for (m = 1; m <= n; m++) {
                w[m] = val[c, k, m]
                if (w[m] < lo) lo = w[m]
                if (w[m] > hi) hi = w[m]
            }
            med[c] = median(w, n); have++
            sp = med[c] > 0 ? (hi - lo) * 100 / med[c] : 0
            row = row sprintf(" %-40s", sprintf("%s [%s..%s] %.0f%% (n=%d)", fmt(med[c]), fmt(lo), fmt(hi), sp, n))
        }
        if (have == 0) continue
        r = "n/a"
        if (med["kafkatx"] != "" && med["librdkafka"] != "" && med["librdkafka"] > 0) {
            r = sprintf("%.3f", med["kafkatx"] / med["librdkafka"])
            line = line " " k "=" r
        }
        if (med["kafkatx"] != "" && med["kafkatx_idem"] != "" && med["kafkatx_idem"] > 0)
            idem_line = idem_line " " k "=" sprintf("%.3f", med["kafkatx"] / med["kafkatx_idem"])
        print row " " r
    }
    print ""
    print line
    if (idem_line != "ratio_vs_idempotent") print idem_line
}' "$TMP/results"

exit $FAILED
