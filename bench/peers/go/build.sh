#!/usr/bin/env bash
# Build the Go peer with Debian's golang-go and golang-github-lib-pq-dev.
# No module proxy is reachable, so build in GOPATH mode against the Debian
# source tree in /usr/share/gocode.
# Usage: build.sh OUTPUT_BINARY
set -euo pipefail

out=${1:?usage: build.sh OUTPUT_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

# Keep the compiler cache next to the output, not in $HOME.
export GOCACHE=${GOCACHE:-$(dirname "$out")/gocache}
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS='' CGO_ENABLED=0

rev=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
ldflags="-s -w -X main.version=bench -X main.commit=$rev -X main.buildTime=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
go build -trimpath -ldflags "$ldflags" -o "$out" "$here/main.go"
