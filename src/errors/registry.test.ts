import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, HeraldError, isHeraldError } from './registry.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const docs = readFileSync(path.join(root, 'docs/errors.md'), 'utf8');
const registryCodes = Object.keys(ErrorCodes).sort();

/** Rows of the docs table: code → [status, meaning, when, retryable]. */
const docRows = new Map<string, string[]>();
for (const line of docs.split('\n')) {
  const cells = line.split('|').map((cell) => cell.trim());
  const code = /^`(HERALD_[A-Z_]+)`$/.exec(cells[1] ?? '')?.[1];
  if (code !== undefined) docRows.set(code, cells.slice(2, -1));
}

/** Every non-test TypeScript file under src/. */
function sourceFiles(dir = path.join(root, 'src')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [full] : [];
  });
}

const sources = sourceFiles().map((file) => ({
  file: path.relative(root, file),
  text: readFileSync(file, 'utf8'),
}));

describe('error registry ⇔ docs/errors.md', () => {
  it('documents every registry code in the table', () => {
    const undocumented = registryCodes.filter((code) => !docRows.has(code));
    expect(undocumented).toEqual([]);
  });

  it('mentions no code that the registry lacks', () => {
    const mentioned = [...new Set(docs.match(/HERALD_[A-Z_]+/g) ?? [])];
    expect(mentioned.filter((code) => !(code in ErrorCodes))).toEqual([]);
  });

  it('documents the HTTP status and retryability the registry declares', () => {
    for (const [code, entry] of Object.entries(ErrorCodes)) {
      const row = docRows.get(code);
      expect(row, code).toBeDefined();
      const [status, meaning, when, retryable] = row!;
      expect(status, code).toBe(String(entry.status));
      expect(retryable, code).toBe(entry.retryable ? 'yes' : 'no');
      expect(meaning, code).not.toBe('');
      expect(when, code).not.toBe('');
    }
  });

  it('has one row per code', () => {
    const rows = docs.split('\n').filter((line) => /^\| `HERALD_/.test(line));
    expect(rows).toHaveLength(docRows.size);
  });
});

describe('codes used in the source', () => {
  it('are all in the registry: every `new HeraldError(code` call, ternaries included', () => {
    const used = new Set<string>();
    for (const { text } of sources) {
      // The first argument: up to the first comma after `new HeraldError(`.
      for (const call of text.matchAll(/new HeraldError\(([^,]*),/g)) {
        for (const literal of call[1]!.matchAll(/'(HERALD_[A-Z_]+)'/g)) used.add(literal[1]!);
      }
    }
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((code) => !(code in ErrorCodes))).toEqual([]);
  });

  it('are all in the registry: every `code: ...` and `code === ...` literal', () => {
    const unknown: string[] = [];
    for (const { file, text } of sources) {
      for (const match of text.matchAll(/\bcode(?:\s*:|\s*[!=]==)\s*'(HERALD_[A-Z_]+)'/g)) {
        if (!(match[1]! in ErrorCodes)) unknown.push(`${file}: ${match[1]!}`);
      }
    }
    expect(unknown).toEqual([]);
  });
});

describe('HeraldError', () => {
  it('renders a problem document from the registry entry', () => {
    const error = new HeraldError('HERALD_INVALID_ATTRIBUTE', "attribute 'time' is bad", {
      attribute: 'time',
      pointer: '/time',
    });
    expect(error.status).toBe(400);
    expect(isHeraldError(error)).toBe(true);
    expect(error.toProblem()).toEqual({
      type: 'https://herald.dev/errors/HERALD_INVALID_ATTRIBUTE',
      title: 'Invalid attribute value',
      status: 400,
      detail: "attribute 'time' is bad",
      code: 'HERALD_INVALID_ATTRIBUTE',
      attribute: 'time',
      pointer: '/time',
    });
  });

  it('blames a batch index, prefixing the pointer', () => {
    const error = new HeraldError('HERALD_MISSING_ATTRIBUTE', 'missing id', {
      attribute: 'id',
      pointer: '/id',
    });
    const problem = error.atIndex(3).toProblem();
    expect(problem).toMatchObject({
      code: 'HERALD_MISSING_ATTRIBUTE',
      attribute: 'id',
      pointer: '/3/id',
      index: 3,
    });
    expect(problem.detail).toBe('event 3: missing id');
  });

  it('is recognised by name and code, not only by prototype', () => {
    expect(
      isHeraldError(Object.assign(new Error('x'), { name: 'HeraldError', code: 'HERALD_INTERNAL' })),
    ).toBe(true);
    expect(isHeraldError(new Error('x'))).toBe(false);
    expect(isHeraldError({ name: 'HeraldError', code: 'HERALD_INTERNAL' })).toBe(false);
  });
});
