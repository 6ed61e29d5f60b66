#!/usr/bin/env bash
# Fetches the Istio and Gateway API CustomResourceDefinitions from their published Go modules through
# the Go module proxy, into a cache directory outside the repo. The docs tests install them into the
# test kube-apiserver and apply every YAML block of docs/istio.md against their schemas.
#
# Idempotent: when the cached files for the pinned versions exist, it does nothing. Prints the
# directory holding istio.yaml and gateway-api.yaml on stdout (progress goes to stderr).
set -euo pipefail

ISTIO_API_VERSION="${ISTIO_API_VERSION:-v1.32.0}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.3}"
CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
OUT="${CACHE_DIR}/crds/istio-${ISTIO_API_VERSION}_gateway-api-${GATEWAY_API_VERSION}"

log() { echo "mesh/fetch.sh: $*" >&2; }

if [[ -s "${OUT}/istio.yaml" && -s "${OUT}/gateway-api.yaml" ]]; then
  log "cached CRDs at ${OUT}"
  echo "${OUT}"
  exit 0
fi
if ! command -v go >/dev/null 2>&1; then
  log "the Go toolchain ('go') is required to download the CRD modules"
  exit 1
fi

module_dir() {
  # `go mod download` outside a module: only the proxy is asked; prints the extracted directory.
  local dir
  dir="$(cd / && GOFLAGS=-mod=mod GO111MODULE=on go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  if [[ -z "${dir}" || ! -d "${dir}" ]]; then
    log "could not download $1 from the module proxy"
    exit 1
  fi
  echo "${dir}"
}

istio="$(module_dir "istio.io/api@${ISTIO_API_VERSION}")"
gateway="$(module_dir "sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}")"

mkdir -p "${OUT}"
tmp="$(mktemp -d "${OUT}/.fetch.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
cp "${istio}/kubernetes/customresourcedefinitions.gen.yaml" "${tmp}/istio.yaml"
# The standard channel (what Istio supports for the mesh); CRDs only, not the admission policy file.
for file in "${gateway}"/config/crd/standard/gateway.networking.k8s.io_*.yaml; do
  if grep -q '^kind: CustomResourceDefinition' "${file}"; then
    printf -- '---\n' >>"${tmp}/gateway-api.yaml"
    cat "${file}" >>"${tmp}/gateway-api.yaml"
  fi
done
chmod 644 "${tmp}"/*.yaml
mv -f "${tmp}/istio.yaml" "${OUT}/istio.yaml"
mv -f "${tmp}/gateway-api.yaml" "${OUT}/gateway-api.yaml"
log "Istio ${ISTIO_API_VERSION} and Gateway API ${GATEWAY_API_VERSION} CRDs at ${OUT}"
echo "${OUT}"
