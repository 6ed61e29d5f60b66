import { STATUS_CODES } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
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

/** A connection's peer endpoint, the same on a TLS socket as on the TCP socket under it. */
function peerOf(socket: Socket): string | undefined {
  const { remoteAddress, remotePort } = socket;
  return remoteAddress === undefined || remotePort === undefined
    ? undefined
    : `${remoteAddress} ${remotePort}`;
}

/**
 * Connection caps and Node's client errors for one HTTP server. A connection over a cap is kept just
 * long enough to answer its first request with `503 HERALD_TOO_MANY_CONNECTIONS` (see
 * {@link ServerGuards.refusal}) and then closed; it never counts against the caps.
 */
export class ServerGuards {
  private readonly connections: Admission;
  /**
   * Refused connections by peer endpoint (`address port`), not by socket: on an HTTPS listener the guard
   * sees the TCP socket while the request arrives on the TLS socket wrapped around it, and only the peer
   * endpoint is common to both (and unique among open connections). Deleted when the connection closes.
   */
  private readonly refused = new Map<string, 'max-connections' | 'max-connections-per-client'>();
  /** Sockets whose request Node's own guard answered with a 408 (`--request-timeout`). */
  private readonly answered = new WeakSet<Socket>();
  /**
   * HTTPS only: connections whose TLS handshake has not finished, by peer endpoint, each with the timer that
   * closes it. Node's `--headers-timeout` starts only once the handshake is done, and its own handshake
   * timeout is 120 s: a client that sent half a ClientHello held a connection slot six times as long as
   * one that sent half its headers.
   */
  private readonly handshakes = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly server: Server,
    private readonly options: ServerGuardOptions,
  ) {
    this.connections = new Admission(options.maxConnections, options.maxConnectionsPerClient);
    // Node keeps only a request's first 2,000 header lines by default and drops the rest without a word:
    // a `ce-` attribute, a repeated `ce-id` or the Content-Type after them vanished from a stored event.
    // The header bytes (Node's 16 KiB, answered 431) bound the lines instead, so none is dropped.
    server.maxHeadersCount = 0;
    server.on('connection', (socket: Socket) => this.onConnection(socket));
    if (server instanceof TlsServer) {
      server.on('secureConnection', (socket: TLSSocket) => {
        const peer = peerOf(socket);
        if (peer === undefined) return;
        clearTimeout(this.handshakes.get(peer));
        this.handshakes.delete(peer);
      });
    }
    server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) =>
      this.onClientError(error, socket),
    );
  }

  get openConnections(): number {
    return this.connections.size;
  }

  private onConnection(socket: Socket): void {
    this.boundHandshake(socket);
    const key = socket.remoteAddress ?? 'unknown';
    const refused = this.connections.tryAdmit(key);
    if (refused !== undefined) {
      const limit = refused === 'total' ? 'max-connections' : 'max-connections-per-client';
      const peer = peerOf(socket);
      this.options.onRefused(limit);
      // Already gone (no peer to answer): nothing to keep.
      if (peer === undefined) {
        socket.destroy();
        return;
      }
      this.refused.set(peer, limit);
      socket.once('close', () => this.refused.delete(peer));
      return;
    }
    socket.once('close', () => this.connections.release(key));
  }

  /** On an HTTPS listener, gives the TLS handshake `--headers-timeout` (its headers' own bound) to finish. */
  private boundHandshake(socket: Socket): void {
    const peer = peerOf(socket);
    if (!(this.server instanceof TlsServer) || peer === undefined) return;
    const timer = setTimeout(() => {
      this.handshakes.delete(peer);
      this.options.onRefused('headers-timeout');
      socket.destroy();
    }, this.server.headersTimeout);
    timer.unref();
    this.handshakes.set(peer, timer);
    socket.once('close', () => {
      // Only this connection's own timer: a later connection may reuse the endpoint once it closed.
      if (this.handshakes.get(peer) !== timer) return;
      clearTimeout(timer);
      this.handshakes.delete(peer);
    });
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
    const peer = peerOf(req.socket);
    const limit = peer === undefined ? undefined : this.refused.get(peer);
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
