#!/usr/bin/env bash
# The "k8s" step of scripts/run-tests: deploy/kubernetes validated offline
# against the Kubernetes API schema, plus the policy checks a schema
# cannot make (manifests.test.mjs). Installs the pinned npm packages of
# package-lock.json (npm ci) when they are missing or stale.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	[[ $(id -u) -eq 0 ]] || { echo "k8s: node and npm missing (apt-get install nodejs npm)" >&2; exit 1; }
	apt-get -o DPkg::Lock::Timeout=900 update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
		--no-install-recommends nodejs npm >/dev/null
fi
# npm ci writes node_modules/.package-lock.json: newer than the lock file
# means the pinned set is in place.
if [[ ! node_modules/.package-lock.json -nt package-lock.json ]]; then
	timeout 600 npm ci --no-audit --no-fund --loglevel=error
fi
timeout 300 node --test manifests.test.mjs
