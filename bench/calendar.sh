#!/usr/bin/env bash
# calendar.sh — the measurement behind "Time zones from one source"
# (docs/decisions.md): what the callback deadline costs a resolve computed in
# C from the calendar document each time, from a cached parsed calendar, and
# in PostgreSQL (the prototype bench/calendar_due.sql); and whether the two
# time-zone implementations agree, deadline for deadline.
#
#   bench/calendar.sh [BUILD_DIR]        (default: build; run from the source tree)
#
# Needs a build of the libraries (cmake --build BUILD_DIR) and PostgreSQL 15
# server binaries; starts a throw-away cluster with scripts/pg.sh and stops it.
set -euo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
WORK=$(mktemp -d /tmp/escalated-calendar-bench.XXXXXX)
chmod 755 "$WORK"
N=10000                                 # resolutions compared per calendar
T0=1795425300000000                     # 2026-11-23T09:15:00Z, microseconds
STEP=$((97 * 60 * 1000000))             # every 97 minutes: all hours, two years

STATE=$WORK/pg.state
BENCH_NAME=calendar
BENCH_TMP=$WORK
# shellcheck source=bench/lib.sh
. "$SRC/bench/lib.sh"

echo "== where the zone rules come from"
echo "PostgreSQL: $(pg_config --configure | tr ' ' '\n' | grep -o "with-system-tzdata=[^']*" || echo 'its own copy')"
echo "lib/core/tz.c: \${TZDIR:-/usr/share/zoneinfo} (esc_tz_load)"
echo "tzdata package: $(dpkg-query -W -f '${Version}' tzdata 2>/dev/null || echo unknown)"

echo
echo "== C: microseconds per resolve ($(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
cc -O2 -std=c11 -D_GNU_SOURCE -I"$SRC/lib" -o "$WORK/calendar_bench" "$SRC/bench/calendar_bench.c" \
    "$BUILD/lib/libesc_service.a" "$BUILD/lib/libesc_core.a" "$BUILD/lib/libesc_base.a" \
    $(pkg-config --libs jansson libcrypto) -lm -lpthread
"$WORK/calendar_bench" time "$SRC"/bench/calendars/*.json

echo
echo "== PostgreSQL: the prototype function, µs per call (server side, median of 5)"
bench_pg_start "$STATE"
psql_() { psql -X -q -v ON_ERROR_STOP=1 -d postgres -At "$@"; }
psql_ -c "CREATE TABLE calendar (doc jsonb NOT NULL)" -c "INSERT INTO calendar VALUES ('{}')"
psql_ -f "$SRC/bench/calendar_due.sql"
for doc in "$SRC"/bench/calendars/*.json; do
    psql_ -c "UPDATE calendar SET doc = \$\$$(cat "$doc")\$\$"
    times=()
    for _ in 1 2 3 4 5; do
        ms=$(psql_ -c "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON)
                       SELECT count(bench_callback_due(to_timestamp(($T0 + i * $STEP) / 1e6), 3))
                       FROM generate_series(0, 4999) i" | grep -o '"Execution Time": [0-9.]*' | grep -o '[0-9.]*$')
        times+=("$(echo "$ms * 1000 / 5000" | bc -l)")
    done
    med=$(printf '%s\n' "${times[@]}" | sort -g | sed -n 3p)
    printf '%-30s %9.2f\n' "$(basename "$doc")" "$med"
done

echo
echo "== do they agree? $N resolutions two years long, each calendar, 1 and 3 business days"
seq 0 $((N - 1)) | awk -v t0=$T0 -v st=$STEP '{ printf "%.0f\n", t0 + $1 * st }' >"$WORK/instants"
for doc in "$SRC"/bench/calendars/*.json; do
    for days in 1 3; do
        "$WORK/calendar_bench" due "$doc" $days <"$WORK/instants" >"$WORK/c.txt"
        psql_ -c "SELECT coalesce((extract(epoch FROM bench_callback_due(\$\$$(cat "$doc")\$\$::jsonb,
                                   to_timestamp(($T0 + i * $STEP) / 1e6), $days)) * 1000000)::bigint::text, 'null')
                  FROM generate_series(0, $((N - 1))) i ORDER BY i" >"$WORK/sql.txt"
        differ=$(paste -d' ' "$WORK/instants" "$WORK/c.txt" "$WORK/sql.txt" | awk '$2 != $3' | tee "$WORK/diff.txt" | wc -l)
        printf '%-30s days=%d  differ: %d of %d\n' "$(basename "$doc")" "$days" "$differ" "$N"
        if [[ $differ -gt 0 ]]; then
            head -2 "$WORK/diff.txt" | while read -r at c s; do
                echo "    resolved $(date -u -d @$((at / 1000000)) +%FT%TZ):" \
                     "C $(date -u -d @$((c / 1000000)) +%FT%TZ), PostgreSQL $(date -u -d @$((s / 1000000)) +%FT%TZ)"
            done
        fi
    done
done
