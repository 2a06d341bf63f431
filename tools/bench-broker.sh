# Sourced by the benchmark scripts (broker-bench.sh, persist-bench.sh, txn-state-bench.sh):
#   bench_start_broker NAME BROKER ARGS...
# starts the ktx-broker binary BROKER with ARGS, its stdin held open on a fifo (closing it
# stops the broker), waits for its BOOTSTRAP line, and sets WORK (a scratch directory,
# removed at exit), PID and BOOTSTRAP. NAME prefixes the error messages. Exits 1 when the
# broker prints no BOOTSTRAP line within 5 s.

bench_start_broker() {
    name=$1
    broker=$2
    shift 2
    WORK=$(mktemp -d "/tmp/$name.XXXXXX")
    mkfifo "$WORK/ctl"
    "$broker" "$@" <"$WORK/ctl" >"$WORK/out" 2>"$WORK/err" &
    PID=$!
    exec 3>"$WORK/ctl"
    trap bench_cleanup EXIT INT TERM
    i=0
    while ! grep -q '^BOOTSTRAP ' "$WORK/out" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            echo "$name: no BOOTSTRAP line" >&2
            exit 1
        fi
        sleep 0.05
    done
    BOOTSTRAP=$(sed -n 's/^BOOTSTRAP //p' "$WORK/out")
}

bench_cleanup() {
    exec 3>&-
    wait "$PID" 2>/dev/null || true
    rm -rf "$WORK"
}
