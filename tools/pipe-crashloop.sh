#!/bin/sh
# pipe-crashloop.sh: the exactly-once crash loop (docs/ktx-pipe.md).
#
#   sh tools/pipe-crashloop.sh [-n RECORDS] [-k KILLS] [-b BOOTSTRAP] [-t TOPIC]
#                              [--txn-records N] [--seed S] [--delay-ms MIN:MAX]
#                              [--builddir DIR] [--inject 'CONTROL LINE']...
#
# Generates RECORDS input lines (default 1,000,000), starts kafkatx's reference broker
# (3 brokers with a data directory, TOPIC with 6 partitions) unless -b names a cluster,
# runs ktx-pipe in the background and SIGKILLs it KILLS times (default 5) after random
# delays drawn from MIN..MAX ms (seeded; the seed is printed), restarting it each time with
# the same arguments; the last run reads to the end of the input. Then a consumer that
# kafkatx did not write (ktx-verify on librdkafka, or kcat) reads TOPIC read_committed and
# the script prints
#   records_in=N committed=N duplicates=0 missing=0 kills=K restarts=R seconds=S
# and a human line. Exit status 0 only when duplicates=0, missing=0 and committed=records_in.
#
# With -b, TOPIC (default: a new name per run) must exist or be auto-created by the cluster,
# and should be empty: records of earlier runs would count as unexpected.
# --inject sends a control line to the embedded ktx-broker just before the last run of
# ktx-pipe starts, the one that is not killed (e.g. 'err 0 2 29': its first two Produce
# requests fail with TOPIC_AUTHORIZATION_FAILED, which makes ktx-pipe abort and resend
# those transactions); several may be given.
# Binaries come from --builddir (default $KTX_BUILDDIR, else build/default in the tree).
set -eu

KTX_TOP=$(cd "$(dirname "$0")/.." && pwd)
records=1000000
kills=5
bootstrap=""
topic=""
txn_records=1000
seed=""
delays="100:1000"
builddir=${KTX_BUILDDIR:-$KTX_TOP/build/default}
injects=""

usage() {
    echo "usage: $0 [-n RECORDS] [-k KILLS] [-b BOOTSTRAP] [-t TOPIC] [--txn-records N]" \
        "[--seed S] [--delay-ms MIN:MAX] [--builddir DIR] [--inject 'CONTROL LINE']..." >&2
    exit 2
}

while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case "$1" in
    -n) records=$2 ;;
    -k) kills=$2 ;;
    -b | --bootstrap) bootstrap=$2 ;;
    -t | --topic) topic=$2 ;;
    --txn-records) txn_records=$2 ;;
    --seed) seed=$2 ;;
    --delay-ms) delays=$2 ;;
    --builddir) builddir=$2 ;;
    --inject) injects="$injects$2
" ;;
    *) usage ;;
    esac
    shift 2
