import type { Worker } from 'node:worker_threads';

/** How long a store thread has to exit by itself once asked to close. */
const TERMINATE_AFTER_MS = 2_000;

/**
 * Asks one of the store's threads (writer, checkpoints) to close and waits until it has exited. The
 * thread closes its files and its connection itself (a terminated thread's file descriptors would stay
 * open in the process), then exits; it is terminated if it does not within `TERMINATE_AFTER_MS`.
 */
export async function closeThread(worker: Worker): Promise<void> {
  const gone = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage({ close: true });
  const timer = setTimeout(() => void worker.terminate(), TERMINATE_AFTER_MS);
  await gone;
  clearTimeout(timer);
}
