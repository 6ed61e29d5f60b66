#!/usr/bin/env bash
# Planted-bug checks for the process-level guarantees (`npm run planted`; not part of `npm test` or CI).
# Each test/planted/<bug>.patch plants one bug that a guarantee's tests must catch. In a scratch copy of
# the working tree (never the tree itself) this script first runs every named test file unpatched (they
# must pass: otherwise "caught" means nothing), then, per bug, applies the patch, rebuilds, runs that
# bug's test files and reports CAUGHT (a test failed) or SURVIVED (all passed).
# Exit status: 0 only when every patch applies, the baseline passes and every bug is caught; a patch
# that no longer applies (the code moved) is reported STALE and fails the run, so the patches are kept.
# Usage: test/planted/run.sh [--no-baseline] [bug …]   (logs: $HERALD_PLANTED_LOGS, default a temp dir)
set -uo pipefail
# One compound command: bash reads it whole before running it, so editing this file mid-run is harmless.
{

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PLANTED="${ROOT}/test/planted"

# The bug each patch plants → the test files that must catch it.
declare -A TESTS=(
  [dead-letter-sink-untraced]="test/telemetry/trace-journeys.test.ts"
  [extension-context-unlinked]="test/telemetry/trace-journeys.test.ts"
  [read-failure-log-per-subscription]="test/telemetry/read-failure-logs.test.ts"
  [tail-read-failure-unthrottled]="src/dispatch/dispatcher.test.ts"
  [subscription-invalid-unmeasured]="test/upgrade/unstartable-subscription.test.ts"
  [unstartable-subscription-dropped]="test/upgrade/unstartable-subscription.test.ts test/jetstream/replica-limits.test.ts"
  [kafka-definition-unleased]="src/store/kafka/definitions.test.ts"
  [legacy-dead-letters-unkeyed]="test/upgrade/embedded-fixtures.test.ts src/store/embedded/format-version.test.ts"
  [store-format-newer-opened]="test/upgrade/embedded-fixtures.test.ts src/store/embedded/format-version.test.ts"
  [internal-error-log-unthrottled]="test/telemetry/internal-error-logs.test.ts"
  [cesql-like-step-unweighted]="src/cesql/cost.test.ts"
  [paused-retry-sent-after-token-wait]="test/delivery/pause-rate-limited-retry.test.ts"
  [pump-timer-first-kept]="test/delivery/batch-rate-limit.test.ts"
  [delivery-timeout-zero-accepted]="test/delivery/attempt-timeout-zero.test.ts"
  [limits-per-replica]="test/jetstream/replica-subscription-limits.test.ts test/kafka/replica-subscription-limits.test.ts"
  [jetstream-subscription-sync-unwaited]="src/store/jetstream/jetstream-store.test.ts"
  [kafka-subscription-sync-unwaited]="src/store/kafka/kafka-store.test.ts"
  [text-data-lone-surrogate-replaced]="test/delivery/wire-format.test.ts src/cloudevents/json-format.test.ts"
  [cloudevents-content-type-sent-binary]="test/delivery/wire-format.test.ts"
  [datacontenttype-quoted-non-ascii]="test/delivery/wire-format.test.ts src/cloudevents/validate.test.ts"
  [integer-fraction-spelling-kept]="test/delivery/wire-format.test.ts src/cloudevents/json-format.test.ts"
  [text-data-bom-dropped]="test/delivery/wire-format.test.ts src/cloudevents/json-bytes.test.ts"
  [dead-letter-page-untaken-kept]="test/bounds/dead-letter-pages.test.ts"
  [dead-letter-page-uncut]="test/bounds/dead-letter-pages.test.ts"
  [dead-letter-reads-unadmitted]="test/bounds/dead-letter-pages.test.ts"
  [dead-letter-unkeyed]="test/delivery/dead-letter-crash.test.ts"
  [dead-letter-key-ignores-seek]="test/bounds/dead-letters.test.ts"
  [dead-letter-redriven-keyed-live]="test/delivery/redrive.test.ts"
  [embedded-dead-letter-key-unstored]="src/store/embedded/dead-letter-keys.test.ts test/delivery/dead-letter-crash.test.ts"
  [jetstream-dead-letter-key-ignored]="src/store/jetstream/jetstream-store.test.ts test/jetstream/dead-letter-crash.test.ts"
  [kafka-dead-letter-key-ignored]="src/store/kafka/kafka-store.test.ts"
  [kafka-retired-keys-unnoted]="src/store/kafka/dedupe-retention.test.ts"
  [tail-event-unsliced]="test/bounds/tenant-filters.test.ts"
  [redrive-worker-delivers-log]="test/jetstream/redrive-handshake-other-replica.test.ts"
  [claim-ran-out-answer-acted-on]="test/jetstream/claim-lost-stalled-answer.test.ts"
  [k8s-change-over-unheard-change]="test/k8s/subscription-replace.test.ts"
  [change-over-unheard-change]="src/subscriptions/service-changed-meanwhile.test.ts"
  [redrive-holds-all-letters]="test/bounds/dead-letter-redrive.test.ts"
  [operator-finalizer-patch-unconditional]="test/k8s/operator-changes.test.ts"
  [operator-rolling-update]="test/k8s/install.test.ts"
  [operator-watch-without-deadline]="test/k8s/operator-changes.test.ts"
  [operator-storage-change-unreported]="test/k8s/operator-changes.test.ts"
  [operator-children-unwatched]="test/k8s/operator-changes.test.ts"
  [channel-transition-time-moves]="test/k8s/operator-changes.test.ts"
  [jetstream-cursor-commit-unfenced]="test/jetstream/stale-cursor-commit.test.ts src/store/jetstream/jetstream-store.test.ts"
  [kafka-cursor-commit-unfenced]="test/kafka/stale-cursor-commit.test.ts src/store/kafka/kafka-store.test.ts"
  [fsync-synchronous-off]="test/durability/fsync.test.ts"
  [cursor-past-in-flight]="test/delivery/in-flight-crash.test.ts"
  [recovery-takes-partial-group]="src/store/embedded/segment-log.test.ts"
  [thread-index-before-waiting]="src/store/embedded/sqlite-store.test.ts"
  [redrive-skips-last]="test/delivery/redrive.test.ts"
  [redrive-deletes-first]="test/delivery/redrive.test.ts"
  [exponential-as-linear]="test/delivery/retries.test.ts"
  [batch-one-per-request]="test/delivery/content-modes.test.ts"
  [sigterm-abandons-deliveries]="test/operations/shutdown.test.ts"
  [stop-follows-tail]="test/delivery/subscription-changes.test.ts"
  [redrive-detached-cut-by-claim-retry]="test/jetstream/redrive-two-replicas.test.ts"
  [redrive-replicas-deliver-twice]="test/jetstream/redrive-two-replicas.test.ts"
  [delete-loads-dead-letters]="test/bounds/dead-letter-delete.test.ts"
  [tail-idle-unbounded]="test/client/tail-silent-stream.test.ts"
  [kafka-foreign-tail-spins]="test/kafka/foreign-last-record.test.ts"
  [jetstream-foreign-tail-spins]="test/jetstream/foreign-last-message.test.ts"
  [k8s-eventtypes-unread-unchecked]="test/k8s/eventtypes-unlisted.test.ts"
  [dashboard-redrive-all-first-page]="test/ui/dashboard-redrive-all.test.ts"
  [request-target-unparsed-internal]="test/telemetry/malformed-target.test.ts"
  [cli-position-lenient]="test/client/cli-positions.test.ts"
  [remote-delete-keeps-dead-letters]="test/jetstream/delete-while-delivering.test.ts"
  [k8s-broker-no-resource-requests]="test/k8s/operator-workload.test.ts"
  [dashboard-tail-resume-at-now]="test/ui/dashboard-tail-resume.test.ts"
  [expect-continue-invited-early]="test/bounds/transport.test.ts"
  [span-attributes-unbounded]="test/telemetry/span-bounds.test.ts"
  [ingress-span-route-raw-path]="test/telemetry/span-bounds.test.ts"
  [jetstream-foreign-page-empty]="src/store/jetstream/undecodable.test.ts"
  [redrive-wait-first-page]="test/client/deadletters-redrive-wait.test.ts"
  [kafka-undecodable-returned]="src/store/kafka/undecodable.test.ts"
  [kafka-read-trusts-lagging-node]="src/store/kafka/lagging-read.test.ts"
  [kafka-foreign-page-empty]="src/store/kafka/undecodable.test.ts"
  [jetstream-undecodable-stops-reads]="src/store/jetstream/undecodable.test.ts"
  [k8s-subscriptions-unlisted-ready]="test/k8s/stalled-watch.test.ts"
  [declared-oversize-kept-open]="test/bounds/transport.test.ts"
  [client-timeout-unarmed]="test/client/hung-broker.test.ts"
  [publish-413-unsplit]="test/client/publish-split.test.ts"
  [tls-handshake-unbounded]="test/security/tls-transport.test.ts"
  [tls-connection-caps-unenforced]="test/security/tls-transport.test.ts"
  [k8s-operator-cannot-manage-budgets]="test/k8s/operator-workload.test.ts"
  [k8s-broker-no-disruption-budget]="test/k8s/operator-workload.test.ts"
  [k8s-broker-replicas-not-spread]="test/k8s/operator-workload.test.ts"
  [k8s-broker-liveness-kills-recovery]="test/k8s/operator-workload.test.ts"
  [kafka-dedupe-window-above-max-age]="src/store/kafka/dedupe-retention.test.ts"
  [jetstream-duplicate-window-clamped]="src/store/jetstream/duplicate-window.test.ts"
  [operator-dedupe-window-above-max-age]="test/k8s/channel-dedupe-window.test.ts"
  [dedupe-window-above-max-age-accepted]="src/config/dedupe-retention.test.ts"
  [start-time-ahead-ignored]="test/delivery/start-at-time.test.ts"
  [docs-metrics-list-incomplete]="test/docs/references.test.ts"
  [docs-label-values-incomplete]="test/docs/references.test.ts"
  [dedupe-retired-by-retention]="src/store/embedded/dedupe-retention.test.ts test/durability/dedupe-after-retention.test.ts"
  [subscription-change-kept-when-unwritten]="src/subscriptions/service-write-fails.test.ts"
  [cursor-commit-bookkeeping-by-key]="src/dispatch/cursor-commits.test.ts"
  [shutdown-delay-closes-at-once]="test/operations/shutdown.test.ts"
  [k8s-watch-without-deadline]="test/k8s/stalled-watch.test.ts"
  [keep-alive-zero-never]="src/config/values.test.ts"
  [k8s-eventpolicy-deleting-grants]="test/k8s/deleting-resources.test.ts"
  [k8s-subscription-deleting-delivered]="test/k8s/deleting-resources.test.ts"
  [number-option-empty-as-zero]="src/config/values.test.ts"
  [yaml-duration-number-as-ms]="src/config/values.test.ts"
  [duration-timer-overflow]="src/config/values.test.ts"
  [segment-read-unchecked]="src/store/embedded/segment-checksum.test.ts"
  [eventtypes-schema-recursion-uncaught]="test/ingress/eventtype-schema-hazards.test.ts src/eventtypes/schema-validator.test.ts"
  [eventtypes-pattern-backtracking]="test/ingress/eventtype-schema-hazards.test.ts src/eventtypes/schema-validator.test.ts"
  [duplicate-check-lock-uncaught]="test/durability/locked-database.test.ts"
  [batch-bom-uncounted]="test/ingress/hostile-publishers.test.ts"
  [binary-json-bom-kept]="test/ingress/hostile-publishers.test.ts"
  [problem-echo-unbounded]="test/ingress/hostile-publishers.test.ts"
  [header-lines-dropped]="test/ingress/hostile-publishers.test.ts"
  [content-coding-stored-as-data]="test/ingress/hostile-publishers.test.ts"
  [spare-fills-disk]="test/durability/disk-full.test.ts"
  [rewind-extends-full-disk]="src/store/embedded/segment-log.test.ts test/durability/disk-full.test.ts"
  [log-from-time-lenient]="src/log-api/from-time.test.ts"
  [retry-ignores-rate-limit]="test/delivery/rate-limit-retries.test.ts"
  [eventtypes-unreadable-file-fatal]="src/eventtypes/registry.test.ts"
  [cesql-like-steps-uncharged]="src/cesql/cost.test.ts"
  [static-token-unpresentable-taken]="src/auth/static-tokens.test.ts"
  [jwt-kidless-multiple-keys-refused]="src/auth/jwt.test.ts test/security/jwt-kidless.test.ts"
  [retry-after-any-date]="src/dispatch/retry.test.ts"
  [operator-statefulset-name-unchecked]="test/k8s/operator-invalid-and-conflicts.test.ts"
  [refusal-log-per-request]="test/telemetry/refusal-logs.test.ts"
  [tail-unreachable-retried]="test/client/cli-tail-unreachable.test.ts"
  [publish-buffer-unreserved]="test/client/publish-backpressure.test.ts"
  [invalid-traceparent-kept]="test/telemetry/tracing.test.ts src/observability/trace-context.test.ts"
  [trace-context-unbounded]="test/telemetry/trace-context-bounds.test.ts src/observability/trace-context.test.ts"
  [dashboard-refusals-unguarded]="src/dashboard/static-files.test.ts"
  [dashboard-fallback-cached-immutable]="src/dashboard/static-files.test.ts"
  [secret-ref-reads-any-secret]="test/security/kubernetes-sinks.test.ts"
  [auth-delegator-name-collides]="test/k8s/operator-invalid-and-conflicts.test.ts"
  [operator-adopts-unowned]="test/k8s/operator-invalid-and-conflicts.test.ts"
  [operator-name-unchecked]="test/k8s/operator-invalid-and-conflicts.test.ts"
  [operator-spec-unchecked]="test/k8s/operator-invalid-and-conflicts.test.ts"
  [seed-extensions-missing]="test/delivery/seed.test.ts"
  [seed-unsub-query-case]="test/delivery/seed.test.ts"
  [seed-pub-json-unbounded]="test/ingress/seed-pub-bounds.test.ts"
  [seed-group-partial-kept]="test/jetstream/seed-group-partial.test.ts"
  [log-reader-holds-store-read]="src/log-api/stalled-reader-memory.test.ts"
  [sse-data-line-breaks-unsplit]="src/log-api/stream-framing.test.ts"
  [jetstream-dead-letter-delete-raced]="src/store/jetstream/jetstream-store.test.ts"
  [detached-redrive-outlives-change]="src/dispatch/redrive-changes.test.ts"
  [redrive-outlives-retire]="src/dispatch/redrive-changes.test.ts"
  [replace-ignores-incarnation]="src/subscriptions/service-deleted-meanwhile.test.ts src/subscriptions/registry.test.ts"
  [k8s-replace-ignores-incarnation]="test/k8s/subscription-replace.test.ts test/k8s/registry-conformance.test.ts"
  [seek-keeps-held-attempt]="test/delivery/subscription-changes.test.ts"
  [dead-letter-failure-drops]="test/delivery/subscription-changes.test.ts"
  # The trust boundaries and the bounds under abuse.
  [sink-guard-link-local-v4-open]="src/sink-guard/addresses.test.ts"
  [sink-guard-checks-name-not-address]="src/dispatch/sink-client.test.ts"
  [dedupe-key-drops-principal]="test/security/dedupe-principals.test.ts"
  [subscription-update-unowned]="test/security/auth.test.ts"
  [policy-glob-unanchored]="src/auth/policy.test.ts"
  [jwt-tolerance-in-ms]="src/auth/jwt.test.ts"
  [rebinding-svc-suffix-unanchored]="test/security/dns-rebinding.test.ts"
  [token-review-audience-optional]="src/auth/token-review.test.ts"
  [token-review-unbounded]="src/auth/token-review.test.ts"
  [subscription-api-secretref-accepted]="test/security/kubernetes-sinks.test.ts"
  [eventpolicies-unread-allow]="test/security/kubernetes-policies-unread.test.ts"
  [malformed-json-quotes-body]="test/security/sink-credentials.test.ts"
  [owner-check-skips-missing]="test/security/auth.test.ts"
  [seed-group-refusal-worded-apart]="test/security/auth.test.ts"
  [binary-json-depth-unchecked]="test/bounds/ingress.test.ts"
  [filter-attributes-uncounted]="src/filters/filters.test.ts"
  # Hostile peers and the bounds they lean on (sinks, slow clients, sizes, slots, budgets, rates, dead letters).
  [sink-response-limit-in-kib]="src/dispatch/sink-client.test.ts"
  [sink-deadline-until-headers]="test/security/sink-bounds.test.ts"
  [request-timeout-unarmed]="test/bounds/transport.test.ts"
  [event-size-summed-over-batch]="test/ingress/limits.test.ts"
  [log-read-slot-kept-on-close]="src/log-api/log-api.test.ts"
  [cesql-like-uncharged]="src/cesql/cost.test.ts"
  [token-refill-per-ms]="src/limits/token-bucket.test.ts"
  [dead-letter-max-letters-unapplied]="src/store/dead-letter-limits.test.ts"
  # Lost subscriptions, duplicates, ordering and replay (and the filters, the seed routes and the
  # Kubernetes status that decide what a subscriber gets).
  [subscription-change-unpersisted]="test/delivery/subscriptions-api.test.ts"
  [seed-unsub-first-subscriber-only]="test/delivery/seed.test.ts"
  [seed-stream-position-ignored]="test/delivery/seed.test.ts"
  [partitionkey-attribute-misnamed]="test/delivery/ordering.test.ts"
  [start-sequence-after-given]="test/delivery/replay.test.ts"
  [prefix-suffix-swapped]="src/filters/filters.test.ts"
  [exact-case-insensitive]="src/filters/filters.test.ts"
  [dedupe-window-not-rebuilt]="src/store/embedded/sqlite-store.test.ts"
  [subscription-status-written-once]="test/k8s/broker-kubernetes.test.ts"
  # The distributed stores: a publish or dead letter stored twice, two replicas delivering one subscription.
  [jetstream-dedupe-off-without-id]="src/store/jetstream/jetstream-store.test.ts"
  [jetstream-dead-letter-id-per-attempt]="src/store/jetstream/jetstream-store.test.ts"
  [lease-renewal-outlives-ttl]="src/store/lease-keeper.test.ts"
  [kafka-group-bytes-in-kib]="src/store/kafka/kafka-store.test.ts"
  [kafka-follower-wait-unbounded]="src/store/kafka/kafka-store.test.ts"
  [kafka-suspects-to-high-watermark]="src/store/kafka/event-log-suspects.test.ts"
  [cursor-key-ignores-incarnation]="src/dispatch/recreated-subscription.test.ts"
  [heard-changes-unordered]="src/subscriptions/service-jetstream.test.ts"
  [local-changes-unserialized]="src/subscriptions/service-jetstream.test.ts"
  [jetstream-replace-unconditional]="src/subscriptions/service-deleted-meanwhile.test.ts"
  [start-adds-unserialized]="src/subscriptions/service-start-meanwhile.test.ts"
  [kubernetes-own-echoes-reported]="test/k8s/subscription-echoes.test.ts"
  [kubernetes-put-without-precondition]="test/k8s/subscription-echoes.test.ts"
  [kafka-bootstrap-order-kept]="src/store/kafka/bootstrap.test.ts"
  [kafka-admin-unbounded]="src/store/kafka/bootstrap.test.ts"
)

baseline=1
bugs=()
for arg in "$@"; do
  case "${arg}" in
    --no-baseline) baseline=0 ;;
    -h | --help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) [[ -n "${TESTS[${arg}]:-}" ]] || { echo "unknown bug '${arg}' (known: ${!TESTS[*]})" >&2; exit 2; }
       bugs+=("${arg}") ;;
  esac