done
case "$records$kills$txn_records$seed${delays%%:*}${delays##*:}" in *[!0-9]*) usage ;; esac
[ -n "$seed" ] || seed=$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')
delay_min=${delays%%:*}
delay_max=${delays##*:}

pipe_bin=$builddir/tools/ktx-pipe
broker_bin=$builddir/tests/broker/ktx-broker
verify_bin=$builddir/tools/ktx-verify
[ -x "$pipe_bin" ] || { echo "crashloop: $pipe_bin is not built" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/ktx-crashloop.XXXXXX")
broker_pid=""
pipe_pid=""
cleanup() {
    [ -z "$pipe_pid" ] || kill -KILL "$pipe_pid" 2>/dev/null || true
    if [ -n "$broker_pid" ]; then
        echo quit >&3 2>/dev/null || true
        exec 3>&-
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t_start=$(date +%s.%N)
elapsed() { echo "$(date +%s.%N) $t_start" | awk '{ printf "%.1f", $1 - $2 }'; }

# ---- input: line i is "<i> <payload>", 40 to 100 bytes of seeded pseudo-random text ----
awk -v n="$records" -v seed="$seed" 'BEGIN {
    srand(seed)
    abc = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    pad = ""
    for (j = 0; j < 8; j++) pad = pad abc
    for (i = 0; i < n; i++) {
        off = int(rand() * 200) + 1
        printf "%d %s\n", i, substr(pad, off, 40 + (i * 7919) % 61)
    }
}' >"$work/input"

# ---- the peer ----
# ctl COMMAND: one control line to ktx-broker and its OK answer.
answers=1
ctl() {
    echo "$*" >&3
    answers=$((answers + 1))
    i=0
    while [ "$(wc -l <"$work/broker.out")" -lt "$answers" ]; do
        i=$((i + 1))
        [ $i -lt 200 ] || { echo "crashloop: the broker did not answer '$*'" >&2; exit 1; }
        sleep 0.05
    done
    reply=$(sed -n "${answers}p" "$work/broker.out")
    [ "$reply" = OK ] || { echo "crashloop: '$*' -> $reply" >&2; exit 1; }
}

txn_id=ktx-pipe-$seed
if [ -z "$bootstrap" ]; then
    [ -x "$broker_bin" ] || { echo "crashloop: $broker_bin is not built" >&2; exit 1; }
    topic=${topic:-ktx-pipe}
    mkdir "$work/data"
    mkfifo "$work/ctl"
    "$broker_bin" --brokers 3 --data-dir "$work/data" <"$work/ctl" >"$work/broker.out" \
        2>"$work/broker.err" &
    broker_pid=$!
    exec 3>"$work/ctl"
    i=0
    until head -1 "$work/broker.out" 2>/dev/null | grep -q '^BOOTSTRAP '; do
        i=$((i + 1))
        [ $i -lt 200 ] || { echo "crashloop: ktx-broker did not start" >&2; cat "$work/broker.err" >&2; exit 1; }
        sleep 0.05
    done
    bootstrap=$(head -1 "$work/broker.out" | cut -d' ' -f2)
    ctl topic "$topic" 6 3
    echo "crashloop: ktx-broker (3 brokers, data dir) at $bootstrap, topic $topic (6 partitions)"
else
    [ -z "$injects" ] || { echo "crashloop: --inject needs the embedded broker" >&2; exit 2; }
    topic=${topic:-ktx-pipe-$(date +%Y%m%d%H%M%S)-$$}
    echo "crashloop: cluster at $bootstrap, topic $topic"
fi
echo "crashloop: $records records, $kills kills, $txn_records records per transaction," \
    "seed $seed, delays $delay_min..$delay_max ms"

# ---- the crash loop ----
# delay K: the K-th random delay in seconds (seeded: Park-Miller steps from seed and K),
# within delay_min..delay_max ms.
delay() {
    h=$(( (seed % 2147483646 + 1) * ($1 + 1) % 2147483647 ))
    h=$(( h * 48271 % 2147483647 ))
    h=$(( h * 48271 % 2147483647 ))
    ms=$(( delay_min + h % (delay_max - delay_min + 1) ))
    printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

# inject: sends the --inject control lines to the embedded broker (once).
inject() {
    while IFS= read -r control; do
        [ -z "$control" ] || { ctl "$control"; echo "crashloop: injected '$control'"; }
    done <<EOF
$injects
EOF
    injects=""
}

killed=0
restarts=0
status=1
while :; do
    # The faults hit the last run, the one that is never killed, so that what they cause
    # (an abort and a rewind) is certain to happen and to be counted.
    [ "$killed" -lt "$kills" ] || [ -z "$injects" ] || inject
    "$pipe_bin" -b "$bootstrap" -t "$topic" --transactional-id "$txn_id" \
        --txn-records "$txn_records" "$work/input" 2>>"$work/pipe.log" &
    pipe_pid=$!
    if [ "$killed" -lt "$kills" ]; then
        d=$(delay "$killed")
        sleep "$d"
        if kill -KILL "$pipe_pid" 2>/dev/null; then
            wait "$pipe_pid" 2>/dev/null || true
            pipe_pid=""
            killed=$((killed + 1))
            echo "crashloop: SIGKILL $killed/$kills after ${d}s"
            continue
        fi
    fi
    status=0
    wait "$pipe_pid" || status=$?
    pipe_pid=""
    [ "$status" -ne 0 ] || break
    restarts=$((restarts + 1))
    echo "crashloop: ktx-pipe exited with status $status; restarting ($restarts)" >&2
    tail -3 "$work/pipe.log" >&2
    [ "$restarts" -lt 20 ] || { echo "crashloop: too many failed runs" >&2; break; }
done
echo "crashloop: ktx-pipe started $(grep -c 'resuming after' "$work/pipe.log") times, resuming after" \
    "$(sed -n 's/.*resuming after \([0-9]*\) committed.*/\1/p' "$work/pipe.log" | tr '\n' ' ')records"
echo "crashloop: ktx-pipe aborted $(grep -c 'aborted; rewinding' "$work/pipe.log") transactions on errors"
grep 'ktx-pipe: done' "$work/pipe.log" | tail -1 || true
pipe_seconds=$(elapsed)

# ---- verification with a consumer kafkatx did not write ----
if [ -x "$verify_bin" ]; then
    verifier="ktx-verify (librdkafka consumer, read_committed)"
    line=$("$verify_bin" -b "$bootstrap" -t "$topic" -n "$records" --input "$work/input") || true
else
    command -v kcat >/dev/null || { echo "crashloop: neither ktx-verify nor kcat is available" >&2; exit 1; }
    verifier="kcat (read_committed)"
    line=$(kcat -C -q -e -b "$bootstrap" -t "$topic" -X isolation.level=read_committed -f '%k\n' |
        awk -v n="$records" '
            $0 ~ /^(0|[1-9][0-9]*)$/ && $0 + 0 < n { if (seen[$0]++) dup++; next }
            { unexpected++ }
            END { c = 0; for (k in seen) c++
                  printf "records_in=%d committed=%d duplicates=%d missing=%d unexpected=%d\n",
                         n, c, dup, n - c, unexpected }')
fi
[ -n "$line" ] || { echo "crashloop: verification failed to read $topic" >&2; exit 1; }
get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
committed=$(get committed)
duplicates=$(get duplicates)
missing=$(get missing)
unexpected=$(get unexpected)
mismatched=$(get mismatched)
echo "records_in=$records committed=$committed duplicates=$duplicates missing=$missing" \
    "unexpected=${unexpected:-0} mismatched=${mismatched:-0} kills=$killed restarts=$restarts" \
    "pipe_seconds=$pipe_seconds seconds=$(elapsed)"
if [ "$status" -eq 0 ] && [ "$committed" = "$records" ] && [ "$duplicates" = 0 ] &&
    [ "$missing" = 0 ] && [ "${unexpected:-0}" = 0 ] && [ "${mismatched:-0}" = 0 ]; then
    echo "crashloop: EXACTLY ONCE: all $records records committed once each, through $killed" \
        "SIGKILLs, as read by $verifier"
    exit 0
fi
echo "crashloop: FAILED: $committed of $records records committed, $duplicates duplicates," \
    "$missing missing (read by $verifier; ktx-pipe's last log lines follow)" >&2
tail -20 "$work/pipe.log" >&2
exit 1
