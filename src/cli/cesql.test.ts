// SPDX-License-Identifier: Apache-2.0
import { describe, expect, it } from 'vitest';
import { runCesqlCommand } from './cesql.js';

async function run(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCesqlCommand(
    args,
    (line) => out.push(line),
    (line) => err.push(line),
  );
  return { code, out, err };
}

const orderEvent = JSON.stringify({
  specversion: '1.0',
  id: 'o-1',
  source: '/shop/eu',
  type: 'com.example.order.created',
  time: '2018-04-26T14:48:09+02:00',
  priority: 7,
  express: true,
  datacontenttype: 'application/json',
  data: { type: 'not an attribute' },
});

describe('herald cesql eval', () => {
  it('prints the value and a null error as one JSON line', async () => {
    const { code, out, err } = await run('eval', '--expression', '1 + 2');
    expect(code).toBe(0);
    expect(out).toEqual(['{"value": 3, "error": null}']);
    expect(err).toEqual([]);
  });

  it('evaluates against the attributes of --event, not its data', async () => {
    const expression =
      "type = 'com.example.order.created' AND source LIKE '/shop/%' AND priority > 5 AND express";
    const { code, out } = await run('eval', '--expression', expression, '--event', orderEvent);
    expect(code).toBe(0);
    expect(JSON.parse(out[0] ?? '')).toEqual({ value: true, error: null });
  });

  it('keeps timestamps in their lexical form and accepts --flag=value', async () => {
    const { out } = await run('eval', `--event=${orderEvent}`, '--expression=time');
    expect(out).toEqual(['{"value": "2018-04-26T14:48:09+02:00", "error": null}']);
  });

  it('uses a minimal valid event when --event is absent', async () => {
    const { out } = await run('eval', '--expression', 'EXISTS id AND EXISTS type AND NOT EXISTS subject');
    expect(out).toEqual(['{"value": true, "error": null}']);
    expect((await run('eval', '--expression', 'specversion')).out).toEqual([
      '{"value": "1.0", "error": null}',
    ]);
  });

  it('reports evaluation errors with the value and exit 0', async () => {
    const { code, out, err } = await run('eval', '--expression', 'ABS(-2147483648)');
    expect(code).toBe(0);
    expect(out).toEqual(['{"value": 2147483647, "error": "math"}']);
    expect(err).toHaveLength(1);
    expect((await run('eval', '--expression', 'subject')).out).toEqual([
      '{"value": false, "error": "missingAttribute"}',
    ]);
    expect((await run('eval', '--expression', "INT('x')")).out).toEqual(['{"value": 0, "error": "cast"}']);
    expect((await run('eval', '--expression', 'NOPE(1)')).out).toEqual([
      '{"value": false, "error": "missingFunction"}',
    ]);
    expect((await run('eval', '--expression', "LEFT('abc', -1)")).out).toEqual([
      '{"value": "abc", "error": "functionEvaluation"}',
    ]);
  });

  it('reports the first error only', async () => {
    const { out } = await run('eval', '--expression', 'missing + 1 / 0');
    expect(out).toEqual(['{"value": 0, "error": "missingAttribute"}']);
  });

  it('prints a null value for a parse error and still exits 0', async () => {
    const { code, out, err } = await run('eval', '--expression', 'ABC(');
    expect(code).toBe(0);
    expect(out).toEqual(['{"value": null, "error": "parse"}']);
    expect(err[0]).toMatch(/parse error: .*line 1, column 5/);
  });

  it('rejects an attribute that is not a string, boolean or integer', async () => {
    const { code, err } = await run('eval', '--expression', 'x', '--event', '{"x": {"nested": 1}}');
    expect(code).toBe(2);
    expect(err).toHaveLength(1);
  });

  it.each([
    [[], /missing subcommand/],
    [['run'], /unknown subcommand "run"/],
    [['eval'], /missing --expression/],
    [['eval', '--expression'], /--expression needs a value/],
    [['eval', '--expr', 'x'], /unknown flag "--expr"/],
    [['eval', '--expression', 'x', 'extra'], /unexpected argument "extra"/],
    [['eval', '--expression', 'a', '--expression', 'b'], /given twice/],
    [['eval', '--expression', 'x', '--event', '[1]'], /must be a JSON object/],
    [['eval', '--expression', 'x', '--event', 'null'], /must be a JSON object/],
    [['eval', '--expression', 'x', '--event', '{'], /not valid JSON/],
    [['eval', '--expression', 'x', '--event', '{"n": 1.5}'], /attribute "n"/],
  ])('exits 2 with one line on err for bad usage %j', async (args, message) => {
    const { code, out, err } = await run(...args);
    expect(code).toBe(2);
    expect(out).toEqual([]);
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(message);
  });

  it('prints help on --help', async () => {
    for (const args of [['--help'], ['eval', '--help']]) {
      const { code, out } = await run(...args);
      expect(code).toBe(0);
      expect(out.join('\n')).toContain('herald cesql eval --expression E');
    }
  });

  it('treats null members as absent and a __proto__ member as a plain attribute', async () => {
    const event = '{"specversion":"1.0","id":"1","source":"/s","type":"t","subject":null,"__proto__":"p"}';
    const { out } = await run('eval', '--expression', 'EXISTS subject', '--event', event);
    expect(out).toEqual(['{"value": false, "error": null}']);
  });
});
