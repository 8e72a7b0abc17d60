#!/usr/bin/env bash
# run.sh — build escalated and run it on a private PostgreSQL, from nothing.
#
#   scripts/run.sh
#
# On a fresh Debian 12 machine this:
#   1. installs the Debian packages it needs that are missing (as root, or with sudo);
#   2. builds the daemon with CMake in build/;
#   3. starts a private PostgreSQL 15 cluster under .escalated/pg (scripts/pg.sh;
#      it listens only on a unix socket and keeps running after the daemon stops);
#   4. applies the migrations (build/escalated migrate);
#   5. creates one token per role the first time, keeps them in .escalated/tokens.env
#      and reuses them on later runs;
#   6. prints the tokens and a request to try, then runs the daemon in the foreground
#      on 127.0.0.1:8080 (set ESCALATED_LISTEN=HOST:PORT to change it).
#
# Ctrl-C stops the daemon.  The database keeps running; stop it with
#   scripts/pg.sh stop .escalated/pg
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

say() { echo "run.sh: $*" >&2; }
die() { echo "run.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- 1. packages
# The list of .ci/run and scripts/test.sh, plus curl for the example requests.
PACKAGES=(build-essential cmake pkg-config postgresql-15 postgresql-client-15 libpq-dev
          libmicrohttpd-dev libjansson-dev libcmocka-dev libcurl4-openssl-dev libssl-dev
          wrk ca-certificates curl libjs-chart.js)  # Chart.js for /dashboard

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "these packages are missing and installing them needs root or sudo: ${missing[*]}"
        SUDO="sudo"
    fi
    say "installing ${missing[*]}"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# ------------------------------------------------------------------- 2. build
say "building in build/"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build --target escalated -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
ESCALATED=$ROOT/build/escalated

# ---------------------------------------------------------------- 3. database
STATE=$ROOT/.escalated
mkdir -p "$STATE"
scripts/pg.sh start "$STATE/pg"
DB=$(scripts/pg.sh env "$STATE/pg")

# -------------------------------------------------------------- 4. migrations
"$ESCALATED" migrate --db "$DB"

# ------------------------------------------------------------------ 5. tokens
TOKENS=$STATE/tokens.env
# variable name | role | tier | principal name
ROLES=(
    "ESC_FRONTDESK|frontdesk||Front desk (run.sh)"
    "ESC_LINE1|agent|1|Li Na, line-1 (run.sh)"
    "ESC_LINE2|agent|2|Zhang Wei, line-2 (run.sh)"
    "ESC_LINE3|agent|3|Chen Jie, line-3 (run.sh)"
    "ESC_MANAGER|manager||Service manager (run.sh)"
    "ESC_ADMIN|admin||Administrator (run.sh)"
)

psql_q() { # SQL -> one value
    psql "$DB" -XAtq -v ON_ERROR_STOP=1 -c "$1"
}

# Are the tokens in tokens.env all known (and not revoked) in this database?
# Only their SHA-256 is stored, so compare hashes.
tokens_valid() {
    [[ -f "$TOKENS" ]] || return 1
    local hashes=() entry var tok
    for entry in "${ROLES[@]}"; do
        var=${entry%%|*}
        tok=$(sed -n "s/^export $var=//p" "$TOKENS" | tail -n 1)
        [[ $tok =~ ^esc_[A-Za-z0-9_-]+$ ]] || return 1
        hashes+=("'$(printf '%s' "$tok" | sha256sum | cut -c1-64)'")
    done
    local list
    list=$(IFS=,; echo "${hashes[*]}")
    [[ $(psql_q "SELECT count(*) FROM principals WHERE revoked_at IS NULL AND token_hash IN ($list)") \
        == "${#ROLES[@]}" ]]
}

if tokens_valid; then
    say "reusing the tokens in .escalated/tokens.env"
else
    [[ -f "$TOKENS" ]] && say "the tokens in .escalated/tokens.env are not in this database; creating new ones"
    tmp="$TOKENS.tmp.$$"
    (umask 077; : >"$tmp")
    echo "# escalated tokens created by scripts/run.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); keep private" >>"$tmp"
    for entry in "${ROLES[@]}"; do
        IFS='|' read -r var role tier name <<<"$entry"
        args=(keys create --db "$DB" --name "$name" --role "$role")
        [[ -n "$tier" ]] && args+=(--tier "$tier")
        tok=$("$ESCALATED" "${args[@]}")
        echo "export $var=$tok" >>"$tmp"
    done
    mv -f "$tmp" "$TOKENS"
    say "created one token per role in .escalated/tokens.env"
fi

# ------------------------------------------------------------------- 6. serve
# customer data is stored encrypted with the data key (docs/security.md):
# made once, mode 0600, kept beside the database it belongs to
DATA_KEY=$STATE/data.key
if [[ ! -f "$DATA_KEY" ]]; then
    "$ESCALATED" data-key create --data-key-file "$DATA_KEY"
    say "created the data key .escalated/data.key (mode 0600): keep a copy apart from the database"
fi
LISTEN=${ESCALATED_LISTEN:-127.0.0.1:8080}
host=${LISTEN%:*}
port=${LISTEN##*:}
host=${host#[}
host=${host%]}
case "$host" in
    "" | 0.0.0.0 | "*") host=127.0.0.1 ;;
    ::) host=::1 ;;
esac
[[ $host == *:* ]] && host="[$host]"
URL="http://$host:$port"

cat <<EOF

==================================================================== escalated
Database:  $DB
Tokens:    .escalated/tokens.env (one per role; reused on the next run)

Paste this into another shell to try it:

export ESC=$URL
$(grep '^export ' "$TOKENS")

# a complaint recorded by the front desk, in Chinese ...
curl -sS -X POST "\$ESC/v1/tickets" -H "Authorization: Bearer \$ESC_FRONTDESK" \\
  -H 'Content-Type: application/json' \\
  -d '{"subject": "宽带连续三天无法上网", "description": "客户已重启光猫，指示灯仍为红色。",
       "channel": "phone", "category": "skill",
       "customer": {"name": "王芳", "phone": "13812345678"}}'

# ... and one in English, major (48-hour resolution window)
curl -sS -X POST "\$ESC/v1/tickets" -H "Authorization: Bearer \$ESC_FRONTDESK" \\
  -H 'Content-Type: application/json' -H 'Idempotency-Key: demo-0001' \\
  -d '{"subject": "Billing page charges customers twice", "severity": "major",
       "channel": "web", "customer": {"email": "wang.fang@example.com"}}'

# a line-1 agent takes the most urgent ticket of the line-1 queue
curl -sS -X POST "\$ESC/v1/queues/line-1/claim" -H "Authorization: Bearer \$ESC_LINE1"

# the tickets, newest first
curl -sS "\$ESC/v1/tickets?limit=5" -H "Authorization: Bearer \$ESC_MANAGER"

The manager dashboard: $URL/dashboard (sign in with ESC_MANAGER's token).
The API is described in docs/api.md.  Ctrl-C stops the daemon;
scripts/pg.sh stop .escalated/pg stops the database.
==============================================================================

EOF

exec "$ESCALATED" serve --db "$DB" --listen "$LISTEN" --data-key-file "$DATA_KEY"
