#!/usr/bin/env bash
# Runs the README's run command (`npm install && npm start`) in the current directory, as a new user
# would: waits for the broker, checks /healthz, publishes one event and reads it back, then stops the
# broker with SIGTERM and expects a clean exit. Used by .ci/run on a clean clone.
set -euo pipefail

# The commands checked here and in .ci/run must be the README's own.
for command in 'npm install && npm start' 'npm test'; do
  grep -qE "^${command}( |$)" README.md || {
    echo "README.md no longer gives the command '${command}': update .ci/readme-run.sh and .ci/run" >&2
    exit 1
  }
done

log="$(mktemp)"
# Port 0: the broker picks a free port and logs it (a port chosen beforehand could be taken by another
# process during the minutes npm install takes).
echo "README run command: npm install && npm start  (HERALD_PORT=0; output in ${log})"
# Its own process group, so the stop reaches npm, the shell and the broker alike.
HERALD_PORT=0 setsid bash -c 'npm install && npm start' >"${log}" 2>&1 </dev/null &
pid=$!
stop() { kill -TERM -- "-${pid}" 2>/dev/null || true; }
trap 'stop' EXIT

# npm install compiles better-sqlite3 on a fresh machine: allow minutes.
port=''
for _ in $(seq 1200); do
  port="$(sed -n 's/.*"port":\([0-9]*\).*"msg":"herald broker listening".*/\1/p' "${log}" | head -n1)"
  [[ -z "${port}" ]] || break
  if ! kill -0 "${pid}" 2>/dev/null; then
    echo "the run command exited before the broker listened:" >&2
    tail -n 50 "${log}" >&2
    exit 1
  fi
  sleep 0.5
done
[[ -n "${port}" ]] || { echo "the broker did not listen within 10 minutes" >&2; tail -n 50 "${log}" >&2; exit 1; }
url="http://127.0.0.1:${port}"
echo "  /healthz: $(curl -fsS "${url}/healthz")"
echo "  /version: $(curl -fsS "${url}/version")"

status="$(curl -sS -o /dev/null -w '%{http_code}' -X POST "${url}/events" \
  -H 'content-type: application/cloudevents+json' \
  -d '{"specversion":"1.0","id":"readme-run-1","source":"/ci","type":"com.example.ci"}')"
[[ "${status}" == "202" ]] || { echo "publish answered ${status}" >&2; tail -n 50 "${log}" >&2; exit 1; }
curl -fsS "${url}/events?from=1&limit=10" | grep -q '"readme-run-1"' || { echo "the event was not in the log" >&2; exit 1; }
echo "  publish: 202, and the event is in the log"

trap - EXIT
stop
# Every process of the group (npm, the shell, the broker) must be gone: the broker stops gracefully.
for _ in $(seq 600); do
  kill -0 -- "-${pid}" 2>/dev/null || break
  sleep 0.1
done
if kill -0 -- "-${pid}" 2>/dev/null; then
  echo "the run command was still running 60 s after SIGTERM" >&2
  kill -KILL -- "-${pid}" 2>/dev/null || true
  tail -n 50 "${log}" >&2
  exit 1
fi
wait "${pid}" 2>/dev/null || true
grep -q '"herald broker stopped"' "${log}" || { echo "the broker did not stop gracefully" >&2; tail -n 50 "${log}" >&2; exit 1; }
echo "  stopped gracefully"
rm -f "${log}"
