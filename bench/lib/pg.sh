# shellcheck shell=bash
# Throwaway PostgreSQL for bench/run: a cluster in a temp dir, TCP on
# 127.0.0.1 with scram-sha-256, admin over a private Unix socket. Source it
# after common.sh. pg_start exports DATABASE_URL and BENCH_PG{HOST,PORT,DB}.
# It is called as `pg_start || ...`, where set -e is off: every step checks.

pg_bindir() {
    local d
    d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    [[ -x $d/initdb ]] && printf '%s\n' "$d"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL refuses to run as root: run its tools as the postgres user.
as_pg() {
    if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_stop() {
    [[ -n ${PG_DIR:-} && -f $PG_DIR/data/postmaster.pid ]] || return 0
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 30 stop >/dev/null
}

pg_start() {
    PG_BIN=$(pg_bindir) || { log "PostgreSQL server not installed"; return 1; }
    PG_DIR=$(mktemp -d -t evapi-bench-pg.XXXXXX)
    CLEANUP_DIRS+=("$PG_DIR")
    CLEANUP_HOOKS+=(pg_stop)
    if is_root; then chown postgres: "$PG_DIR" || return 1; fi
    local port password
    port=$(free_port)
    # Local (socket) connections are trusted: the socket sits in a 0700 dir.
    as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -E UTF8 --no-sync \
        --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" || return 1
    # No autovacuum: its transactions would count as load in pg_stat_database.
    # Pinned with the load generator, so that the server's CPU runs the
    # server alone (a pinned process's children inherit the pinning).
    as_pg taskset -c "${BENCH_CLIENT_CPUS:-1}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/pg.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $PG_DIR -c autovacuum=off -c fsync=off -c max_connections=200" \
        start >/dev/null || return 1
    # The role's password goes through stdin, never through argv or a log.
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    psql -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$port" -U postgres -d postgres >/dev/null <<SQL || return 1
create role bench login password '$password';
create database bench owner bench;
SQL
    export BENCH_PGHOST=$PG_DIR BENCH_PGPORT=$port BENCH_PGDB=bench
    export DATABASE_URL="postgresql://bench:$password@127.0.0.1:$port/bench?sslmode=disable&connect_timeout=2"
    log "PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}') on 127.0.0.1:$port"
}
