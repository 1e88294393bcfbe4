#!/usr/bin/env bash
# The "containers" suite of scripts/run-tests: proves the Dockerfile and
# docker-compose.yml with a real, private container engine.
#
#   sudo tests/containers/run.sh          (root: it runs dockerd and debootstrap)
#
#  1. lint: dockerfile-utils on every Dockerfile (gate), .dockerignore
#  2. private dockerd (engine.sh), debian base (base-image.sh), stand-ins
#     tagged postgres:16-alpine and alpine:3.20 (pg-standin.sh, alpine-standin.sh)
#  3. static target (default): built with VERSION/COMMIT/CREATED, size <= 3 MiB,
#     labels, user; run: healthy through its own HEALTHCHECK, /health,
#     /version (= build args), uid 10001 (not 0), published on 127.0.0.1 only,
#     SIGTERM -> exit 0
#  3b. the pod of deploy/kubernetes (pod.py): manifests validated (tests/k8s),
#     the static image run with the pod spec's constraints and probed as the
#     kubelet does: started/ready/live, db down -> unready but live, never
#     restarted, SIGTERM -> unready within a readiness period, exit 0 in grace
#  4. debug target built alongside 3 (waited for before any other build)
#  4b. static target for linux/arm64 (cross-compiled in build-platform
#     stages): architecture arm64, size <= 3 MiB, an aarch64 static ELF,
#     its SBOM; run through binfmt_misc + qemu-user: healthy through its
#     own HEALTHCHECK, /health, /version, uid 10001
#     Both static images carry a CycloneDX SBOM valid against the schema.
#  5. compose stack: api healthy only after db, /ready 200, db stopped ->
#     503, db started -> 200, the password rotated as docs/containers.md
#     says -> 200, no password in logs; without POSTGRES_PASSWORD compose
#     refuses to start (checked with the lint, no engine needed)
#  6. debug target on the alpine stand-in, through compose (EVAPI_TARGET=debug):
#     healthy, /health, /version build "dynamic", /ready 200, plugins mapped
#     from .so files, sh and wget work
#  7. `docker-compose down`: prompt, and evapi exits 0 on SIGTERM (drain)
# Prints PASS/FAIL per check; exits 1 if any failed.  Every wait is bounded;
# everything started is stopped at exit (containers, dockerd by pid, mounts).
#
# Env: CI=true           never SKIP (not root -> FAIL)
#      EVAPI_CACHE_DIR   cache (default /var/cache/evapi-ci): rootfs tarball,
#                        linter, and the engine's image store, so a second run
#                        reuses every layer (the static deps are built once)
#      EVAPI_CT_LAYER_CACHE=0   fresh image store in a temp dir (cold run)
#      EVAPI_CT_BUILD_TIMEOUT   seconds per image build (default 2400)
#      EVAPI_CT_KEEP=1   keep the temp workdir (logs) after the run
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
readonly HERE ROOT
readonly CACHE_DIR=${EVAPI_CACHE_DIR:-/var/cache/evapi-ci}
readonly BUILD_TIMEOUT=${EVAPI_CT_BUILD_TIMEOUT:-2400}
readonly SIZE_BUDGET=3145728          # 3 MiB, the static image
# A persistent image store larger than this is dropped (cold next run).
readonly STORE_MAX_MB=${EVAPI_CT_STORE_MAX_MB:-8000}
readonly PROJECT=evapici$$
readonly TAG=evapi-ci-$$
WORKDIR=""
OWN_ENGINE=0
STANDALONE=""
DEBUG_BUILD_PID=""
COMPOSE_UP=0
DEBUG_FAILED=""
FAILS=0
PASSES=0
OLD_PASSWORDS=() # database passwords rotated away (never in the logs either)
T_START=$SECONDS
PHASE_T=$SECONDS

log() { echo "run.sh: $*" >&2; }
# TIME line for the phase that just ended (the CI log's timing summary).
timing() { echo "TIME $1: $((SECONDS - PHASE_T)) s"; PHASE_T=$SECONDS; }
pass() { echo "PASS $*"; PASSES=$((PASSES + 1)); }
fail() { echo "FAIL $*"; FAILS=$((FAILS + 1)); }
not() { ! "$@"; }

