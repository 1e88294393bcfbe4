#!/usr/bin/env bash
# Container smoke test for evapi, bounded and self-cleaning:
#   1. private engine (engine.sh) + local debian base (base-image.sh)
#   2. PostgreSQL stand-in (pg-standin.sh): init.sql applied, pg_isready,
#      psql over a user network, SCRAM enforced, password kept out of logs,
#      non-root, SIGINT fast shutdown
#   3. `docker-compose config` of the repo's docker-compose.yml
#   4. full compose stack (api healthy, /health over 127.0.0.1, db reachable)
#      once the root Dockerfile exists
#
#   sudo tests/containers/smoke.sh            (needs root: it runs dockerd)
#
# Env: EVAPI_CT_WORKDIR (default: a mktemp dir, removed at exit),
#      EVAPI_CACHE_DIR (rootfs cache, see base-image.sh),
#      EVAPI_COMPOSE_OVERRIDE (extra compose file, e.g. to test another Dockerfile),
#      EVAPI_SMOKE_PORT (host port for the api, default 18080),
#      EVAPI_SMOKE_BUILD_TIMEOUT (seconds per image build, default 1800),
#      CI=true: never SKIP.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
readonly HERE ROOT
readonly PG_IMAGE=docker.io/library/postgres:16-alpine
readonly PORT=${EVAPI_SMOKE_PORT:-18080}
readonly PROJECT=evapismoke$$
# Upper bound for each image build (base, stand-in, compose --build); a cold
# api build compiles the static dependencies (~5 min on 2 cores).
readonly BUILD_TIMEOUT=${EVAPI_SMOKE_BUILD_TIMEOUT:-1800}
NET=""
DB=""
WORKDIR=""
OWN_WORKDIR=0
OWN_ENGINE=0
COMPOSE=()
FAILS=0

log() { echo "smoke: $*" >&2; }
pass() { echo "PASS $*"; }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }

# check "WHAT" CMD...: PASS WHAT if CMD succeeds, else FAIL WHAT.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# Not root (cannot run dockerd): SKIP, except in CI where it must run.
skip_or_fail() {
	if [[ ${CI:-} == true ]]; then
		echo "FAIL $* (CI=true: required test cannot skip)"
		exit 1
	fi
	echo "SKIP $*"
	exit 0
}

# Bounded poll: retry CMD every 0.5 s until it succeeds or SECS pass.
wait_for() {
	local secs=$1 deadline
	shift
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		((SECONDS >= deadline)) && return 1
		sleep 0.5
	done
}

cleanup() {
	local rc=$?
	set +e
	if [[ -n ${DOCKER_HOST:-} ]]; then
		[[ -f $ROOT/Dockerfile || -n ${EVAPI_COMPOSE_OVERRIDE:-} ]] &&
			compose down -v -t 2 >/dev/null 2>&1
		[[ -n $DB ]] && "$DOCKER" rm -f -v "$DB" >/dev/null 2>&1
		[[ -n $NET ]] && "$DOCKER" network rm "$NET" >/dev/null 2>&1
	fi
	((OWN_ENGINE)) && "$HERE/engine.sh" stop "$WORKDIR"
	((OWN_WORKDIR)) && rm -rf "$WORKDIR"
	exit "$rc"
}

start_engine() {
	if [[ -n ${EVAPI_CT_WORKDIR:-} ]]; then
		WORKDIR=$EVAPI_CT_WORKDIR
	else
		WORKDIR=$(mktemp -d /tmp/evapi-engine.XXXXXX)
		OWN_WORKDIR=1
	fi
	local t0=$SECONDS
	# An engine already running in EVAPI_CT_WORKDIR is reused and left running.
	curl -sf --max-time 2 --unix-socket "$WORKDIR/docker.sock" http://engine/_ping >/dev/null 2>&1 ||
		OWN_ENGINE=1
	"$HERE/engine.sh" start "$WORKDIR" >/dev/null
	eval "$("$HERE/engine.sh" env "$WORKDIR")"
	log "engine up in $((SECONDS - t0)) s"
	t0=$SECONDS
	timeout "$BUILD_TIMEOUT" "$HERE/base-image.sh"
	log "base image ready in $((SECONDS - t0)) s"
	t0=$SECONDS
	timeout "$BUILD_TIMEOUT" "$HERE/pg-standin.sh" >"$WORKDIR/pg-standin-build.log" 2>&1 ||
		{ tail -n 30 "$WORKDIR/pg-standin-build.log" >&2; exit 1; }
	grep -h 'stand-in' "$WORKDIR/pg-standin-build.log" | tail -n 1 >&2
	log "postgres stand-in built in $((SECONDS - t0)) s"
}

psql_net() { # PASSWORD SQL: psql from another container on the test network
	"$DOCKER" run --rm --network "$NET" -e PGPASSWORD="$1" -e PGCONNECT_TIMEOUT=5 "$PG_IMAGE" \
		psql -h db -U evapi -d evapi -v ON_ERROR_STOP=1 -tAc "$2"
}

