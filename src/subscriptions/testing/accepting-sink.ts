import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A sink on loopback that accepts everything (204); its close is pushed onto `cleanups`. Answers its URL.
 */
export async function startAcceptingSink(cleanups: Array<() => Promise<unknown>>): Promise<string> {
  const http = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(204).end());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => http.close(() => resolve())));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/`;
}
