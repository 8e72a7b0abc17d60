#!/usr/bin/env bash
# pg.sh — a private PostgreSQL 15 cluster for escalated's tests and for the
# README's "run it" command.  No system-wide PostgreSQL service is used: the
# cluster lives in its own directory, listens only on a unix socket inside that
# directory, and is run as the `postgres` user when this script runs as root.
#
#   pg.sh start-test STATEFILE   fresh throw-away cluster; writes PGDIR/PGHOST/PGPORT/PGUSER
#   pg.sh stop-test  STATEFILE   stop it and remove its directory
#   pg.sh start DIR              persistent cluster under DIR (creates database `escalated`)
#   pg.sh stop  DIR              stop it (data kept)
#   pg.sh env   DIR              print the libpq conninfo of the cluster under DIR
#   pg.sh start-pair STATEFILE   fresh primary + synchronous streaming standby (failover tests);
#                                writes PGDIR/PGHOST/PGPORT (both hosts, primary first), PGUSER,
#                                PGDIR_A/PGDIR_B (each cluster's home: data/, socket, server.log)
#   pg.sh stop-pair  STATEFILE   stop both and remove their directory
#   pg.sh crash-primary STATEFILE   immediate stop of the pair's primary (as a crash: no
#                                checkpoint, every session cut; recovery on a next start)
#   pg.sh promote-standby STATEFILE promote the pair's standby (returns once it takes writes)
#   pg.sh crash-restart-standby STATEFILE  immediate stop, then start, of the pair's standby
#                                (the primary after promote-standby)
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: $*" >&2; exit 1; }

