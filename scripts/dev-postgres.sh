#!/usr/bin/env bash
# dev-postgres.sh - a private PostgreSQL for running evapi on a workstation.
#
# Usage:
#   scripts/dev-postgres.sh start  DATADIR   create (first time) and start it
#   scripts/dev-postgres.sh url    DATADIR   print its DATABASE_URL
#   scripts/dev-postgres.sh stop   DATADIR   stop it
#   scripts/dev-postgres.sh status DATADIR   exit 0 when it runs
#   scripts/dev-postgres.sh run    DATADIR -- COMMAND...
#                       start it, run COMMAND with DATABASE_URL set, stop it
#                       when COMMAND exits (SIGINT/SIGTERM are passed on)
#
# The first start runs initdb with scram-sha-256 and a random password kept
# in DATADIR/password (mode 600). The server listens on 127.0.0.1 only, on a
# free port (the previous one when it is still free; kept in DATADIR/port),
# and on a unix socket in DATADIR/cluster/run.
#
# As root, PostgreSQL runs as the `postgres` system user (it refuses to run
# as root). When that user cannot reach DATADIR (say, a clone in root's home),
# the cluster lives in a private directory under /var/tmp and
# DATADIR/cluster is a symlink to it.
#
# Environment: PG_BINDIR (default: the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly DB_USER=evapi
readonly DB_NAME=postgres

