import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect } from 'vitest';
import { ConfigError, loadBrokerConfig } from '../load.js';

/** The problems `loadBrokerConfig` reports for `argv` and `env`; fails the test when it accepts them. */
export function configProblems(argv: readonly string[], env: NodeJS.ProcessEnv = {}): readonly string[] {
  try {
    loadBrokerConfig(argv, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`expected ${argv.join(' ')} to be rejected`);
}

/**
 * A writer of YAML configuration files into a directory of the test file's own, removed after its tests
 * (call at the top level of a test file).
 */
export function yamlFiles(): (text: string) => string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herald-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let files = 0;
  return (text) => {
    const file = path.join(dir, `config-${++files}.yaml`);
    writeFileSync(file, text);
    return file;
  };
}