done
if [[ ${#bugs[@]} -eq 0 ]]; then
  for patch in "${PLANTED}"/*.patch; do bugs+=("$(basename "${patch}" .patch)"); done
fi
for bug in "${bugs[@]}"; do
  [[ -n "${TESTS[${bug}]:-}" ]] || { echo "test/planted/${bug}.patch has no test files in run.sh" >&2; exit 2; }
done

scratch="$(mktemp -d "${TMPDIR:-/tmp}/herald-planted.XXXXXX")"
logs="${HERALD_PLANTED_LOGS:-${scratch}-logs}"
mkdir -p "${logs}"
trap 'rm -rf "${scratch}"' EXIT
log() { echo "planted: $*" >&2; }

# The working tree as it is (tracked and untracked, not ignored files), the dependencies by link.
log "copying the working tree to ${scratch}"
(cd "${ROOT}" && git ls-files -z --cached --others --exclude-standard | xargs -0 tar -cf - 2>/dev/null) |
  tar -xf - -C "${scratch}"
ln -s "${ROOT}/node_modules" "${scratch}/node_modules"
cd "${scratch}" || exit 1
log "building (tsc, dashboard, build info)"
npm run build --silent >"${logs}/build.log" 2>&1 || { log "the unpatched build failed: ${logs}/build.log"; exit 1; }
# The real servers some mapped tests start (kube-apiserver for test/k8s, nats-server, …), as `npm test`
# builds them: cached in ${HERALD_CACHE:-~/.cache/herald}, so only the first run on a machine waits.
log "building the real test servers (test/infra/build-all.sh; cached)"
bash test/infra/build-all.sh >"${logs}/servers.log" 2>&1 || { log "building the test servers failed: ${logs}/servers.log"; exit 1; }

# A patch to the dashboard's scripts (ui/) needs its bundle rebuilt too: planted, and again once removed.
touches_ui() { grep -q '^+++ b/ui/' "${PLANTED}/$1.patch"; }
build_ui() { npx vite build --config ui/vite.config.ts >>"${logs}/$1.build.log" 2>&1; }
rebuild() { npx tsc -p tsconfig.build.json >>"${logs}/$1.build.log" 2>&1 && { ! touches_ui "$1" || build_ui "$1"; }; }
run_tests() { # name, files… → exit status of vitest
  local name="$1"
  shift
  npx vitest run "$@" >"${logs}/${name}.log" 2>&1
}

declare -A RESULT
status=0
if [[ ${baseline} -eq 1 ]]; then
  files=()
  for bug in "${bugs[@]}"; do files+=(${TESTS[${bug}]}); done
  mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u)
  log "baseline: ${files[*]}"
  if ! run_tests baseline "${files[@]}"; then
    log "the baseline fails without any planted bug: ${logs}/baseline.log"
    tail -n 5 "${logs}/baseline.log" >&2
    exit 1
  fi
fi

for bug in "${bugs[@]}"; do
  patch="${PLANTED}/${bug}.patch"
  if ! git apply --check "${patch}" 2>"${logs}/${bug}.apply.log"; then
    RESULT[${bug}]="STALE (the patch no longer applies: refresh it)"
    status=1
    continue
  fi
  git apply "${patch}"
  log "${bug}: planted; running ${TESTS[${bug}]}"
  if ! rebuild "${bug}"; then
    RESULT[${bug}]="BROKEN (the planted code does not compile: ${logs}/${bug}.build.log)"
    status=1
  elif run_tests "${bug}" ${TESTS[${bug}]}; then
    RESULT[${bug}]="SURVIVED"
    status=1
  else
    RESULT[${bug}]="CAUGHT ($(grep -E '^[0-9]+ passed, [0-9]+ failed' "${logs}/${bug}.log" | tail -n1))"
  fi
  git apply -R "${patch}"
  if touches_ui "${bug}"; then build_ui "${bug}"; fi
done

echo
printf '%-36s %-40s %s\n' "planted bug" "test files" "result"
for bug in "${bugs[@]}"; do
  printf '%-36s %-40s %s\n' "${bug}" "${TESTS[${bug}]}" "${RESULT[${bug}]}"
done
echo "logs: ${logs}"
exit "${status}"
}
