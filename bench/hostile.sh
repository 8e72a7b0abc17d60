#!/usr/bin/env bash
# bench/hostile.sh — a normal client's requests/s with 1,100 slow connections
# held open against the daemon, and without them, side by side.
#
# The normal client is wrk with 16 connections (one thread each), asking for
# one ticket (GET /v1/tickets/{id}, manager token: the token check, one
# query, the masked JSON).  The hostile side is bench/slow-clients.pl: 1,100
# connections from 22 loopback addresses (50 each, under the daemon's
# per-address limit), each having sent half a request and trickling one more
# header line every 3 s, so that the daemon's idle timeout does not end them.
# PAIRS pairs of runs, each side BENCH_SECONDS long, the first side
# alternating from pair to pair; the table gives requests/s and p50/p99 of
# every run (latency timed per request in bench/wrk-common.lua), the
# with/without ratio of every pair and their median.  The table also goes to
# build-bench/hostile-results.txt (docs/security.md has a run).
#
# Environment: BENCH_SECONDS (default 10), BENCH_PAIRS (default 3),
# BENCH_SLOW (slow connections, default 1100).
# Needs what bench/run.sh needs (cmake, a C compiler, the -dev packages,
# postgresql-15, wrk, perl).  Run as root (the cluster runs as `postgres`) or
# as an ordinary user whose hard RLIMIT_NOFILE allows BENCH_SLOW + 500.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH=$ROOT/bench
BUILD=$ROOT/build-bench
WORK=$BUILD/hostile-work
STATE=$BUILD/hostile-pg.state
OUT=$BUILD/hostile-results.txt

DUR=${BENCH_SECONDS:-10}
PAIRS=${BENCH_PAIRS:-3}
SLOW=${BENCH_SLOW:-1100}
CONNS=16

BENCH_NAME=hostile
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_posint BENCH_SECONDS "$DUR"
bench_posint BENCH_PAIRS "$PAIRS"
bench_posint BENCH_SLOW "$SLOW"
bench_need cmake wrk psql perl curl
# the slow side's sockets, and the daemon's (it inherits the limit and raises it itself too)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) == unlimited || $(ulimit -n) -ge $((SLOW + 500)) ]] ||
    die "RLIMIT_NOFILE $(ulimit -n) is too low for $SLOW connections"

SLOW_PID=""
bench_on_exit() { [[ -n "$SLOW_PID" ]] && kill -TERM "$SLOW_PID" 2>/dev/null && wait "$SLOW_PID" 2>/dev/null; }

bench_build "$BUILD"
rm -rf "$WORK"
mkdir -p "$WORK"

bench_pg_start "$STATE"
psql -X -q -At -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE hostile"
DB="host=$PGHOST port=$PGPORT user=postgres dbname=hostile"
"$ESC" migrate --db "$DB" >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
MANAGER=$("$ESC" keys create --name hostile-manager --role manager --db "$DB")

bench_data_key "$BUILD/bench.data.key"
: >"$WORK/daemon.log"
bench_serve "$WORK/daemon.log" 100 --db "$DB" --pool-size "$CONNS" --shutdown-grace 2
ID=$(curl -s -H "Authorization: Bearer $MANAGER" -H 'Content-Type: application/json' \
    -d '{"subject":"宽带断网三天","customer":{"phone":"13800138000"}}' "http://127.0.0.1:$PORT/v1/tickets" |
    grep -o '"id":[0-9]*' | head -n 1 | cut -d: -f2)
[[ -n "$ID" ]] || die "could not create the ticket"
URL="http://127.0.0.1:$PORT/v1/tickets/$ID"
log "daemon pid $DAEMON_PID on 127.0.0.1:$PORT; the normal client reads $URL"

RESULTS=$WORK/results.tsv
: >"$RESULTS"

