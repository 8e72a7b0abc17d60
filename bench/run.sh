#!/usr/bin/env bash
# bench/run.sh — the daemon against the database limit, side by side.
#
# Measures two workloads, each as PAIRS pairs of runs, the two sides
# interleaved and the order alternating from pair to pair (daemon, pgbench |
# pgbench, daemon | daemon, pgbench ...), every run BENCH_SECONDS long at 16
# connections, against one database:
#   create  HTTP POST /v1/tickets (wrk)             vs  the daemon's create transaction (pgbench)
#   claim   HTTP POST /v1/queues/line-1/claim (wrk) vs  the daemon's claim transaction (pgbench)
# Both transactions are a single prepared statement in autocommit, in the
# daemon and in bench/create.sql and bench/claim.sql; run.sh checks that those
# files hold the daemon's statement text (from lib/db/store_tickets.c) and stops if not.
# It prints TPS and p50/p99 latency of every run, the daemon/pgbench TPS ratio
# of every pair and the median ratio per workload (target: >= 0.7).  Latency
# is per request on both sides: pgbench's per-transaction log, and on the HTTP
# side the time bench/wrk-common.lua measures around each request (wrk's own
# percentiles add made-up samples for coordinated omission; see that file).
# The table also goes to build-bench/bench-results.txt.
# The policies get a one-day acknowledgement deadline, so that no SLA timer
# falls due (and the daemon's timer engine stays idle) during the runs.
#
# Environment:
#   BENCH_SECONDS  seconds per run (default 15)
#   BENCH_PAIRS    pairs per workload (default 3)
#   BENCH_VACUUM   1 (default): VACUUM tickets and timers before every claim run
#   BENCH_KEEP     1: also keep the pgbench per-transaction logs of every run in
#                  build-bench/bench-work/pgbench/ (bench-work/ always keeps the
#                  daemon's log and the output of the last wrk and pgbench run)
#
# Needs (see .ci/run): cmake, a C compiler, libpq/libmicrohttpd/jansson/openssl
# headers, postgresql-15 (server binaries), postgresql-client-15 (pgbench,
# psql), wrk, perl.  Run as root (the cluster runs as `postgres`) or as an
# ordinary user.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH=$ROOT/bench
BUILD=$ROOT/build-bench
WORK=$BUILD/bench-work
STATE=$BUILD/pg.state
OUT=$BUILD/bench-results.txt

DUR=${BENCH_SECONDS:-15}
PAIRS=${BENCH_PAIRS:-3}
VACUUM=${BENCH_VACUUM:-1}
CONNS=16
# One client thread per connection on both sides: wrk must (bench/wrk-common.lua
# times each request in its thread), and pgbench is given the same.
THREADS=$CONNS
TARGET=0.7
WARMUP=3
# The daemon's --engine-max-sleep (seconds), which is also its notify window:
# the create statement pg_notify()s a new timer due sooner than this.  The
# daemon binds it as $14 in seconds with three decimals; pgbench gets the same.
ENGINE_SLEEP=60

# The ticket both sides create (a realistic one: Chinese text, a customer).
export BENCH_SEVERITY=normal
export BENCH_CHANNEL=phone
export BENCH_CATEGORY=broadband
export BENCH_SUBJECT='宽带断网三天，要求尽快上门维修'
export BENCH_DESCRIPTION='客户反映自周一起家中光猫红灯闪烁，重启多次无效，已影响居家办公，要求48小时内上门处理并减免当月费用。'
export BENCH_CUST_NAME='王小明'
export BENCH_CUST_PHONE='+86 138-0013-8000'
export BENCH_CUST_EMAIL='wang.xiaoming@example.com'
export BENCH_CUST_ID='11010519491231002X'
export BENCH_CUST_CARD='6222 0212 3456 7890 128'
# what the daemon stores for a value: "esc1:v1:" and the base64url of
# nonce (12) + ciphertext (as long as the value) + tag (16), docs/security.md
fake_seal() { # VALUE
    local n
    n=$(printf '%s' "$1" | wc -c)
    printf 'esc1:v1:%s' "$(openssl rand -base64 $((n + 28)) | tr -d '\n=' | tr '+/' '-_')"
}

