#!/usr/bin/env bash
# Entrypoint of the PostgreSQL stand-in; follows the official postgres image's
# docker-entrypoint.sh (first-run initdb, init scripts, then exec postgres).
# Never prints the password; no `set -x`.
set -euo pipefail

log() { echo "stand-in entrypoint: $*" >&2; }

# VAR or VAR_FILE (docker secrets), as the official image supports.
file_env() {
	local var=$1 def=${2:-} fvar="${1}_FILE" val
	if [[ -n ${!var:-} && -n ${!fvar:-} ]]; then
		log "both $var and $fvar are set (but are exclusive)"
		exit 1
	fi
	val=$def
	if [[ -n ${!var:-} ]]; then
		val=${!var}
	elif [[ -n ${!fvar:-} ]]; then
		val=$(<"${!fvar}")
	fi
	export "$var"="$val"
	unset "$fvar"
}

setup_env() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	file_env POSTGRES_INITDB_ARGS
	: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
	export POSTGRES_HOST_AUTH_METHOD
}

check_can_init() {
	if [[ ! -w $PGDATA ]]; then
		log "PGDATA $PGDATA is not writable by uid $(id -u); the stand-in runs as postgres only"
		exit 1
	fi
	if [[ -z $POSTGRES_PASSWORD && $POSTGRES_HOST_AUTH_METHOD != trust ]]; then
		log "Database is uninitialized and superuser password is not specified."
		log "Set POSTGRES_PASSWORD (or POSTGRES_HOST_AUTH_METHOD=trust, not for production)."
		exit 1
	fi
}

init_cluster() {
	local -a args
	# shellcheck disable=SC2206 # POSTGRES_INITDB_ARGS is a word list like upstream
	args=(--username="$POSTGRES_USER" --encoding=UTF8 --locale=C.UTF-8
		--auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD" $POSTGRES_INITDB_ARGS)
	# The password reaches initdb through a pipe, never argv or a file.
	initdb "${args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") >/dev/null
	printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
}

psql_init() {
	psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

run_init_files() {
	local f
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh)
			# Sourced like upstream, so scripts can use psql_init and the env.
			# shellcheck disable=SC1090
			if [[ -x $f ]]; then log "running $f"; "$f"; else log "sourcing $f"; . "$f"; fi ;;
		*.sql) log "running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
		*.sql.gz) log "running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB" ;;
		*) if [[ -e $f ]]; then log "ignoring $f"; fi ;;
		esac
	done
}

# First start: initdb, then a socket-only temporary server for the init
# steps (nothing can connect over TCP before they are done), then stop it.
first_init() {
	check_can_init
	log "initialising $PGDATA (stand-in: $(postgres --version))"
	init_cluster
	pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start >/dev/null
	if [[ $POSTGRES_DB != postgres ]]; then
		psql_init --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
	fi
	run_init_files
	pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
	log "init done"
}

main() {
	# `docker run IMAGE -c foo=bar` means `postgres -c foo=bar`.
	if [[ ${1:-} == -* ]]; then
		set -- postgres "$@"
	fi
	if [[ ${1:-} == postgres ]]; then
		log "NOTE: stand-in image, $(postgres --version) on Debian, not postgres:16-alpine"
		setup_env
		[[ -s $PGDATA/PG_VERSION ]] || first_init
		unset POSTGRES_PASSWORD
	fi
	exec "$@"
}

main "$@"
