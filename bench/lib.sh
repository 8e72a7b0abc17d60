# bench/lib.sh — what every bench/*.sh does around its measurement, sourced
# (never run) by them: logging, checks of the environment knobs, the Release
# build, the private PostgreSQL cluster (scripts/pg.sh, run as `postgres`),
# the data key, starting the daemon and stopping everything on exit.  One
# copy, so that a change to how the daemon starts (a new required setting,
# like the data key) is made once for every benchmark.
#
# The sourcing script sets BENCH_NAME (the log prefix) first; it may define
# bench_on_exit (called with the exit status, after the daemon is stopped and
# before the cluster is) for its own clean-up, and BENCH_TMP, a directory
# removed last (after the cluster, whose files may be in it).  STATE (the cluster's state
# file), ESC (the daemon binary) and DAEMON_PID are the script's variables.
# shellcheck shell=bash

BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '%s %s: %s\n' "$(date +%T)" "${BENCH_NAME:-bench}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

bench_need() { # TOOL...
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || die "$tool not found (install the packages listed in .ci/run)"
    done
}
bench_posint() { # NAME VALUE
    [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive integer (got '$2')"
}

# ------------------------------------------------------------------ cleanup
DAEMON_PID=""
bench_stop_daemon() {
    if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
        kill -TERM "$DAEMON_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$DAEMON_PID" 2>/dev/null || true
        wait "$DAEMON_PID" 2>/dev/null || true
    fi
    DAEMON_PID=""
}
bench_cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    bench_stop_daemon
    if declare -F bench_on_exit >/dev/null; then bench_on_exit "$rc" || true; fi
    if [[ -n "${STATE:-}" && -f "$STATE" ]]; then
        bash "$BENCH_ROOT/scripts/pg.sh" stop-test "$STATE" >/dev/null 2>&1 || true
    fi
    [[ -z "${BENCH_TMP:-}" ]] || rm -rf "$BENCH_TMP"
    exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ build
bench_build() { # BUILD_DIR [cmake --build arguments...]: sets ESC
    local dir=$1
    shift
    log "building the daemon (Release) in ${dir#"$BENCH_ROOT"/}/"
    mkdir -p "$dir"
    cmake -S "$BENCH_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DESC_WERROR=OFF \
        >"$dir/cmake-build.log" 2>&1 || { cat "$dir/cmake-build.log" >&2; die "cmake configure failed"; }
    cmake --build "$dir" -j"$(nproc)" "$@" >>"$dir/cmake-build.log" 2>&1 ||
        { tail -n 40 "$dir/cmake-build.log" >&2; die "build failed"; }
    ESC=$dir/escalated
}

# The daemon's statement text, taken from lib/db/store_tickets.c through the C
# preprocessor (so TICKET_COLS is expanded exactly as compiled).
daemon_sql() { # ENUM
    local cflags root=$BENCH_ROOT
    cflags=$(pkg-config --cflags libpq jansson libmicrohttpd 2>/dev/null || echo -I/usr/include/postgresql)
    # shellcheck disable=SC2086
    "${CC:-cc}" -E -P -D_GNU_SOURCE -I"$root/include" -I"$root/lib" $cflags "$root/lib/db/store_tickets.c" |
        K="$1" perl -0777 -ne '
            my $k = $ENV{K};
            /\[\s*\Q$k\E\s*\]\s*=\s*\{\s*"(?:[^"\\]|\\.)*"\s*,((?:\s*"(?:[^"\\]|\\.)*")+)\s*\}/s
                or die "statement $k not found in lib/db/store_tickets.c\n";
            my ($lits, $s) = ($1, "");
            while ($lits =~ /"((?:[^"\\]|\\.)*)"/g) { my $x = $1; $x =~ s/\\(.)/$1/g; $s .= $x; }
            $s =~ s/\s+/ /g; $s =~ s/^ | $//g; print $s;'
}

# ------------------------------------------------------------------ database
find_pg_bindir() {
    local d=""
    command -v pg_config >/dev/null 2>&1 && d=$(pg_config --bindir 2>/dev/null || true)
    [[ -n "$d" && -x "$d/pg_ctl" ]] || d=/usr/lib/postgresql/15/bin
    [[ -x "$d/pg_ctl" ]] || die "pg_ctl not found (install postgresql-15)"
    echo "$d"
}
as_pg() { if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }
psqlq() { psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# A throw-away cluster (scripts/pg.sh start-test; the cluster runs as
# `postgres` when we are root): sets and exports PGHOST, PGPORT, PGUSER; sets PGDIR.
bench_pg_start() { # STATE
    log "starting a private PostgreSQL cluster"
    bash "$BENCH_ROOT/scripts/pg.sh" start-test "$1" >/dev/null
    PGHOST=$(sed -n 's/^PGHOST=//p' "$1")
    PGPORT=$(sed -n 's/^PGPORT=//p' "$1")
    PGDIR=$(sed -n 's/^PGDIR=//p' "$1")
    export PGHOST PGPORT PGUSER=postgres
    unset PGPASSWORD PGSERVICE PGOPTIONS PGDATABASE 2>/dev/null || true
}
# ALTER SYSTEM statements on stdin, then a restart so that they all apply.
bench_pg_configure() {
    local bin
    psqlq -d postgres
    bin=$(find_pg_bindir)
    as_pg "$bin/pg_ctl" -D "$PGDIR/data" -m fast -w -t 60 stop >/dev/null
    as_pg "$bin/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start >/dev/null ||
        { tail -n 30 "$PGDIR/server.log" >&2; die "PostgreSQL did not restart"; }
}

# ------------------------------------------------------------------ daemon
# the data key (docs/security.md): `serve` refuses to start without one
bench_data_key() { # FILE: made once, kept between runs
    export ESCALATED_DATA_KEY_FILE=$1
    [[ -f "$ESCALATED_DATA_KEY_FILE" ]] ||
        "$ESC" data-key create --data-key-file "$ESCALATED_DATA_KEY_FILE" >/dev/null 2>&1
}
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    die "no free TCP port"
}
http_status() { # PATH -> status code of a GET to 127.0.0.1:$PORT, or nothing
    local line
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return 0
    printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$1" >&3
    IFS=' ' read -r _ line _ <&3 || true
    exec 3<&- 3>&-
    echo "${line:-}"
}
# `escalated serve` on a free port, waited for until /readyz answers 200:
# sets PORT, BASE and DAEMON_PID.  TRIES tenths of a second at the most
# (serve may scan unscanned free text before it listens).
bench_serve() { # LOG TRIES [serve arguments...]
    local logf=$1 tries=$2 i
    shift 2
    PORT=$(free_port)
    "$ESC" serve --listen "127.0.0.1:$PORT" "$@" >>"$logf" 2>&1 &
    DAEMON_PID=$!
    for ((i = 1; ; i++)); do
        [[ "$(http_status /readyz 2>/dev/null)" == 200 ]] && break
        kill -0 "$DAEMON_PID" 2>/dev/null || { tail -n 40 "$logf" >&2; die "the daemon exited"; }
        [[ $i -lt $tries ]] || die "the daemon did not become ready (see $logf)"
        sleep 0.1
    done
    # shellcheck disable=SC2034 # used by the sourcing scripts
    BASE=http://127.0.0.1:$PORT
}
