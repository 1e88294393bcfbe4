#!/usr/bin/env bash
# validate.sh FILE...: validate CycloneDX JSON documents against the
# published CycloneDX 1.6 JSON schema (tests/sbom/validate.js).
#
# The schema comes from the npm package @cyclonedx/cyclonedx-library (which
# ships the CycloneDX project's schema files unchanged), the validator is
# ajv with ajv-formats and ajv-formats-draft2019; all pinned, installed
# once into a cache dir outside the repo: EVAPI_CACHE_DIR (default
# /var/cache/evapi-ci when writable, else ~/.cache/evapi-ci).
# Exit 0 when every document is valid, 1 when one is not, 2+ on errors.
set -euo pipefail

# Pinned: a new schema or validator release must not change CI silently.
readonly PACKAGES=(
	@cyclonedx/cyclonedx-library@10.3.0
	ajv@8.17.1
	ajv-formats@3.0.1
	ajv-formats-draft2019@1.6.1
)
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE

die() { echo "validate.sh: $*" >&2; exit 2; }

cache_dir() {
	local d=${EVAPI_CACHE_DIR:-/var/cache/evapi-ci}
	if mkdir -p "$d" 2>/dev/null && [[ -w $d ]]; then
		echo "$d"
	else
		echo "${XDG_CACHE_HOME:-$HOME/.cache}/evapi-ci"
	fi
}

ensure_node() {
	command -v npm >/dev/null && command -v node >/dev/null && return 0
	[[ $(id -u) -eq 0 ]] || die "node/npm missing; install nodejs and npm"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
		--no-install-recommends nodejs npm >/dev/null
}

# The install dir is named after the pins, so a changed pin installs afresh.
ensure_packages() {
	local prefix
	prefix=$(cache_dir)/npm-sbom-$(printf '%s\n' "${PACKAGES[@]}" | sha256sum | cut -c1-12)
	if [[ ! -f $prefix/.complete ]]; then
		ensure_node
		rm -rf "$prefix"
		mkdir -p "$prefix"
		# --ignore-scripts: nothing of these packages runs at install time.
		timeout 600 npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
			--ignore-scripts "${PACKAGES[@]}" >&2 || die "npm install failed"
		touch "$prefix/.complete"
	fi
	echo "$prefix"
}

main() {
	(($# > 0)) || { echo "usage: $0 FILE..." >&2; exit 2; }
	local prefix
	prefix=$(ensure_packages)
	NODE_PATH=$prefix/node_modules timeout 120 node "$HERE/validate.js" \
		"$prefix/node_modules/@cyclonedx/cyclonedx-library/res/schema" "$@"
}

main "$@"