BENCH_NAME=bench
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_posint BENCH_SECONDS "$DUR"
bench_posint BENCH_PAIRS "$PAIRS"
bench_need cmake wrk pgbench psql perl

# ------------------------------------------------------------------ cleanup
bench_on_exit() {
    [[ -n "${PGDIR:-}" && -f "$PGDIR/server.log" ]] && cp "$PGDIR/server.log" "$WORK/postgresql.log" 2>/dev/null || true
    if [[ "${BENCH_KEEP:-0}" != 1 ]]; then
        rm -rf "$WORK/pgbench" 2>/dev/null || true
    fi
}

# ------------------------------------------------------------------ build
bench_build "$BUILD"
rm -rf "$WORK"
mkdir -p "$WORK"

# ------------------------------------------------------ same SQL on both sides
# daemon_sql (bench/lib.sh): the daemon's statement text, as compiled.
# A bench script's statement with its variables mapped back to $n.
bench_sql() { # FILE "name=N name=N ..."
    MAP="$2" perl -0777 -ne '
        my %m = map { split /=/ } split / /, $ENV{MAP};
        my $s = join "\n", grep { !/^\s*(--|\\)/ } split /\n/;
        $s =~ s{NULL/\*(\$\d+)\*/}{$1}g;
        $s =~ s/(?<!:):([A-Za-z_]\w*)/exists $m{$1} ? "\$$m{$1}" : die "unmapped variable :$1\n"/ge;
        $s =~ s/\x27[ \t]*\n\s*\x27//g; # literals split by a newline are one literal
        $s =~ s/\s+/ /g; $s =~ s/^ | $//g; $s =~ s/ ?;$//; print $s;' "$1"
}
check_sql() { # ENUM FILE MAP
    local a b
    a=$(daemon_sql "$1") || die "could not read $1 from lib/db/store_tickets.c"
    b=$(bench_sql "$2" "$3") || die "could not read $2"
    if [[ "$a" != "$b" ]]; then
        printf '%s\n' "$a" | tr ' ' '\n' >"$WORK/daemon.sql.words"
        printf '%s\n' "$b" | tr ' ' '\n' >"$WORK/bench.sql.words"
        diff -u "$WORK/daemon.sql.words" "$WORK/bench.sql.words" >&2 || true
        die "${2#"$ROOT"/} is not the daemon's $1 any more (lib/db/store_tickets.c changed?); update it"
    fi
}
CREATE_MAP="severity=1 channel=2 category=3 subject=4 description=5 cust_name=6 cust_phone=7 cust_email=8 cust_id=9 created_by=11 notify_window=14 cust_card=16 m_name=17 m_phone=18 m_email=19 m_id=20 m_card=21 bi_phone=22 bi_id=23 key_version=24"
CLAIM_MAP="tier=1 agent=2"
check_sql S_TICKET_CREATE "$BENCH/create.sql" "$CREATE_MAP"
check_sql S_CLAIM "$BENCH/claim.sql" "$CLAIM_MAP"
log "bench/create.sql and bench/claim.sql match the daemon's statements"

# ------------------------------------------------------------------ database
bench_pg_start "$STATE"
export PGDATABASE=bench

# Tuned like a deployment on this machine, durable: fsync, synchronous_commit
# and full_page_writes stay on.  Bigger shared buffers, and WAL room so that
# no checkpoint falls inside a run (run.sh checkpoints before every run).
bench_pg_configure <<'EOF'
ALTER SYSTEM SET fsync = on;
ALTER SYSTEM SET synchronous_commit = on;
ALTER SYSTEM SET full_page_writes = on;
ALTER SYSTEM SET shared_buffers = '1GB';
ALTER SYSTEM SET max_wal_size = '8GB';
ALTER SYSTEM SET min_wal_size = '1GB';
ALTER SYSTEM SET checkpoint_timeout = '30min';
ALTER SYSTEM SET checkpoint_completion_target = 0.9;
ALTER SYSTEM SET log_min_duration_statement = '200ms';
ALTER SYSTEM SET log_lock_waits = on;
ALTER SYSTEM SET log_autovacuum_min_duration = 0;
EOF
PG_SETTINGS=$(psqlq -d postgres -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync','synchronous_commit','full_page_writes','shared_buffers',
    'max_wal_size','checkpoint_timeout','wal_buffers','max_connections')")
