#!/usr/bin/env bash
# bench/reports.sh — how long the manager reports and the event feed take on a
# million tickets (docs/reports.md, "Measured").
#
# Builds the daemon (Release) in build-bench-reports/, starts a throw-away
# PostgreSQL cluster (scripts/pg.sh), migrates, generates REPORTS_TICKETS
# tickets and their history in SQL (bench/reports-load.sql), starts the
# daemon, and times each request REPORTS_RUNS times through HTTP (curl):
#   GET /v1/reports/sla      every group_by, the last 30 days and the whole year
#                            (and by category at level 1 of the taxonomy);
#                            CSV for the year by category
#   GET /v1/reports/monthly  the current month and a full earlier one
#   GET /v1/events           pages of 1000 at the start, the middle, the end
# and prints min / median / max wall seconds of each and the CPU seconds the
# database and the daemon spent per request (what a request costs on a
# machine that has nothing else to do; wall times on a shared one vary with
# its load).  Everything is torn down at
# the end.  The table also goes to build-bench-reports/reports-results.txt.
#
# Environment:
#   REPORTS_TICKETS  tickets to generate (default 1000000)
#   REPORTS_RUNS     requests per measurement (default 7; the first ones run
#                    with custom plans, PostgreSQL may switch a prepared
#                    statement to a generic plan after 5)
#   REPORTS_BUILD    build directory (default build-bench-reports)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${REPORTS_BUILD:-$ROOT/build-bench-reports}
N=${REPORTS_TICKETS:-1000000}
RUNS=${REPORTS_RUNS:-7}
STATE=$BUILD/pg.state
OUT=$BUILD/reports-results.txt

