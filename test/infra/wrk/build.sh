#!/usr/bin/env bash
# Fetches wrk (the bench's closed-loop HTTP load generator) from the Debian packages into a cache directory
# outside the repo: `apt-get download` needs no root, and the package is unpacked, not installed.
# Idempotent: a wrk already on PATH or in the cache is used as it is.
# Prints the absolute path of the binary (a wrapper that finds the unpacked LuaJIT) on stdout; progress on stderr.
set -euo pipefail

CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
BIN_DIR="${CACHE_DIR}/bin"
BIN="${BIN_DIR}/wrk"
UNPACKED="${CACHE_DIR}/wrk-deb"

log() { echo "wrk/build.sh: $*" >&2; }

# `wrk -v` prints its version and exits 1.
if [[ -x "${BIN}" ]] && { "${BIN}" -v 2>&1 || true; } | grep -q '^wrk '; then
  log "cached wrk at ${BIN}"
  echo "${BIN}"
  exit 0
fi
if command -v wrk >/dev/null 2>&1; then
  log "wrk on PATH: $(command -v wrk)"
  command -v wrk
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  log "no wrk on PATH and no apt-get/dpkg-deb to fetch it: install wrk (https://github.com/wg/wrk) and put it on PATH"
  exit 1
fi

mkdir -p "${BIN_DIR}"
work="$(mktemp -d "${CACHE_DIR}/.wrk-fetch.XXXXXX")"
trap 'rm -rf "${work}"' EXIT
log "apt-get download wrk libluajit-5.1-2"
if ! (cd "${work}" && apt-get download wrk libluajit-5.1-2 >&2); then
  # Empty or stale package lists: refresh them when allowed to, then try once more.
  [[ "$(id -u)" == 0 ]] || { log "apt-get download failed: run apt-get update (as root), then this script again"; exit 1; }
  log "apt-get update, then download again"
  apt-get update -qq >&2
  (cd "${work}" && apt-get download wrk libluajit-5.1-2 >&2)
fi
rm -rf "${UNPACKED}"
for deb in "${work}"/*.deb; do dpkg-deb -x "${deb}" "${UNPACKED}"; done
real="$(find "${UNPACKED}" -path '*/bin/wrk' -type f | head -n 1)"
lib="$(dirname "$(find "${UNPACKED}" -name 'libluajit-5.1.so.2*' | head -n 1)")"
[[ -n "${real}" && -n "${lib}" ]] || { log "the packages did not contain wrk and libluajit"; exit 1; }
cat >"${work}/wrk" <<WRAPPER
#!/bin/sh
LD_LIBRARY_PATH="${lib}\${LD_LIBRARY_PATH:+:\${LD_LIBRARY_PATH}}" exec "${real}" "\$@"
WRAPPER
chmod +x "${work}/wrk"
mv -f "${work}/wrk" "${BIN}"
log "$({ "${BIN}" -v 2>&1 || true; } | head -n 1)"
echo "${BIN}"
