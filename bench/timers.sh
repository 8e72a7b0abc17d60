#!/usr/bin/env bash
# bench/timers.sh — the SLA timer engine with a million open tickets.
#
#   1. loads TICKETS open tickets (line-1, awaiting_ack, normal) straight into a
#      private PostgreSQL cluster, in the shape the daemon's create writes them
#      (ticket + `created` event + ack/resolve/warn timers: 3 timers a ticket),
#      every timer a day or more in the future (bench/timers-load.sql), then
#      VACUUM ANALYZE; the load is timed;
#   2. starts `escalated serve` on that database and measures its CPU use while
#      idle (utime+stime from /proc/PID/stat over IDLE_SECONDS), as % of one
#      core; also the CPU of its PostgreSQL backends, for information;
#   3. burst: BURST of those tickets get their ack deadline at the same instant
#      (a whole second, LEAD_SECONDS ahead; or spread over BURST_SPREAD_MS), in
#      one transaction; once every breach is recorded, lateness =
#      breaches.detected_at - due_at: p50, p99, max; and the time per batch;
#   4. stream: STREAM_RATE deadlines a second for STREAM_SECONDS (other
#      tickets), likewise;
#   5. prints the figures against the targets (p99 lateness < 1 s for both,
#      idle CPU < 1% of a core) with PASS/FAIL, and checks that every breach
#      was recorded exactly once (breach row, `breached` event, notification,
#      timer row gone, ticket's `breaches` flagged).  CPU is also reported per
#      fired timer: the daemon, its backends, and the engine's backend alone.
# The table also goes to build-tbench/timers-results.txt.  The exit status is 0
# when the measurement was made, whatever the figures; non-zero on an error
# (including the engine not recording every breach within the time allowed).
#
# The deadlines of steps 3 and 4 are written by SQL, not through the API, in
# one transaction each, which also does what a daemon's transaction does when
# it commits a timer due within its notify window (the engine's max sleep):
# pg_notify() on the channel the engines LISTEN on (ESCP_TIMER_CHANNEL in
# lib/internal.h).  From there the engine finds every deadline through
# min(due_at) over the timers_due index, which it re-reads after every pass,
# so who wrote a timer row does not matter.  The API cannot make 10,000
# deadlines fall in one second on this machine (creates take longer than
# that), and the API's deadlines are minutes ahead anyway.  The script checks
# that each transaction committed at least a second before its first deadline,
# so that the figures measure the engine, not the script.
#
# Environment (defaults in brackets):
#   TIMER_BENCH_TICKETS         open tickets to load [1000000]
#   TIMER_BENCH_IDLE_SECONDS    idle CPU window [60]
#   TIMER_BENCH_SETTLE_SECONDS  wait after the daemon is ready, before measuring [5]
#   TIMER_BENCH_BURST           deadlines in the burst [10000]
#   TIMER_BENCH_BURST_SPREAD_MS the burst's deadlines spread evenly over this many ms,
#                               0..1000 [0: all at the same instant, the worst case]
#   TIMER_BENCH_STREAM_RATE     stream deadlines per second [150]
#   TIMER_BENCH_STREAM_SECONDS  stream length [60]
#   TIMER_BENCH_LEAD_SECONDS    how far ahead the burst / first stream deadline is set [15]
#   TIMER_BENCH_CHUNK           tickets per load statement [100000]
#   TIMER_BENCH_ENGINE_MAX_SLEEP  passed as `serve --engine-max-sleep` (seconds) [the daemon's default]
#   TIMER_BENCH_KEEP            1: keep build-tbench/timers-work (daemon log)
# Quick smoke run (about a minute and a half):
#   TIMER_BENCH_TICKETS=50000 TIMER_BENCH_IDLE_SECONDS=15 TIMER_BENCH_STREAM_SECONDS=15 bench/timers.sh
#
# Needs: cmake, a C compiler, libpq/libmicrohttpd/jansson/openssl headers,
# postgresql-15 (server binaries), postgresql-client-15 (psql), perl.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH=$ROOT/bench
BUILD=$ROOT/build-tbench
WORK=$BUILD/timers-work
STATE=$BUILD/timers-pg.state
OUT=$BUILD/timers-results.txt

