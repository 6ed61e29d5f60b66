import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { BlockList } from 'node:net';
import { networkInterfaces } from 'node:os';
import { HeraldError } from '../errors/index.js';
import { addCidr, addressList, categoryOf, ipLiteral, SINK_CATEGORIES } from './addresses.js';
import type { SinkCategory } from './addresses.js';

/** How a name is resolved at connect time (injectable so tests can resolve names without DNS). */
export type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => void;

/** A `lookup` as `net.connect` calls it (with or without `all`). */
export type ConnectLookup = (
  hostname: string,
  options: LookupOneOptions | LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
) => void;

export interface SinkGuardOptions {
  /** Address categories never delivered to (unless allowed). */
  readonly deny: readonly SinkCategory[];
  /** CIDRs, bare addresses or host globs (`*.svc.cluster.local`) that are delivered to even when denied. */
  readonly allow: readonly string[];
  /** Resolves names at connect time; `dns.lookup` by default. */
  readonly resolver?: Resolver;
  /** Called once per refusal: `create` (API, seed) or `connect` (a delivery). */
  readonly onRefusal?: (stage: 'create' | 'connect') => void;
}

/** The code a refused connection fails with, so the transport can tell it from a network error. */
export const SINK_FORBIDDEN = 'HERALD_SINK_FORBIDDEN';

export class SinkForbiddenError extends Error {
  readonly code = SINK_FORBIDDEN;
  constructor(message: string) {
    super(message);
    this.name = 'SinkForbiddenError';
  }
}

/** Parses `--sink-deny` and `--sink-allow`; returns the problems (empty when valid). */
export function parseSinkPolicy(
  deny: string,
  allow: string,
): { deny: SinkCategory[]; allow: string[]; problems: string[] } {
  const problems: string[] = [];
  const split = (text: string) =>
    text
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const categories: SinkCategory[] = [];
  for (const name of split(deny)) {
    if ((SINK_CATEGORIES as readonly string[]).includes(name)) categories.push(name as SinkCategory);
    else problems.push(`--sink-deny: unknown category '${name}' (expected ${SINK_CATEGORIES.join(', ')})`);
  }
  const entries = split(allow);
  for (const entry of entries) {
    if (addCidr(new BlockList(), entry)) continue;
    if (!/^[a-z0-9*]([a-z0-9*.-]*[a-z0-9*])?$/i.test(entry) || /^[\d.*]+$/.test(entry)) {
      problems.push(`--sink-allow: '${entry}' is neither a CIDR nor a host glob such as *.svc.cluster.local`);
    }
  }
  return { deny: categories, allow: entries, problems };
}

/** Lower case, no trailing dots, no brackets: the form host globs and literal checks compare. */
function canonicalHost(hostname: string): string {
  return hostname.toLowerCase().replace(/\.+$/, '');
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .toLowerCase()
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[a-z0-9-]*');
  return new RegExp(`^${body}$`);
}

/** Names that resolve to loopback everywhere (RFC 6761), treated as loopback literals. */
function isLocalhostName(host: string): boolean {
  return host === 'localhost' || host.endsWith('.localhost');
}

/**
 * Decides where the broker may deliver. One instance serves the create-time checks of literal
 * addresses (API, seed routes) and the connect-time checks of every resolved address (all sinks,
 * dead-letter sinks included), so a name cannot be re-pointed at a denied address after creation.
 */
export class SinkGuard {
  private readonly deny: ReadonlySet<SinkCategory>;
  private readonly allowCidrs = new BlockList();
  private readonly allowHosts: RegExp[] = [];
  private readonly resolver: Resolver;
  private ownPorts = new Set<number>();
  /** The broker's own addresses, in every spelling (`addressList`). */
  private ownAddresses = new BlockList();

