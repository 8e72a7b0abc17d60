#!/usr/bin/env bash
# Build escalated and run every test, twice: a RelWithDebInfo build in build/
# and an AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/.
# Installs missing Debian packages first (as root, or with sudo).
# Exits non-zero when anything fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

PACKAGES=(build-essential cmake pkg-config postgresql-15 postgresql-client-15 libpq-dev
          libmicrohttpd-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev libssl-dev
          wrk ca-certificates
          libjs-chart.js chromium chromium-driver fonts-wqy-microhei)  # the dashboard and its browser test

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
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

run_suite() { # BUILD_DIR [cmake args...]
    local dir=$1
    shift
    echo "==== test.sh: configure + build in $dir ===="
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
    cmake --build "$dir" -j"$JOBS"
    echo "==== test.sh: ctest in $dir ===="
    if ! ctest --test-dir "$dir" --output-on-failure --timeout 600; then
        echo "test.sh: FAILURES in $dir" >&2
        return 1
    fi
}

run_suite build || status=1

# The sanitizer build.  Leak detection stays on for everything that is ours
# (the daemon, the unit tests, the integration test programs).  The test
# programs fork+exec helpers (escalated keys/migrate, scripts/pg.sh, which runs
# runuser/pg_ctl); LeakSanitizer only ever runs in instrumented processes, so
# those are unaffected.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite build-asan -DESC_SANITIZE=ON || status=1

if [[ $status -eq 0 ]]; then
    echo "==== test.sh: all tests passed (build/ and build-asan/) ===="
else
    echo "==== test.sh: some tests FAILED ====" >&2
fi
exit $status
