#!/usr/bin/env bash
# Fuzzes the broker's HTTP API from its own /openapi.json with schemathesis (pinned, installed into a venv
# in the cache dir) against a real broker process on loopback, with a bounded budget. Fails on any
# failed check: a 5xx, an undocumented status, a response that does not match the document, …
# Needs `npm run build` first. Usage: bash test/fuzz/schemathesis.sh [extra schemathesis args]
set -euo pipefail
cd "$(dirname "$0")/../.."

VERSION=4.32.5
VENV="${XDG_CACHE_HOME:-$HOME/.cache}/herald/schemathesis-$VERSION"
if [ ! -x "$VENV/bin/schemathesis" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "schemathesis==$VERSION"
fi

WORK=$(mktemp -d)
BROKER_PID=""
cleanup() {
  if [ -n "$BROKER_PID" ]; then kill "$BROKER_PID" 2>/dev/null || true; wait "$BROKER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

node dist/cli/main.js broker --host 127.0.0.1 --port 0 --data-dir "$WORK/data" --log-level info --shutdown-timeout 5s \
  --sink-allow 127.0.0.1/32 \
  >"$WORK/broker.log" 2>&1 &
BROKER_PID=$!
PORT=""
for _ in $(seq 1 200); do
  PORT=$(grep -o '"msg":"herald broker listening"' -m1 "$WORK/broker.log" >/dev/null &&
    grep -m1 'herald broker listening' "$WORK/broker.log" | grep -o '"port":[0-9]*' | cut -d: -f2 || true)
  [ -n "$PORT" ] && break
  kill -0 "$BROKER_PID" 2>/dev/null || { cat "$WORK/broker.log"; exit 1; }
  sleep 0.1
done
[ -n "$PORT" ] || { echo "broker did not start"; cat "$WORK/broker.log"; exit 1; }

# /events/stream never ends by design (a live tail), so it is not fuzzed; everything else is.
# A fixed seed keeps CI reproducible; run locally with SCHEMATHESIS_SEED=N to explore further.
# Not run: positive_data_acceptance (a schema cannot say what makes a request valid here: CESQL filters,
# CloudEvents attribute rules, an id in a PUT body that must match the path, so valid-looking data gets a
# documented 400), and ensure_resource_availability (a redrive naming unknown dead-letter ids answers 404
# for those ids while the subscription exists). The coverage phase is skipped: it crashes inside
# schemathesis on Python 3.11 ("AST constructor recursion depth mismatch"), not on our answers.
# Run from the scratch directory: schemathesis keeps a cache (.schemathesis/) in its working directory.
status=0
# Every sink the fuzzer names is rewritten to a loopback address (herald_fuzz_hooks.py): nothing leaves
# the machine.
HOOKS_DIR="$PWD/test/fuzz"
(cd "$WORK" && PYTHONPATH="$HOOKS_DIR" SCHEMATHESIS_HOOKS=herald_fuzz_hooks "$VENV/bin/schemathesis" run "http://127.0.0.1:$PORT/openapi.json" \
  --checks all \
  --exclude-checks positive_data_acceptance,ensure_resource_availability \
  --phases examples,fuzzing,stateful \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --max-time "${SCHEMATHESIS_MAX_TIME:-120}" \
  --exclude-path /events/stream \
  --request-timeout 10 \
  --seed "${SCHEMATHESIS_SEED:-20261201}" \
  --workers 2 \
  "$@") || status=$?
# The hooks must have kept every sink on loopback.
created=$(grep -c '"msg":"subscription created"' "$WORK/broker.log" || true)
outside=$(grep '"msg":"subscription created"' "$WORK/broker.log" | grep -vc '"sink":"http://127.0.0.1:9/fuzz"' || true)
echo "subscriptions created during the run: $created, with a sink off loopback: $outside"
if [ "$outside" != "0" ]; then
  grep '"msg":"subscription created"' "$WORK/broker.log" | grep -v '"sink":"http://127.0.0.1:9/fuzz"' | head -5
  status=1
fi
if grep -q '"level":50' "$WORK/broker.log"; then
  echo "the broker logged errors during the run:"
  grep '"level":50' "$WORK/broker.log" | head -20
  status=1
fi
exit "$status"
