#!/usr/bin/env bash
# Private Docker engine for evapi container tests.
#
#   engine.sh start WORKDIR   install packages if missing, start dockerd, print DOCKER_HOST
#   engine.sh env   WORKDIR   print shell exports for an engine started in WORKDIR
#   engine.sh stop  WORKDIR   stop that dockerd (and its containerd), unmount leftovers
#
# Everything the daemon writes (images, containers, sockets, pid files, logs)
# lives under WORKDIR, so the engine never touches a system-wide Docker and
# several engines can coexist.  EVAPI_ENGINE_DATA_ROOT moves only the image
# store (data root) elsewhere, e.g. into a cache dir that outlives WORKDIR so
# layers are reused by the next run; give every engine its own.  Use it as:
#   tests/containers/engine.sh start "$W" && eval "$(tests/containers/engine.sh env "$W")"
#   "$DOCKER" info ...
#   tests/containers/engine.sh stop "$W"
set -euo pipefail

# The Debian docker.io CLI (20.10) is used explicitly: another docker CLI on
# PATH may lack BuildKit support without buildx (see README in this dir).
readonly DEBIAN_DOCKER=/usr/bin/docker
readonly PACKAGES=(docker.io containerd runc docker-compose debootstrap curl iptables iproute2)
readonly PING_TIMEOUT=${EVAPI_ENGINE_PING_TIMEOUT:-60}
readonly STOP_TIMEOUT=${EVAPI_ENGINE_STOP_TIMEOUT:-30}

die() { echo "engine.sh: $*" >&2; exit 1; }
log() { echo "engine.sh: $*" >&2; }

usage() {
	echo "usage: $0 start|stop|env WORKDIR" >&2
	exit 2
}

# Install only what is missing; apt may be busy with other jobs, so wait for
# the dpkg lock instead of failing.
ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	[[ $(id -u) -eq 0 ]] || die "missing packages (${missing[*]}); run as root to install them"
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends "${missing[@]}" >/dev/null
}

# Paths are derived from WORKDIR only; mount points with spaces would be
# escaped in /proc/self/mounts, so refuse them rather than mis-unmount.
set_paths() {
	[[ -n ${1:-} ]] || usage
	[[ $1 != *[[:space:]]* ]] || die "WORKDIR must not contain whitespace: $1"
	W=$(realpath -m "$1")   # -m: `env` and `stop` must not create it
	SOCK=$W/docker.sock
	DATA=$(realpath -m "${EVAPI_ENGINE_DATA_ROOT:-$W/data}")
	[[ $DATA != *[[:space:]]* ]] || die "EVAPI_ENGINE_DATA_ROOT must not contain whitespace: $DATA"
	EXEC=$W/exec
	PIDFILE=$W/dockerd.pid     # written by dockerd itself (removed on clean exit)
	OURPID=$W/engine.pid       # written by us: survives a dockerd crash
	LOGFILE=$W/dockerd.log
	BINDIR=$W/bin
	# Interface names are limited to 15 characters.
	BRIDGE=evapi$(printf '%s' "$W" | md5sum | cut -c1-8)
	SUBNETFILE=$W/bridge.subnet
}

# A /24 in 10.231.0.0/16 that no host route uses yet.
free_subnet() {
	local routes i
	routes=$(ip -4 route show)
	for i in $(seq 1 254); do
		grep -q "^10\.231\.$i\." <<<"$routes" || { echo "10.231.$i"; return 0; }
	done
	die "no free /24 in 10.231.0.0/16 for the engine bridge"
}

# Our own bridge instead of docker0: a second dockerd on docker0 (system
# Docker, another test engine) would hand out the same addresses.
make_bridge() {
	local net
	ip link show "$BRIDGE" >/dev/null 2>&1 && return 0
	net=$(free_subnet)
	ip link add name "$BRIDGE" type bridge
	ip addr add "$net.1/24" dev "$BRIDGE"
	ip link set "$BRIDGE" up
	echo "$net.0/24" >"$SUBNETFILE"
}

# Remove the bridge and the NAT rule dockerd added for it (dockerd leaves
# both behind on exit).
remove_bridge() {
	local net
	if [[ -f $SUBNETFILE ]]; then
		net=$(cat "$SUBNETFILE")
		while iptables -t nat -D POSTROUTING -s "$net" ! -o "$BRIDGE" -j MASQUERADE 2>/dev/null; do :; done
		rm -f "$SUBNETFILE"
	fi
	if ip link show "$BRIDGE" >/dev/null 2>&1; then
		ip link del "$BRIDGE" || log "could not delete bridge $BRIDGE"
	fi
}

ping_engine() {
	curl -sf --max-time 2 --unix-socket "$SOCK" http://engine/_ping >/dev/null 2>&1
}

# A bin dir with only the Debian CLI, put first on PATH, so tools that shell
# out to "docker" (docker-compose with COMPOSE_DOCKER_CLI_BUILD=1) use it.
make_bindir() {
	mkdir -p "$BINDIR"
	ln -sfn "$DEBIAN_DOCKER" "$BINDIR/docker"
}