N=${TIMER_BENCH_TICKETS:-1000000}
IDLE=${TIMER_BENCH_IDLE_SECONDS:-60}
SETTLE=${TIMER_BENCH_SETTLE_SECONDS:-5}
BURST=${TIMER_BENCH_BURST:-10000}
RATE=${TIMER_BENCH_STREAM_RATE:-150}
STREAM_SECS=${TIMER_BENCH_STREAM_SECONDS:-60}
LEAD=${TIMER_BENCH_LEAD_SECONDS:-15}
CHUNK=${TIMER_BENCH_CHUNK:-100000}
HORIZON=86400           # loaded timers start a day (plus up to a day) ahead
TARGET_LATE_MS=1000     # p99 lateness, burst and stream
TARGET_IDLE_PCT=1       # idle CPU, % of one core
MIN_NOTICE=1.0          # seconds between commit and the first deadline: >= the engine's max sleep

# The ticket (the same as bench/run.sh's: Chinese text, a customer).
SEVERITY=normal
CHANNEL=phone
CATEGORY=broadband
SUBJECT='宽带断网三天，要求尽快上门维修'
DESCRIPTION='客户反映自周一起家中光猫红灯闪烁，重启多次无效，已影响居家办公，要求48小时内上门处理并减免当月费用。'
CUST_NAME='王小明'
CUST_PHONE='+86 138-0013-8000'
CUST_EMAIL='wang.xiaoming@example.com'
CUST_ID='11010519491231002X'

BENCH_NAME=timers
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
bench_posint TIMER_BENCH_TICKETS "$N"
bench_posint TIMER_BENCH_IDLE_SECONDS "$IDLE"
[[ $SETTLE =~ ^[0-9]+$ ]] || die "TIMER_BENCH_SETTLE_SECONDS must be a whole number"
bench_posint TIMER_BENCH_BURST "$BURST"
bench_posint TIMER_BENCH_STREAM_RATE "$RATE"
bench_posint TIMER_BENCH_STREAM_SECONDS "$STREAM_SECS"
bench_posint TIMER_BENCH_LEAD_SECONDS "$LEAD"
bench_posint TIMER_BENCH_CHUNK "$CHUNK"
SPREAD=${TIMER_BENCH_BURST_SPREAD_MS:-0}
[[ $SPREAD =~ ^[0-9]+$ && $SPREAD -le 1000 ]] || die "TIMER_BENCH_BURST_SPREAD_MS must be 0..1000"
if [[ $SPREAD -eq 0 ]]; then BURST_DESC="at one instant"; else BURST_DESC="over ${SPREAD} ms"; fi
ENGINE_SLEEP=${TIMER_BENCH_ENGINE_MAX_SLEEP:-}
[[ -z "$ENGINE_SLEEP" ]] || bench_posint TIMER_BENCH_ENGINE_MAX_SLEEP "$ENGINE_SLEEP"
STREAM=$((RATE * STREAM_SECS))
[[ $((BURST + STREAM)) -le $N ]] ||
    die "TIMER_BENCH_TICKETS ($N) must be at least the burst ($BURST) plus the stream ($STREAM)"
bench_need cmake psql perl getconf
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------------ cleanup
stop_daemon() { bench_stop_daemon; }
bench_on_exit() {
    if [[ "${TIMER_BENCH_KEEP:-0}" != 1 && $1 -eq 0 ]]; then
        rm -rf "$WORK" 2>/dev/null || true
    elif [[ -d "$WORK" ]]; then
        log "logs kept in ${WORK#"$ROOT"/}"
    fi
}

now_s() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------------ build
bench_build "$BUILD"
rm -rf "$WORK"
mkdir -p "$WORK"
SERVE_ARGS=()
if [[ -n "$ENGINE_SLEEP" ]]; then
    "$ESC" --help 2>&1 | grep -q -- '--engine-max-sleep' || die "this daemon has no --engine-max-sleep"
    SERVE_ARGS+=(--engine-max-sleep "$ENGINE_SLEEP")