# check "WHAT" CMD...: PASS WHAT if CMD succeeds, else FAIL WHAT.
check() {
	local what=$1
	shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# Cannot run here: SKIP, except in CI where the suite is required.
skip_or_fail() {
	if [[ ${CI:-} == true ]]; then
		echo "FAIL $* (CI=true: required suite cannot skip)"
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

# ---- cleanup -------------------------------------------------------------------

cleanup() {
	local rc=$?
	set +e
	if [[ -n $DEBUG_BUILD_PID ]] && kill -0 "$DEBUG_BUILD_PID" 2>/dev/null; then
		kill "$DEBUG_BUILD_PID"   # the timeout(1) wrapper; it stops its docker build
		wait "$DEBUG_BUILD_PID" 2>/dev/null
	fi
	if [[ -n ${DOCKER_HOST:-} ]]; then
		((COMPOSE_UP)) && compose_t 60 down -v -t 2 >/dev/null 2>&1
		[[ -n $STANDALONE ]] && "$DOCKER" rm -f "$STANDALONE" >/dev/null 2>&1
		# This run's images; base images and build cache stay for the next run.
		{
			"$DOCKER" images -q --filter "reference=$TAG*"
			"$DOCKER" images -q --filter "reference=evapi:$TAG*"
		} | sort -u | xargs -r "$DOCKER" rmi -f >/dev/null 2>&1
	fi
	((OWN_ENGINE)) && "$HERE/engine.sh" stop "$WORKDIR"
	if [[ -n $WORKDIR && ${EVAPI_CT_KEEP:-0} != 1 ]]; then
		rm -rf "$WORKDIR"
	elif [[ -n $WORKDIR ]]; then
		log "kept $WORKDIR"
	fi
	log "total $((SECONDS - T_START)) s"
	exit "$rc"
}

# ---- 1. lint ---------------------------------------------------------------------

check_lint() {
	local f out
	for f in Dockerfile tests/containers/pg-standin/Dockerfile tests/containers/alpine-standin/Dockerfile; do
		if out=$(timeout 600 "$HERE/lint.sh" "$ROOT/$f" 2>&1); then
			pass "lint: dockerfile-utils $f"
		else
			printf '%s\n' "$out" | grep -v '^PASS' >&2
			fail "lint: dockerfile-utils $f"
		fi
	done
	# BuildKit would fetch a "# syntax=" frontend from a registry.
	check "lint: Dockerfile has no '# syntax=' line" not grep -qiE '^#[[:space:]]*syntax=' "$ROOT/Dockerfile"
	check "lint: .dockerignore keeps .git, .env, .static-deps and build/ out" \
		grep_all "$ROOT/.dockerignore" '.git' '.env' '.static-deps' 'build'
	check "lint: .gitignore keeps .env out" grep -qxF '.env' "$ROOT/.gitignore"
	check "compose: refuses to start without POSTGRES_PASSWORD, and the documented .env is enough" \
		check_compose_env_file
}

# docker-compose.yml refuses to start without POSTGRES_PASSWORD, saying how
# to make .env; the .env the documented command writes is enough, from any
# shell. Needs no engine: `config` interpolates and stops there.
check_compose_env_file() {
	local dir out rc=0
	dir=$(mktemp -d)
	cp "$ROOT/docker-compose.yml" "$dir/"
	mkdir -p "$dir/migrations" && : >"$dir/migrations/init.sql"
	if out=$(cd "$dir" && env -u POSTGRES_PASSWORD docker-compose config 2>&1); then
		echo "compose config passed without POSTGRES_PASSWORD" >&2
		rc=1
	elif ! grep -q 'POSTGRES_PASSWORD is not set: create .env once' <<<"$out"; then
		printf '%s\n' "$out" | tail -n 3 >&2
		rc=1
	fi
	# The command of docs/containers.md, run as a user would.
	(cd "$dir" && printf 'POSTGRES_PASSWORD=%s\n' "$(openssl rand -hex 16)" >.env)
	out=$(cd "$dir" && env -u POSTGRES_PASSWORD docker-compose config 2>&1) || rc=1
	grep -qE "DATABASE_URL: postgresql://evapi:[0-9a-f]{32}@db:5432/" <<<"$out" || rc=1
	rm -rf "$dir"
	return "$rc"
}

grep_all() { # FILE LINE...: every LINE is a line of FILE
	local f=$1 l
	shift
	for l in "$@"; do grep -qxF -- "$l" "$f" || return 1; done
}

# ---- 2. engine, base images, stand-ins ------------------------------------------

# The image store lives in the cache (layers reused by the next run) unless
# disabled or busy: a second concurrent run gets a fresh, temporary store.
choose_store() {
	local store=$CACHE_DIR/engine-store
	[[ ${EVAPI_CT_LAYER_CACHE:-1} != 0 ]] || { log "layer cache disabled: cold image store"; return 0; }
	mkdir -p "$CACHE_DIR"
	exec 8>"$CACHE_DIR/engine-store.lock"
	if ! flock -n 8; then
		log "image store busy (another run): cold image store"
		return 0
	fi
	if [[ -d $store ]] && (($(du -smx "$store" | cut -f1) > STORE_MAX_MB)); then
		log "image store above $STORE_MAX_MB MB: starting afresh"
		rm -rf "$store"
	fi
	export EVAPI_ENGINE_DATA_ROOT=$store
	log "image store: $store (layers of earlier runs reused)"
}

start_engine() {
	local t0=$SECONDS
	WORKDIR=$(mktemp -d /tmp/evapi-ct.XXXXXX)
	choose_store
	OWN_ENGINE=1
	timeout 900 "$HERE/engine.sh" start "$WORKDIR" >/dev/null
	eval "$("$HERE/engine.sh" env "$WORKDIR")"
	# Leftovers of an interrupted run in the persistent store.
	"$DOCKER" container prune -f >/dev/null
	"$DOCKER" network prune -f >/dev/null
	"$DOCKER" volume prune -f >/dev/null
	# Build cache unused for a week (older commits' build stages); what this
	# run needs was used by the previous run and stays.
	"$DOCKER" builder prune -f --filter until=168h >/dev/null
	pass "engine: private dockerd up in $((SECONDS - t0)) s ($("$DOCKER" version -f '{{.Server.Version}}'))"
}

# Each helper logs its own stand-in notice; keep the build logs in WORKDIR.
base_images() {
	local t0=$SECONDS s
	timeout "$BUILD_TIMEOUT" "$HERE/base-image.sh"
	pass "base: docker.io/library/debian:bookworm-slim (debootstrap) ready in $((SECONDS - t0)) s"
	for s in pg-standin alpine-standin; do
		t0=$SECONDS
		if timeout "$BUILD_TIMEOUT" "$HERE/$s.sh" >"$WORKDIR/$s.log" 2>&1; then
			grep -h 'is a stand-in' "$WORKDIR/$s.log" | tail -n 1
			pass "base: $s built in $((SECONDS - t0)) s"
		else
			tail -n 30 "$WORKDIR/$s.log"
			fail "base: $s build"
			exit 1
		fi
	done
	echo "NOTE postgres:16-alpine here is a STAND-IN (PostgreSQL 15 on Debian); alpine:3.20 is a STAND-IN (Debian musl loader + busybox-static)"
}

# ---- 3. the static (scratch) image ------------------------------------------------

build_args() {
	VERSION=$("$ROOT/build-aux/git-version-gen" "$ROOT")
	COMMIT=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
	CREATED=$(git -C "$ROOT" log -1 --format=%cI 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
	SOURCE_DATE_EPOCH=$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)
	export VERSION COMMIT CREATED SOURCE_DATE_EPOCH
	log "build args: VERSION=$VERSION COMMIT=$COMMIT CREATED=$CREATED SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
}

# docker_build TARGET TAG LOG [ARGS...]: the documented build command, bounded.
docker_build() {
	local target=$1 tag=$2 out=$3
	shift 3
	timeout "$BUILD_TIMEOUT" "$DOCKER" build --progress=plain --target "$target" -t "$tag" "$@" \
		--build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" --build-arg CREATED="$CREATED" \
		--build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$ROOT" >"$out" 2>&1
}

# The debug build runs in the background while the static image is built
# and tested: both dependency stages compile at once (their serial steps
# overlap) and the standalone checks mostly wait on timers.  No other build
# may start before it ends: BuildKit (docker 20.10) does not find cached
# results of steps a still-running build shares, so compose would rebuild
# the static dependencies.
start_debug_build() {
	DEBUG_T0=$SECONDS
	# timeout(1) itself is the background process: killing it (cleanup)
	# forwards the signal to the docker client, which cancels the build.
	timeout "$BUILD_TIMEOUT" "$DOCKER" build --progress=plain --target debug -t "$TAG:debug" \
		--build-arg VERSION="$VERSION" --build-arg COMMIT="$COMMIT" --build-arg CREATED="$CREATED" \
		--build-arg SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$ROOT" >"$WORKDIR/build-debug.log" 2>&1 &
	DEBUG_BUILD_PID=$!
}

build_static() {
	local t0=$SECONDS
	if docker_build static "$TAG:static" "$WORKDIR/build-static.log"; then
		pass "static: image built in $((SECONDS - t0)) s"
	else
		tail -n 40 "$WORKDIR/build-static.log"
		fail "static: image build"
		exit 1
	fi
}

inspect() { "$DOCKER" image inspect -f "$2" "$1"; }

# Image metadata: size budget, user, healthcheck, labels, no secrets in history.
check_image() { # IMAGE KIND
	local img=$1 kind=$2 size hist
	size=$(inspect "$img" '{{.Size}}')
	echo "SIZE $kind image: $size bytes ($(awk -v s="$size" 'BEGIN {printf "%.2f MiB", s / 1048576}'))"
	if [[ $kind == static* ]]; then
		check "$kind: image size $size <= $SIZE_BUDGET bytes (3 MiB)" [ "$size" -le "$SIZE_BUDGET" ]
	fi
	check "$kind: USER 10001:10001" [ "$(inspect "$img" '{{.Config.User}}')" = 10001:10001 ]
	check "$kind: HEALTHCHECK exec form /evapi --healthcheck" \
		[ "$(inspect "$img" '{{json .Config.Healthcheck.Test}}')" = '["CMD","/evapi","--healthcheck"]' ]
	check "$kind: EXPOSE 8080, ENVIRONMENT=production" \
		grep -q '8080/tcp.*ENVIRONMENT=production' <<<"$(inspect "$img" '{{json .Config.ExposedPorts}} {{json .Config.Env}}')"
	check "$kind: labels version/revision = build args" [ \
		"$(inspect "$img" '{{index .Config.Labels "org.opencontainers.image.version"}} {{index .Config.Labels "org.opencontainers.image.revision"}}')" \
		= "$VERSION $COMMIT" ]
	check "$kind: labels created, source, title, licenses are set" labels_set "$img" created source title licenses
	check_sbom "$img" "$kind"
	hist=$("$DOCKER" history --no-trunc --format '{{.CreatedBy}}' "$img")
	# Any *PASSWORD=, *SECRET=, *TOKEN= assignment in a build step or ENV.
	check "$kind: no password/secret/token assignment in the image history" \
		not grep -qiE '(password|secret|token)[a-z_]*=' <<<"$hist"
}

labels_set() { # IMAGE KEY...: org.opencontainers.image.KEY labels are non-empty
	local img=$1 k v
	shift
	for k in "$@"; do
		v=$(inspect "$img" "{{index .Config.Labels \"org.opencontainers.image.$k\"}}")
		[[ -n $v && $v != '<no value>' ]] || return 1
	done
}

# The SBOM the image carries (label org.evapi.sbom names the file): valid
# CycloneDX (tests/sbom/validate.sh), for this architecture and commit.
check_sbom() { # IMAGE KIND
	local img=$1 kind=$2 path cid out arch
	path=$(inspect "$img" '{{index .Config.Labels "org.evapi.sbom"}}')
	arch=$(inspect "$img" '{{.Architecture}}')
	cid=$("$DOCKER" create "$img")
	out=$WORKDIR/sbom-$kind.json
	if ! "$DOCKER" cp "$cid:$path" "$out" >/dev/null 2>&1; then
		"$DOCKER" rm -f "$cid" >/dev/null
		fail "$kind: SBOM file '$path' (label org.evapi.sbom) in the image"
		return
	fi
	"$DOCKER" rm -f "$cid" >/dev/null
	pass "$kind: SBOM $path in the image ($(stat -c %s "$out") bytes)"
	check "$kind: SBOM valid against the CycloneDX 1.6 schema" "$ROOT/tests/sbom/validate.sh" "$out"
	check "$kind: SBOM names the commit and the image's architecture ($arch)" sbom_matches "$out" "$arch"
}

sbom_built_on() { # FILE BUILD-MACHINE TARGET-ARCH
	python3 - "$@" <<-'PY'
		import json, sys
		doc = json.load(open(sys.argv[1]))
		props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
		sys.exit(0 if (props.get("evapi:build-machine"), props["evapi:arch"]) == tuple(sys.argv[2:]) else 1)
	PY
}

sbom_matches() { # FILE DOCKER-ARCH
	python3 - "$1" "$2" "$COMMIT" <<-'PY'
		import json, sys
		doc = json.load(open(sys.argv[1]))
		props = {p["name"]: p["value"] for p in doc["metadata"]["component"]["properties"]}
		arch = {"amd64": "x86_64", "arm64": "aarch64"}[sys.argv[2]]
		sys.exit(0 if props["evapi:arch"] == arch and props["evapi:commit"] == sys.argv[3] else 1)
	PY
}

health_of() { "$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$1" 2>/dev/null; }

# Bounded wait for "healthy"; gives up early when the container stops.
wait_healthy() { # CONTAINER SECS
	local deadline=$((SECONDS + $2)) state
	while ((SECONDS < deadline)); do
		state=$("$DOCKER" inspect -f '{{.State.Status}}' "$1" 2>/dev/null) || return 1
		[[ $state == running ]] || return 1
		[[ $(health_of "$1") == healthy ]] && return 0
		sleep 0.5
	done
	return 1
}

http_code() { curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$1" || true; }
http_is() { [[ $(http_code "$2") == "$1" ]]; }

# /version field FIELD of URL (python3 stdlib parses the JSON).
version_field() { # URL FIELD
	curl -s --max-time 5 "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1], ""))' "$2"
}

# The process's real/effective/saved/fs uids, read from the host's /proc
# (a scratch image has no `id`).
uids_of() {
	local pid
	pid=$("$DOCKER" inspect -f '{{.State.Pid}}' "$1")
	awk '/^Uid:/ {print $2, $3, $4, $5}' "/proc/$pid/status"
}

check_uid() { # WHAT CONTAINER
	local u
	u=$(uids_of "$2")
	check "$1: process uids ($u) are 10001, not root" [ "$u" = "10001 10001 10001 10001" ]
}

check_version() { # WHAT URL BUILD-KIND
	local v c b
	v=$(version_field "$2" version)
	c=$(version_field "$2" commit)
	b=$(version_field "$2" build)
	check "$1: /version version '$v' = VERSION build arg" [ "$v" = "$VERSION" ]
	check "$1: /version commit '$c' = COMMIT build arg" [ "$c" = "$COMMIT" ]
	check "$1: /version build '$b' = $3" [ "$b" = "$3" ]
}

# Run the static image alone (no database: the ready plugin is left out).
run_static() {
	local img=$TAG:static port t0 out code
	STANDALONE=$TAG-static
	if ! "$DOCKER" run -d --name "$STANDALONE" -p 127.0.0.1::8080 -e API_PLUGINS=health,version "$img" >/dev/null; then
		fail "static: docker run"
		return
	fi
	t0=$SECONDS
	if wait_healthy "$STANDALONE" 60; then
		pass "static: container healthy after $((SECONDS - t0)) s through its own HEALTHCHECK"
	else
		fail "static: container $(health_of "$STANDALONE") after $((SECONDS - t0)) s"
		"$DOCKER" logs --tail 20 "$STANDALONE"
		return
	fi
	out=$("$DOCKER" port "$STANDALONE" 8080/tcp)
	check "static: published on 127.0.0.1 only ($out)" [ "${out%:*}" = 127.0.0.1 ]
	port=${out##*:}
	out=$(curl -s --max-time 5 "http://127.0.0.1:$port/health")
	check "static: GET /health -> $out" [ "$out" = '{"status":"ok"}' ]
	check_version static "http://127.0.0.1:$port/version" static
	check_uid static "$STANDALONE"
	t0=$(date +%s%N)
	"$DOCKER" stop -t 10 "$STANDALONE" >/dev/null
	code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "$STANDALONE")
	check "static: docker stop (SIGTERM) -> exit $code in $((($(date +%s%N) - t0) / 1000000)) ms (drained)" [ "$code" = 0 ]
	"$DOCKER" rm -f "$STANDALONE" >/dev/null
	STANDALONE=""
}

# ---- 3b. the pod of deploy/kubernetes ------------------------------------------------

# tests/k8s (the manifests against the API schema; it installs the npm
# packages pod.py reads the manifests with), then pod.py: the static image
# with the pod's constraints, probed as the kubelet probes it.
pod_like_run() {
	local out line rc=1
	if out=$(timeout 900 "$ROOT/tests/k8s/run.sh" 2>&1); then
		pass "pod: deploy/kubernetes validated against the API schema ($(grep -c '^ok ' <<<"$out") checks)"
	else
		printf '%s\n' "$out" | tail -n 40
		fail "pod: deploy/kubernetes checks (tests/k8s/run.sh)"
		return
	fi
	local before=$FAILS
	while IFS= read -r line; do
		case $line in
		"PASS "*) pass "${line#PASS }" ;;
		"FAIL "*) fail "${line#FAIL }" ;;
		*" passed, "*" failed") ;;
		rc=*) rc=${line#rc=} ;;
		*) echo "$line" ;;
		esac
	done < <(timeout 300 python3 "$HERE/pod.py" "$TAG:static" docker.io/library/postgres:16-alpine 2>&1; echo "rc=$?")
	# An error that reported no FAIL line (a crash, the time limit).
	if [[ $rc != 0 && $FAILS == "$before" ]]; then fail "pod: pod.py exited $rc"; fi
}

