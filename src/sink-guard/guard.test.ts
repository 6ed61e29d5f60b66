import { describe, expect, it } from 'vitest';
import type { HeraldError } from '../errors/index.js';
import { SinkGuard } from './guard.js';

const refused = (guard: SinkGuard, url: string): string | undefined => {
  try {
    guard.checkUrl(url, '/sink');
    return undefined;
  } catch (error) {
    return (error as HeraldError).code;
  }
};

describe('SinkGuard decisions', () => {
  it('allow wins over deny, by CIDR or by host glob', () => {
    const guard = new SinkGuard({ deny: ['loopback', 'private'], allow: ['10.1.0.0/16', '*.internal'] });
    expect(refused(guard, 'http://10.1.2.3/')).toBeUndefined();
    expect(refused(guard, 'http://10.2.0.1/')).toBe('HERALD_SINK_FORBIDDEN');
    expect(refused(guard, 'http://[::ffff:10.1.2.3]/')).toBeUndefined();
    expect(guard.refusal('api.internal', '127.0.0.1', 80)).toBeUndefined();
    expect(guard.refusal('api.internal.evil.example', '127.0.0.1', 80)).toMatch(/loopback/);
    // A glob matches within one label only.
    expect(guard.refusal('a.b.internal', '127.0.0.1', 80)).toMatch(/loopback/);
  });

  it("refuses the broker's own listeners whatever is allowed", () => {
    const guard = new SinkGuard({ deny: [], allow: ['0.0.0.0/0', '::/0'] });
    guard.setOwnListeners([8080], '0.0.0.0');
    expect(refused(guard, 'http://127.0.0.1:8080/events')).toBe('HERALD_SINK_FORBIDDEN');
    expect(refused(guard, 'http://[::1]:8080/')).toBe('HERALD_SINK_FORBIDDEN');
    expect(refused(guard, 'http://localhost:8080/')).toBe('HERALD_SINK_FORBIDDEN');
    expect(refused(guard, 'http://0.0.0.0:8080/')).toBe('HERALD_SINK_FORBIDDEN');
    expect(refused(guard, 'http://127.0.0.1:8081/')).toBeUndefined();
    // The default port of the scheme counts too.
    guard.setOwnListeners([80], '127.0.0.1');
    expect(refused(guard, 'http://127.0.0.1/')).toBe('HERALD_SINK_FORBIDDEN');
  });

  it("refuses the broker's own address in its IPv6 spellings too (mapped, compatible, NAT64, SIIT)", () => {
    const guard = new SinkGuard({ deny: [], allow: ['0.0.0.0/0', '::/0'] });
    guard.setOwnListeners([8080], '192.0.2.2');
    for (const host of [
      '192.0.2.2',
      '[::ffff:192.0.2.2]',
      '[::ffff:c000:202]',
      '[::192.0.2.2]',
      '[64:ff9b::c000:202]',
      '[::ffff:0:c000:202]',
    ]) {
      expect(refused(guard, `http://${host}:8080/`), host).toBe('HERALD_SINK_FORBIDDEN');
    }
    // At connect time, an address a name resolved to.
    expect(guard.refusal('own.example', '::ffff:c000:202', 8080)).toMatch(/own listener/);
    expect(refused(guard, 'http://[::ffff:192.0.2.3]:8080/')).toBeUndefined();
    expect(refused(guard, 'http://[::ffff:192.0.2.2]:8081/')).toBeUndefined();
  });

  it('checks localhost as both 127.0.0.1 and ::1, and leaves other names to connect time', () => {
    const guard = new SinkGuard({ deny: ['loopback'], allow: ['127.0.0.1/32'] });
    expect(refused(guard, 'http://localhost:9000/')).toBe('HERALD_SINK_FORBIDDEN');
    expect(refused(guard, 'http://127.0.0.1:9000/')).toBeUndefined();
    expect(refused(guard, 'http://sink.example.com/')).toBeUndefined();
    const both = new SinkGuard({ deny: ['loopback'], allow: ['127.0.0.0/8', '::1'] });
    expect(refused(both, 'http://localhost:9000/')).toBeUndefined();
  });

  it('refuses with a pointer and counts each refusal', () => {
    const stages: string[] = [];
    const guard = new SinkGuard({
      deny: ['link-local'],
      allow: [],
      onRefusal: (stage) => stages.push(stage),
    });
    let error: HeraldError | undefined;
    try {
      guard.checkUrl('http://169.254.169.254/', '/delivery/deadLetterSink');
    } catch (caught) {
      error = caught as HeraldError;
    }
    expect(error?.toProblem()).toMatchObject({
      status: 400,
      code: 'HERALD_SINK_FORBIDDEN',
      pointer: '/delivery/deadLetterSink',
    });
    expect(guard.checkConnect('169.254.169.254', 80)?.code).toBe('HERALD_SINK_FORBIDDEN');
    expect(stages).toEqual(['create', 'connect']);
  });
});
