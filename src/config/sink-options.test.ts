import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBrokerConfig } from './load.js';
import type { ConfigError } from './load.js';

describe('sink options', () => {
  it('have safe defaults', () => {
    const config = loadBrokerConfig([], {});
    expect(config.sinkDeny).toBe('loopback,link-local,unspecified,multicast');
    expect(config.sinkAllow).toBe('');
    expect(config.sinkHandshake).toBe('off');
    expect(config.sinkResponseLimit).toBe(16 * 1024);
  });

  it('take lists from flags and YAML', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'herald-config-')), 'herald.yaml');
    writeFileSync(file, 'sink-allow: [10.0.0.0/8, "*.svc.cluster.local"]\nsink-deny: [loopback, private]\n');
    const config = loadBrokerConfig(['--config', file], {});
    expect(config.sinkAllow).toBe('10.0.0.0/8,*.svc.cluster.local');
    expect(config.sinkDeny).toBe('loopback,private');
    expect(loadBrokerConfig(['--sink-allow', '127.0.0.0/8,::1'], {}).sinkAllow).toBe('127.0.0.0/8,::1');
  });

  it('report every bad entry, one line each', () => {
    let problems: readonly string[] = [];
    try {
      loadBrokerConfig(['--sink-deny', 'loopback,intranet', '--sink-allow', '10.0.0.0/33,bad host'], {});
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([
      expect.stringMatching(/^--sink-deny: unknown category 'intranet'/),
      expect.stringMatching(/^--sink-allow: '10.0.0.0\/33' is neither a CIDR nor a host glob/),
      expect.stringMatching(/^--sink-allow: 'bad host' is neither/),
    ]);
  });
});
