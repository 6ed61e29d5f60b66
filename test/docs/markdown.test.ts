// The parts of the executed-docs harness that decide what a page says: commands, markers, outputs.
import { describe, expect, it } from 'vitest';
import { outputMatches, parseMarker, shapeMatches, shellCommands } from './markdown.js';
import type { DocBlock } from './markdown.js';
import { classify } from './session.js';

const block = (text: string, language = 'bash', marker?: string): DocBlock => ({
  file: 'page.md',
  line: 10,
  language,
  tag: '',
  text,
  marker: marker === undefined ? undefined : parseMarker(marker),
});

describe('shell blocks', () => {
  it('splits commands as a shell reads them, with the status and output the page shows', () => {
    const commands = shellCommands(
      block(
        [
          '# a comment that introduces',
          "curl -s -X POST http://localhost:8080/events -d '[1,",
          "  2]' \\",
          '  -H x:y',
          '# → 201, Location: …',
          'cat > f <<EOF',
          'a=1',
          'EOF',
          'curl -s http://localhost:8080/metrics   # 403: needs admin',
          'herald cesql eval --expression x',
          '# {"value": true,',
          '#  "error": null}',
          '',
          '# prose after a blank line',
          'echo done',
        ].join('\n'),
      ),
    );
    expect(commands.map((c) => [c.line, c.status, c.output])).toEqual([
      [12, 201, undefined],
      [16, undefined, undefined],
      [19, 403, undefined],
      [20, undefined, '{"value": true,\n "error": null}'],
      [25, undefined, undefined],
    ]);
    expect(commands[1]?.text).toBe('cat > f <<EOF\na=1\nEOF');
    expect(shellCommands(block('herald broker --policy p.yaml # → exit 2'))[0]?.exit).toBe(2);
  });

  it('knows every kind of block, and refuses one it cannot run unless a marker says why', () => {
    expect(classify(block('x', 'text')).kind).toBe('unknown');
    expect(classify(block('x', '', 'skip')).kind).toBe('unknown'); // a skip needs a reason
    expect(classify(block('x', '', 'skip reason="needs a cluster"'))).toEqual({
      kind: 'skip',
      reason: 'needs a cluster',
    });
    expect(classify(block('npm start', 'bash', 'background wait="tcp:9000" restart'))).toEqual({
      kind: 'background',
      wait: 'tcp:9000',
      restart: true,
    });
    expect(classify(block('# types.yaml — run with: herald broker --x types.yaml\n- a', 'yaml'))).toEqual({
      kind: 'config',
      name: 'types.yaml',
      run: 'herald broker --x types.yaml',
    });
    expect(classify(block('kind: Broker', 'yaml')).kind).toBe('manifest');
  });
});

describe('outputs', () => {
  it('compares exactly but for whitespace, … and the digits inside strings', () => {
    expect(outputMatches('{"value": true, "error": null}', '{"value":true,"error":null}\n')).toBe(true);
    expect(outputMatches('{"value": false, "error": null}', '{"value":true,"error":null}')).toBe(false);
    expect(outputMatches('{"a":"…","n":5},…]', '{"a":"x y","n":5},{"b":1}]')).toBe(true);
    expect(outputMatches('{"a":"…","n":5}', '{"a":"x","n":12}')).toBe(false); // numbers are compared
    expect(outputMatches('{"at":"2026-12-01T12:00:00Z"}', '{"at":"2027-01-02T03:04:05Z"}')).toBe(true);
    expect(outputMatches('{"v":"1fe9…"}', '{"v":"1fe9961"}')).toBe(true);
    expect(outputMatches('[{"a":"…"}]', '[{"a":"x"},{"a":"y"}]')).toBe(false); // "…" is one string
  });

  it('compares the shape of illustrative JSON', () => {
    const shown = '{"log":{"first":1},"subscriptions":[{"id":"544f-…","n":118}, …],"t":"…"}';
    expect(shapeMatches(shown, '{"log":{"first":7,"x":1},"subscriptions":[],"t":"now"}')).toBeUndefined();
    expect(shapeMatches(shown, '{"log":{"first":7},"subscriptions":[{"id":"a"}],"t":"now"}')).toBe(
      '/subscriptions/0/n: missing',
    );
    expect(shapeMatches(shown, '{"log":{},"subscriptions":[],"t":"now"}')).toBe('/log/first: missing');
  });
});
