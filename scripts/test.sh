#!/usr/bin/env bash
# Build escalated and run every test, three times: a RelWithDebInfo build with
# gcc in build/ (the only one that runs the fault suite of tests/faults/; its
# Debian package is then installed, started and purged: packaging/test-deb.sh),
# an AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/, and a
# build with clang-14 in build-clang/; then run each fuzz
# harness for FUZZ_SECONDS (default 20) in build-fuzz/.  Every build treats
# warnings as errors (-DESC_WERROR=ON; a plain cmake build does not), so a new
# warning from either compiler fails CI.
# Installs missing Debian packages first (as root, or with sudo).
# Exits non-zero when anything fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PACKAGES=(build-essential cmake pkg-config postgresql-15 postgresql-client-15 libpq-dev
          libmicrohttpd-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev libssl-dev
          wrk ca-certificates clang-14 libclang-rt-14-dev openssl  # libFuzzer and sanitizer runtimes; openssl: test_tls makes its certificate
          libjs-chart.js chromium chromium-driver fonts-wqy-microhei  # the dashboard and its browser test
          nodejs prometheus  # tests/openapi: node (redocly lint, ajv) and promtool
          libsystemd-dev dpkg-dev groff-base curl adduser)  # sd_notify; the package: dpkg-shlibdeps, the man page test, test-deb.sh (adduser: its Depends)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# npm: part of the nodejs package of NodeSource, a package of its own in Debian
command -v npm >/dev/null 2>&1 || { missing+=(npm); PACKAGES+=(npm); }
if [[ ${#missing[@]} -gt 0 ]]; then
    echo "test.sh: installing ${missing[*]}"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 || { echo "test.sh: need root or sudo to install ${missing[*]}" >&2; exit 1; }
        SUDO="sudo"
    fi
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${PACKAGES[@]}"
fi

JOBS=$(nproc 2>/dev/null || echo 2)
status=0
timings=()

run_suite() { # BUILD_DIR [cmake args...]
    local dir=$1 start
    shift
    echo "==== test.sh: configure + build in $dir ===="
    start=$SECONDS
    # set -e does not apply inside `run_suite ... || status=1`: a failed build
    # (a warning, with -Werror) must not go on to test the binaries of the
    # previous build.
    if ! cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DESC_WERROR=ON "$@" ||
        ! cmake --build "$dir" -j"$JOBS"; then
        timings+=("$dir: build FAILED")
        echo "test.sh: the build in $dir FAILED" >&2
        return 1
    fi
    timings+=("$dir: build $((SECONDS - start)) s")
    echo "==== test.sh: ctest in $dir ===="
    start=$SECONDS
    if ! ctest --test-dir "$dir" --output-on-failure --timeout 600; then
        # The names of the failed tests in the summary, which is what a CI log's
        # tail keeps.
        local failed=""
        if [[ -s "$dir/Testing/Temporary/LastTestsFailed.log" ]]; then
            failed=$(cut -d: -f2- "$dir/Testing/Temporary/LastTestsFailed.log" | paste -sd' ')
        fi
        timings[-1]+=", ctest $((SECONDS - start)) s (FAILED: ${failed:-see above})"
        echo "test.sh: FAILURES in $dir" >&2
        return 1
    fi
    timings[-1]+=", ctest $((SECONDS - start)) s"
}

# build/ also runs the tests of tests/openapi (label openapi: the OpenAPI
# document linted and checked against the routes and a running daemon, and
# /metrics through promtool); they check documents, so one build runs them.
run_suite build || status=1
# What each fault did (ctest shows the faults.report test's output only on failure).
if [[ -s build/faults.tsv ]]; then
    sh tests/faults/report.sh build/faults.tsv || true
fi

# The Debian package, once, from the gcc build: built with cpack, installed,
# its daemon started as the systemd unit would start it, removed and purged
# (packaging/test-deb.sh).  dpkg needs root.
echo "==== test.sh: the Debian package (packaging/test-deb.sh) ===="
start=$SECONDS
DEB_SUDO=""
[[ $(id -u) -ne 0 ]] && sudo -n true 2>/dev/null && DEB_SUDO="sudo -n"
if [[ $(id -u) -ne 0 && -z "$DEB_SUDO" ]]; then
    timings+=("package: SKIPPED (needs root or sudo)")
    echo "test.sh: the package test needs root or sudo: SKIPPED" >&2
elif $DEB_SUDO packaging/test-deb.sh build; then
    timings+=("package: $((SECONDS - start)) s")
else
    timings+=("package: FAILED")
    echo "test.sh: the package test FAILED" >&2
    status=1
fi

# The sanitizer build.  Leak detection stays on for everything that is ours
# (the daemon, the unit tests, the integration test programs).  The test
# programs fork+exec helpers (escalated keys/migrate, scripts/pg.sh, which runs
# runuser/pg_ctl); LeakSanitizer only ever runs in instrumented processes, so
# those are unaffected.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The fault suite (tests/faults/, about 2 minutes) runs in build/ only: it measures
# the daemon under faults, which an instrumented build would only slow down.
run_suite build-asan -DESC_SANITIZE=ON -DESC_OPENAPI_TESTS=OFF -DESC_FAULTS=OFF || status=1

# clang warns about other things than gcc, and builds the same code differently.
run_suite build-clang -DCMAKE_C_COMPILER=clang-14 -DESC_OPENAPI_TESTS=OFF -DESC_FAULTS=OFF || status=1

# The fuzz harnesses (tests/fuzz/README.md), each for a bounded time, in
# build-fuzz/ (clang, libFuzzer, ASan + UBSan).  Every build above already
# replayed their seed corpora; this looks for new inputs.  A crash or a broken
# invariant fails the run and leaves the input in build-fuzz/artifacts/.
echo "==== test.sh: fuzzing in build-fuzz ===="
start=$SECONDS
if CC=clang-14 FUZZ_SECONDS=${FUZZ_SECONDS:-20} FUZZ_JOBS=$JOBS tests/fuzz/run.sh; then
    timings+=("build-fuzz: $((SECONDS - start)) s")
else
    timings+=("build-fuzz: FAILED")
    echo "test.sh: a fuzz harness FAILED" >&2
    status=1
fi

printf '==== test.sh: %s\n' "${timings[@]}"
if [[ $status -eq 0 ]]; then
    echo "==== test.sh: all tests passed (build/, build-asan/, build-clang/ and the fuzzers) ===="
else
    echo "==== test.sh: some tests FAILED ====" >&2
fi
exit $status
