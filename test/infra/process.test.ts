import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ManagedProcess, stopChild } from './process.js';

/** A Node child that prints `ready` once its SIGTERM handler (if any) is installed. */
function child(script: string) {
  const proc = spawn(
    process.execPath,
    ['-e', `${script}; console.log('ready'); setInterval(() => {}, 1000)`],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  const ready = new Promise<void>((resolve) => proc.stdout.once('data', () => resolve()));
  return { proc, ready };
}

describe('stopping a child process', () => {
  it('resolves with the exit code of a child that exits on the signal', async () => {
    const { proc, ready } = child("process.on('SIGTERM', () => process.exit(3))");
    await ready;
    expect(await stopChild(proc, 'SIGTERM', 10_000)).toBe(3);
  });

  it('kills a child that ignores the signal once the grace has passed', async () => {
    const { proc, ready } = child("process.on('SIGTERM', () => {})");
    await ready;
    expect(await stopChild(proc, 'SIGTERM', 300)).toBe('SIGKILL');
  });

  it("gives a managed process's exit result, also when it had already exited", async () => {
    const managed = new ManagedProcess('exits', process.execPath, ['-e', 'process.exit(5)']);
    await managed.waitExit();
    expect(await managed.stop(300)).toBe(5);
    const stubborn = new ManagedProcess('stubborn', process.execPath, [
      '-e',
      "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)",
    ]);
    await new Promise<void>((resolve) => stubborn.child.stdout?.once('data', () => resolve()));
    expect(await stubborn.stop(300)).toBe('SIGKILL');
  });
});