log() { printf '%s reports: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ $N =~ ^[1-9][0-9]*$ ]] || die "REPORTS_TICKETS must be a positive integer"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "REPORTS_RUNS must be a positive integer"
for tool in cmake curl psql; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found"
done

DAEMON_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    [[ -f "$STATE" ]] && bash "$ROOT/scripts/pg.sh" stop-test "$STATE" >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "building the daemon (Release) in $BUILD"
mkdir -p "$BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DESC_WERROR=OFF \
    >"$BUILD/cmake-build.log" 2>&1 || { cat "$BUILD/cmake-build.log" >&2; die "cmake configure failed"; }
cmake --build "$BUILD" -j"$(nproc)" --target escalated >>"$BUILD/cmake-build.log" 2>&1 ||
    { tail -n 40 "$BUILD/cmake-build.log" >&2; die "build failed"; }
ESC=$BUILD/escalated

bash "$ROOT/scripts/pg.sh" start-test "$STATE" >&2
# shellcheck disable=SC1090
. "$STATE"
export PGHOST PGPORT PGUSER
psql -qX -d postgres -c "CREATE DATABASE reports" >/dev/null
export ESCALATED_DB="dbname=reports"
"$ESC" migrate 2>>"$BUILD/daemon.log" || die "migrate failed"
MANAGER=$("$ESC" keys create --name "bench manager" --role manager)

log "generating $N tickets and their history in SQL"
t0=$(date +%s.%N)
psql -qX -d reports -v n="$N" -f "$ROOT/bench/reports-load.sql" >/dev/null
t1=$(date +%s.%N)
EVENTS=$(psql -qtAX -d reports -c "SELECT count(*) FROM events")
log "loaded $N tickets and $EVENTS events in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s"

# the data key (docs/security.md): `serve` refuses to start without one
export ESCALATED_DATA_KEY_FILE=$BUILD/bench.data.key
[[ -f "$ESCALATED_DATA_KEY_FILE" ]] ||
    "$ESC" data-key create --data-key-file "$ESCALATED_DATA_KEY_FILE" >/dev/null 2>&1
"$ESC" serve --listen 127.0.0.1:0 >>"$BUILD/daemon.log" 2>&1 &
DAEMON_PID=$!
PORT=""
# serve scans the generated tickets' free text (never scanned: migration
# 008) before it listens: about a minute per 200,000 tickets
for _ in $(seq 6000); do
    PORT=$(sed -n 's/.*listening on \(http:\/\/\)\{0,1\}127\.0\.0\.1:\([0-9]*\).*/\2/p' "$BUILD/daemon.log" | tail -n 1)
    [[ -n "$PORT" ]] && curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
[[ -n "$PORT" ]] || die "the daemon did not start (see $BUILD/daemon.log)"
BASE=http://127.0.0.1:$PORT

iso() { psql -qtAX -d reports -c "SELECT to_char((now() - interval '$1') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"; }
MONTH_NOW=$(psql -qtAX -d reports -c "SELECT to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')")
MONTH_PREV=$(psql -qtAX -d reports -c "SELECT to_char((now() - interval '2 months') AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')")
FROM30=$(iso '30 days')
FROMYEAR=$(iso '366 days')
MID_ID=$(psql -qtAX -d reports -c "SELECT id FROM events ORDER BY id OFFSET (SELECT count(*) / 2 FROM events) LIMIT 1")
LAST_ID=$(psql -qtAX -d reports -c "SELECT max(id) FROM events")

# CPU seconds used so far by the cluster (the postmaster, its live children,
# and the children it has reaped: parallel workers) and the daemon.  Wall
# times on a shared machine depend on what else runs; CPU time does not.
POSTMASTER=$(head -n 1 "$PGDIR/data/postmaster.pid")
TICK=$(getconf CLK_TCK)
cpu_seconds() {
    local pids=("$POSTMASTER" "$DAEMON_PID") p
    for p in $(pgrep -P "$POSTMASTER"); do pids+=("$p"); done
    for p in "${pids[@]}"; do
        [[ -r /proc/$p/stat ]] && sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null
    done | awk -v t="$TICK" -v pm="$POSTMASTER" 'NR == 1 { s += $14 + $15 } { s += $12 + $13 } END { printf "%.3f", s / t }'
}

# measure LABEL PATH [ACCEPT]
measure() {
    local label=$1 path=$2 accept=${3:-application/json} times=() code c0 c1
    c0=$(cpu_seconds)
    for ((r = 0; r < RUNS; r++)); do
        read -r code t < <(curl -sS -o "$BUILD/last-body" -w '%{http_code} %{time_total}\n' \
            -H "Authorization: Bearer $MANAGER" -H "Accept: $accept" "$BASE$path")
        [[ $code == 200 ]] || { cat "$BUILD/last-body" >&2; die "$path answered $code"; }
        times+=("$t")
    done
    c1=$(cpu_seconds)
    local sorted
    sorted=$(printf '%s\n' "${times[@]}" | sort -g)
    printf '%-44s %8.3f %8.3f %8.3f %8.3f %9s\n' "$label" "$(head -n 1 <<<"$sorted")" \
        "$(sed -n "$(((RUNS + 1) / 2))p" <<<"$sorted")" "$(tail -n 1 <<<"$sorted")" \
        "$(awk -v a="$c0" -v b="$c1" -v n="$RUNS" 'BEGIN { printf "%.3f", (b - a) / n }')" \
        "$(wc -c <"$BUILD/last-body")"
}

{
    echo "escalated reports on $N tickets, $EVENTS events ($(nproc) cores; $(date -u +%F))"
    echo "each request $RUNS times through HTTP; wall seconds (min, median, max), CPU seconds"
    echo "per request (database + daemon), response bytes; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-44s %8s %8s %8s %8s %9s\n' "request" "min" "median" "max" "cpu" "bytes"
    for g in tier severity category day assignee; do
        measure "sla group_by=$g, last 30 days" "/v1/reports/sla?group_by=$g&from=$FROM30"
    done
    for g in tier severity category day assignee; do
        measure "sla group_by=$g, whole year" "/v1/reports/sla?group_by=$g&from=$FROMYEAR"
    done
    measure "sla group_by=category&level=1, whole year" "/v1/reports/sla?group_by=category&level=1&from=$FROMYEAR"
    measure "sla group_by=category, whole year, CSV" "/v1/reports/sla?group_by=category&from=$FROMYEAR" text/csv
    measure "monthly $MONTH_NOW (month so far)" "/v1/reports/monthly?month=$MONTH_NOW"
    measure "monthly $MONTH_PREV (full month)" "/v1/reports/monthly?month=$MONTH_PREV"
    measure "events after=0, limit=1000" "/v1/events?after=0&limit=1000"
    measure "events after=<middle>, limit=1000" "/v1/events?after=$MID_ID&limit=1000"
    measure "events after=<last>, wait=0" "/v1/events?after=$LAST_ID&wait=0"
} | tee "$OUT"
log "results in $OUT"