find_bindir() {
    local d=""
    if command -v pg_config >/dev/null 2>&1; then
        d=$(pg_config --bindir 2>/dev/null || true)
    fi
    if [[ -z "$d" || ! -x "$d/initdb" || ! -x "$d/pg_ctl" ]]; then
        d=/usr/lib/postgresql/15/bin
    fi
    if [[ ! -x "$d/initdb" || ! -x "$d/pg_ctl" ]]; then
        local c
        for c in /usr/lib/postgresql/*/bin; do
            if [[ -x "$c/initdb" && -x "$c/pg_ctl" ]]; then d=$c; fi
        done
    fi
    [[ -x "$d/initdb" && -x "$d/pg_ctl" ]] || die "PostgreSQL server binaries not found (install postgresql-15)"
    echo "$d"
}
BINDIR=$(find_bindir)

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
if [[ $IS_ROOT -eq 1 ]] && ! id -u postgres >/dev/null 2>&1; then
    die "running as root but there is no 'postgres' user to run the server as"
fi

# Run a command as the user that owns the cluster.
as_pg() {
    if [[ $IS_ROOT -eq 1 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A TCP port nobody listens on.  Although the server only listens on a unix
# socket, the port number names the socket file; a free TCP port keeps the
# number unique across concurrently running clusters too.
free_port() {
    local p i
    for ((i = 0; i < 200; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            continue
        fi
        if compgen -G "/tmp/.s.PGSQL.$p" >/dev/null; then
            continue
        fi
        echo "$p"
        return 0
    done
    die "no free port found"
}

log_tail() {
    local log=$1
    if [[ -f "$log" ]]; then
        echo "---- last lines of $log ----" >&2
        tail -n 40 "$log" >&2 || true
        echo "----" >&2
    fi
}

# init_cluster DATADIR SOCKDIR PORT
init_cluster() {
    local data=$1 sock=$2 port=$3
    if ! as_pg "$BINDIR/initdb" -D "$data" -E UTF8 --locale=C.UTF-8 -A trust -U postgres \
            >"$data.initdb.log" 2>&1; then
        echo "$PROG: initdb failed:" >&2
        tail -n 40 "$data.initdb.log" >&2 || true
        exit 1
    fi
    rm -f "$data.initdb.log"
    cat >>"$data/postgresql.conf" <<EOF

# --- escalated private cluster (scripts/pg.sh) ---
listen_addresses = ''
unix_socket_directories = '$sock'
port = $port
fsync = on
shared_buffers = 256MB
max_connections = 200
logging_collector = off
log_min_messages = warning
EOF
}

# start_cluster DATADIR LOGFILE
start_cluster() {
    local data=$1 log=$2
    if ! as_pg "$BINDIR/pg_ctl" -D "$data" -l "$log" -w -t 60 start >/dev/null 2>&1; then
        echo "$PROG: PostgreSQL failed to start (data directory $data)" >&2
        log_tail "$log"
        exit 1
    fi
}

# wait_ready SOCKDIR PORT LOGFILE
wait_ready() {
    local sock=$1 port=$2 log=$3 i
    local isready="$BINDIR/pg_isready"
    [[ -x "$isready" ]] || isready=$(command -v pg_isready || true)
    [[ -n "$isready" ]] || return 0
    for ((i = 0; i < 300; i++)); do
        if "$isready" -q -h "$sock" -p "$port" -U postgres -d postgres; then
            return 0
        fi
        sleep 0.1
    done
    echo "$PROG: PostgreSQL did not become ready on $sock port $port" >&2
    log_tail "$log"
    exit 1
}

is_running() { # DATADIR
    [[ -f "$1/postmaster.pid" ]] && as_pg "$BINDIR/pg_ctl" -D "$1" status >/dev/null 2>&1
}

stop_cluster() { # DATADIR
    local data=$1
    if is_running "$data"; then
        as_pg "$BINDIR/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
            as_pg "$BINDIR/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
}

psql_bin() {
    if [[ -x "$BINDIR/psql" ]]; then echo "$BINDIR/psql"; else command -v psql || die "psql not found"; fi
}

# ------------------------------------------------------------------ test
cmd_start_test() {
    local state=$1
    if [[ -f "$state" ]]; then
        cmd_stop_test "$state" || true
    fi
    local dir
    if [[ $IS_ROOT -eq 1 ]]; then
        dir=$(mktemp -d /tmp/escalated-pgtest.XXXXXX)
        chown postgres: "$dir"
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/escalated-pgtest.XXXXXX")
    fi
    chmod 0700 "$dir"
    as_pg mkdir "$dir/data"
    local port
    port=$(free_port)
    init_cluster "$dir/data" "$dir" "$port"
    start_cluster "$dir/data" "$dir/server.log"
    wait_ready "$dir" "$port" "$dir/server.log"
    # Clients (the tests, the daemon) run as root and need to reach the socket.
    chmod 0711 "$dir"
    mkdir -p "$(dirname "$state")"
    local tmp="$state.tmp.$$"
    {
        echo "PGDIR=$dir"
        echo "PGHOST=$dir"
        echo "PGPORT=$port"
        echo "PGUSER=postgres"
    } >"$tmp"
    mv -f "$tmp" "$state"
    echo "$PROG: test cluster ready: host=$dir port=$port user=postgres"
}

state_get() { # STATEFILE KEY
    sed -n "s/^$2=//p" "$1" | tail -n 1
}

cmd_stop_test() {
    local state=$1
    [[ -f "$state" ]] || { echo "$PROG: no state file $state; nothing to stop"; return 0; }
    local dir
    dir=$(state_get "$state" PGDIR)
    if [[ -n "$dir" && -d "$dir" ]]; then
        stop_cluster "$dir/data"
        case "$dir" in
            */escalated-pgtest.*) rm -rf -- "$dir" ;;
            *) echo "$PROG: refusing to remove unexpected directory $dir" >&2 ;;
        esac
    fi
    rm -f -- "$state"
}

# ------------------------------------------------------------ persistent
# Where the data of the persistent cluster for DIR lives: DIR itself when the
# postgres user can use it, else /var/tmp/escalated-<hash> (recorded in DIR/location).
pg_can_use() { # DIR
    if [[ $IS_ROOT -eq 1 ]]; then
        runuser -u postgres -- test -x "$1" -a -w "$1" 2>/dev/null
    else
        test -x "$1" -a -w "$1"
    fi
}

resolve_home() { # DIR -> prints the cluster home
    local dir=$1
    if [[ -f "$dir/location" ]]; then
        cat "$dir/location"
        return 0
    fi
    echo "$dir"
}