fi
MAX_SLEEP_DESC=${ENGINE_SLEEP:+$ENGINE_SLEEP s (--engine-max-sleep)}
if [[ -z "$MAX_SLEEP_DESC" ]]; then
    MAX_SLEEP_DESC=$("$ESC" --help 2>&1 | awk '$1 == "--engine-max-sleep" { print $3 " s (default)" }')
    [[ -n "$MAX_SLEEP_DESC" ]] || MAX_SLEEP_DESC="built-in default"
fi
# The channel the engines LISTEN on (none: the engine only polls).
NOTIFY_CHANNEL=$(sed -n 's/^#define ESCP_TIMER_CHANNEL "\([a-z_]*\)".*/\1/p' "$ROOT/lib/internal.h")

# ------------------------------------- the load is still the daemon's create?
# The create statement as compiled (TICKET_COLS expanded by the C
# preprocessor), compared with bench/timers-load.sql: the column lists of the
# ticket, event and timer inserts and the timer kinds a create starts.
create_shape() { # reads SQL on stdin, prints what must agree
    perl -0777 -ne '
        s/\s+/ /g;
        /INSERT INTO tickets \(([^)]*)\) SELECT (?:coalesce\(.*?\)\), )?(1, \x27awaiting_ack\x27),/ or die "no ticket insert\n";
        print "tickets: $1 = $2\n";
        /INSERT INTO events \(([^)]*)\) SELECT id, \x27created\x27/ or die "no created event\n";
        print "events: $1\n";
        /INSERT INTO timers \(([^)]*)\) SELECT t\.id, k\.kind, k\.due FROM t, LATERAL \((VALUES .*?)\) AS k\(kind, due\)/
            or die "no timer insert\n";
        print "timers: $1 $2\n";'
}
A=$(daemon_sql S_TICKET_CREATE | create_shape) || die "could not read the create statement in lib/db/store_tickets.c"
B=$(grep -v '^--' "$BENCH/timers-load.sql" | create_shape) || die "could not read bench/timers-load.sql"
if [[ "$A" != "$B" ]]; then
    diff -u <(printf '%s\n' "$A") <(printf '%s\n' "$B") >&2 || true
    die "bench/timers-load.sql no longer writes what the daemon's create writes (lib/db/store_tickets.c changed?); update it"
fi

# ------------------------------------------------------------------ database
bench_pg_start "$STATE"
export PGDATABASE=bench PGAPPNAME=timers-bench