  constructor(private readonly options: SinkGuardOptions) {
    this.deny = new Set(options.deny);
    for (const entry of options.allow) {
      if (!addCidr(this.allowCidrs, entry)) this.allowHosts.push(globToRegExp(entry));
    }
    this.resolver = options.resolver ?? (dnsLookup as unknown as Resolver);
  }

  /** The broker's own listeners: never a sink, whatever is allowed. */
  setOwnListeners(ports: readonly number[], host: string): void {
    this.ownPorts = new Set(ports);
    const addresses = [host];
    for (const list of Object.values(networkInterfaces())) {
      for (const info of list ?? []) addresses.push(info.address);
    }
    this.ownAddresses = addressList(addresses);
  }

  private hostAllowed(host: string): boolean {
    return this.allowHosts.some((pattern) => pattern.test(host));
  }

  /**
   * Why `address` (what `host` names) may not be connected to on `port`, or undefined when it may.
   */
  refusal(host: string, address: string, port: number): string | undefined {
    const category = categoryOf(address);
    const literal = ipLiteral(address);
    if (this.ownPorts.has(port) && literal !== undefined) {
      const local =
        category === 'loopback' ||
        category === 'unspecified' ||
        this.ownAddresses.check(literal.address, literal.family);
      if (local) return `port ${port} on this host is the broker's own listener`;
    }
    if (this.hostAllowed(canonicalHost(host))) return undefined;
    if (literal !== undefined && this.allowCidrs.check(literal.address, literal.family)) return undefined;
    if (category !== undefined && this.deny.has(category)) {
      return `${category} addresses are denied by --sink-deny (allow them with --sink-allow)`;
    }
    return undefined;
  }

  /**
   * Create-time check of a sink URL: literal addresses (every spelling, as the WHATWG URL parser
   * normalises them) and `localhost` names. Other names are checked when connecting.
   */
  checkUrl(sink: string, pointer: string): void {
    let url: URL;
    try {
      url = new URL(sink);
    } catch {
      return; // the schema reports malformed URLs
    }
    const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
    const host = canonicalHost(url.hostname);
    const literal = ipLiteral(host);
    const candidates =
      literal !== undefined ? [literal.address] : isLocalhostName(host) ? ['127.0.0.1', '::1'] : [];
    for (const address of candidates) {
      const reason = this.refusal(host, address, port);
      if (reason !== undefined) {
        this.options.onRefusal?.('create');
        throw new HeraldError('HERALD_SINK_FORBIDDEN', `${pointer.slice(1)}: ${reason}`, { pointer });
      }
    }
  }

  /** Connect-time check of a literal address (net.connect resolves nothing for those). */
  checkConnect(host: string, port: number): SinkForbiddenError | undefined {
    const literal = ipLiteral(host);
    if (literal === undefined) return undefined;
    const reason = this.refusal(host, literal.address, port);
    if (reason === undefined) return undefined;
    this.options.onRefusal?.('connect');
    return new SinkForbiddenError(`${literal.address}: ${reason}`);
  }

  /**
   * A `lookup` for `net.connect` that resolves every address of a name and refuses the connection
   * when any of them is denied: a name cannot smuggle a denied address in behind an allowed one.
   */
  lookupFor(port: number): ConnectLookup {
    return (hostname, options, callback) => {
      this.resolver(hostname, { ...options, all: true }, (error, addresses) => {
        if (error !== null) return callback(error, []);
        for (const { address } of addresses) {
          const reason = this.refusal(hostname, address, port);
          if (reason !== undefined) {
            this.options.onRefusal?.('connect');
            return callback(new SinkForbiddenError(`${hostname} resolves to ${address}: ${reason}`), []);
          }
        }
        const first = addresses[0];
        if (first === undefined) {
          return callback(Object.assign(new Error(`${hostname}: no address`), { code: 'ENOTFOUND' }), []);
        }
        if ((options as LookupAllOptions).all === true) return callback(null, addresses);
        return callback(null, first.address, first.family);
      });
    };
  }
}
