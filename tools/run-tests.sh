#!/bin/sh
# The whole kafkatx test run, from a fresh Debian bookworm machine (as root):
#   sh tools/run-tests.sh
# Installs the Debian packages that are missing, bootstraps autotools, then runs
#   1. make check                    (unit suites and integration tests on loopback)
#   2. make check under ASan+UBSan   (--enable-sanitizers, separate build directory)
#   3. make check-valgrind           (every suite once under valgrind memcheck)
#   4. make fuzz                     (each libFuzzer target for FUZZ_SECONDS, default 10)
#   5. make distcheck                (the release tarball builds and passes its tests)
# Set KTX_SKIP="valgrind fuzz distcheck" to skip stages while iterating.
# Ends with one line "N passed, N failed".
set -eu
KTX_TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$KTX_TOP"
. tools/deps.sh

ktx_ensure_packages $KTX_BUILD_PACKAGES $KTX_TEST_PACKAGES
if [ -f config.status ]; then
    echo "kafkatx: the source tree is configured in place; run 'make distclean' first" >&2
    exit 1
fi
ktx_bootstrap

skip=" ${KTX_SKIP:-} "
passed=0
failed=0
failed_stages=""

# count_results LOG: adds the totals of an automake test-suite log to passed/failed.
count_results() {
    log="$1"
    [ -f "$log" ] || return 0
    p=$(sed -n 's/^# PASS: *//p' "$log" | head -1)
    f=$(sed -n 's/^# FAIL: *//p' "$log" | head -1)
    e=$(sed -n 's/^# ERROR: *//p' "$log" | head -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0} + ${e:-0}))
}

# show_failures LOG: the lines that say why a test failed (Check assertions, valgrind and
# sanitizer reports), so that a CI record that keeps only part of the output still has them.
show_failures() {
    [ -f "$1" ] || return 0
    grep -E ':[FE]:|definitely lost in|Invalid (read|write)|uninitialised|ERROR: AddressSanitizer|runtime error:|^FAIL:|^ERROR:|timed out' "$1" |
        head -40 | sed 's/^/  why: /'
}

# stage NAME COMMAND...: runs a stage, records its failure without stopping the run.
stage() {
    name=$1
    shift
    echo "=== kafkatx tests: $name"
    if ! "$@"; then
        echo "=== kafkatx tests: $name FAILED"
        failed_stages="$failed_stages $name"
    fi
}

run_check() {
    dir=$1
    shift
    ktx_configure "$dir" "$@" &&
        make -C "$dir" -j"$KTX_JOBS" >/dev/null &&
        make -C "$dir" -j"$KTX_JOBS" check
    rc=$?
    count_results "$dir/test-suite.log"
    [ "$rc" = 0 ] || show_failures "$dir/test-suite.log"
    [ "$rc" = 0 ] && [ -f "$dir/test-suite.log" ]
}

stage check run_check build/default
case $skip in *" sanitizers "*) ;; *) stage sanitizers run_check build/asan --enable-sanitizers ;; esac
case $skip in *" valgrind "*) ;; *)
    stage valgrind make -C build/default check-valgrind
    count_results build/default/test-suite-valgrind.log
    case $failed_stages in *valgrind*) show_failures build/default/test-suite-valgrind.log ;; esac ;;
esac
case $skip in *" fuzz "*) ;; *)
    stage fuzz make -C build/default fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-10}" ;;
esac
case $skip in *" distcheck "*) ;; *)
    stage distcheck make -C build/default -j"$KTX_JOBS" distcheck ;;
esac

if [ -n "$failed_stages" ]; then
    echo "kafkatx tests: failed stages:$failed_stages"
    # A failed stage counts as a failure even when its tests were not counted.
    [ "$failed" -gt 0 ] || failed=1
fi
echo "$passed passed, $failed failed"
[ -z "$failed_stages" ]
