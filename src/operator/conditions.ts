import { channelSpecSchema } from '../k8s-api/index.js';
import type { Channel, Condition } from '../k8s-api/index.js';
import { specProblem } from './checks.js';

/** Why a Channel cannot carry a Broker (its spec, or its own Ready condition), or undefined. */
export function channelProblem(channel: Channel): string | undefined {
  const ready = channel.status?.conditions?.find((c) => c.type === 'Ready');
  const invalid = specProblem(channelSpecSchema, channel.spec);
  if (invalid !== undefined) return invalid;
  if (channel.spec.type === 'kafka' && channel.spec.kafka === undefined)
    return 'spec.kafka.brokers is required';
  if (channel.spec.type === 'jetstream' && channel.spec.jetstream === undefined)
    return 'spec.jetstream.url is required';
  return ready?.status === 'False' ? (ready.message ?? 'not ready') : undefined;
}

/**
 * `ready`, with the previous Ready condition's lastTransitionTime when its status is the same: the time
 * says when the status last changed, not when the condition was last written (a new message, a spec change).
 */
export function keepTransitionTime(
  conditions: readonly Condition[] | undefined,
  ready: Condition,
): Condition {
  const previous = conditions?.find((c) => c.type === 'Ready');
  return previous !== undefined &&
    previous.status === ready.status &&
    previous.lastTransitionTime !== undefined
    ? { ...ready, lastTransitionTime: previous.lastTransitionTime }
    : ready;
}

export function sameReady(conditions: readonly Condition[] | undefined, ready: Condition): boolean {
  const current = conditions?.find((c) => c.type === 'Ready');
  return (
    current !== undefined &&
    current.status === ready.status &&
    current.reason === ready.reason &&
    current.message === ready.message
  );
}