PG_VERSION=$(psqlq -d postgres -c "SHOW server_version")
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
psqlq -d postgres -c "CREATE DATABASE bench"

DB="host=$PGHOST port=$PGPORT user=postgres dbname=bench"
"$ESC" migrate --db "$DB" >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
FD_TOKEN=$("$ESC" keys create --name bench-frontdesk --role frontdesk --db "$DB")
AGENT_TOKEN=$("$ESC" keys create --name bench-agent --role agent --tier 1 --db "$DB")
FD_ID=$(psqlq -c "SELECT id FROM principals WHERE name = 'bench-frontdesk'")
AGENT_ID=$(psqlq -c "SELECT id FROM principals WHERE name = 'bench-agent'")

# No timer may fall due during the runs (10 minutes by default): with long runs
# the timer engine would fire breaches in the middle of some runs and not others.
psqlq -c "UPDATE policies SET ack_seconds = 86400"

# ------------------------------------------------------------------ daemon
bench_data_key "$BUILD/bench.data.key"
: >"$WORK/daemon.log"
bench_serve "$WORK/daemon.log" 100 --db "$DB" --pool-size "$CONNS" --shutdown-grace 2 \
    --engine-max-sleep "$ENGINE_SLEEP"
log "daemon pid $DAEMON_PID on 127.0.0.1:$PORT, PostgreSQL $PG_VERSION on $PGHOST:$PGPORT"

# ------------------------------------------------------------------ runs
PGB_VARS=(-D "severity=$BENCH_SEVERITY" -D "channel=$BENCH_CHANNEL" -D "category=$BENCH_CATEGORY"
          -D "subject=$BENCH_SUBJECT" -D "description=$BENCH_DESCRIPTION"
          -D "cust_name=$(fake_seal "$BENCH_CUST_NAME")" -D "cust_phone=$(fake_seal "$BENCH_CUST_PHONE")"
          -D "cust_email=$(fake_seal "$BENCH_CUST_EMAIL")" -D "cust_id=$(fake_seal "$BENCH_CUST_ID")"
          -D "cust_card=$(fake_seal "$BENCH_CUST_CARD")" -D "m_name=王**" -D "m_phone=861******8000"
          -D "m_email=w***@example.com" -D "m_id=110***********002X" -D "m_card=6222***********0128"
          -D "bi_phone=$(openssl rand -hex 32)" -D "bi_id=$(openssl rand -hex 32)" -D "key_version=1"
          -D "created_by=$FD_ID" -D "agent=$AGENT_ID" -D "notify_window=$ENGINE_SLEEP.000")
RESULTS=$WORK/results.tsv
: >"$RESULTS"

tickets_total() { psqlq -c "SELECT count(*) FROM tickets"; }
acked_total() { psqlq -c "SELECT count(*) FROM tickets WHERE state = 'acknowledged'"; }
queue_left() { psqlq -c "SELECT count(*) FROM tickets WHERE state = 'awaiting_ack' AND tier = 1"; }
done_total() { if [[ $1 == create ]]; then tickets_total; else acked_total; fi; }

# Same starting conditions for every run: no checkpoint debt, and for claims
# a vacuumed queue head (dead index entries of earlier runs removed).
prepare_run() { # WORKLOAD
    if [[ $1 == claim && $VACUUM == 1 ]]; then
        psqlq -c "VACUUM tickets" -c "VACUUM timers"
    fi
    psqlq -c "CHECKPOINT"
}

