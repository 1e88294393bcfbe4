#!/usr/bin/env bash
# Provide docker.io/library/debian:bookworm-slim to the private engine
# without a container registry: debootstrap a minbase bookworm rootfs from
# this machine's Debian mirror and `docker import` it under that tag.
#
#   eval "$(tests/containers/engine.sh env WORKDIR)"; tests/containers/base-image.sh
#
# Env: EVAPI_CACHE_DIR (default /var/cache/evapi-ci) keeps rootfs.tar so later
# runs only import (seconds); EVAPI_BASE_REFRESH=1 rebuilds it;
# EVAPI_DEBIAN_MIRROR overrides the mirror read from the apt sources.
set -euo pipefail

readonly TAG=docker.io/library/debian:bookworm-slim
readonly SUITE=bookworm
readonly CACHE_DIR=${EVAPI_CACHE_DIR:-/var/cache/evapi-ci}
readonly TARBALL=$CACHE_DIR/debian-$SUITE-minbase-rootfs.tar
DOCKER=${DOCKER:-/usr/bin/docker}

die() { echo "base-image.sh: $*" >&2; exit 1; }
log() { echo "base-image.sh: $*" >&2; }

# All Debian archive URIs from the apt sources, deb822 and one-line format.
apt_uris() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] && awk 'tolower($1) == "uris:" {for (i = 2; i <= NF; i++) print $i}' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] && awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; break}}' "$f"
	done
	return 0
}

# The mirror the host already uses (never a hard-coded host): the first URI
# serving the main archive, i.e. one that is not the security archive.
debian_mirror() {
	if [[ -n ${EVAPI_DEBIAN_MIRROR:-} ]]; then
		echo "$EVAPI_DEBIAN_MIRROR"
		return
	fi
	apt_uris | grep -v -- '-security' | grep -m1 -E '/debian/?$' ||
		die "no Debian mirror found in the apt sources; set EVAPI_DEBIAN_MIRROR"
}

security_mirror() {
	apt_uris | grep -m1 -E -- '-security/?$' || true
}

# apt sources for the image itself, pointing at the same mirrors, so RUN
# apt-get in later builds works exactly as on this host.
write_image_sources() {
	local root=$1 mirror=$2 security=$3
	rm -f "$root/etc/apt/sources.list"
	{
		printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\n' "$mirror" "$SUITE" "$SUITE"
		printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		if [[ -n $security ]]; then
			printf '\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\n' "$security" "$SUITE"
			printf 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n'
		fi
	} >"$root/etc/apt/sources.list.d/debian.sources"
}

# Slim it the way the official slim images do: drop docs (keeping copyright
# files), man pages, translations, apt caches and logs, and tell dpkg/apt to
# keep doing so in images built FROM it.
slim_rootfs() {
	local root=$1
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker" <<-'CFG'
		path-exclude /usr/share/doc/*
		path-include /usr/share/doc/*/copyright
		path-exclude /usr/share/man/*
		path-exclude /usr/share/info/*
		path-exclude /usr/share/locale/*
	CFG
	cat >"$root/etc/apt/apt.conf.d/docker-clean" <<-'CFG'
		DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
		Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
		Acquire::Languages "none";
	CFG
	chroot "$root" apt-get clean
	find "$root/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/apt/* "$root"/var/log/*.log \
		"$root"/var/cache/debconf/*-old "$root"/usr/share/man/* "$root"/usr/share/info/* \
		"$root"/usr/share/locale/*
}

build_tarball() {
	local mirror security tmp
	[[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
	command -v debootstrap >/dev/null || die "debootstrap missing (engine.sh start installs it)"
	mirror=$(debian_mirror)
	security=$(security_mirror)
	mkdir -p "$CACHE_DIR"
	tmp=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
	# shellcheck disable=SC2064 # expand $tmp now
	trap "rm -rf '$tmp'" EXIT
	log "debootstrap --variant=minbase $SUITE (mirror from apt sources)"
	debootstrap --variant=minbase "$SUITE" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
	write_image_sources "$tmp/root" "$mirror" "$security"
	slim_rootfs "$tmp/root"
	# Numeric owners: the image must not depend on this host's user names.
	tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
		-C "$tmp/root" -cf "$tmp/rootfs.tar" .
	mv "$tmp/rootfs.tar" "$TARBALL"
	rm -rf "$tmp"
	trap - EXIT
	log "cached $TARBALL ($(du -h "$TARBALL" | cut -f1))"
}

main() {
	[[ -n ${DOCKER_HOST:-} ]] || die "DOCKER_HOST unset; eval \"\$(engine.sh env WORKDIR)\" first"
	if [[ ${EVAPI_BASE_REFRESH:-0} != 1 ]] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
		log "$TAG already present, skipping"
		return 0
	fi
	if [[ ${EVAPI_BASE_REFRESH:-0} == 1 || ! -s $TARBALL ]]; then
		build_tarball
	fi
	# The label marks the image as a local stand-in for the Docker Hub one.
	"$DOCKER" import --change 'CMD ["bash"]' \
		--change 'LABEL org.evapi.stand-in="debootstrap minbase bookworm, not the Docker Hub image"' \
		"$TARBALL" "$TAG" >/dev/null
	log "imported $TAG ($("$DOCKER" image inspect -f '{{.Size}}' "$TAG") bytes)"
}

main "$@"
