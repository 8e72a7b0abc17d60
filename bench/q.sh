#!/usr/bin/env bash
# bench/q.sh — how long `GET /v1/tickets?q=` takes on a million tickets, with
# and without the trigram indexes of migration 008 (docs/performance.md,
# "The q search").
#
# Builds the daemon (Release) in build-bench-q/, starts a throw-away
# PostgreSQL cluster (scripts/pg.sh), migrates, loads Q_TICKETS tickets with
# realistic free text (bench/q-load.sql), starts the daemon and times, Q_RUNS
# times each through HTTP (curl, as an agent, limit 50):
#   a rare word (1 ticket in 10,000), a common word (1 in 16), an English
#   phrase, a phone number (matches nothing: the stored text has it masked),
#   and an order number (one ticket);
# first with the indexes, then after DROP INDEX (the daemon's prepared plans
# are invalidated by it), then with them again (CREATE INDEX), so the two
# sides are measured in one run.  Prints min / median / max wall seconds and
# the plan PostgreSQL chose for each (EXPLAIN of the same WHERE clause).
# The table also goes to build-bench-q/q-results.txt.
#
# Environment:
#   Q_TICKETS  tickets to load (default 1000000)
#   Q_RUNS     requests per measurement (default 9: more than the 5 custom
#              plans after which PostgreSQL may switch a prepared statement
#              to a generic plan, so a bad generic plan would show)
#   Q_BUILD    build directory (default build-bench-q)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${Q_BUILD:-$ROOT/build-bench-q}
N=${Q_TICKETS:-1000000}
RUNS=${Q_RUNS:-9}
STATE=$BUILD/pg.state
OUT=$BUILD/q-results.txt

BENCH_NAME=q
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
bench_posint Q_TICKETS "$N"
bench_posint Q_RUNS "$RUNS"
bench_need cmake curl psql

bench_build "$BUILD" --target escalated
bench_pg_start "$STATE"
psql -qX -d postgres -c "CREATE DATABASE qbench" >/dev/null
export ESCALATED_DB="dbname=qbench"
"$ESC" migrate 2>>"$BUILD/daemon.log" || die "migrate failed"
AGENT=$("$ESC" keys create --name "bench agent" --role agent --tier 1)

log "loading $N tickets in SQL"
t0=$(date +%s.%N)
psql -qX -d qbench -v n="$N" -f "$ROOT/bench/q-load.sql" >/dev/null
# the indexes as migration 008 made them, rebuilt over the loaded rows
psql -qX -d qbench -c "REINDEX INDEX tickets_subject_trgm" -c "REINDEX INDEX tickets_description_trgm" >/dev/null
t1=$(date +%s.%N)
log "loaded in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s"

bench_data_key "$BUILD/bench.data.key"
: >"$BUILD/daemon.log"
bench_serve "$BUILD/daemon.log" 300

RARE="罕见词500000"
ORDER=$(psql -qtAX -d qbench -c "SELECT substring(subject from '订单号([0-9]+)') FROM tickets WHERE subject LIKE '%订单号%' ORDER BY id LIMIT 1 OFFSET 1000")
WORDS=("$RARE" "光猫" "keeps rebooting" "13812345678" "$ORDER")
LABELS=("rare word (1 in 10,000)" "common word (1 in 16)" "English phrase (1 in 16)"
        "a phone number (stored masked: none)" "an order number (1 ticket)")

urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
plan() {
    local pat=${1//\'/\'\'}
    psql -qtAX -d qbench -c "EXPLAIN SELECT id FROM tickets t WHERE ('%$pat%'::text IS NULL OR t.subject ILIKE '%$pat%' OR t.description ILIKE '%$pat%') ORDER BY t.id DESC LIMIT 51" |
        { grep -oE 'Bitmap Index Scan on [a-z_]+|Index Scan Backward using [a-z_]+|Seq Scan on [a-z_]+' || true; } |
        sort -u | paste -sd, -
}
measure() {
    local label=$1 word=$2 times=() code t n
    for ((r = 0; r < RUNS; r++)); do
        read -r code t < <(curl -sS -o "$BUILD/last-body" -w '%{http_code} %{time_total}\n' \
            -H "Authorization: Bearer $AGENT" "$BASE/v1/tickets?limit=50&q=$(urlenc "$word")")
        [[ $code == 200 ]] || { cat "$BUILD/last-body" >&2; die "q=$word answered $code"; }
        times+=("$t")
    done
    n=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["items"]))' "$BUILD/last-body")
    local sorted
    sorted=$(printf '%s\n' "${times[@]}" | sort -g)
    printf '%-38s %8.4f %8.4f %8.4f %6s  %s\n' "$label" "$(head -n 1 <<<"$sorted")" \
        "$(sed -n "$(((RUNS + 1) / 2))p" <<<"$sorted")" "$(tail -n 1 <<<"$sorted")" "$n" "$(plan "$word")"
}
round() {
    echo "-- $1"
    printf '%-38s %8s %8s %8s %6s  %s\n' "q" "min s" "median s" "max s" "items" "plan"
    for i in "${!WORDS[@]}"; do measure "${LABELS[$i]}" "${WORDS[$i]}"; done
}

{
    echo "escalated GET /v1/tickets?q= on $N tickets ($(nproc) cores; $(date -u +%F))"
    echo "each query $RUNS times through HTTP, limit 50; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    round "with the trigram indexes (migration 008)"
    psql -qX -d qbench -c "DROP INDEX tickets_subject_trgm" -c "DROP INDEX tickets_description_trgm" >/dev/null
    round "without them"
    t0=$(date +%s.%N)
    psql -qX -d qbench -c "CREATE INDEX tickets_subject_trgm ON tickets USING gin (subject gin_trgm_ops)" \
        -c "CREATE INDEX tickets_description_trgm ON tickets USING gin (description gin_trgm_ops)" >/dev/null
    t1=$(date +%s.%N)
    round "with them again (built in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", b - a }') s)"
    echo "index sizes: $(psql -qtAX -d qbench -c "SELECT string_agg(relname || ' ' || pg_size_pretty(pg_relation_size(oid)), ', ') FROM pg_class WHERE relname LIKE 'tickets_%_trgm'"); table $(psql -qtAX -d qbench -c "SELECT pg_size_pretty(pg_table_size('tickets'))")"
} | tee "$OUT"