# R_TPS R_P50 R_P99 (ms) R_NOTE from one run; R_DONE = rows the run made.
run_daemon() { # WORKLOAD SECONDS
    local w=$1 secs=$2 token url before after line req dur non2xx sockerr p50 p99 samples overlaps
    if [[ $w == create ]]; then token=$FD_TOKEN url=http://127.0.0.1:$PORT/v1/tickets
    else token=$AGENT_TOKEN url=http://127.0.0.1:$PORT/v1/queues/line-1/claim; fi
    before=$(done_total "$w")
    BENCH_TOKEN=$token BENCH_DIR=$BENCH wrk -t"$THREADS" -c"$CONNS" -d"${secs}s" -s "$BENCH/$w.lua" "$url" \
        >"$WORK/last-wrk.txt" 2>&1 || { cat "$WORK/last-wrk.txt" >&2; die "wrk failed"; }
    after=$(done_total "$w")
    line=$(grep '^BENCH ' "$WORK/last-wrk.txt") || { cat "$WORK/last-wrk.txt" >&2; die "no wrk summary"; }
    # BENCH requests=N duration_us=N non2xx=N sockerr=N p50_us=N p99_us=N samples=N overlaps=N
    # (p50/p99 of the latencies bench/wrk-common.lua measured, one per response)
    read -r _ _ req _ dur _ non2xx _ sockerr _ p50 _ p99 _ samples _ overlaps <<<"${line//=/ }"
    [[ $overlaps -le 1 ]] || die "wrk had several requests in flight per thread (overlaps=$overlaps)"
    [[ $((samples - req)) -le $CONNS && $((req - samples)) -le $CONNS ]] ||
        die "wrk counted $req requests but bench/wrk-common.lua timed $samples"
    R_DONE=$((after - before))
    # Only successful requests count: rows the run made (201s / 200s) per
    # second of the run.  For claims, requests that found the queue empty
    # (204) are requests - claims; a few (<= connections) are in flight at the end.
    R_TPS=$(awk -v n="$R_DONE" -v d="$dur" 'BEGIN { printf "%.1f", n * 1e6 / d }')
    R_P50=$(awk -v v="$p50" 'BEGIN { printf "%.2f", v / 1000 }')
    R_P99=$(awk -v v="$p99" 'BEGIN { printf "%.2f", v / 1000 }')
    R_NOTE="requests=$req"
    [[ $non2xx -gt 0 || $sockerr -gt 0 ]] && R_NOTE+=" ERRORS:non2xx=$non2xx,socket=$sockerr"
    if [[ $w == claim && $((req - non2xx - R_DONE)) -gt $CONNS ]]; then
        R_NOTE+=" empty(204)=$((req - non2xx - R_DONE))"
    fi
    if [[ $w == create && $((req - R_DONE)) -gt $CONNS ]]; then
        R_NOTE+=" UNCOUNTED=$((req - R_DONE))"
    fi
}

