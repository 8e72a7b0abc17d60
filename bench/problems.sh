#!/usr/bin/env bash
# bench/problems.sh — how long the problem changes that reach many complaints
# take (docs/problems.md, "Transactions and their size"): linking N tickets,
# publishing a workaround to N open tickets (one statement), and the fix that
# resolves N waiting tickets (one resolve path per ticket, in one transaction).
#
# Starts a throw-away PostgreSQL cluster (scripts/pg.sh), migrates, starts the
# daemon already built (PROBLEMS_BIN, default build/escalated), and for each
# size in PROBLEMS_SIZES creates that many complaints through HTTP,
# acknowledges them as a line-1 agent, opens a problem and times, through
# HTTP (curl's time_total): the link of all of them (waiting on the problem),
# the root cause with a workaround, and the fix.  Checks afterwards that every
# ticket got the workaround event and was resolved with its callback deadline.
#
# Environment:
#   PROBLEMS_SIZES  sizes (default "10 100 500")
#   PROBLEMS_BIN    the escalated binary (default build/escalated)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ESC=${PROBLEMS_BIN:-$ROOT/build/escalated}
SIZES=${PROBLEMS_SIZES:-"10 100 500"}
WORK=$(mktemp -d /tmp/escalated-bench-problems.XXXXXX)
STATE=$WORK/pg.state

log() { printf '%s problems: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
[[ -x $ESC ]] || die "$ESC is not built (cmake --build build)"
for tool in curl psql python3; do
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
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

bash "$ROOT/scripts/pg.sh" start-test "$STATE" >&2
# shellcheck disable=SC1090
. "$STATE"
export PGHOST PGPORT PGUSER
psql -qX -d postgres -c "CREATE DATABASE pbench" >/dev/null
export ESCALATED_DB="dbname=pbench"
"$ESC" migrate 2>>"$WORK/daemon.log" || die "migrate failed"
FRONT=$("$ESC" keys create --name "bench front" --role frontdesk 2>>"$WORK/daemon.log")
LINE1=$("$ESC" keys create --name "bench line1" --role agent --tier 1 2>>"$WORK/daemon.log")
LINE2=$("$ESC" keys create --name "bench line2" --role agent --tier 2 2>>"$WORK/daemon.log")

export ESCALATED_DATA_KEY_FILE=$WORK/bench.data.key
"$ESC" data-key create --data-key-file "$ESCALATED_DATA_KEY_FILE" >/dev/null 2>&1
"$ESC" serve --listen 127.0.0.1:0 >>"$WORK/daemon.log" 2>&1 &
DAEMON_PID=$!
PORT=""
for _ in $(seq 300); do
    PORT=$(sed -n 's#.*listening on http://127\.0\.0\.1:\([0-9]*\).*#\1#p' "$WORK/daemon.log" | tail -n 1)
    [[ -n "$PORT" ]] && curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
[[ -n "$PORT" ]] || die "the daemon did not start (see $WORK/daemon.log)"
BASE=http://127.0.0.1:$PORT

# post TOKEN PATH BODY -> "status seconds" on stdout, the body in $WORK/body
post() {
    curl -sS -o "$WORK/body" -w '%{http_code} %{time_total}\n' -X POST -H "Authorization: Bearer $1" \
        -H 'Content-Type: application/json' -d "$3" "$BASE$2"
}
field() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/body" "$1"; }
timed() { # label token path body
    local code t
    read -r code t < <(post "$2" "$3" "$4")
    [[ $code == 200 ]] || { cat "$WORK/body" >&2; die "$1 answered $code"; }
    printf '%s' "$t"
}

printf '%-8s %12s %18s %12s  %s\n' "tickets" "link s" "root cause+wa s" "fix s" "checked"
for n in $SIZES; do
    ids=()
    for ((i = 0; i < n; i++)); do
        read -r code _ < <(post "$FRONT" /v1/tickets "{\"subject\": \"充电器发热 $n-$i\", \"category\": \"product\"}")
        [[ $code == 201 ]] || die "create answered $code"
        id=$(field id)
        ids+=("$id")
        read -r code _ < <(post "$LINE1" "/v1/tickets/$id/acknowledge" '{}')
        [[ $code == 200 ]] || die "acknowledge answered $code"
    done
    read -r code _ < <(post "$LINE2" /v1/problems "{\"title\": \"bench $n\"}")
    [[ $code == 201 ]] || die "problem answered $code"
    pid=$(field id)
    owner=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["owner"]["id"])' "$WORK/body")
    list=$(IFS=,; echo "${ids[*]}")
    tl=$(timed link "$LINE2" "/v1/problems/$pid/tickets" "{\"ticket_ids\": [$list], \"waiting_on_problem\": true}")
    tr=$(timed root_cause "$LINE2" "/v1/problems/$pid/root_cause" \
        '{"root_cause": "电容不良", "root_cause_kind": "product_defect", "workaround": "暂停使用，门店更换"}')
    read -r code _ < <(post "$LINE2" "/v1/problems/$pid/actions" \
        "{\"kind\": \"corrective\", \"description\": \"换供应商\", \"owner_id\": $owner, \"due_at\": \"2099-01-01T00:00:00Z\"}")
    [[ $code == 201 ]] || { cat "$WORK/body" >&2; die "action answered $code"; }
    tf=$(timed fix "$LINE2" "/v1/problems/$pid/fix" '{"fix": "已更换供应商"}')
    ok=$(psql -qtAX -d pbench -c "SELECT (SELECT count(*) FROM events e JOIN tickets t ON t.id = e.ticket_id
            WHERE t.problem_id = $pid AND e.type = 'workaround') = $n
        AND (SELECT count(*) FROM tickets WHERE problem_id = $pid AND state = 'resolved'
            AND callback_due_at IS NOT NULL AND resolution = '已更换供应商') = $n")
    [[ $ok == t ]] || die "size $n: not every ticket got the workaround and the fix"
    printf '%-8s %12.4f %18.4f %12.4f  %s\n' "$n" "$tl" "$tr" "$tf" "all $n resolved"
done
echo "($(nproc) cores; load average after: $(cut -d' ' -f1-3 /proc/loadavg))"