# Tuned like bench/run.sh (a deployment on this machine), durable.
bench_pg_configure <<'EOF'
ALTER SYSTEM SET fsync = on;
ALTER SYSTEM SET synchronous_commit = on;
ALTER SYSTEM SET full_page_writes = on;
ALTER SYSTEM SET shared_buffers = '1GB';
ALTER SYSTEM SET max_wal_size = '8GB';
ALTER SYSTEM SET min_wal_size = '1GB';
ALTER SYSTEM SET checkpoint_timeout = '30min';
ALTER SYSTEM SET checkpoint_completion_target = 0.9;
EOF
PG_SETTINGS=$(psqlq -d postgres -c "SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name)
    FROM pg_settings WHERE name IN ('fsync','synchronous_commit','shared_buffers','max_wal_size',
    'checkpoint_timeout')")
PG_VERSION=$(psqlq -d postgres -c "SHOW server_version")
psqlq -d postgres -c "CREATE DATABASE bench"

DB="host=$PGHOST port=$PGPORT user=postgres dbname=bench"
"$ESC" migrate --db "$DB" >"$WORK/migrate.log" 2>&1 || { cat "$WORK/migrate.log" >&2; die "migrate failed"; }
"$ESC" keys create --name timers-frontdesk --role frontdesk --db "$DB" >/dev/null
FD_ID=$(psqlq -c "SELECT id FROM principals WHERE name = 'timers-frontdesk'")

# ------------------------------------------------------------------ 1. load
log "loading $N open tickets ($((3 * N)) timers), $CHUNK per statement"
T_LOAD=$(now_s)
first=1
while [[ $first -le $N ]]; do
    last=$((first + CHUNK - 1))
    [[ $last -le $N ]] || last=$N
    psqlq -v first="$first" -v last="$last" -v horizon="$HORIZON" -v severity="$SEVERITY" \
        -v channel="$CHANNEL" -v category="$CATEGORY" -v subject="$SUBJECT" \
        -v description="$DESCRIPTION" -v cust_name="$CUST_NAME" -v cust_phone="$CUST_PHONE" \
        -v cust_email="$CUST_EMAIL" -v cust_id="$CUST_ID" -v created_by="$FD_ID" \
        -f "$BENCH/timers-load.sql"
    first=$((last + 1))
done
LOAD_S=$(secs_since "$T_LOAD")
log "loaded in $LOAD_S s; VACUUM ANALYZE"
T_VAC=$(now_s)
psqlq -c "VACUUM ANALYZE"
VACUUM_S=$(secs_since "$T_VAC")
read -r OPEN_TICKETS LIVE_TIMERS < <(psqlq -F ' ' -c "SELECT (SELECT count(*) FROM tickets
    WHERE state <> 'closed'), (SELECT count(*) FROM timers)")
[[ $OPEN_TICKETS -eq $N && $LIVE_TIMERS -eq $((3 * N)) ]] ||
    die "after the load: $OPEN_TICKETS open tickets and $LIVE_TIMERS timers (expected $N and $((3 * N)))"
DB_SIZE=$(psqlq -c "SELECT pg_size_pretty(pg_database_size(current_database()))")
log "VACUUM ANALYZE took $VACUUM_S s; database $DB_SIZE"

# The tickets the burst and the stream use: spread over the table (a hash
# order), none used twice.
psqlq <<EOF
CREATE TABLE bench_pick AS
 SELECT id, rn, CASE WHEN rn <= $BURST THEN 'burst' ELSE 'stream' END AS role
 FROM (SELECT id, row_number() OVER (ORDER BY md5(id::text)) AS rn FROM tickets) x
 WHERE rn <= $((BURST + STREAM));
CREATE UNIQUE INDEX ON bench_pick (id);
ANALYZE bench_pick;
CHECKPOINT;
EOF

# ------------------------------------------------------------------ daemon
bench_data_key "$BUILD/bench.data.key"
: >"$WORK/daemon.log"
bench_serve "$WORK/daemon.log" 100 --db "$DB" --shutdown-grace 2 "${SERVE_ARGS[@]}"
log "daemon pid $DAEMON_PID on 127.0.0.1:$PORT; settling ${SETTLE}s"
sleep "$SETTLE"
grep -q 'sla engine connected' "$WORK/daemon.log" || die "the SLA engine did not connect (see daemon log)"

# ------------------------------------------------------------------ CPU use
proc_ticks() { # PID -> utime+stime in clock ticks (all threads), or nothing
    local s f
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    s=${s##*) }     # fields from 3 (state) on; comm may hold spaces
    read -ra f <<<"$s"
    echo $((f[11] + f[12]))
}
daemon_backends() {
    psqlq -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'escalated'
              AND datname = current_database()" | tr '\n' ' '
}
sum_ticks() { # PID... -> sum over those still alive
    local t=0 p v
    for p in "$@"; do v=$(proc_ticks "$p"); t=$((t + ${v:-0})); done
    echo "$t"
}
machine_busy() { # -> "busy total" jiffies of all CPUs
    awk '/^cpu / { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}
# cpu_begin; ...; cpu_end -> C_DAEMON C_BACKENDS (% of one core), C_OTHER
# (% of one core used by everything else on the machine), C_WALL (s),
# C_DAEMON_S C_BACKENDS_S (CPU seconds)
cpu_begin() {
    C_PIDS=$(daemon_backends)
    C_T0=$(now_s)
    C_D0=$(proc_ticks "$DAEMON_PID")
    # shellcheck disable=SC2086
    C_B0=$(sum_ticks $C_PIDS)
    C_E0=$(sum_ticks ${ENGINE_BACKEND:+"$ENGINE_BACKEND"})
    read -r C_M0 _ < <(machine_busy)
}
cpu_end() {
    local d1 b1 e1 m1 t1
    d1=$(proc_ticks "$DAEMON_PID")
    # shellcheck disable=SC2086
    b1=$(sum_ticks $C_PIDS)
    e1=$(sum_ticks ${ENGINE_BACKEND:+"$ENGINE_BACKEND"})
    read -r m1 _ < <(machine_busy)
    t1=$(now_s)
    [[ -n "$d1" && -n "$C_D0" ]] || die "the daemon is gone"
    read -r C_DAEMON C_BACKENDS C_OTHER C_WALL C_DAEMON_S C_BACKENDS_S C_ENGINE_S < <(awk \
        -v d="$((d1 - C_D0))" -v b="$((b1 - C_B0))" -v e="$((e1 - C_E0))" -v m="$((m1 - C_M0))" \
        -v hz="$CLK_TCK" -v w="$(awk -v a="$C_T0" -v b="$t1" 'BEGIN { print b - a }')" \
        'BEGIN { o = m - d - b; if (o < 0) o = 0
                 printf "%.3f %.3f %.1f %.1f %.2f %.2f %.2f\n", 100 * d / hz / w, 100 * b / hz / w,
                        100 * o / hz / w, w, d / hz, b / hz, e / hz }')
}

cpu_work() { # TIMERS -> the CPU the last window took, in all and per timer
    awk -v d="$C_DAEMON_S" -v b="$C_BACKENDS_S" -v e="$C_ENGINE_S" -v n="$1" -v o="$C_OTHER" -v w="$C_WALL" \
        -v known="${ENGINE_BACKEND:+1}" \
        'BEGIN { printf "daemon %.2f s + its PostgreSQL backends %.2f s = %.0f us a timer", d, b, 1e6 * (d + b) / n
                 if (known) printf "; the engine'"'"'s backend alone %.2f s = %.0f us a timer", e, 1e6 * e / n
                 printf " (rest of the machine: %.0f%% of a core over %.0f s)", o, w }'
}

# The engine's backend: the one whose last statement was next_due (the
# engine ends every pass with it; nothing else runs it).
ENGINE_BACKEND=$(psqlq -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'escalated'
    AND datname = current_database() AND query LIKE '%min(due_at) FROM timers%'")
[[ $ENGINE_BACKEND =~ ^[0-9]+$ ]] || ENGINE_BACKEND=""

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "measuring idle CPU for ${IDLE}s ($(psqlq -c "SELECT count(*) FROM timers") open timers)"
cpu_begin
IDLE_BACKENDS=$(wc -w <<<"$C_PIDS")
sleep "$IDLE"
cpu_end
IDLE_DAEMON=$C_DAEMON IDLE_BACKEND=$C_BACKENDS IDLE_OTHER=$C_OTHER IDLE_WALL=$C_WALL
log "idle: daemon $IDLE_DAEMON% of a core, its $IDLE_BACKENDS PostgreSQL backends $IDLE_BACKEND%," \
    "everything else on the machine $IDLE_OTHER% (over ${IDLE_WALL}s)"

# ------------------------------------------------------------------ lateness
# wait_breaches ROLE EXPECTED LAST_DUE_EPOCH: until every breach of ROLE is
# recorded; an error if they are not 120 s after the last deadline.
role_count() {
    psqlq -c "SELECT count(*) FROM breaches b JOIN bench_pick p ON p.id = b.ticket_id
              WHERE p.role = '$1' AND b.kind = 'ack'"
}
wait_breaches() {
    local n limit
    limit=$(awk -v e="$3" 'BEGIN { printf "%d", e + 120 }')
    while :; do
        n=$(role_count "$1")
        [[ $n -ge $2 ]] && break
        kill -0 "$DAEMON_PID" 2>/dev/null || die "the daemon exited (see ${WORK#"$ROOT"/}/daemon.log)"
        [[ $(date +%s) -le $limit ]] ||
            die "$1: only $n of $2 breaches recorded 120 s after the last deadline"
        sleep 0.5
    done
}
# lateness ROLE -> L_N L_P50 L_P99 L_MAX L_MIN (ms)
lateness() {
    read -r L_N L_P50 L_P99 L_MAX L_MIN < <(psqlq -F ' ' -c "
        SELECT count(*),
               round((1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY l))::numeric, 1),
               round((1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY l))::numeric, 1),
               round((1000 * max(l))::numeric, 1), round((1000 * min(l))::numeric, 1)
        FROM (SELECT extract(epoch FROM b.detected_at - b.due_at) AS l
              FROM breaches b JOIN bench_pick p ON p.id = b.ticket_id
              WHERE p.role = '$1' AND b.kind = 'ack') x")
}
# exactly_once ROLE EXPECTED -> "ok" or what is wrong
exactly_once() {
    psqlq -c "
        WITH s AS (SELECT id FROM bench_pick WHERE role = '$1'),
        c AS (SELECT
          (SELECT count(*) FROM breaches b JOIN s ON s.id = b.ticket_id WHERE b.kind = 'ack') AS breaches,
          (SELECT count(DISTINCT b.ticket_id) FROM breaches b JOIN s ON s.id = b.ticket_id
            WHERE b.kind = 'ack') AS tickets,
          (SELECT count(*) FROM events e JOIN s ON s.id = e.ticket_id
            WHERE e.type = 'breached' AND e.data->>'kind' = 'ack') AS events,
          (SELECT count(*) FROM notifications n JOIN s ON s.id = n.ticket_id
            WHERE n.type = 'breached' AND n.payload->>'kind' = 'ack') AS notifications,
          (SELECT count(*) FROM timers tm JOIN s ON s.id = tm.ticket_id WHERE tm.kind = 'ack') AS timers_left,
          (SELECT count(*) FROM tickets t JOIN s ON s.id = t.id
            WHERE 'ack' = ANY (t.breaches)) AS flagged)
        SELECT CASE WHEN breaches = $2 AND tickets = $2 AND events = $2 AND notifications = $2
                     AND timers_left = 0 AND flagged = $2 THEN 'ok'
               ELSE format('WRONG: breaches=%s tickets=%s events=%s notifications=%s timers_left=%s flagged=%s',
                           breaches, tickets, events, notifications, timers_left, flagged) END
        FROM c"
}

# The deadlines are whole seconds LEAD_SECONDS ahead; the transaction must
# commit at least MIN_NOTICE before the first one (see the header).
check_notice() { # FIRST_DUE_EPOCH
    local left
    left=$(psqlq -c "SELECT extract(epoch FROM to_timestamp($1) - now())")
    awk -v l="$left" -v m="$MIN_NOTICE" 'BEGIN { exit !(l >= m) }' ||
        die "the deadlines were committed only ${left}s before the first one came due; raise TIMER_BENCH_LEAD_SECONDS"
    echo "$left"
}

# notify_sql EPOCH_EXPR: the daemon's wake-up of other daemons' engines for a
# deadline at EPOCH_EXPR (store.c ticket_create / timer_notify), inside the
# caller's transaction; nothing when the engine has no channel.
notify_sql() {
    [[ -n "$NOTIFY_CHANNEL" ]] || return 0
    printf '%s\n' "SELECT pg_notify('$NOTIFY_CHANNEL', to_char(to_timestamp($1) AT TIME ZONE 'UTC',
        'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')) AS notified \\gset"
}