run_pgbench() { # WORKLOAD SECONDS
    local w=$1 secs=$2 before after dir tps processed failed
    dir=$WORK/pgbench/$w-$RANDOM
    mkdir -p "$dir"
    before=$(done_total "$w")
    pgbench -n -c "$CONNS" -j "$THREADS" -T "$secs" -M prepared -f "$BENCH/$w.sql" "${PGB_VARS[@]}" \
        -l --log-prefix="$dir/tx" >"$WORK/last-pgbench.txt" 2>&1 ||
        { cat "$WORK/last-pgbench.txt" >&2; die "pgbench failed"; }
    after=$(done_total "$w")
    R_DONE=$((after - before))
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$WORK/last-pgbench.txt")
    processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$WORK/last-pgbench.txt")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$WORK/last-pgbench.txt")
    [[ -n "$tps" && -n "$processed" ]] || { cat "$WORK/last-pgbench.txt" >&2; die "no pgbench summary"; }
    # Only transactions that made a row count (a claim on an empty queue commits nothing).
    R_TPS=$(awk -v t="$tps" -v n="$R_DONE" -v p="$processed" \
        'BEGIN { f = p > 0 ? n / p : 0; if (f > 1) f = 1; printf "%.1f", t * f }')
    # p50/p99 from the per-transaction log: third field = latency in microseconds.
    read -r R_P50 R_P99 < <(cat "$dir"/tx.* | awk '{ print $3 }' | sort -n |
        awk '{ v[NR] = $1 } END {
            i50 = int(NR * 0.50 + 0.999999); i99 = int(NR * 0.99 + 0.999999)
            if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1
            printf "%.2f %.2f\n", v[i50] / 1000, v[i99] / 1000 }')
    R_NOTE="transactions=$processed"
    [[ -n "$failed" && "$failed" != 0 ]] && R_NOTE+=" FAILED=$failed"
    if [[ $w == claim && $((processed - R_DONE)) -gt $CONNS ]]; then
        R_NOTE+=" empty=$((processed - R_DONE))"
    fi
    [[ "${BENCH_KEEP:-0}" == 1 ]] || rm -rf "$dir"
}

record() { # WORKLOAD SIDE PAIR
    local left=""
    [[ $1 == claim ]] && left=" queue_left=$(queue_left)"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$3" "$2" "$R_TPS" "$R_P50" "$R_P99" "$R_NOTE$left" >>"$RESULTS"
    log "$1 pair $3 $2: $R_TPS TPS, p50 $R_P50 ms, p99 $R_P99 ms ($R_NOTE$left)"
}

# One pair: both sides back to back; odd pairs start with the daemon, even
# pairs with pgbench, so that neither side always runs on the fuller table.
run_pair() { # WORKLOAD PAIR
    local side sides=(daemon pgbench)
    (( $2 % 2 )) || sides=(pgbench daemon)
    for side in "${sides[@]}"; do
        prepare_run "$1"
        "run_$side" "$1" "$DUR"
        record "$1" "$side" "$2"
        if [[ $1 == create ]]; then
            MAX_CREATE_TPS=$(awk -v a="$MAX_CREATE_TPS" -v b="$R_TPS" 'BEGIN { print (b > a ? b : a) }')
        fi
    done
}

# Warm-up (not recorded): the daemon's pool connects and prepares, caches fill.
log "warm-up: ${WARMUP}s each side"
run_daemon create "$WARMUP"
run_pgbench create "$WARMUP"

MAX_CREATE_TPS=0
for i in $(seq "$PAIRS"); do
    run_pair create "$i"
done

# The claim queue: the tickets the create runs made are line-1 tickets
# awaiting acknowledgement; top it up so that neither side runs dry.  Claims
# run up to ~1.3x as fast as creates on a fresh queue; allow 2x.
HAVE=$(queue_left)
NEED=$(awk -v t="$MAX_CREATE_TPS" -v d="$DUR" -v p="$PAIRS" 'BEGIN { printf "%d", 2 * t * d * 2 * p + 20000 }')
if [[ $HAVE -lt $NEED ]]; then
    log "preloading $((NEED - HAVE)) line-1 tickets (queue has $HAVE, want $NEED)"
    psqlq -v n=$((NEED - HAVE)) -v severity="$BENCH_SEVERITY" -v channel="$BENCH_CHANNEL" \
        -v category="$BENCH_CATEGORY" -v subject="$BENCH_SUBJECT" -v description="$BENCH_DESCRIPTION" \
        -v cust_name="$BENCH_CUST_NAME" -v cust_phone="$BENCH_CUST_PHONE" \
        -v cust_email="$BENCH_CUST_EMAIL" -v cust_id="$BENCH_CUST_ID" -v created_by="$FD_ID" \
        -f "$BENCH/preload.sql"
fi
psqlq -c "VACUUM ANALYZE"
QUEUE_START=$(queue_left)

for i in $(seq "$PAIRS"); do
    run_pair claim "$i"
done

