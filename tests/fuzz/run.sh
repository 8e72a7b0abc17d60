#!/bin/sh
# run.sh — build the libFuzzer harnesses (clang, ASan + UBSan) and run each
# for a bounded time.  Exits non-zero when a harness crashes or breaks an
# invariant; the input that did it is saved under $FUZZ_BUILD/artifacts/
# (add it to tests/fuzz/corpus/<harness>/ and a unit test when it is fixed).
#
#   tests/fuzz/run.sh [harness ...]          default: pii calendar tzif body query path alert
#
# Environment: FUZZ_SECONDS (per harness, default 30), FUZZ_BUILD (build
# directory, default build-fuzz), CC (default clang), FUZZ_JOBS (build jobs,
# default 2).  The seed corpora are read, never written: what the fuzzer
# learns goes to $FUZZ_BUILD/corpus/<harness>/ and is kept between runs.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
cc=${CC:-clang}
harnesses=${*:-pii calendar tzif body query path alert}

targets=
for h in $harnesses; do
    [ -f "$here/fuzz_$h.c" ] && [ -f "$here/$h.dict" ] || { echo "run.sh: no harness $h" >&2; exit 2; }
    targets="$targets fuzz_$h"
done

configure() {
    cmake -S "$src" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DESC_FUZZ=ON >/dev/null
}
configure
# A build directory made with another compiler (clang, then clang-14) has its
# cache deleted by that configure, -DESC_FUZZ=ON with it: once more.
grep -q '^ESC_FUZZ:BOOL=ON' "$build/CMakeCache.txt" || configure
# shellcheck disable=SC2086 # one word per target
cmake --build "$build" -j"${FUZZ_JOBS:-2}" --target $targets

mkdir -p "$build/artifacts"
status=0
for h in $harnesses; do
    mkdir -p "$build/corpus/$h"
    echo "== fuzz_$h for ${seconds}s"
    # -timeout: an input that takes a second is a bug (the scanners are
    # linear); -rss_limit_mb keeps a runaway allocation from taking the
    # machine.  The first corpus directory is the one libFuzzer writes to.
    if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$build/tests/fuzz/fuzz_$h" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
        -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/$h-" \
        -dict="$here/$h.dict" "$build/corpus/$h" "$here/corpus/$h"; then
        echo "run.sh: fuzz_$h failed; the input is in $build/artifacts/" >&2
        status=1
    fi
done
exit $status