# -- 3. burst
log "burst: $BURST ack deadlines $BURST_DESC, ${LEAD}s ahead"
BURST_DUE=$(psqlq <<EOF
SELECT extract(epoch FROM date_trunc('second', now()) + make_interval(secs => $LEAD)) AS due \gset
BEGIN;
WITH s AS (SELECT id, to_timestamp(:due) + make_interval(secs => (rn - 1)::float8 * $SPREAD / 1000 / $BURST) AS due
           FROM bench_pick WHERE role = 'burst'),
u AS (UPDATE tickets t SET ack_due_at = s.due FROM s WHERE t.id = s.id)
UPDATE timers tm SET due_at = s.due FROM s WHERE tm.ticket_id = s.id AND tm.kind = 'ack';
$(notify_sql :due)
COMMIT;
SELECT :due;
EOF
)
BURST_NOTICE=$(check_notice "$BURST_DUE")
cpu_begin
wait_breaches burst "$BURST" "$(awk -v a="$BURST_DUE" -v s="$SPREAD" 'BEGIN { printf "%.3f", a + s / 1000 }')"
cpu_end
BURST_CPU=$(cpu_work "$BURST")
lateness burst
B_N=$L_N B_P50=$L_P50 B_P99=$L_P99 B_MAX=$L_MAX B_MIN=$L_MIN
B_ONCE=$(exactly_once burst "$BURST")
# Every fire statement records its own transaction time as detected_at: the
# distinct values are the batches, their spacing the time a batch took.
read -r B_BATCHES B_SPAN B_STEP_MIN B_STEP_MED B_STEP_MAX < <(psqlq -F ' ' -c "
    WITH d AS (SELECT DISTINCT b.detected_at FROM breaches b JOIN bench_pick p ON p.id = b.ticket_id
               WHERE p.role = 'burst' AND b.kind = 'ack'),
    s AS (SELECT 1000 * extract(epoch FROM detected_at - lag(detected_at) OVER (ORDER BY detected_at)) AS ms FROM d)
    SELECT (SELECT count(*) FROM d),
           round((SELECT 1000 * extract(epoch FROM max(detected_at) - min(detected_at)) FROM d)::numeric, 1),
           coalesce(round(min(ms)::numeric, 1), 0),
           coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY ms))::numeric, 1), 0),
           coalesce(round(max(ms)::numeric, 1), 0) FROM s")
