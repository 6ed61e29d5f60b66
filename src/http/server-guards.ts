import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { HeraldError } from '../errors/index.js';
import { Admission } from '../limits/index.js';

export interface ServerGuardOptions {
  /** Most open connections on this server. */
  readonly maxConnections: number;
  /** Most open connections from one client address on this server. */
  readonly maxConnectionsPerClient: number;
  /** Told when a guard refuses a connection or answers for Node (named as the flag or condition). */
  readonly onRefused: (limit: string) => void;
}

/** A complete HTTP/1.1 problem response, for sockets that have no ServerResponse to write it with. */
function rawProblem(error: HeraldError): string {
  const body = JSON.stringify(error.toProblem());
  return [
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? ''}`,
    'content-type: application/problem+json',
    `content-length: ${Buffer.byteLength(body)}`,
    'connection: close',
    ...(error.retryAfter === undefined ? [] : [`retry-after: ${error.retryAfter}`]),
    '',
    body,
  ].join('\r\n');
}

/** Node's own early answers (malformed request, headers too large, request timeout) as coded problems. */
function problemForClientError(error: NodeJS.ErrnoException): HeraldError {
  switch (error.code) {
    case 'HPE_HEADER_OVERFLOW':
      // Node does not say which header overflowed; an oversized Authorization is the usual one.
      return new HeraldError(
        'HERALD_AUTHORIZATION_TOO_LARGE',
        'the request headers (an Authorization header, most often) are larger than the server accepts',
      );
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new HeraldError(
        'HERALD_REQUEST_TIMEOUT',
        'the request was not received completely within --request-timeout (or its headers within --headers-timeout)',
      );
    default:
      return new HeraldError(
        'HERALD_BAD_HTTP_REQUEST',
        `malformed HTTP request (${error.code ?? 'parse error'})`,
      );
  }
}

/**
 * Connection caps and Node's client errors for one HTTP server. A connection over a cap is kept just
 * long enough to answer its first request with `503 HERALD_TOO_MANY_CONNECTIONS` (see
 * {@link ServerGuards.refusal}) and then closed; it never counts against the caps.
 */
export class ServerGuards {
  private readonly connections: Admission;
  private readonly refused = new WeakMap<Socket, 'max-connections' | 'max-connections-per-client'>();
  /** Sockets whose request Node's own guard answered with a 408 (`--request-timeout`). */
  private readonly answered = new WeakSet<Socket>();

  constructor(
    server: Server,
    private readonly options: ServerGuardOptions,
  ) {
    this.connections = new Admission(options.maxConnections, options.maxConnectionsPerClient);
    // Node keeps only a request's first 2,000 header lines by default and drops the rest without a word:
    // a `ce-` attribute, a repeated `ce-id` or the Content-Type after them vanished from a stored event.
    // The header bytes (Node's 16 KiB, answered 431) bound the lines instead, so none is dropped.
    server.maxHeadersCount = 0;
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(error, socket),
    );
  }

  get openConnections(): number {
    return this.connections.size;
  }

  private onConnection(socket: Socket): void {
    const key = socket.remoteAddress ?? 'unknown';
    const refused = this.connections.tryAdmit(key);
    if (refused !== undefined) {
      const limit = refused === 'total' ? 'max-connections' : 'max-connections-per-client';
      this.refused.set(socket, limit);
      this.options.onRefused(limit);
      return;
    }
    socket.once('close', () => this.connections.release(key));
  }

  /**
   * True when the guards already answered this request's connection (e.g. `--request-timeout` cut a slow
   * body off with a 408): the handler whose body read then fails has nothing left to answer or count.
   */
  answeredEarly(req: IncomingMessage): boolean {
    return this.answered.has(req.socket);
  }

  /** The error to answer a request on a refused connection with, or undefined when it was admitted. */
  refusal(req: IncomingMessage): HeraldError | undefined {
    const limit = this.refused.get(req.socket);
    if (limit === undefined) return undefined;
    return new HeraldError(
      'HERALD_TOO_MANY_CONNECTIONS',
      limit === 'max-connections'
        ? 'the broker has as many connections open as --max-connections allows'
        : 'this client address has as many connections open as --max-connections-per-client allows',
      { retryAfter: 1 },
    );
  }

  private onClientError(error: NodeJS.ErrnoException, socket: Socket): void {
    // Nothing to answer on a reset socket, or once a response has started.
    if (error.code === 'ECONNRESET' || !socket.writable || socket.bytesWritten > 0) {
      socket.destroy();
      return;
    }
    const problem = problemForClientError(error);
    this.options.onRefused(
      problem.code === 'HERALD_REQUEST_TIMEOUT'
        ? 'request-timeout'
        : problem.code === 'HERALD_AUTHORIZATION_TOO_LARGE'
          ? 'max-header-size'
          : 'malformed-request',
    );
    // A timeout is the guard's to count; a request cut short by its client stays the handler's to
    // report (as HERALD_CLIENT_CLOSED_REQUEST), whatever Node made of the rest.
    if (problem.code === 'HERALD_REQUEST_TIMEOUT') this.answered.add(socket);
    socket.end(rawProblem(problem));
    // A peer that never reads must not keep the socket: close it once the answer is flushed, or soon.
    const timer = setTimeout(() => socket.destroy(), 1000);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }
}
