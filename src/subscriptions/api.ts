import type { IncomingMessage, ServerResponse } from 'node:http';
import { HeraldError } from '../errors/index.js';
import {
  ownerOf,
  ownerScopeOf,
  readJsonObject,
  readOptionalJsonObject,
  ReaderDeadline,
  sendJson,
} from '../http/index.js';
import type { Router } from '../http/index.js';
import { Admission } from '../limits/index.js';
import type { DeadLetter } from '../store/index.js';
import type { SubscriptionService } from './service.js';
import { parseStartPosition, parseSubscriptionRequest } from './validate.js';
import type { SubscriptionRequest } from './validate.js';
import { deadLetterJson } from './views.js';

function rejectUnknown(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw new HeraldError(
        'HERALD_UNKNOWN_FIELD',
        `unknown field '${key}'; expected ${allowed.join(', ')}`,
        { pointer: `/${key}` },
      );
    }
  }
}

/**
 * A `secretRef` makes the broker read a Secret of its namespace with its own ServiceAccount and send it
 * to the sink. Only a Subscription resource may name one: there the cluster's RBAC decided who may write
 * it, while through this API Herald's `subscribe` rule alone would, and any principal allowed to
 * subscribe could have any Secret of the namespace sent to a sink of its choosing.
 */
function parseApiRequest(body: unknown): SubscriptionRequest {
  const request = parseSubscriptionRequest(body);
  if (request.sinkcredential !== undefined && 'secretRef' in request.sinkcredential) {
    throw new HeraldError(
      'HERALD_INVALID_REQUEST',
      'sinkcredential.secretRef may only be declared on a Subscription resource, whose writers the cluster authorizes',
      { pointer: '/sinkcredential/secretRef' },
    );
  }
  return request;
}

/** `?limit=` of the list endpoints: the default, and the most per page of subscriptions. */
const DEFAULT_PAGE = 100;
const MAX_SUBSCRIPTIONS_PAGE = 1000;
/** Dead letters kept the bound they had before pages (clients ask for up to 10,000 at once). */
const MAX_DEAD_LETTERS_PAGE = 10_000;

function pageLimit(url: URL, max: number): number {
  const raw = url.searchParams.get('limit') ?? String(DEFAULT_PAGE);
  if (!/^\d+$/.test(raw) || Number(raw) < 1 || Number(raw) > max) {
    throw new HeraldError(
      'HERALD_INVALID_QUERY',
      `query parameter 'limit' must be an integer from 1 to ${max}`,
      {
        pointer: '?limit',
      },
    );
  }
  return Number(raw);
}

/** RFC 8288 `Link` to the next page: same path and limit, continuing after `last`. */
function nextLink(url: URL, limit: number, last: string): Record<string, string> {
  const next = new URLSearchParams(url.searchParams);
  next.set('limit', String(limit));
  next.set('after', last);
  return { link: `<${url.pathname}?${next.toString()}>; rel="next"` };
}

/** How `GET /subscriptions/{id}/deadletters` bounds what its pages hold (all optional: the defaults). */
export interface DeadLetterReadOptions {
  /** Bytes of letters one page holds past its first (`--dead-letter-page-max-bytes`). */
  readonly pageMaxBytes?: number;
  /** Most pages being answered at once (`--max-dead-letter-reads`). */
  readonly maxReads?: number;
  /** Of those, most for one client (`--max-dead-letter-reads-per-client`), keyed by `clientKey`. */
  readonly maxReadsPerClient?: number;
  /** The key a client's reads are counted under (its principal, else its address). */
  readonly clientKey?: (req: IncomingMessage) => string;
  /**
   * How long a reader may leave a page's written data untaken before its response is destroyed, and
   * its slot freed (`--log-write-timeout`, as for log pages). Default 30 s.
   */
  readonly writeTimeoutMs?: number;
  /** Called when a page is refused or its response destroyed, with the flag that did it. */
  readonly onLimit?: (
    limit: 'max-dead-letter-reads' | 'max-dead-letter-reads-per-client' | 'log-write-timeout',
  ) => void;
}

