import { describe, expect, it } from 'vitest';
import { MethodNotAllowedError, Router } from './router.js';
import { thrownBy } from '../testing/thrown.js';

const noop = () => undefined;

describe('Router', () => {
  const router = new Router()
    .on('POST', '/events', noop)
    .on('GET', '/events', noop)
    .on('GET', '/subscriptions/:id', noop)
    .on('PUT', '/subscriptions/:id', noop)
    .on('GET', '/subscriptions/:id', noop)
    .on('GET', '/ui/*', noop);

  it('resolves exact paths and decodes parameters', () => {
    expect(router.resolve('POST', '/events').params).toEqual({});
    expect(router.resolve('GET', '/subscriptions/a%20b').params).toEqual({ id: 'a b' });
  });

  it('matches a trailing * against any rest of the path, including none', () => {
    for (const path of ['/ui', '/ui/', '/ui/assets/app.js', '/ui/subscriptions/a/deadletters']) {
      expect(router.resolve('GET', path).params).toEqual({});
    }
    expect(thrownBy(() => router.resolve('GET', '/uix'))).toMatchObject({ code: 'HERALD_NOT_FOUND' });
  });

  it('answers 404 for unknown paths, including undecodable parameters', () => {
    expect(thrownBy(() => router.resolve('GET', '/nowhere'))).toMatchObject({
      code: 'HERALD_NOT_FOUND',
      status: 404,
    });
    expect(thrownBy(() => router.resolve('GET', '/subscriptions/%E0%A4%A'))).toMatchObject({
      code: 'HERALD_NOT_FOUND',
    });
  });

  it('answers 405 listing each allowed method once', () => {
    const error = thrownBy(() => router.resolve('DELETE', '/subscriptions/x'));
    expect(error).toBeInstanceOf(MethodNotAllowedError);
    expect(error).toMatchObject({ code: 'HERALD_METHOD_NOT_ALLOWED', status: 405, allow: ['GET', 'PUT'] });
  });

  it('says whether a handler takes the URL, so the caller parses it only for those that do', () => {
    const withUrl = new Router()
      .on('GET', '/a', (_req, _res, _params, url) => void url)
      .on('POST', '/b', (_req, _res) => undefined);
    expect(withUrl.resolve('GET', '/a').usesUrl).toBe(true);
    expect(withUrl.resolve('POST', '/b').usesUrl).toBe(false);
  });
});
