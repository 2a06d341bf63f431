#!/bin/sh
# Builds every libFuzzer target in tests/fuzz/ with clang (ASan+UBSan) and runs each one
# for FUZZ_SECONDS seconds from its committed seed corpus. Called by `make fuzz`; it can
# also be run by hand from a build directory:
#   CLANG=clang SRCDIR=/path/to/kafkatx tools/fuzz.sh [target ...]
# Exits non-zero on the first crash, leak or sanitizer report.
set -eu

CLANG=${CLANG:-clang}
SRCDIR=${SRCDIR:-.}
FUZZ_SECONDS=${FUZZ_SECONDS:-10}
OUT=${FUZZ_OUT:-fuzz}
CFLAGS_FUZZ="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
CPPFLAGS_FUZZ="-DKTX_BUILDING -D_GNU_SOURCE -I$SRCDIR/include -I$SRCDIR/sdk -I$SRCDIR/txn ${DEP_CFLAGS:-}"
LIBS_FUZZ="${DEP_LIBS:-$(pkg-config --libs libzstd openssl sqlite3 libsasl2)} -lpthread"

if ! command -v "$CLANG" >/dev/null 2>&1; then
    echo "fuzz: clang not found; on Debian: apt-get install -y clang libclang-rt-14-dev" >&2
    exit 1
fi

mkdir -p "$OUT/obj"
# The library sources, compiled once with coverage instrumentation for libFuzzer.
objs=""
for src in "$SRCDIR"/sdk/*.c "$SRCDIR"/txn/*.c; do
    [ -e "$src" ] || continue
    obj="$OUT/obj/$(basename "$(dirname "$src")")_$(basename "$src" .c).o"
    if [ ! -e "$obj" ] || [ "$src" -nt "$obj" ] || [ -n "$(find "$SRCDIR/sdk" "$SRCDIR/include" -name '*.h' -newer "$obj" 2>/dev/null | head -1)" ]; then
        echo "  FUZZCC   $obj"
        # shellcheck disable=SC2086
        $CLANG $CFLAGS_FUZZ -fsanitize=fuzzer-no-link $CPPFLAGS_FUZZ -c "$src" -o "$obj"
    fi
    objs="$objs $obj"
done

if [ $# -gt 0 ]; then
    targets="$*"
else
    targets=$(cd "$SRCDIR/tests/fuzz" && ls fuzz_*.c | sed 's/\.c$//')
fi

status=0
for t in $targets; do
    echo "  FUZZLD   $OUT/$t"
    # shellcheck disable=SC2086
    $CLANG $CFLAGS_FUZZ -fsanitize=fuzzer $CPPFLAGS_FUZZ "$SRCDIR/tests/fuzz/$t.c" $objs $LIBS_FUZZ -o "$OUT/$t"
done
[ "$FUZZ_SECONDS" = 0 ] && exit 0

for t in $targets; do
    name=${t#fuzz_}
    work="$OUT/corpus/$name"
    mkdir -p "$work"
    seeds="$SRCDIR/tests/fuzz/corpus/$name"
    [ -d "$seeds" ] || seeds=""
    echo "  FUZZ     $t for ${FUZZ_SECONDS}s"
    # shellcheck disable=SC2086
    if ! "$OUT/$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
            -print_final_stats=1 -artifact_prefix="$OUT/$t-" "$work" $seeds \
            >"$OUT/$t.log" 2>&1; then
        echo "fuzz: $t FAILED; see $OUT/$t.log" >&2
        tail -40 "$OUT/$t.log" >&2
        status=1
    else
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log")
        echo "  ok       $t: ${execs:-?} executions"
    fi
done
exit $status
