#!/bin/sh
# The kafkatx main job, from a fresh Debian bookworm machine (as root):
#   sh tools/run-main.sh              # against the embedded default peer on loopback
#   sh tools/run-main.sh -b HOST:PORT # against a real cluster
# Installs the Debian packages that are missing, bootstraps autotools and builds, then
# runs the most useful thing kafkatx can do today: ktx-probe drives kafkatx's own protocol
# codecs over TCP (version negotiation, metadata, coordinator lookup, producer ids), and
# ktx-microbench measures CRC32C and zstd throughput. The embedded default peer is kafkatx's
# reference broker (tests/broker/ktx-broker, 3 brokers on 127.0.0.1); --mock runs the same
# against librdkafka's mock cluster instead.
set -eu
KTX_TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$KTX_TOP"
. tools/deps.sh

bootstrap=""
peer=broker
case "${1:-}" in
-b | --bootstrap) bootstrap=${2:?"usage: $0 [-b HOST:PORT | --mock]"} ;;
--mock) peer=mock ;;
"") ;;
*) echo "usage: $0 [-b HOST:PORT | --mock]" >&2; exit 2 ;;
esac

ktx_ensure_packages $KTX_BUILD_PACKAGES librdkafka-dev
if [ -f config.status ]; then
    echo "kafkatx: the source tree is configured in place; run 'make distclean' first" >&2
    exit 1
fi
ktx_bootstrap
ktx_configure build/default
B=build/default
make -C $B -j"$KTX_JOBS" >/dev/null
make -C $B -j"$KTX_JOBS" tests/broker/ktx-broker tests/cluster/ktx-mock tools/ktx-microbench >/dev/null

if [ -n "$bootstrap" ]; then
    $B/tools/ktx-probe -b "$bootstrap"
    exit $?
fi

work=$(mktemp -d)
mkfifo "$work/ctl"
if [ "$peer" = broker ]; then
    peer_name="kafkatx reference broker (ktx-broker)"
    $B/tests/broker/ktx-broker --brokers 3 <"$work/ctl" >"$work/out" 2>"$work/err" &
else
    peer_name="librdkafka mock cluster (ktx-mock)"
    $B/tests/cluster/ktx-mock --brokers 3 <"$work/ctl" >"$work/out" 2>"$work/err" &
fi
peer_pid=$!
exec 3>"$work/ctl"
cleanup() {
    echo quit >&3 2>/dev/null || true
    exec 3>&-
    wait "$peer_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

# ctl COMMAND: sends one control command and checks its OK answer.
answers=1
ctl() {
    echo "$*" >&3
    answers=$((answers + 1))
    i=0
    while [ "$(wc -l <"$work/out")" -lt "$answers" ]; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "kafkatx: the peer did not answer '$*'" >&2; exit 1; }
        sleep 0.05
    done
    reply=$(sed -n "${answers}p" "$work/out")
    [ "$reply" = OK ] || { echo "kafkatx: '$*' -> $reply" >&2; exit 1; }
}

i=0
until head -1 "$work/out" 2>/dev/null | grep -q '^BOOTSTRAP '; do
    i=$((i + 1))
    [ $i -lt 100 ] || { echo "kafkatx: the peer did not start" >&2; cat "$work/err" >&2; exit 1; }
    sleep 0.05
done
servers=$(head -1 "$work/out" | cut -d' ' -f2)
echo "== embedded peer: $peer_name, 3 brokers at $servers"
ctl topic ktx-demo 6 3
ctl coord txn ktx-probe 2

echo "== ktx-probe"
$B/tools/ktx-probe -b "$servers" -t ktx-demo
echo "== ktx-microbench"
$B/tools/ktx-microbench
