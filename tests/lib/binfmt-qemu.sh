#!/usr/bin/env bash
# binfmt-qemu.sh ARCH: make this machine run ARCH's ELF binaries through
# qemu-user (Debian's qemu-user-static), for the cross-build tests and the
# arm64 container image.  Idempotent; needs root when something is missing.
#
# The entry must have binfmt_misc's F flag (the interpreter is opened when it
# is registered): then a binary runs in a chroot or a container, whose root
# has no qemu.  Debian's qemu-user-static registers its entries with F.
# Exit 0 when ARCH binaries run here, 1 (with the reason) otherwise.
set -euo pipefail

readonly ARCH=${1:?usage: binfmt-qemu.sh ARCH}
readonly BINFMT=/proc/sys/fs/binfmt_misc

die() { echo "binfmt-qemu.sh: $*" >&2; exit 1; }

[[ $ARCH != "$(uname -m)" ]] || exit 0
if [[ -e $BINFMT/qemu-$ARCH ]] && grep -q '^enabled' "$BINFMT/qemu-$ARCH"; then
	exit 0
fi
[[ $(id -u) -eq 0 ]] || die "qemu-$ARCH is not registered with binfmt_misc (run as root)"
missing=()
for p in qemu-user-static binfmt-support; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	export DEBIAN_FRONTEND=noninteractive
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	apt-get install -y -qq -o DPkg::Lock::Timeout=900 --no-install-recommends "${missing[@]}" >/dev/null
fi
# A machine without systemd may not have binfmt_misc mounted: the packages'
# scripts then register nothing.
if [[ ! -e $BINFMT/register ]]; then
	mount -t binfmt_misc binfmt_misc "$BINFMT" || die "cannot mount binfmt_misc on $BINFMT"
fi
[[ -e $BINFMT/qemu-$ARCH ]] || update-binfmts --enable "qemu-$ARCH" >/dev/null 2>&1 || true
[[ -e $BINFMT/qemu-$ARCH ]] || update-binfmts --import "qemu-$ARCH" >/dev/null 2>&1 || true
[[ -e $BINFMT/qemu-$ARCH ]] || die "qemu-$ARCH could not be registered with binfmt_misc"
grep -q '^enabled' "$BINFMT/qemu-$ARCH" || echo 1 >"$BINFMT/qemu-$ARCH"
grep -q '^flags:.*F' "$BINFMT/qemu-$ARCH" ||
	die "qemu-$ARCH is registered without the F flag: binaries in a chroot or container will not run"