# ---- 4b. the static image for linux/arm64 -------------------------------------------

build_arm64() {
	local t0=$SECONDS
	if docker_build static "$TAG:static-arm64" "$WORKDIR/build-arm64.log" --platform linux/arm64; then
		pass "static-arm64: image built in $((SECONDS - t0)) s (--platform linux/arm64, cross-compiled)"
	else
		tail -n 40 "$WORKDIR/build-arm64.log"
		fail "static-arm64: image build"
		return 1
	fi
}

# e_machine and program headers of an ELF file: "MACHINE static|dynamic".
elf_kind() {
	python3 - "$1" <<-'PY'
		import struct, sys
		d = open(sys.argv[1], "rb").read()
		machine, = struct.unpack_from("<H", d, 18)
		phoff, = struct.unpack_from("<Q", d, 32)
		phentsize, phnum = struct.unpack_from("<HH", d, 54)
		types = {struct.unpack_from("<I", d, phoff + i * phentsize)[0] for i in range(phnum)}
		print({183: "aarch64", 62: "x86_64"}.get(machine, machine),
		      "dynamic" if types & {2, 3} else "static")
	PY
}

check_arm64_image() {
	local img=$TAG:static-arm64 cid out
	check "static-arm64: image architecture $(inspect "$img" '{{.Os}}/{{.Architecture}}') = linux/arm64" \
		[ "$(inspect "$img" '{{.Os}}/{{.Architecture}}')" = linux/arm64 ]
	check_image "$img" static-arm64
	# The SBOM records the machine its build step ran on (uname -m, read in
	# that step): this one's, not aarch64 under emulation.  Read from the
	# image, it holds whether or not the step came from the layer cache.
	check "static-arm64: compiled on $(uname -m) for aarch64 (no emulated compiler)" \
		sbom_built_on "$WORKDIR/sbom-static-arm64.json" "$(uname -m)" aarch64
	cid=$("$DOCKER" create "$img")
	"$DOCKER" cp "$cid:/evapi" "$WORKDIR/evapi-arm64" >/dev/null
	"$DOCKER" rm -f "$cid" >/dev/null
	out=$(elf_kind "$WORKDIR/evapi-arm64")
	check "static-arm64: /evapi is an $out ELF" [ "$out" = "aarch64 static" ]
}