/** `--max-dead-letter-reads` and `--max-dead-letter-reads-per-client` defaults. */
export const DEFAULT_MAX_DEAD_LETTER_READS = 8;
export const DEFAULT_MAX_DEAD_LETTER_READS_PER_CLIENT = 2;

/**
 * Takes a dead-letter page slot for `req`'s client until `res` is finished or closed, or throws: 429 when
 * the client holds its share, 503 when none is free. A page holds its letters and its rendering until its
 * reader took it, so only the number answered at once bounds what every reader together holds.
 */
function deadLetterAdmission(
  options: DeadLetterReadOptions,
): (req: IncomingMessage, res: ServerResponse) => void {
  const maxReads = options.maxReads ?? DEFAULT_MAX_DEAD_LETTER_READS;
  const maxPerClient = options.maxReadsPerClient ?? DEFAULT_MAX_DEAD_LETTER_READS_PER_CLIENT;
  const reads = new Admission(maxReads, maxPerClient);
  return (req, res) => {
    const client = options.clientKey?.(req) ?? '';
    const refused = reads.tryAdmit(client);
    if (refused === 'key') {
      options.onLimit?.('max-dead-letter-reads-per-client');
      throw new HeraldError(
        'HERALD_TOO_MANY_DEAD_LETTER_READS',
        `this client is reading as many dead-letter pages at once as --max-dead-letter-reads-per-client allows (${maxPerClient})`,
        { retryAfter: 1 },
      );
    }
    if (refused === 'total') {
      options.onLimit?.('max-dead-letter-reads');
      throw new HeraldError(
        'HERALD_DEAD_LETTER_READ_CAPACITY',
        `the broker serves as many dead-letter pages at once as --max-dead-letter-reads allows (${maxReads})`,
        { retryAfter: 1 },
      );
    }
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      reads.release(client);
    };
    res.once('finish', release);
    res.once('close', release);
  };
}

/**
 * Sends `{"deadLetters": [...]}` a letter at a time: each event is rendered once, and the page's letters
 * leave the broker's hands as they are written, where one string of the whole page (and its encoding to
 * bytes) held every event twice more until the reader took it.
 */
function sendDeadLetterPage(
  res: ServerResponse,
  letters: DeadLetter[],
  headers: Record<string, string>,
): void {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.write('{"deadLetters":[');
  for (let first = true, letter = letters.shift(); letter !== undefined; letter = letters.shift()) {
    res.write(`${first ? '' : ','}${deadLetterJson(letter)}`);
    first = false;
  }
  res.end(']}');
}

