#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy into a cache directory outside the repo, for the chart tests
# (test/helm). helm.sh/helm/v3's go.mod has no replace directives, so a plain `go install` works.
# Idempotent: does nothing when the cached binary already reports the pinned version.
# Prints the absolute path of the binary on stdout (progress goes to stderr).
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
BIN_DIR="${CACHE_DIR}/bin"
BIN="${BIN_DIR}/helm"

log() { echo "helm/build.sh: $*" >&2; }

if ! command -v go >/dev/null 2>&1; then
  log "the Go toolchain ('go' 1.26 or newer) is required to build helm; install it from https://go.dev/dl/"
  exit 1
fi

if [[ -x "${BIN}" ]]; then
  have="$("${BIN}" version --template '{{.Version}}' 2>/dev/null || true)"
  if [[ "${have}" == "${HELM_VERSION}" ]]; then
    log "cached helm ${have} at ${BIN}"
    echo "${BIN}"
    exit 0
  fi
  log "cached binary reports '${have:-unknown}', want ${HELM_VERSION}: rebuilding"
fi

mkdir -p "${BIN_DIR}"
tmp_bin="$(mktemp -d "${BIN_DIR}/.helm-build.XXXXXX")"
trap 'rm -rf "${tmp_bin}"' EXIT

log "building helm.sh/helm/v3/cmd/helm@${HELM_VERSION} (nice -n 10, GOFLAGS=-p=2)"
start=$(date +%s)
# helm reports its version from this variable; `go install` leaves it at the module's placeholder otherwise.
GOBIN="${tmp_bin}" GOFLAGS="${GOFLAGS:+${GOFLAGS} }-p=2" CGO_ENABLED=0 nice -n 10 \
  go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
mv -f "${tmp_bin}/helm" "${BIN}"
log "built in $(($(date +%s) - start))s: $("${BIN}" version --short)"
echo "${BIN}"