print_env() {
	echo "export DOCKER_HOST=unix://$SOCK"
	echo "export DOCKER=$DEBIAN_DOCKER"
	# BuildKit skips stages the target does not need (the legacy builder
	# would try to pull the alpine debug base) and honours --target.
	echo "export DOCKER_BUILDKIT=1"
	echo "export COMPOSE_DOCKER_CLI_BUILD=1"
	echo "export PATH=$BINDIR:\$PATH"
}

cmd_start() {
	ensure_packages
	mkdir -p "$W"
	make_bindir
	if [[ -S $SOCK ]] && ping_engine; then
		log "engine already running in $W"
		echo "DOCKER_HOST=unix://$SOCK"
		return 0
	fi
	mkdir -p "$DATA" "$EXEC"
	make_bridge
	# Own namespaces in containerd: if a system containerd is running,
	# dockerd attaches to it, and a shared "moby" namespace would mix our
	# containers with another engine's.
	local ns
	ns="evapi-$(printf '%s' "$W" | md5sum | cut -c1-8)"
	# setsid: the daemon must not get the caller's job-control signals.
	# shellcheck disable=SC2086 # EVAPI_DOCKERD_ARGS is a word list on purpose
	setsid dockerd \
		--data-root "$DATA" --exec-root "$EXEC" --pidfile "$PIDFILE" \
		--host "unix://$SOCK" \
		--storage-driver "${EVAPI_STORAGE_DRIVER:-overlay2}" --bridge "$BRIDGE" \
		--containerd-namespace "$ns" --containerd-plugins-namespace "$ns-plugins" \
		${EVAPI_DOCKERD_ARGS:-} \
		</dev/null >"$LOGFILE" 2>&1 &
	echo $! >"$OURPID"
	wait_ready
	echo "DOCKER_HOST=unix://$SOCK"
}

# Bounded wait for _ping; show the daemon log when it dies or hangs.
wait_ready() {
	local pid deadline
	pid=$(cat "$OURPID")
	deadline=$((SECONDS + PING_TIMEOUT))
	until ping_engine; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$LOGFILE" >&2
			die "dockerd exited during start-up (log: $LOGFILE)"
		fi
		if ((SECONDS >= deadline)); then
			tail -n 30 "$LOGFILE" >&2
			die "dockerd not ready after ${PING_TIMEOUT}s (log: $LOGFILE)"
		fi
		sleep 0.5
	done
	log "dockerd ready (pid $pid, ${SECONDS}s)"
}

# Children of dockerd (its managed containerd) and any process whose command
# line names our exec-root (containerd shims of still-running containers).
engine_pids() {
	local pid=$1 p cmd
	if [[ -n $pid ]]; then pgrep -P "$pid" 2>/dev/null || true; fi
	for p in /proc/[0-9]*; do
		cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
		[[ $cmd == *"$EXEC/"* ]] && echo "${p#/proc/}"
	done
	return 0
}

wait_gone() {
	local deadline=$((SECONDS + $1)) p alive
	shift
	while :; do
		alive=()
		for p in "$@"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
		((${#alive[@]} == 0)) && return 0
		((SECONDS >= deadline)) && { echo "${alive[@]}"; return 1; }
		sleep 0.5
	done
}

# Mounts left behind under WORKDIR and the data root (netns/default, overlay
# upper dirs), deepest first so parents unmount cleanly.
unmount_leftovers() {
	local m
	awk -v w="$W/" -v d="$DATA/" 'index($2, w) == 1 || index($2, d) == 1 {print $2}' /proc/self/mounts |
		sort -r |
		while read -r m; do
			umount "$m" 2>/dev/null || umount -l "$m" || log "could not unmount $m"
		done
}

cmd_stop() {
	local pid="" pids=() left
	[[ -f $OURPID ]] && pid=$(cat "$OURPID")
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		mapfile -t pids < <(engine_pids "$pid")
		# SIGTERM lets dockerd stop containers and its containerd cleanly.
		kill -TERM "$pid"
		if ! left=$(wait_gone "$STOP_TIMEOUT" "$pid" "${pids[@]}"); then
			log "still running after ${STOP_TIMEOUT}s, killing: $left"
			# shellcheck disable=SC2086 # list of pids
			kill -KILL $left 2>/dev/null || true
			# shellcheck disable=SC2086
			wait_gone 10 $left >/dev/null || log "processes survived SIGKILL: $left"
		fi
		log "dockerd $pid stopped"
	else
		log "no running dockerd recorded in $W"
	fi
	# Shims of containers dockerd could not stop (e.g. after a crash).
	mapfile -t pids < <(engine_pids "")
	if ((${#pids[@]})); then
		kill -KILL "${pids[@]}" 2>/dev/null || true
		wait_gone 10 "${pids[@]}" >/dev/null || true
	fi
	unmount_leftovers
	remove_bridge
	rm -f "$OURPID" "$SOCK"
}

main() {
	local cmd=${1:-}
	shift || true
	set_paths "${1:-}"
	case $cmd in
	start) cmd_start ;;
	stop) cmd_stop ;;
	env) print_env ;;
	*) usage ;;
	esac
}

main "$@"
