import { describe, expect, it } from 'vitest';
import type { NodeLaunch } from './heap.js';
import { semiSpaceRestartArgs } from './heap.js';

const MIB = 1024 * 1024;

const launch: NodeLaunch = {
  execPath: '/usr/bin/node',
  execArgv: ['--single-threaded-gc'],
  scriptArgs: ['/srv/herald/dist/cli/main.js', 'broker', '--port', '8080'],
  nodeOptions: undefined,
  canReplace: true,
  inspecting: false,
};

describe('semiSpaceRestartArgs', () => {
  it('restarts with the semi-space in MiB first, keeping node options, script and arguments in order', () => {
    expect(semiSpaceRestartArgs(16 * MIB, launch)).toEqual([
      '/usr/bin/node',
      '--max-semi-space-size=16',
      '--single-threaded-gc',
      '/srv/herald/dist/cli/main.js',
      'broker',
      '--port',
      '8080',
    ]);
    expect(semiSpaceRestartArgs(4 * MIB, launch)?.[1]).toBe('--max-semi-space-size=4');
  });

  it("does not restart for 0 (Node's own sizing)", () => {
    expect(semiSpaceRestartArgs(0, launch)).toBeUndefined();
  });

  it('leaves a semi-space chosen on the node command line or in NODE_OPTIONS alone (no restart loop)', () => {
    for (const option of [
      '--max-semi-space-size=8',
      '--max_semi_space_size=8',
      '--max-semi_space-size=8',
      '--max-semi-space-size',
    ]) {
      expect(semiSpaceRestartArgs(16 * MIB, { ...launch, execArgv: [option] })).toBeUndefined();
    }
    expect(
      semiSpaceRestartArgs(16 * MIB, {
        ...launch,
        nodeOptions: '--enable-source-maps  --max-semi-space-size=32',
      }),
    ).toBeUndefined();
    expect(semiSpaceRestartArgs(16 * MIB, { ...launch, nodeOptions: '--max-old-space-size=512' })?.[1]).toBe(
      '--max-semi-space-size=16',
    );
  });

  it('does not restart where Node cannot replace the process in place, or under an inspector', () => {
    expect(semiSpaceRestartArgs(16 * MIB, { ...launch, canReplace: false })).toBeUndefined();
    expect(semiSpaceRestartArgs(16 * MIB, { ...launch, inspecting: true })).toBeUndefined();
  });
});