# ------------------------------------------------------------------ report
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- lib daemon include migrations 2>/dev/null || GIT_REV+="+dirty"
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
{
    echo "escalated bench — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $GIT_REV"
    echo "machine: $(nproc) CPUs ($CPU), load before the runs: $LOAD_START"
    echo "database: PostgreSQL $PG_VERSION, unix socket; $PG_SETTINGS"
    echo "method: $CONNS connections (wrk -t$THREADS -c$CONNS | pgbench -c$CONNS -j$THREADS -M prepared), ${DUR}s per run,"
    echo "        $PAIRS pairs per workload, the two sides of a pair back to back, the first side alternating;"
    echo "        TPS counts only tickets created (201) / claimed (200); CHECKPOINT before every run;"
    echo "        VACUUM tickets+timers before every claim run: $([[ $VACUUM == 1 ]] && echo yes || echo no);"
    echo "        claim queue at start: $QUEUE_START line-1 tickets awaiting acknowledgement"
    echo "latency: nearest-rank percentiles of every request / transaction of the run: daemon = HTTP round"
    echo "         trip timed in wrk's Lua (bench/wrk-common.lua), pgbench = its per-transaction log (-l)"
    echo "ratio:   daemon TPS / pgbench TPS of the pair (shown on the pair's second row)"
    echo
    awk -F'\t' -v target="$TARGET" '
        function median(a, n,   i, j, t) {
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        BEGIN { printf "%-8s %4s %-8s %10s %8s %8s %7s  %s\n", "workload", "pair", "side", "TPS", "p50 ms", "p99 ms", "ratio", "notes" }
        {
            w = $1; pair = $2; side = $3
            if (!(w in seen)) { seen[w] = 1; order[++nw] = w }
            tps[w, pair, side] = $4
            ratio = ""
            if (((w, pair, "daemon") in tps) && ((w, pair, "pgbench") in tps)) {
                r = tps[w, pair, "pgbench"] > 0 ? tps[w, pair, "daemon"] / tps[w, pair, "pgbench"] : 0
                ratio = sprintf("%.3f", r); nr[w]++; R[w, nr[w]] = r
            }
            k = w SUBSEP side; n[k]++; T[k, n[k]] = $4; P50[k, n[k]] = $5; P99[k, n[k]] = $6
            if ($7 ~ /ERRORS|FAILED|empty/) bad = bad "  " w " pair " pair " " side ": " $7 "\n"
            printf "%-8s %4s %-8s %10.1f %8.2f %8.2f %7s  %s\n", w, pair, side, $4, $5, $6, ratio, $7
        }
        END {
            print ""
            printf "%-8s %-8s %10s %8s %8s   (medians over the runs)\n", "workload", "side", "TPS", "p50 ms", "p99 ms"
            for (i = 1; i <= nw; i++) {
                w = order[i]
                for (s = 0; s < 2; s++) {
                    side = s ? "pgbench" : "daemon"; k = w SUBSEP side; m = n[k]
                    for (j = 1; j <= m; j++) { a1[j] = T[k, j]; a2[j] = P50[k, j]; a3[j] = P99[k, j] }
                    printf "%-8s %-8s %10.1f %8.2f %8.2f\n", w, side, median(a1, m), median(a2, m), median(a3, m)
                }
            }
            print ""
            for (i = 1; i <= nw; i++) {
                w = order[i]; m = nr[w]; list = ""
                for (j = 1; j <= m; j++) { a[j] = R[w, j]; list = list sprintf(" %.3f", R[w, j]) }
                med = median(a, m)
                printf "%-8s median ratio daemon/pgbench = %.3f  (pairs:%s)  target >= %.2f: %s\n",
                    w, med, list, target, (med >= target ? "MET" : "NOT MET")
            }
            if (bad != "") printf "\nWARNING: runs with errors or an empty queue (their figures are not comparable):\n%s", bad
        }' "$RESULTS"
} | tee "$OUT"
log "written to ${OUT#"$ROOT"/}"
