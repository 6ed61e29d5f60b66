// Replicas whose log output is kept, for tests that wait for a line a replica writes (a lost claim).
import type { BrokerProcess } from '../harness/processes.js';

export interface LoggedReplicas {
  /** Starts one more replica with `start`, keeping everything it writes. */
  start(): Promise<BrokerProcess>;
  /** What `replica` has written so far ('' for one this group did not start). */
  log(replica: BrokerProcess): string;
}

/** Replicas started by `start` (given the callback that receives their output), each with its log kept. */
export function loggedReplicas(
  start: (onOutput: (chunk: string) => void) => Promise<BrokerProcess>,
): LoggedReplicas {
  const logs = new Map<BrokerProcess, { text: string }>();
  return {
    async start() {
      const log = { text: '' };
      const replica = await start((chunk) => {
        log.text += chunk;
      });
      logs.set(replica, log);
      return replica;
    },
    log: (replica) => logs.get(replica)?.text ?? '',
  };
}
