#!/usr/bin/env bash
# Build the PostgreSQL stand-in (pg-standin/) into the private engine under
# the tag compose uses, so `image: postgres:16-alpine` resolves without a pull.
#
#   eval "$(tests/containers/engine.sh env WORKDIR)"; tests/containers/pg-standin.sh
#
# Needs docker.io/library/debian:bookworm-slim (base-image.sh).
set -euo pipefail

readonly TAG=docker.io/library/postgres:16-alpine
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
DOCKER=${DOCKER:-/usr/bin/docker}

main() {
	echo "pg-standin.sh: building a STAND-IN for $TAG: PostgreSQL 15 on Debian bookworm" >&2
	# BuildKit: needed for COPY --chmod; plain progress keeps RUN output
	# (including the stand-in notice) in CI logs.
	DOCKER_BUILDKIT=1 "$DOCKER" build --progress=plain -t "$TAG" "$HERE/pg-standin"
	echo "pg-standin.sh: $TAG is a stand-in: $("$DOCKER" run --rm --entrypoint postgres "$TAG" --version)" >&2
}

main "$@"
