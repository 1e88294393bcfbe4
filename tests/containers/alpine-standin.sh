#!/usr/bin/env bash
# Build the alpine STAND-IN (alpine-standin/) into the private engine under
# the tag the Dockerfile's debug stage names, so that stage builds offline.
#
#   eval "$(tests/containers/engine.sh env WORKDIR)"; tests/containers/alpine-standin.sh
#
# Needs docker.io/library/debian:bookworm-slim (base-image.sh).
set -euo pipefail

readonly TAG=docker.io/library/alpine:3.20
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
DOCKER=${DOCKER:-/usr/bin/docker}

main() {
	echo "alpine-standin.sh: building a STAND-IN for $TAG: Debian's musl loader + busybox-static, not Alpine" >&2
	DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain -t "$TAG" "$HERE/alpine-standin"
	# The container's own os-release (single quotes: expanded inside it).
	# shellcheck disable=SC2016
	echo "alpine-standin.sh: $TAG is a stand-in: $("$DOCKER" run --rm "$TAG" sh -c '. /etc/os-release; echo "$PRETTY_NAME"')" >&2
}

main "$@"
