import { describe, expect, it } from 'vitest';
import { compileRules, globToRegExp, parsePolicyFile, PolicySet } from './policy.js';

describe('policy', () => {
  it('matches principal globs: * any characters (including :), ? one, everything else literally', () => {
    expect(globToRegExp('system:serviceaccount:shop:*').test('system:serviceaccount:shop:checkout')).toBe(
      true,
    );
    expect(globToRegExp('system:serviceaccount:shop:*').test('system:serviceaccount:bank:x')).toBe(false);
    expect(globToRegExp('team-?').test('team-a')).toBe(true);
    expect(globToRegExp('team-?').test('team-ab')).toBe(false);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
    expect(globToRegExp('(x)+').test('(x)+')).toBe(true);
  });

  it('reports every problem of a policy, one line each', () => {
    const { problems } = parsePolicyFile(
      `rules:
  - { principals: [a], actions: [publish], filter: "type LIKE" }
  - { principals: [], actions: [read] }
  - { principals: [b], actions: [read], filter: "true" }
  - { principals: [c], actions: [publish], extra: 1 }
`,
      'p.yaml',
    );
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^p\.yaml: rules\[0\]\.filter: invalid CESQL expression/);
    expect(problems[1]).toMatch(/^p\.yaml: rules\[1\]\.principals/);
    expect(problems[2]).toMatch(/rules\[2\]\.filter: applies to publish/);
    expect(problems[3]).toMatch(/rules\[3\]/);
    expect(parsePolicyFile('rules: 3', 'p.yaml').problems).toEqual([
      'p.yaml: must be a YAML mapping with a rules: list',
    ]);
  });

  it('allows an action when any rule does; admin implies every action; filters apply to publish', () => {
    const policy = new PolicySet('allow-authenticated');
    const { rules } = compileRules(
      [
        { principals: ['shop'], actions: ['publish'], filter: "type LIKE 'com.shop.%'" },
        { principals: ['shop'], actions: ['publish'], filter: "source = '/legacy'" },
        { principals: ['ops'], actions: ['admin'] },
      ],
      'test',
    );
    policy.set('file', rules);
    expect(policy.allows('shop', 'publish')).toBe(true);
    expect(policy.allows('shop', 'read')).toBe(false);
    expect(policy.allows('ops', 'read')).toBe(true);
    expect(
      policy.allowsEvent('shop', { attributes: { type: 'com.shop.order', source: '/s' } } as never),
    ).toBe(true);
    expect(
      policy.allowsEvent('shop', { attributes: { type: 'com.bank.x', source: '/legacy' } } as never),
    ).toBe(true);
    expect(policy.allowsEvent('shop', { attributes: { type: 'com.bank.x', source: '/s' } } as never)).toBe(
      false,
    );
    expect(policy.allowsEvent('ops', { attributes: { type: 'anything', source: '/s' } } as never)).toBe(true);
    expect(
      policy.allowsEvent('nobody', { attributes: { type: 'com.shop.order', source: '/s' } } as never),
    ).toBe(false);
  });

  it('falls back to the default only while no source of rules exists', () => {
    const policy = new PolicySet('allow-authenticated');
    expect(policy.allows('anyone', 'subscribe')).toBe(true);
    expect(policy.allows('anyone', 'admin')).toBe(false);
    policy.set('EventPolicy x', []);
    expect(policy.allows('anyone', 'subscribe')).toBe(false);
    policy.remove('EventPolicy x');
    expect(policy.allows('anyone', 'subscribe')).toBe(true);
    expect(new PolicySet('deny').allows('anyone', 'read')).toBe(false);
    expect(new PolicySet('allow-all').allows('anyone', 'admin')).toBe(true);
  });
});
