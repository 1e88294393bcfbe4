#!/bin/bash
# scripts/deps.sh GROUP... - install the Debian packages a step needs, only
# those missing. Groups: build, test, static, cross, fuzz, bench. (The cross
# compilers come with scripts/static-deps.sh --arch, which adds the dpkg
# architecture they need.)
# As root it runs apt-get itself; otherwise through sudo when available.
set -euo pipefail

declare -A GROUPS_PKGS=(
	[build]="build-essential autoconf automake libtool pkg-config libevent-dev libjson-c-dev libpq-dev"
	[run]="postgresql"
	[test]="python3 python3-h11 nodejs wrk postgresql curl util-linux iproute2 procps openssl systemd prometheus"
	[static]="musl-tools dpkg-dev cmake"
	[cross]="qemu-user-static binfmt-support"
	[fuzz]="clang libclang-rt-14-dev"
	[bench]="wrk nginx-light golang-go golang-github-lib-pq-dev"
)

want=()
for g in "$@"; do
	for p in ${GROUPS_PKGS[$g]:?unknown group $g}; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || want+=("$p")
	done
done
[ ${#want[@]} -eq 0 ] && exit 0

echo "installing: ${want[*]}" >&2
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || { echo "missing packages (run as root or install sudo): ${want[*]}" >&2; exit 1; }
	sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be empty or stale.
"${sudo[@]}" apt-get update -qq -o DPkg::Lock::Timeout=900 >&2
"${sudo[@]}" apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends "${want[@]}" >&2