check_db() {
	local pw out t0
	# Random per-run password: lets us assert it never shows up in logs.
	pw=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
	NET=evapi-smoke-net-$$
	"$DOCKER" network create "$NET" >/dev/null
	DB=$("$DOCKER" run -d --network "$NET" --network-alias db \
		-e POSTGRES_USER=evapi -e POSTGRES_PASSWORD="$pw" -e POSTGRES_DB=evapi \
		-v "$ROOT/migrations/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" "$PG_IMAGE")
	t0=$SECONDS
	if wait_for 60 "$DOCKER" exec "$DB" pg_isready -h 127.0.0.1 -U evapi -d evapi; then
		pass "db: pg_isready over TCP after $((SECONDS - t0)) s"
	else
		fail "db: not ready after 60 s"; "$DOCKER" logs "$DB" 2>&1 | tail -n 20; return
	fi
	out=$(psql_net "$pw" "select current_user || ' ' || value from evapi_meta where key = 'schema_version'" 2>&1) || true
	check "db: psql -h db from the user network sees init.sql's row (got: $out)" [ "$out" = "evapi 1" ]
	out=$(psql_net "wrong-$pw" "select 1" 2>&1) || true
	check "db: wrong password rejected" grep -q "password authentication failed" <<<"$out"
	out=$(psql_net "$pw" "select left(rolpassword, 14) from pg_authid where rolname = current_user" 2>&1) || true
	check "db: password stored as SCRAM-SHA-256 (got: $out)" [ "$out" = 'SCRAM-SHA-256$' ]
	out=$("$DOCKER" exec "$DB" id -u)
	check "db: runs as non-root uid $out" [ "$out" != 0 ]
	out=$("$DOCKER" logs "$DB" 2>&1)
	check "db: password not in container logs" not grep -qF -- "$pw" <<<"$out"
	out=$("$DOCKER" image history --no-trunc "$PG_IMAGE")
	check "db: no password in image layers" not grep -q POSTGRES_PASSWORD <<<"$out"
	if out=$(timeout 60 "$DOCKER" run --rm -e POSTGRES_USER=evapi "$PG_IMAGE" 2>&1); then
		fail "db: started without a password"
	else
		check "db: refuses first init without POSTGRES_PASSWORD" grep -q "password is not specified" <<<"$out"
	fi
	t0=$SECONDS
	"$DOCKER" stop -t 10 "$DB" >/dev/null
	out=$("$DOCKER" logs "$DB" 2>&1)
	check "db: docker stop -> SIGINT fast shutdown ($((SECONDS - t0)) s)" grep -q "fast shutdown request" <<<"$out"
}

not() { ! "$@"; }

# The docker-compose command line (an array, so timeout(1) can run it too).
compose_cmd() {
	COMPOSE=(env EVAPI_PORT="$PORT" docker-compose --project-directory "$ROOT" -p "$PROJECT"
		-f "$ROOT/docker-compose.yml")
	if [[ -n ${EVAPI_COMPOSE_OVERRIDE:-} ]]; then COMPOSE+=(-f "$EVAPI_COMPOSE_OVERRIDE"); fi
}

compose() { "${COMPOSE[@]}" "$@"; }

check_compose_config() {
	local out
	check "compose: docker-compose config -q" compose config -q
}

http_is() { # CODE URL
	[[ $(curl -s --max-time 3 -o /dev/null -w '%{http_code}' "$2") == "$1" ]]
}

health_of() { "$DOCKER" inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null; }
is_healthy() { [[ $(health_of "$1") == healthy ]]; }

check_compose_stack() {
	local api db out t0
	if [[ ! -f $ROOT/Dockerfile && -z ${EVAPI_COMPOSE_OVERRIDE:-} ]]; then
		[[ ${CI:-} == true ]] && { fail "compose stack: no root Dockerfile"; return; }
		echo "SKIP compose stack: no root Dockerfile yet"
		return
	fi
	t0=$SECONDS
	timeout "$BUILD_TIMEOUT" "${COMPOSE[@]}" up -d --build >"$WORKDIR/compose-up.log" 2>&1 ||
		{ tail -n 30 "$WORKDIR/compose-up.log"; fail "compose: up failed"; return; }
	api=$(compose ps -q api)
	db=$(compose ps -q db)
	if wait_for 90 is_healthy "$api"; then
		pass "compose: api healthy $((SECONDS - t0)) s after up (db $(health_of "$db"))"
	else
		fail "compose: api $(health_of "$api") after 90 s"; compose logs --tail 20 >&2; return
	fi
	out=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health" 2>&1) || true
	check "compose: GET 127.0.0.1:$PORT/health -> $out (want 200)" [ "$out" = 200 ]
	# /ready is served from a cached, bounded DB check: allow it a few rounds.
	check "compose: GET /ready -> 200 (api reaches db through DATABASE_URL)" \
		wait_for 30 http_is 200 "http://127.0.0.1:$PORT/ready"
	out=$(compose logs --no-color api 2>&1)
	check "compose: api logs do not contain the database password" \
		not grep -qF -- "${POSTGRES_PASSWORD:-evapi-dev-password}" <<<"$out"
	# No `id` in a scratch image: read the uid from the host's /proc.
	out=$(awk '/^Uid:/{print $2}' "/proc/$("$DOCKER" inspect -f '{{.State.Pid}}' "$api")/status")
	check "compose: api runs as non-root uid $out" [ "$out" != 0 ]
	compose stop -t 5 db >/dev/null 2>&1
	check "compose: GET /ready -> 503 once db is stopped" \
		wait_for 30 http_is 503 "http://127.0.0.1:$PORT/ready"
	t0=$SECONDS
	check "compose: down -v" compose down -v -t 5
	log "compose down took $((SECONDS - t0)) s"
}

main() {
	[[ $(id -u) -eq 0 ]] || skip_or_fail "container smoke test: needs root to run a private dockerd"
	compose_cmd
	trap cleanup EXIT
	start_engine
	check_db
	check_compose_config
	check_compose_stack
	((FAILS == 0)) || { log "$FAILS check(s) failed"; exit 1; }
	log "all checks passed"
}

main "$@"
