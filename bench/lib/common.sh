# shellcheck shell=bash
# Shell helpers of bench/run: logging, packages, cleanup. Source it.

log() { printf '%s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
is_root() { [[ $(id -u) -eq 0 ]]; }

# --- cleanup: everything started or created is undone on any exit ---------
CLEANUP_PIDS=()
CLEANUP_HOOKS=()
CLEANUP_DIRS=()

cleanup() {
    local rc=$? pid hook dir i
    trap - EXIT INT TERM
    for pid in "${CLEANUP_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || continue
        # Give it 10 s to stop its own children (the servers), then force.
        for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    for hook in "${CLEANUP_HOOKS[@]}"; do "$hook" || true; done
    for dir in "${CLEANUP_DIRS[@]}"; do rm -rf -- "$dir"; done
    exit "$rc"
}

trap_cleanup() {
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# --- packages ---------------------------------------------------------------
pkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# ensure_packages PKG...: install the missing ones when root on Debian,
# otherwise just say what is missing (the systems needing them are skipped).
ensure_packages() {
    local missing=() p
    command -v dpkg-query >/dev/null || { log "not Debian: install $* yourself"; return 0; }
    for p in "$@"; do pkg_installed "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    if ! is_root; then
        log "missing packages (not root, not installing): ${missing[*]}"
        return 0
    fi
    log "installing: ${missing[*]}"
    # The package lists may be absent or stale on a fresh machine.
    apt-get update -o DPkg::Lock::Timeout=900 >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -o DPkg::Lock::Timeout=900 \
        --no-install-recommends "${missing[@]}" >/dev/null
}