log "burst: n=$B_N p50=${B_P50}ms p99=${B_P99}ms max=${B_MAX}ms; exactly once: $B_ONCE"

# -- 4. stream
log "stream: $RATE ack deadlines a second for ${STREAM_SECS}s ($STREAM), first ${LEAD}s ahead"
sleep 2
STREAM_T0=$(psqlq <<EOF
SELECT extract(epoch FROM date_trunc('second', now()) + make_interval(secs => $LEAD)) AS t0 \gset
BEGIN;
WITH s AS (SELECT id, to_timestamp(:t0) + make_interval(secs => (rn - $BURST - 1)::float8 / $RATE) AS due
           FROM bench_pick WHERE role = 'stream'),
u AS (UPDATE tickets t SET ack_due_at = s.due FROM s WHERE t.id = s.id)
UPDATE timers tm SET due_at = s.due FROM s WHERE tm.ticket_id = s.id AND tm.kind = 'ack';
$(notify_sql :t0)
COMMIT;
SELECT :t0;
EOF
)
STREAM_NOTICE=$(check_notice "$STREAM_T0")
STREAM_LAST=$(awk -v a="$STREAM_T0" -v s="$STREAM" -v r="$RATE" 'BEGIN { printf "%.3f", a + (s - 1) / r }')
cpu_begin
wait_breaches stream "$STREAM" "$STREAM_LAST"
cpu_end
STREAM_CPU=$(cpu_work "$STREAM")
lateness stream
S_N=$L_N S_P50=$L_P50 S_P99=$L_P99 S_MAX=$L_MAX S_MIN=$L_MIN
S_ONCE=$(exactly_once stream "$STREAM")
log "stream: n=$S_N p50=${S_P50}ms p99=${S_P99}ms max=${S_MAX}ms; exactly once: $S_ONCE"
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)
stop_daemon
grep -E ' (warn|error) ' "$WORK/daemon.log" >"$WORK/daemon-warnings.log" || true
WARNINGS=$(wc -l <"$WORK/daemon-warnings.log")

