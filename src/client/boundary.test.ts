// The client and the receiver are libraries users import: at run time they may reach only pure shared
// modules (the CloudEvents codec and the error registry), never broker internals. Type-only imports
// (the subscription schemas' types) are erased and allowed.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ALLOWED = new Set(['client', 'receive', 'cloudevents', 'errors']);

/** Runtime (non-type) relative imports of a file, resolved to paths under src/. */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const found: string[] = [];
  for (const match of text.matchAll(/^(?:import|export)\s+(type\s+)?[\s\S]*?from\s+'(\.[^']+)';/gm)) {
    if (match[1] !== undefined) continue;
    found.push(path.resolve(path.dirname(file), match[2]!.replace(/\.js$/, '.ts')));
  }
  return found;
}

describe('herald/client and herald/receive', () => {
  it('reach only client, receive, cloudevents and errors at run time', () => {
    const seen = new Set<string>();
    const queue = ['client/index.ts', 'receive/index.ts'].map((f) => path.join(src, f));
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      const folder = path.relative(src, file).split(path.sep)[0]!;
      expect(ALLOWED.has(folder), `${path.relative(src, file)} is loaded by the client`).toBe(true);
      queue.push(...runtimeImports(file));
    }
    expect([...seen].some((f) => f.includes(`${path.sep}cloudevents${path.sep}`))).toBe(true);
    expect(readdirSync(path.join(src, 'client')).length).toBeGreaterThan(0);
  });
});
