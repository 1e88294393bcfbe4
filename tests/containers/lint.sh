#!/usr/bin/env bash
# Lint Dockerfiles with dockerfile-utils (npm), e.g.
#   tests/containers/lint.sh Dockerfile tests/containers/pg-standin/Dockerfile
# Exits non-zero if the linter reports anything (error or warning).
#
# The npm package is installed once into a cache dir outside the repo:
# EVAPI_CACHE_DIR (default /var/cache/evapi-ci when writable, else
# ~/.cache/evapi-ci).
set -euo pipefail

readonly LINTER_VERSION=0.16.3   # pinned: new rules must not break CI silently

die() { echo "lint.sh: $*" >&2; exit 1; }

cache_dir() {
	local d=${EVAPI_CACHE_DIR:-/var/cache/evapi-ci}
	if mkdir -p "$d" 2>/dev/null && [[ -w $d ]]; then
		echo "$d"
	else
		echo "${XDG_CACHE_HOME:-$HOME/.cache}/evapi-ci"
	fi
}

ensure_node() {
	command -v npm >/dev/null && return 0
	[[ $(id -u) -eq 0 ]] || die "npm missing; install nodejs and npm"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
		--no-install-recommends nodejs npm >/dev/null
}

# Returns the path of the linter's CLI, installing it when absent.
ensure_linter() {
	local prefix bin
	prefix=$(cache_dir)/npm-dockerfile-utils-$LINTER_VERSION
	bin=$prefix/node_modules/.bin/dockerfile-utils
	if [[ ! -x $bin ]]; then
		ensure_node
		mkdir -p "$prefix"
		npm install --prefix "$prefix" --no-audit --no-fund --loglevel=error \
			"dockerfile-utils@$LINTER_VERSION" >&2
	fi
	echo "$bin"
}

# dockerfile-utils' exit status is not a reliable signal on its own: treat
# any diagnostic line it prints as a failure too.
lint_one() {
	local bin=$1 file=$2 out rc=0
	[[ -f $file ]] || die "no such file: $file"
	out=$("$bin" lint "$file" 2>&1) || rc=$?
	if ((rc != 0)) || [[ -n $out ]]; then
		printf '%s\n' "$out"
		echo "FAIL $file (exit $rc)"
		return 1
	fi
	echo "PASS $file"
}

main() {
	local bin f fails=0
	(($# > 0)) || { echo "usage: $0 DOCKERFILE..." >&2; exit 2; }
	bin=$(ensure_linter)
	for f in "$@"; do
		lint_one "$bin" "$f" || fails=$((fails + 1))
	done
	((fails == 0))
}

main "$@"