cmd_start() {
    local dir=$1
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    local home
    home=$(resolve_home "$dir")
    if [[ ! -d "$home/data" ]]; then
        home=$dir
        # A unix socket path may not exceed 107 bytes: a deep DIR can't hold one.
        local too_long=0
        [[ ${#dir} -gt 90 ]] && too_long=1
        if [[ $IS_ROOT -eq 1 || $too_long -eq 1 ]]; then
            [[ $IS_ROOT -eq 1 ]] && { chown postgres: "$dir" 2>/dev/null || true; }
            if [[ $too_long -eq 1 ]] || ! pg_can_use "$dir"; then
                local hash
                hash=$(printf '%s' "$dir" | sha256sum | cut -c1-16)
                home=/var/tmp/escalated-$hash
                mkdir -p "$home"
                [[ $IS_ROOT -eq 1 ]] && chown postgres: "$home"
                chmod 0711 "$home"
                echo "$home" >"$dir/location"
                echo "$PROG: $dir is not usable for the cluster (postgres user cannot use it, or the path is too long for a socket); keeping the data in $home" >&2
            fi
        fi
        as_pg mkdir -p "$home/data"
        as_pg chmod 0700 "$home/data"
        local port
        port=$(free_port)
        init_cluster "$home/data" "$home" "$port"
        echo "$port" >"$dir/port"
    fi
    [[ -f "$dir/port" ]] || sed -n "s/^port = //p" "$home/data/postgresql.conf" | tail -n 1 >"$dir/port"
    local port
    port=$(cat "$dir/port")
    [[ $IS_ROOT -eq 1 ]] && chmod 0711 "$home" 2>/dev/null || true
    if ! is_running "$home/data"; then
        start_cluster "$home/data" "$home/server.log"
    fi
    wait_ready "$home" "$port" "$home/server.log"
    local psql
    psql=$(psql_bin)
    if [[ $("$psql" -h "$home" -p "$port" -U postgres -d postgres -Atqc \
            "SELECT 1 FROM pg_database WHERE datname = 'escalated'") != 1 ]]; then
        "$psql" -h "$home" -p "$port" -U postgres -d postgres -qc "CREATE DATABASE escalated" >/dev/null ||
            die "could not create database escalated"
    fi
    echo "$PROG: PostgreSQL running: $(conninfo "$dir")" >&2
}

conninfo() { # DIR
    local dir=$1 home port
    home=$(resolve_home "$dir")
    port=$(cat "$dir/port")
    echo "host=$home port=$port user=postgres dbname=escalated"
}

cmd_stop() {
    local dir=$1
    [[ -d "$dir" ]] || { echo "$PROG: $dir does not exist; nothing to stop"; return 0; }
    dir=$(cd "$dir" && pwd -P)
    local home
    home=$(resolve_home "$dir")
    [[ -d "$home/data" ]] || { echo "$PROG: no cluster under $dir"; return 0; }
    stop_cluster "$home/data"
}

cmd_env() {
    local dir=$1
    [[ -f "$dir/port" ]] || die "no cluster under $dir (run: $PROG start $dir)"
    dir=$(cd "$dir" && pwd -P)
    conninfo "$dir"
}

# ------------------------------------------------------------------ pair
# A primary and a streaming standby made from it with pg_basebackup -R, each
# in its own home under one temporary directory.  The primary commits
# synchronously to the standby (synchronous_standby_names = '*',
# synchronous_commit = on): a commit a client saw acknowledged is on the
# standby's disk, so promoting the standby loses no answered write.  The
# standby's own configuration names no synchronous standby: once promoted it
# runs alone (it would otherwise wait forever for a standby it does not have).
cmd_start_pair() {
    local state=$1
    if [[ -f "$state" ]]; then
        cmd_stop_pair "$state" || true
    fi
    local dir
    if [[ $IS_ROOT -eq 1 ]]; then
        dir=$(mktemp -d /tmp/escalated-pgpair.XXXXXX)
        chown postgres: "$dir"
    else
        dir=$(mktemp -d "${TMPDIR:-/tmp}/escalated-pgpair.XXXXXX")
    fi
    chmod 0711 "$dir"
    local a=$dir/a b=$dir/b pa pb
    as_pg mkdir -m 0711 "$a" "$b"
    as_pg mkdir "$a/data"
    pa=$(free_port)
    init_cluster "$a/data" "$a" "$pa"
    # two clusters on a shared machine: smaller buffers than a single test cluster
    echo "shared_buffers = 64MB" | as_pg tee -a "$a/data/postgresql.conf" >/dev/null
    start_cluster "$a/data" "$a/server.log"
    wait_ready "$a" "$pa" "$a/server.log"
    pb=$(free_port)
    while [[ "$pb" == "$pa" ]]; do pb=$(free_port); done
    if ! as_pg "$BINDIR/pg_basebackup" -h "$a" -p "$pa" -U postgres -D "$b/data" -R -X stream \
            -c fast >"$dir/basebackup.log" 2>&1; then
        echo "$PROG: pg_basebackup failed:" >&2
        tail -n 40 "$dir/basebackup.log" >&2 || true
        stop_cluster "$a/data"
        exit 1
    fi
    as_pg tee -a "$b/data/postgresql.conf" >/dev/null <<EOF2
# --- the standby of $a (scripts/pg.sh start-pair) ---
unix_socket_directories = '$b'
port = $pb
synchronous_standby_names = ''
cluster_name = 'standby'
EOF2
    start_cluster "$b/data" "$b/server.log"
    wait_ready "$b" "$pb" "$b/server.log"
    as_pg tee -a "$a/data/postgresql.conf" >/dev/null <<EOF2
# --- synchronous replication to the standby in $b (scripts/pg.sh start-pair) ---
synchronous_standby_names = '*'
synchronous_commit = on
EOF2
    as_pg "$BINDIR/pg_ctl" -D "$a/data" reload >/dev/null
    # the standby streams and is synchronous before anyone writes
    local psql i sync=""
    psql=$(psql_bin)
    for ((i = 0; i < 300; i++)); do
        sync=$("$psql" -h "$a" -p "$pa" -U postgres -d postgres -Atqc \
            "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'" 2>/dev/null || true)
        [[ "$sync" == sync ]] && break
        sleep 0.1
    done
    if [[ "$sync" != sync ]]; then
        echo "$PROG: the standby in $b did not become a synchronous standby" >&2
        log_tail "$b/server.log"
        stop_cluster "$b/data"
        stop_cluster "$a/data"
        exit 1
    fi
    mkdir -p "$(dirname "$state")"
    local tmp="$state.tmp.$$"
    {
        echo "PGDIR=$a"
        echo "PGHOST=$a,$b"
        echo "PGPORT=$pa,$pb"
        echo "PGUSER=postgres"
        echo "PGDIR_A=$a"
        echo "PGDIR_B=$b"
        echo "PGPAIR=$dir"
    } >"$tmp"
    mv -f "$tmp" "$state"
    echo "$PROG: pair ready: primary host=$a port=$pa, synchronous standby host=$b port=$pb"
}

cmd_stop_pair() {
    local state=$1
    [[ -f "$state" ]] || { echo "$PROG: no state file $state; nothing to stop"; return 0; }
    local dir
    dir=$(state_get "$state" PGPAIR)
    if [[ -n "$dir" && -d "$dir" ]]; then
        # the standby first: a primary still waiting for it stops slowly
        stop_cluster "$dir/b/data"
        stop_cluster "$dir/a/data"
        case "$dir" in
            */escalated-pgpair.*) rm -rf -- "$dir" ;;
            *) echo "$PROG: refusing to remove unexpected directory $dir" >&2 ;;
        esac
    fi
    rm -f -- "$state"
}

cmd_crash_primary() {
    local state=$1 a
    [[ -f "$state" ]] || die "no state file $state"
    a=$(state_get "$state" PGDIR_A)
    as_pg "$BINDIR/pg_ctl" -D "$a/data" -m immediate -w -t 30 stop >/dev/null
}

cmd_promote_standby() {
    local state=$1 b
    [[ -f "$state" ]] || die "no state file $state"
    b=$(state_get "$state" PGDIR_B)
    as_pg "$BINDIR/pg_ctl" -D "$b/data" -w -t 60 promote >/dev/null
}

cmd_crash_restart_standby() {
    local state=$1 b
    [[ -f "$state" ]] || die "no state file $state"
    b=$(state_get "$state" PGDIR_B)
    as_pg "$BINDIR/pg_ctl" -D "$b/data" -m immediate -w -t 30 stop >/dev/null
    start_cluster "$b/data" "$b/server.log"
}

usage() {
    sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -eq 2 ]] || usage
case "$1" in
    start-test) cmd_start_test "$2" ;;
    stop-test) cmd_stop_test "$2" ;;
    start) cmd_start "$2" ;;
    stop) cmd_stop "$2" ;;
    env) cmd_env "$2" ;;
    start-pair) cmd_start_pair "$2" ;;
    stop-pair) cmd_stop_pair "$2" ;;
    crash-primary) cmd_crash_primary "$2" ;;
    promote-standby) cmd_promote_standby "$2" ;;
    crash-restart-standby) cmd_crash_restart_standby "$2" ;;
    *) usage ;;
esac