# ------------------------------------------------------------------ report
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- lib daemon include migrations 2>/dev/null || GIT_REV+="+dirty"
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
verdict() { awk -v v="$1" -v t="$2" 'BEGIN { print (v < t ? "PASS" : "FAIL") }'; }
{
    echo "escalated timer bench — $(date -u '+%Y-%m-%d %H:%M UTC'), commit $GIT_REV"
    echo "machine: $(nproc) CPUs ($CPU); load average $LOADAVG_START at the start, $LOADAVG_END at the end"
    echo "PostgreSQL $PG_VERSION, unix socket; $PG_SETTINGS"
    echo "data: $N open tickets (line-1, awaiting_ack), $((3 * N)) live timers (ack, resolve, warn),"
    echo "      loaded in ${LOAD_S}s + VACUUM ANALYZE ${VACUUM_S}s; database $DB_SIZE"
    echo "lateness = breaches.detected_at - due_at (database clock); CPU = utime+stime / wall, % of one core"
    echo "          (one clock tick over the idle window = $(awk -v hz="$CLK_TCK" -v w="$IDLE_WALL" 'BEGIN { printf "%.3f", 100 / hz / w }') %)"
    echo
    printf '%-44s %12s %12s  %s\n' "measure" "value" "target" "result"
    printf '%-44s %10s %% %10s %%  %s\n' "idle CPU, daemon process (${IDLE_WALL}s)" "$IDLE_DAEMON" "< $TARGET_IDLE_PCT" \
        "$(verdict "$IDLE_DAEMON" "$TARGET_IDLE_PCT")"
    printf '%-44s %10s %%\n' "  its $IDLE_BACKENDS PostgreSQL backends (information)" "$IDLE_BACKEND"
    printf '%-44s %10s %%\n' "  everything else on the machine (noise)" "$IDLE_OTHER"
    printf '%-44s %9s ms\n' "burst: $BURST due $BURST_DESC, p50" "$B_P50"
    printf '%-44s %9s ms %9s ms  %s\n' "                                    p99" "$B_P99" "< $TARGET_LATE_MS" \
        "$(verdict "$B_P99" "$TARGET_LATE_MS")"
    printf '%-44s %9s ms  (min %s ms)\n' "                                    max" "$B_MAX" "$B_MIN"
    printf '%-44s %9s ms\n' "  first to last batch ($B_BATCHES batches)" "$B_SPAN"
    printf '%-44s %9s ms  (min %s, max %s)\n' "  one batch after another, median" "$B_STEP_MED" "$B_STEP_MIN" "$B_STEP_MAX"
    printf '%-44s %9s ms\n' "stream: $RATE/s for ${STREAM_SECS}s ($STREAM), p50" "$S_P50"
    printf '%-44s %9s ms %9s ms  %s\n' "                                    p99" "$S_P99" "< $TARGET_LATE_MS" \
        "$(verdict "$S_P99" "$TARGET_LATE_MS")"
    printf '%-44s %9s ms  (min %s ms)\n' "                                    max" "$S_MAX" "$S_MIN"
    echo
    echo "exactly once (breach, event, notification, timer gone, ticket flagged): burst $B_ONCE, stream $S_ONCE"
    echo "engine max sleep: $MAX_SLEEP_DESC; deadlines written in one transaction each, committed" \
        "${BURST_NOTICE%%.*}s (burst) / ${STREAM_NOTICE%%.*}s (stream) before the first came due," \
        "$([[ -n "$NOTIFY_CHANNEL" ]] && echo "with pg_notify('$NOTIFY_CHANNEL') as a daemon's commit does" ||
            echo "without a notification (this engine has no channel)")"
    echo "CPU, burst:  $BURST_CPU"
    echo "CPU, stream: $STREAM_CPU"
    echo "daemon warnings/errors in its log: $WARNINGS"
} | tee "$OUT"
log "written to ${OUT#"$ROOT"/}"
[[ $B_ONCE == ok && $S_ONCE == ok ]] || die "a breach was not recorded exactly once (see above)"
