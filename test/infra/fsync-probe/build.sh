#!/usr/bin/env bash
# Builds the fsync probe (an LD_PRELOAD library, see fsync-probe.c) with the system C compiler into the
# cache directory, named by the hash of its source: idempotent, a few ms when current.
# Prints the absolute path of the library on stdout (progress goes to stderr).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
BIN_DIR="${CACHE_DIR}/bin"
SOURCE="${HERE}/fsync-probe.c"

log() { echo "fsync-probe/build.sh: $*" >&2; }

hash="$(sha256sum "${SOURCE}" | cut -c1-16)"
LIB="${BIN_DIR}/fsync-probe-${hash}.so"
if [[ -f "${LIB}" ]]; then
  log "cached ${LIB}"
  echo "${LIB}"
  exit 0
fi
CC="${CC:-cc}"
if ! command -v "${CC}" >/dev/null 2>&1; then
  log "a C compiler ('${CC}') is required to build the fsync probe (Debian: apt-get install gcc)"
  exit 1
fi
mkdir -p "${BIN_DIR}"
tmp="$(mktemp "${BIN_DIR}/.fsync-probe.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
"${CC}" -shared -fPIC -O2 -Wall -Wextra -Werror -o "${tmp}" "${SOURCE}" -ldl -lpthread
mv -f "${tmp}" "${LIB}"
log "built ${LIB}"
echo "${LIB}"