die() { printf 'dev-postgres: %s\n' "$*" >&2; exit 1; }
say() { printf 'dev-postgres: %s\n' "$*" >&2; }

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a server command as the user that owns the cluster.
as_pg() {
	if is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# --- binaries ---------------------------------------------------------------------

find_bindir() {
	local d
	if [ -n "${PG_BINDIR:-}" ]; then
		echo "$PG_BINDIR"
		return
	fi
	d=$(printf '%s\n' /usr/lib/postgresql/*/bin | grep -v '\*' | sort -V | tail -n 1 || true)
	if [ -z "$d" ] && command -v pg_ctl >/dev/null; then
		d=$(dirname "$(readlink -f "$(command -v pg_ctl)")")
	fi
	echo "$d"
}

# The server binaries, installed from Debian's archive when missing.
ensure_bins() {
	BINDIR=$(find_bindir)
	if [ -z "$BINDIR" ] || [ ! -x "$BINDIR/initdb" ]; then
		[ -x "$SCRIPT_DIR/deps.sh" ] || die "PostgreSQL is not installed (apt-get install postgresql)"
		say "installing PostgreSQL"
		"$SCRIPT_DIR/deps.sh" run
		BINDIR=$(find_bindir)
	fi
	if [ ! -x "$BINDIR/initdb" ] || [ ! -x "$BINDIR/pg_ctl" ]; then
		die "no initdb/pg_ctl found (set PG_BINDIR)"
	fi
	if is_root; then
		id postgres >/dev/null 2>&1 || die "running as root needs the postgres system user"
	fi
}

# --- layout -------------------------------------------------------------------------

# DATADIR/cluster: a directory the server user owns (data, run, log).
setup_cluster_dir() {
	local link=$DATADIR/cluster
	if [ -e "$link" ]; then
		CLUSTER=$(readlink -f "$link")
		[ -d "$CLUSTER" ] || die "$link points to a missing directory; remove it to start afresh"
		return
	fi
	if ! is_root || runuser -u postgres -- test -x "$DATADIR" 2>/dev/null; then
		mkdir -m 700 "$link"
		is_root && chown postgres:postgres "$link"
		CLUSTER=$(readlink -f "$link")
		return
	fi
	# postgres cannot traverse DATADIR's parents: keep the cluster in a
	# private (mktemp, mode 700) directory it can reach.
	CLUSTER=$(mktemp -d /var/tmp/evapi-dev-postgres.XXXXXXXX)
	chown postgres:postgres "$CLUSTER"
	ln -s "$CLUSTER" "$link"
	say "cluster kept in $CLUSTER (the postgres user cannot reach $DATADIR)"
}

new_password() {
	# 32 hex characters: URL-safe, no quoting needed anywhere.
	od -An -tx1 -N16 /dev/urandom | tr -d ' \n'
}

ensure_password() {
	local f=$DATADIR/password
	if [ ! -s "$f" ]; then
		(umask 077 && new_password > "$f")
	fi
	chmod 600 "$f"
}

init_cluster() {
	local pwfile
	[ -f "$CLUSTER/data/PG_VERSION" ] && return
	say "initdb in $CLUSTER/data"
	mkdir -p "$CLUSTER/run"
	is_root && chown postgres:postgres "$CLUSTER/run"
	# initdb reads the superuser password from a file the server user can
	# read; a temporary copy next to the cluster, removed right after.
	pwfile=$CLUSTER/initdb-pw
	(umask 077 && cat "$DATADIR/password" > "$pwfile")
	is_root && chown postgres:postgres "$pwfile"
	if ! as_pg "$BINDIR/initdb" -D "$CLUSTER/data" -U "$DB_USER" \
		--auth=scram-sha-256 --pwfile="$pwfile" -E UTF8 --locale=C \
		>"$CLUSTER/initdb.log" 2>&1; then
		rm -f "$pwfile"
		cat "$CLUSTER/initdb.log" >&2
		die "initdb failed"
	fi
	rm -f "$pwfile"
	# Listening settings live in their own file, rewritten at every start
	# (the port may change); postgresql.conf only includes it.
	echo "include_if_exists = 'evapi-dev.conf'" |
		as_pg tee -a "$CLUSTER/data/postgresql.conf" >/dev/null
}

# --- ports ----------------------------------------------------------------------------

port_busy() {
	# Something accepts on it (bash's /dev/tcp: no extra tool needed).
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
	local p
	p=$(cat "$DATADIR/port" 2>/dev/null || true)
	if [[ $p =~ ^[0-9]+$ ]] && ! port_busy "$p"; then
		echo "$p"
		return
	fi
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 40000))
		port_busy "$p" || { echo "$p"; return; }
	done
	die "no free port found"
}

write_conf() {
	local port=$1 sockdir=$CLUSTER/run
	# A unix socket path is limited to 107 bytes.
	if [ $((${#sockdir} + 20)) -gt 107 ]; then
		say "socket directory path too long; TCP only"
		sockdir=
	fi
	# In a configuration string a quote is written twice.
	as_pg tee "$CLUSTER/data/evapi-dev.conf" >/dev/null <<-EOF
		# written by scripts/dev-postgres.sh at every start
		listen_addresses = '127.0.0.1'
		port = $port
		unix_socket_directories = '${sockdir//\'/\'\'}'
		max_connections = 50
	EOF
}

# --- commands -------------------------------------------------------------------------

running() {
	[ -f "$CLUSTER/data/PG_VERSION" ] &&
		as_pg "$BINDIR/pg_ctl" -D "$CLUSTER/data" status >/dev/null 2>&1
}

cmd_start() {
	local port tries
	mkdir -p "$DATADIR"
	setup_cluster_dir
	ensure_password
	init_cluster
	if running; then
		say "already running on port $(cat "$DATADIR/port")"
		return
	fi
	# A port found free can be taken before the server binds it: retry.
	for tries in 1 2 3; do
		port=$(pick_port)
		write_conf "$port"
		if as_pg "$BINDIR/pg_ctl" -D "$CLUSTER/data" -l "$CLUSTER/postgres.log" \
			-w -t 30 start >/dev/null; then
			echo "$port" > "$DATADIR/port"
			say "started on 127.0.0.1:$port (log: $CLUSTER/postgres.log)"
			return
		fi
		say "start failed on port $port (attempt $tries)"
		rm -f "$DATADIR/port"
	done
	tail -n 20 "$CLUSTER/postgres.log" >&2 || true
	die "PostgreSQL did not start"
}

cmd_stop() {
	[ -e "$DATADIR/cluster" ] || return 0
	CLUSTER=$(readlink -f "$DATADIR/cluster")
	if running; then
		as_pg "$BINDIR/pg_ctl" -D "$CLUSTER/data" -m fast -w -t 30 stop >/dev/null
		say "stopped"
	fi
}

cmd_url() {
	if [ ! -s "$DATADIR/password" ] || [ ! -s "$DATADIR/port" ]; then
		die "no cluster in $DATADIR (run: $0 start $DATADIR)"
	fi
	printf 'postgresql://%s:%s@127.0.0.1:%s/%s\n' "$DB_USER" \
		"$(cat "$DATADIR/password")" "$(cat "$DATADIR/port")" "$DB_NAME"
}

cmd_status() {
	[ -e "$DATADIR/cluster" ] || exit 1
	CLUSTER=$(readlink -f "$DATADIR/cluster")
	running
}

cmd_run() {
	local child rc=0
	[ $# -gt 0 ] || die "run: no command given"
	cmd_start
	DATABASE_URL=$(cmd_url)
	export DATABASE_URL
	trap cmd_stop EXIT
	# Its own session: a Ctrl-C (sent to the whole foreground group) must
	# reach COMMAND once, as the SIGTERM below, not twice (evapi treats a
	# second signal as "exit now").
	setsid "$@" &
	child=$!
	trap 'kill -TERM "$child" 2>/dev/null || true' INT TERM
	# wait returns early when a trapped signal arrives: wait again until
	# the command really ended.
	while kill -0 "$child" 2>/dev/null; do
		rc=0
		wait "$child" || rc=$?
	done
	return "$rc"
}

main() {
	local cmd=${1:-}
	[ $# -ge 2 ] || die "usage: $0 start|stop|url|status DATADIR | run DATADIR -- COMMAND..."
	DATADIR=$2
	shift 2
	case $DATADIR in /*) ;; *) DATADIR=$PWD/$DATADIR ;; esac
	case $cmd in
	url) cmd_url ;;
	start) ensure_bins; cmd_start ;;
	stop) ensure_bins; cmd_stop ;;
	status) ensure_bins; cmd_status ;;
	run)
		[ "${1:-}" = "--" ] && shift
		ensure_bins
		cmd_run "$@"
		;;
	*) die "unknown command: $cmd" ;;
	esac
}

main "$@"
