#!/usr/bin/env bash
# Builds nats-server (JetStream) from the Go module proxy into a cache directory outside the repo.
# Idempotent: does nothing when the cached binary already reports the pinned version.
# Prints the absolute path of the binary on stdout (progress goes to stderr).
set -euo pipefail

NATS_SERVER_VERSION="${NATS_SERVER_VERSION:-v2.15.3}"
CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
BIN_DIR="${CACHE_DIR}/bin"
BIN="${BIN_DIR}/nats-server"

log() { echo "nats/build.sh: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "the Go toolchain ('go') is required to build nats-server"
  exit 1
fi

want="${NATS_SERVER_VERSION#v}"
if [[ -x "${BIN}" ]]; then
  have="$("${BIN}" --version 2>/dev/null | sed -n 's/^nats-server: v\{0,1\}\([^ ]*\).*/\1/p' || true)"
  if [[ "${have}" == "${want}" ]]; then
    log "cached nats-server ${have} at ${BIN}"
    echo "${BIN}"
    exit 0
  fi
  log "cached binary reports '${have:-unknown}', want ${want}: rebuilding"
fi

mkdir -p "${BIN_DIR}"
tmp_bin="$(mktemp -d "${BIN_DIR}/.nats-build.XXXXXX")"
trap 'rm -rf "${tmp_bin}"' EXIT

log "building github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION} (GOFLAGS=-p=2)"
start=$(date +%s)
GOBIN="${tmp_bin}" GOFLAGS="${GOFLAGS:+${GOFLAGS} }-p=2" CGO_ENABLED=0 \
  go install -trimpath -ldflags "-s -w" "github.com/nats-io/nats-server/v2@${NATS_SERVER_VERSION}"
mv -f "${tmp_bin}/nats-server" "${BIN}"
log "built in $(($(date +%s) - start))s: $("${BIN}" --version)"
echo "${BIN}"
