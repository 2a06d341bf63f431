#!/bin/sh
# The kafkatx main job, from a fresh Debian bookworm machine (as root):
#   sh tools/run-main.sh              # against the embedded default peer on loopback
#   sh tools/run-main.sh -b HOST:PORT # against a real cluster
# Installs the Debian packages that are missing, bootstraps autotools and builds, then runs
# the exactly-once crash loop (tools/pipe-crashloop.sh, docs/ktx-pipe.md): ktx-pipe copies
# 1,000,000 input records into a 6-partition topic in transactions, storing its input
# position inside each transaction; it is SIGKILLed 5 times at random moments and restarted
# with the same arguments; then librdkafka's read_committed consumer (ktx-verify, which
# shares no code with kafkatx) counts what the topic holds and the job prints
# records_in, committed, duplicates and missing (exit status 0 only for exactly once).
# The embedded default peer is kafkatx's reference broker (tests/broker/ktx-broker, 3
# brokers on 127.0.0.1, with a data directory); --mock runs ktx-pipe against librdkafka's
# mock cluster instead, without kills by default: the mock acknowledges TxnOffsetCommit but
# OffsetFetch never returns the offset, so a restarted pipe cannot resume there.
# Further options go to the crash loop (-n RECORDS, -k KILLS, --txn-records N, --seed S).
set -eu
KTX_TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$KTX_TOP"
. tools/deps.sh

bootstrap=""
peer=broker
loop_args=""
usage="usage: $0 [-b HOST:PORT | --mock] [-n RECORDS] [-k KILLS] [--txn-records N] [--seed S]"
while [ $# -gt 0 ]; do
    case "$1" in
    -b | --bootstrap) bootstrap=${2:?"$usage"}; shift ;;
    --mock) peer=mock ;;
    -n | -k | --txn-records | --seed) loop_args="$loop_args $1 ${2:?"$usage"}"; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
    esac
    shift
done

ktx_ensure_packages $KTX_BUILD_PACKAGES librdkafka-dev kcat
if [ -f config.status ]; then
    echo "kafkatx: the source tree is configured in place; run 'make distclean' first" >&2
    exit 1
fi
ktx_bootstrap
ktx_configure build/default
B=build/default
make -C $B -j"$KTX_JOBS" >/dev/null
make -C $B -j"$KTX_JOBS" tools/ktx-pipe tools/ktx-verify tests/broker/ktx-broker tests/cluster/ktx-mock \
    >/dev/null

echo "== exactly-once main job: ktx-pipe under SIGKILL, verified by librdkafka read_committed"
if [ -n "$bootstrap" ]; then
    # shellcheck disable=SC2086
    exec sh tools/pipe-crashloop.sh --builddir "$B" -b "$bootstrap" $loop_args
fi
if [ "$peer" = broker ]; then
    # pipe-crashloop.sh starts the reference broker itself, with a data directory.
    # shellcheck disable=SC2086
    exec sh tools/pipe-crashloop.sh --builddir "$B" $loop_args
fi

work=$(mktemp -d)
mkfifo "$work/ctl"
$B/tests/cluster/ktx-mock --brokers 3 <"$work/ctl" >"$work/out" 2>"$work/err" &
peer_pid=$!
exec 3>"$work/ctl"
cleanup() {
    echo quit >&3 2>/dev/null || true
    exec 3>&-
    wait "$peer_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

i=0
until head -1 "$work/out" 2>/dev/null | grep -q '^BOOTSTRAP '; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "kafkatx: the mock cluster did not start" >&2; cat "$work/err" >&2; exit 1; }
    sleep 0.05
done
servers=$(head -1 "$work/out" | cut -d' ' -f2)
echo "topic ktx-pipe 6 3" >&3
sleep 0.5
echo "== embedded peer: librdkafka mock cluster (ktx-mock), 3 brokers at $servers"
echo "   (no kills unless -k is given: the mock does not return transactional offsets)"
# shellcheck disable=SC2086
sh tools/pipe-crashloop.sh --builddir "$B" -b "$servers" -t ktx-pipe -k 0 $loop_args
