import { describe, expect, it } from 'vitest';
import { categoryOf } from './addresses.js';

/** The hostname the WHATWG URL parser makes of `host`, as the guard sees it. */
const normalised = (host: string) => new URL(`http://${host}:80/`).hostname.replace(/\.+$/, '');

describe('address categories (every spelling, after WHATWG URL normalisation)', () => {
  it.each([
    ['127.1', 'loopback'],
    ['0x7f.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['017700000001', 'loopback'],
    ['127.0.0.1.', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback'],
    ['[::ffff:7f00:2]', 'loopback'],
    ['[::127.0.0.1]', 'loopback'],
    ['[64:ff9b::7f00:1]', 'loopback'],
    ['[64:ff9b:1::a9fe:a9fe]', 'link-local'],
    ['[::ffff:0:127.0.0.1]', 'loopback'],
    ['[::1]', 'loopback'],
    ['[0:0:0:0:0:0:0:1]', 'loopback'],
    ['0.0.0.0', 'unspecified'],
    ['0', 'unspecified'],
    ['[::]', 'unspecified'],
    ['169.254.169.254', 'link-local'],
    ['[::ffff:a9fe:a9fe]', 'link-local'],
    ['[fe80::1]', 'link-local'],
    ['224.0.0.1', 'multicast'],
    ['[ff02::1]', 'multicast'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['[fd00::1]', 'private'],
    ['[fec0::1]', 'private'],
    ['[64:ff9b:1::a00:1]', 'private'],
  ])('%s is %s', (host, category) => {
    expect(categoryOf(normalised(host))).toBe(category);
  });

  it.each(['8.8.8.8', '[2001:db8::1]', 'example.com', '172.32.0.1'])('%s is in no category', (host) => {
    expect(categoryOf(normalised(host))).toBeUndefined();
  });
});
