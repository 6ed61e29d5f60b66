"""Schemathesis hooks for fuzzing a Herald broker (loaded through SCHEMATHESIS_HOOKS by schemathesis.sh).

Generated subscriptions name random sinks (https://0.com, …), and the broker would try to deliver to
them. Every valid absolute http(s) URL in a sink field is replaced by a loopback address where nothing
listens, so the run never leaves the machine. Only valid URLs are replaced: a request that breaks the
schema elsewhere stays as invalid as it was.
"""

import re

import schemathesis

LOOPBACK_SINK = "http://127.0.0.1:9/fuzz"
SINK_FIELDS = {"sink", "deadLetterSink", "subscribers", "uri"}
URL = re.compile(r"^https?://", re.IGNORECASE)


def _loopback(value):
    if isinstance(value, str) and URL.match(value):
        return LOOPBACK_SINK
    if isinstance(value, list):
        return [_loopback(item) for item in value]
    return value


def _rewrite(node):
    if isinstance(node, dict):
        return {
            key: _loopback(value) if key in SINK_FIELDS else _rewrite(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite(item) for item in node]
    return node


@schemathesis.hook
def map_case(context, case):
    if isinstance(case.body, (dict, list)):
        case.body = _rewrite(case.body)
    return case