# R_RPS R_P50 R_P99 (ms) R_NOTE of one wrk run
run_wrk() { # SECONDS
    local line req dur non2xx sockerr p50 p99
    BENCH_TOKEN=$MANAGER BENCH_DIR=$BENCH wrk -t"$CONNS" -c"$CONNS" -d"${1}s" -s "$BENCH/get.lua" "$URL" \
        >"$WORK/last-wrk.txt" 2>&1 || { cat "$WORK/last-wrk.txt" >&2; die "wrk failed"; }
    line=$(grep '^BENCH ' "$WORK/last-wrk.txt") || { cat "$WORK/last-wrk.txt" >&2; die "no wrk summary"; }
    read -r _ _ req _ dur _ non2xx _ sockerr _ p50 _ p99 _ <<<"${line//=/ }"
    R_RPS=$(awk -v n="$((req - non2xx))" -v d="$dur" 'BEGIN { printf "%.1f", n * 1e6 / d }')
    R_P50=$(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }')
    R_P99=$(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }')
    R_NOTE="requests=$req"
    [[ $non2xx -gt 0 || $sockerr -gt 0 ]] && R_NOTE+=" ERRORS:non2xx=$non2xx,socket=$sockerr"
    return 0
}

run_side() { # SIDE PAIR
    if [[ $1 == without ]]; then
        run_wrk "$DUR"
    else
        rm -f "$WORK/slow.ready"
        perl "$BENCH/slow-clients.pl" "$PORT" "$SLOW" $((DUR + 4)) "$WORK/slow.ready" >"$WORK/slow.out" 2>&1 &
        SLOW_PID=$!
        for i in $(seq 200); do
            [[ -f "$WORK/slow.ready" ]] && break
            kill -0 "$SLOW_PID" 2>/dev/null || { cat "$WORK/slow.out" >&2; die "slow-clients.pl failed"; }
            sleep 0.05
        done
        [[ -f "$WORK/slow.ready" ]] || die "slow-clients.pl did not open its connections"
        sleep 1 # the daemon has accepted them all
        run_wrk "$DUR"
        wait "$SLOW_PID" || { cat "$WORK/slow.out" >&2; die "slow-clients.pl failed"; }
        SLOW_PID=""
        R_NOTE+=" slow:$(tail -n 1 "$WORK/slow.out")"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$1" "$R_RPS" "$R_P50" "$R_P99" "$R_NOTE" >>"$RESULTS"
    log "pair $2 $1 slow connections: $R_RPS requests/s, p50 $R_P50 ms, p99 $R_P99 ms ($R_NOTE)"
}

log "warm-up: 3s"
run_wrk 3
for p in $(seq "$PAIRS"); do
    if (( p % 2 )); then run_side without "$p"; run_side with "$p"
    else run_side with "$p"; run_side without "$p"; fi
done

GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- lib daemon migrations 2>/dev/null || GIT_REV+="+dirty"
{
    echo "escalated hostile bench — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $GIT_REV, $(nproc) CPUs"
    echo "normal client: wrk -t$CONNS -c$CONNS GET /v1/tickets/{id} (manager), ${DUR}s per run, $PAIRS pairs;"
    echo "with: $SLOW slow connections held (half a request, a header line every 3 s) by bench/slow-clients.pl"
    echo
    awk -F'\t' '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        BEGIN { printf "%4s %-8s %10s %8s %8s %7s  %s\n", "pair", "slow", "req/s", "p50 ms", "p99 ms", "ratio", "notes" }
        {
            rps[$1, $2] = $3; ratio = ""
            if ((($1, "with") in rps) && (($1, "without") in rps)) {
                r = rps[$1, "without"] > 0 ? rps[$1, "with"] / rps[$1, "without"] : 0
                ratio = sprintf("%.3f", r); R[++nr] = r
            }
            printf "%4s %-8s %10.1f %8.2f %8.2f %7s  %s\n", $1, $2, $3, $4, $5, ratio, $6
        }
        END { printf "\nmedian ratio with/without slow connections = %.3f\n", median(R, nr) }' "$RESULTS"
} | tee "$OUT"
log "written to build-bench/hostile-results.txt"
