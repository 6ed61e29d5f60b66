#!/usr/bin/env bash
# Builds (once, then cached) every real server the integration tests start: nats-server, kube-apiserver
# with embedded etcd and helm from the Go module proxy, the Istio and Gateway API CRDs (Go module proxy),
# and Apache Kafka's jars (Maven Central), and fetches wrk (Debian packages) for the bench's load tests,
# into ${HERALD_CACHE:-~/.cache/herald}.
# `npm test` runs this before Vitest. One lock: concurrent runs wait for one build instead of building
# twice. Progress goes to stderr; a cold cache takes about 11 minutes on 2 cores, a warm one milliseconds.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
# The `go` line of k8s/apiserver/go.mod: the newest toolchain any of the three builds needs.
GO_MIN="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "${HERE}/k8s/apiserver/go.mod" | head -n1)"

log() { echo "test servers: $*" >&2; }

need_go() {
  log "Go ${GO_MIN} or newer is required: the integration tests run a real nats-server, kube-apiserver and"
  log "helm, built from source through the Go module proxy (once; cached in ${CACHE_DIR}/bin)."
  log "Install Go from https://go.dev/dl/ (or your package manager), then rerun \`npm test\`."
  log "Without Go, the unit tests alone run with: npx vitest run src"
  exit 1
}
command -v go >/dev/null 2>&1 || { log "'go' was not found on PATH."; need_go; }
have="$(go env GOVERSION 2>/dev/null | sed 's/^go//')"
if [[ -z "${have}" || "$(printf '%s\n%s\n' "${GO_MIN}" "${have}" | sort -V | head -n1)" != "${GO_MIN}" ]]; then
  log "found Go ${have:-unknown}."
  need_go
fi

for tool in java mvn; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    log "'${tool}' was not found on PATH: the kafka store's tests run Apache Kafka, which needs Java 17 or newer,"
    log "and Maven resolves its jars from Maven Central (Debian: apt-get install openjdk-17-jre-headless maven)."
    exit 1
  fi
done

mkdir -p "${CACHE_DIR}/bin"
exec 9>"${CACHE_DIR}/bin/.build.lock"
if ! flock -n 9; then
  log "another build holds ${CACHE_DIR}/bin/.build.lock; waiting for it"
  flock 9
fi

# Runs one build script, printing a line every 30 s while the Go toolchain works silently.
build() {
  local name="$1" script="$2" started pid
  started=$(date +%s)
  bash "${script}" >/dev/null &
  pid=$!
  while kill -0 "${pid}" 2>/dev/null; do
    for _ in $(seq 150); do
      sleep 0.2
      kill -0 "${pid}" 2>/dev/null || break
    done
    if kill -0 "${pid}" 2>/dev/null; then log "still building ${name} ($(($(date +%s) - started)) s)"; fi
  done
  wait "${pid}" || { log "building ${name} failed (see above)"; exit 1; }
}

build nats-server "${HERE}/nats/build.sh"
build kube-apiserver "${HERE}/k8s/build.sh"
build helm "${HERE}/helm/build.sh"
build "Istio and Gateway API CRDs" "${HERE}/mesh/fetch.sh"
build "Apache Kafka" "${HERE}/kafka/build.sh"
build "fsync probe" "${HERE}/fsync-probe/build.sh"
build "wrk (the bench's load generator)" "${HERE}/wrk/build.sh"