# Through binfmt_misc (qemu-user-static, flag F) the engine runs the arm64
# image like a native one; its HEALTHCHECK runs emulated too.
run_arm64() {
	local img=$TAG:static-arm64 port t0 out
	if ! "$HERE/../lib/binfmt-qemu.sh" aarch64; then
		fail "static-arm64: qemu-user (binfmt_misc) unavailable: the image could not run here"
		return
	fi
	STANDALONE=$TAG-arm64
	if ! "$DOCKER" run -d --platform linux/arm64 --name "$STANDALONE" -p 127.0.0.1::8080 \
		-e API_PLUGINS=health,version "$img" >/dev/null; then
		fail "static-arm64: docker run"
		return
	fi
	t0=$SECONDS
	if wait_healthy "$STANDALONE" 90; then
		pass "static-arm64: container healthy after $((SECONDS - t0)) s through its own HEALTHCHECK (emulated by qemu-user via binfmt)"
		echo "NOTE the arm64 image ran here through binfmt_misc + qemu-aarch64 and turned healthy"
	else
		fail "static-arm64: container $(health_of "$STANDALONE") after $((SECONDS - t0)) s"
		"$DOCKER" logs --tail 20 "$STANDALONE"
		return
	fi
	out=$("$DOCKER" port "$STANDALONE" 8080/tcp)
	port=${out##*:}
	out=$(curl -s --max-time 5 "http://127.0.0.1:$port/health")
	check "static-arm64: GET /health -> $out" [ "$out" = '{"status":"ok"}' ]
	check_version static-arm64 "http://127.0.0.1:$port/version" static
	check_uid static-arm64 "$STANDALONE"
	"$DOCKER" rm -f "$STANDALONE" >/dev/null
	STANDALONE=""
}

# ---- 4. compose --------------------------------------------------------------------

compose_env() {
	local port
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	API=http://127.0.0.1:$port
	# Random per run: proves the password never reaches the logs.
	POSTGRES_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
	# The variables a user would export (see docker-compose.yml); later
	# entries win, so the debug step appends its own.
	COMPOSE_ENV=(EVAPI_PORT="$port" POSTGRES_PASSWORD="$POSTGRES_PASSWORD" EVAPI_TAG="$TAG")
}

compose_t() { # SECS ARGS...: docker-compose on this project, bounded
	local secs=$1
	shift
	timeout "$secs" env "${COMPOSE_ENV[@]}" docker-compose --project-directory "$ROOT" -p "$PROJECT" \
		-f "$ROOT/docker-compose.yml" "$@"
}

compose() { compose_t 300 "$@"; }
cid() { compose ps -q "$1"; }

# Container events since T0 as "nanotime action name" lines (bounded: --until).
events_since() {
	"$DOCKER" events --since "$1" --until "$(date +%s)" --filter type=container \
		--format '{{.TimeNano}} {{.Action}} {{.Actor.Attributes.name}} {{.Actor.Attributes.exitCode}}'
}

# depends_on: service_healthy: the api container starts after the db's
# first healthy event.
check_start_order() { # T0
	local ev healthy started
	sleep 1   # the event stream is asynchronous
	ev=$(events_since "$1")
	healthy=$(awk -v n="${PROJECT}_db_1" '$2 == "health_status:" && $3 == "healthy" && $4 == n {print $1; exit}' <<<"$ev")
	started=$(awk -v n="${PROJECT}_api_1" '$2 == "start" && $3 == n {print $1; exit}' <<<"$ev")
	if [[ -n $healthy && -n $started ]] && ((started > healthy)); then
		pass "compose: api started $(((started - healthy) / 1000000)) ms after db turned healthy (depends_on: service_healthy)"
	else
		fail "compose: api start ($started) not after db healthy ($healthy)"
		printf '%s\n' "$ev" | tail -n 20
	fi
}

compose_up_static() {
	local t0=$SECONDS since api db out
	since=$(($(date +%s) - 1))
	if ! compose_t "$BUILD_TIMEOUT" up -d --build >"$WORKDIR/compose-up.log" 2>&1; then
		tail -n 30 "$WORKDIR/compose-up.log"
		fail "compose: up --build"
		COMPOSE_UP=1
		return 1
	fi
	COMPOSE_UP=1
	pass "compose: up -d --build returned after $((SECONDS - t0)) s (static target)"
	# Same Dockerfile, target and build args as build_static: every step cached.
	check "compose: its build reused the static image's layers (no step re-run)" \
		not grep -qE '^#[0-9]+ [0-9.]+ ' "$WORKDIR/compose-up.log"
	api=$(cid api)
	db=$(cid db)
	if wait_healthy "$api" 90; then
		pass "compose: api healthy $((SECONDS - t0)) s after up (db $(health_of "$db"))"
	else
		fail "compose: api $(health_of "$api") after 90 s"
		compose logs --no-color --tail 20 >&2
		return 1
	fi
	check_start_order "$since"
	out=$(compose port api 8080)
	check "compose: api published on 127.0.0.1 only ($out)" [ "${out%:*}" = 127.0.0.1 ]
	out=$(curl -s --max-time 5 "$API/health")
	check "compose: GET /health -> $out" [ "$out" = '{"status":"ok"}' ]
	check_version "compose static" "$API/version" static
	check "compose: GET /ready -> 200 (api reaches db through DATABASE_URL)" wait_for 30 http_is 200 "$API/ready"
	check_uid "compose api" "$api"
	check_items
}

# The migrate service ran evapi --migrate once, exit 0, before the api:
# /items works on the database it made.
check_items() {
	local mig out loc
	mig=$(cid migrate)
	check "compose: migrate ran and exited 0" \
		[ "$("$DOCKER" inspect -f '{{.State.Status}} {{.State.ExitCode}}' "$mig")" = "exited 0" ]
	out=$("$DOCKER" logs "$mig" 2>&1)
	check "compose: migrate applied items 1 ($(tail -n 1 <<<"$out"))" grep -q "items 1" <<<"$out"
	out=$(curl -s --max-time 5 -D "$WORKDIR/items.head" -H 'Content-Type: application/json' \
		-d '{"name":"compose","price_cents":1}' "$API/items")
	loc=$(tr -d '\r' <"$WORKDIR/items.head" | sed -n 's/^Location: //Ip')
	check "compose: POST /items -> 201 Location $loc" grep -q '^HTTP/1.1 201' "$WORKDIR/items.head"
	check "compose: GET $loc -> 200" http_is 200 "$API$loc"
}

check_db_outage() {
	local t0=$SECONDS
	compose stop -t 10 db >/dev/null 2>&1
	check "compose: db stopped -> GET /ready 503 after $((SECONDS - t0)) s" wait_for 30 http_is 503 "$API/ready"
	check "compose: /health stays 200 while db is down" http_is 200 "$API/health"
	t0=$SECONDS
	compose start db >/dev/null 2>&1
	if wait_for 60 http_is 200 "$API/ready"; then
		pass "compose: db started -> GET /ready 200 after $((SECONDS - t0)) s"
	else
		fail "compose: /ready $(http_code "$API/ready") 60 s after db start"
	fi
}

# The rotation of docs/containers.md: ALTER ROLE inside the db container,
# the new password into the api's environment (.env for a user), the api
# recreated alone. /ready is 200 again with the new password.
check_rotation() {
	local t0=$SECONDS new
	new=$(openssl rand -hex 16)
	if ! compose exec -T db psql -q -U evapi -d evapi -v ON_ERROR_STOP=1 -v pw="$new" \
		>/dev/null <<<"ALTER ROLE evapi PASSWORD :'pw';"; then
		fail "compose: ALTER ROLE inside the db container"
		return 1
	fi
	OLD_PASSWORDS+=("$POSTGRES_PASSWORD")
	POSTGRES_PASSWORD=$new
	COMPOSE_ENV+=(POSTGRES_PASSWORD="$new")
	if ! compose up -d --no-deps api >/dev/null 2>&1; then
		fail "compose: up -d --no-deps api after the rotation"
		return 1
	fi
	if wait_healthy "$(cid api)" 60 && wait_for 30 http_is 200 "$API/ready"; then
		pass "compose: password rotated, api recreated alone: /ready 200 after $((SECONDS - t0)) s"
	else
		fail "compose: /ready $(http_code "$API/ready") after the rotation"
	fi
}

check_no_password_in_logs() { # WHAT
	local out
	local p
	out=$(compose logs --no-color 2>&1)
	check "$1: database password absent from all container logs" not grep -qF -- "$POSTGRES_PASSWORD" <<<"$out"
	for p in "${OLD_PASSWORDS[@]}"; do
		check "$1: rotated-away password absent from all container logs" not grep -qF -- "$p" <<<"$out"
	done
}

# ---- 5. debug target ----------------------------------------------------------------

wait_debug_build() {
	local rc=0
	wait "$DEBUG_BUILD_PID" || rc=$?
	DEBUG_BUILD_PID=""
	if ((rc == 0)); then
		pass "debug: image built on the alpine stand-in (background, $((SECONDS - DEBUG_T0)) s)"
	else
		tail -n 40 "$WORKDIR/build-debug.log"
		fail "debug: image build (exit $rc)"
		DEBUG_FAILED=1
		return 1
	fi
}

# The documented way: EVAPI_TARGET=debug docker-compose up -d --build (api only;
# db keeps running).
compose_up_debug() {
	local t0=$SECONDS api out
	COMPOSE_ENV+=(EVAPI_TARGET=debug EVAPI_TAG="$TAG-debug")
	if ! compose_t "$BUILD_TIMEOUT" up -d --build api >"$WORKDIR/compose-debug.log" 2>&1; then
		tail -n 30 "$WORKDIR/compose-debug.log"
		fail "debug: EVAPI_TARGET=debug docker-compose up -d --build api"
		return 1
	fi
	api=$(cid api)
	check "debug: compose runs the debug image" \
		[ "$("$DOCKER" inspect -f '{{.Config.Image}}' "$api")" = "evapi:$TAG-debug" ]
	if wait_healthy "$api" 90; then
		pass "debug: api healthy $((SECONDS - t0)) s after up through its own HEALTHCHECK"
	else
		fail "debug: api $(health_of "$api") after 90 s"
		compose logs --no-color --tail 20 api >&2
		return 1
	fi
	out=$(curl -s --max-time 5 "$API/health")
	check "debug: GET /health -> $out" [ "$out" = '{"status":"ok"}' ]
	check_version debug "$API/version" dynamic
	check "debug: GET /ready -> 200 against the db" wait_for 30 http_is 200 "$API/ready"
	check_uid "debug" "$api"
	# The plugins are .so files mapped into PID 1, and the libraries come
	# from the private dir (not from the base image).
	out=$("$DOCKER" exec "$api" cat /proc/1/maps)
	check "debug: health.so, ready.so, version.so mapped from /usr/local/lib/evapi" \
		[ "$(grep -oE '/usr/local/lib/evapi/(health|ready|version)\.so' <<<"$out" | sort -u | wc -l)" = 3 ]
	check "debug: libpq.so.5 and libssl.so.3 mapped from /usr/local/lib/evapi-deps" \
		grep_all_re "$out" '/usr/local/lib/evapi-deps/libpq\.so\.5' '/usr/local/lib/evapi-deps/libssl\.so\.3'
	out=$("$DOCKER" exec "$api" sh -c 'echo "shell ok"' 2>&1) || true
	check "debug: docker exec sh -> $out" [ "$out" = "shell ok" ]
	out=$("$DOCKER" exec "$api" wget -qO- http://127.0.0.1:8080/health 2>&1) || true
	check "debug: docker exec wget -qO- 127.0.0.1:8080/health -> $out" [ "$out" = '{"status":"ok"}' ]
	out=$("$DOCKER" exec "$api" sh -c 'id -un; id -u')
	check "debug: exec user is evapi (10001) from /etc/passwd" [ "$(tr '\n' ' ' <<<"$out")" = "evapi 10001 " ]
}

grep_all_re() { # TEXT RE...: every RE matches TEXT
	local text=$1 re
	shift
	for re in "$@"; do grep -qE -- "$re" <<<"$text" || return 1; done
}

# ---- 6. down ---------------------------------------------------------------------------

# evapi drains on SIGTERM and exits 0 at once (DRAIN_DELAY=0): `down` does
# not wait for stop_grace_period and nothing is SIGKILLed (exit 137).
check_down() {
	local since t0 ms ev api_exit db_exit
	since=$(($(date +%s) - 1))
	t0=$(date +%s%N)
	if ! compose_t 120 down -v >"$WORKDIR/compose-down.log" 2>&1; then
		tail -n 20 "$WORKDIR/compose-down.log"
		fail "compose: down -v"
		return
	fi
	COMPOSE_UP=0
DEBUG_FAILED=""
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "TIME docker-compose down -v: $ms ms"
	check "compose: down -v returned in $ms ms (< 10 s: nothing waited for its grace period)" [ "$ms" -lt 10000 ]
	sleep 1
	ev=$(events_since "$since")
	api_exit=$(awk -v n="${PROJECT}_api_1" '$2 == "die" && $3 == n {print $4; exit}' <<<"$ev")
	db_exit=$(awk -v n="${PROJECT}_db_1" '$2 == "die" && $3 == n {print $4; exit}' <<<"$ev")
	check "compose: api exited ${api_exit:-?} on SIGTERM (0 = drained, 137 = killed)" [ "$api_exit" = 0 ]
	check "compose: db exited ${db_exit:-?} (fast shutdown)" [ "$db_exit" = 0 ]
}

main() {
	[[ $(id -u) -eq 0 ]] || skip_or_fail "containers: needs root (private dockerd, debootstrap, apt)"
	command -v python3 >/dev/null || skip_or_fail "containers: python3 missing"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	check_lint
	timing lint
	start_engine
	base_images
	timing "engine and base images"
	build_args
	start_debug_build
	build_static
	timing "static image build (debug build running alongside)"
	check_image "$TAG:static" static
	run_static
	timing "static image checks"
	pod_like_run
	timing "pod-like run (deploy/kubernetes)"
	if wait_debug_build; then check_image "$TAG:debug" debug; fi
	timing "rest of the debug image build"
	if build_arm64; then
		check_arm64_image
		run_arm64
	fi
	timing "arm64 static image (build, checks, run through qemu)"
	compose_env
	check "compose: docker-compose config -q" compose config -q
	if compose_up_static; then
		check_no_password_in_logs compose
		check_db_outage
		check_rotation
		timing "compose stack (static)"
		if [[ -z $DEBUG_FAILED ]]; then compose_up_debug || true; fi
		timing "compose stack (debug)"
	fi
	if ((COMPOSE_UP)); then
		check_no_password_in_logs "compose (debug)"
		check_down
	fi
	echo "$PASSES passed, $FAILS failed"
	((FAILS == 0))
}

main "$@"