/** The Subscriptions API (CloudEvents Subscriptions API shape) plus Herald's control endpoints. */
export function registerSubscriptionApi(
  router: Router,
  service: SubscriptionService,
  deadLetterReads: DeadLetterReadOptions = {},
): void {
  const viewOf = (id: string) => service.view(service.find(id));
  const admitDeadLetterPage = deadLetterAdmission(deadLetterReads);

  router.on('OPTIONS', '/subscriptions', (_req, res) => {
    res.writeHead(200, { allow: 'GET, POST, OPTIONS', 'content-length': 0 });
    res.end();
  });
  router.on('OPTIONS', '/subscriptions/:id', (_req, res, { id }) => {
    service.find(id as string);
    res.writeHead(200, { allow: 'GET, PUT, DELETE, OPTIONS', 'content-length': 0 });
    res.end();
  });
  // The body stays the Subscriptions API's plain array; further pages are linked from the header.
  // Authorization confines a principal without `admin` to its own subscriptions.
  router.on('GET', '/subscriptions', (req, res, _params, url) => {
    const limit = pageLimit(url, MAX_SUBSCRIPTIONS_PAGE);
    const { definitions, more } = service.page(
      limit,
      url.searchParams.get('after') ?? undefined,
      ownerScopeOf(req),
    );
    const last = definitions[definitions.length - 1]?.id;
    sendJson(
      res,
      200,
      definitions.map((d) => service.view(d)),
      more && last !== undefined ? nextLink(url, limit, last) : {},
    );
  });
  router.on('POST', '/subscriptions', async (req, res) => {
    const request = parseApiRequest(await readJsonObject(req));
    const definition = await service.create(request, 'api', undefined, undefined, ownerOf(req));
    sendJson(res, 201, service.view(definition), {
      location: `/subscriptions/${encodeURIComponent(definition.id)}`,
    });
  });
  router.on('GET', '/subscriptions/:id', (_req, res, { id }) => sendJson(res, 200, viewOf(id as string)));
  router.on('PUT', '/subscriptions/:id', async (req, res, { id }) => {
    service.find(id as string);
    const body = await readJsonObject(req);
    if (body['id'] !== undefined && body['id'] !== id) {
      throw new HeraldError(
        'HERALD_INVALID_REQUEST',
        `id '${String(body['id'])}' in the body does not match the path`,
        { pointer: '/id' },
      );
    }
    const definition = await service.update(id as string, parseApiRequest(body));
    sendJson(res, 200, service.view(definition));
  });
  router.on('DELETE', '/subscriptions/:id', async (_req, res, { id }) => {
    const view = viewOf(id as string);
    await service.delete(id as string);
    sendJson(res, 200, view);
  });
  router.on('POST', '/subscriptions/:id/seek', async (req, res, { id }) => {
    service.find(id as string);
    const body = await readJsonObject(req);
    rejectUnknown(body, ['to']);
    if (body['to'] === undefined)
      throw new HeraldError('HERALD_INVALID_REQUEST', "field 'to' is required", { pointer: '/to' });
    await service.seek(id as string, parseStartPosition(body['to'], '/to'));
    sendJson(res, 200, viewOf(id as string));
  });
  for (const action of ['pause', 'resume'] as const) {
    router.on('POST', `/subscriptions/:id/${action}`, async (req, res, { id }) => {
      service.find(id as string);
      // No body, or an empty JSON object: a form or text body is a 415, as on every route that changes
      // subscriptions (a browser cannot send JSON cross-site without a preflight).
      const body = await readOptionalJsonObject(req);
      if (body !== undefined) rejectUnknown(body, []);
      await service.setPaused(id as string, action === 'pause');
      sendJson(res, 200, viewOf(id as string));
    });
  }
  // A page ends at `limit` letters or at --dead-letter-page-max-bytes, whichever comes first; `Link: next`
  // continues after its last letter either way, so a client following it reads every letter once.
  router.on('GET', '/subscriptions/:id/deadletters', async (req, res, { id }, url) => {
    const limit = pageLimit(url, MAX_DEAD_LETTERS_PAGE);
    const after = url.searchParams.get('after') ?? undefined;
    if (after !== undefined && !/^\d+$/.test(after)) {
      throw new HeraldError('HERALD_INVALID_QUERY', "query parameter 'after' must be a dead-letter id", {
        pointer: '?after',
      });
    }
    service.find(id as string);
    admitDeadLetterPage(req, res);
    const page = await service.deadLetters(id as string, limit, after, deadLetterReads.pageMaxBytes);
    sendDeadLetterPage(
      res,
      page.letters,
      page.more && page.last !== undefined ? nextLink(url, limit, page.last) : {},
    );
    // A reader that stops taking the page would otherwise hold it, and its read slot, while its
    // connection stays open: eight such clients took every --max-dead-letter-reads slot for good.
    new ReaderDeadline(res, deadLetterReads.writeTimeoutMs ?? 30_000, () =>
      deadLetterReads.onLimit?.('log-write-timeout'),
    ).watch();
  });
  router.on('POST', '/subscriptions/:id/deadletters/redrive', async (req, res, { id }) => {
    service.find(id as string);
    const body = await readOptionalJsonObject(req);
    let ids: string[] | undefined;
    if (body !== undefined) {
      rejectUnknown(body, ['ids']);
      const given = body['ids'];
      if (given !== undefined) {
        if (
          !Array.isArray(given) ||
          given.length === 0 ||
          !given.every((v) => typeof v === 'string' && v !== '')
        ) {
          throw new HeraldError(
            'HERALD_INVALID_REQUEST',
            "'ids' must be a non-empty array of dead-letter ids",
            { pointer: '/ids' },
          );
        }
        ids = given as string[];
      }
    }
    sendJson(res, 202, { redriving: await service.redrive(id as string, ids) });
  });
}
