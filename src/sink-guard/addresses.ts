import { BlockList, isIP } from 'node:net';

/** The address categories `--sink-deny` names. */
export const SINK_CATEGORIES = ['loopback', 'link-local', 'private', 'unspecified', 'multicast'] as const;
export type SinkCategory = (typeof SINK_CATEGORIES)[number];

/**
 * The ranges of each category. IPv4 rules also match IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`,
 * BlockList does that itself); the IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`, `64:ff9b:1::a.b.c.d`) and
 * SIIT (`::ffff:0:a.b.c.d`) forms of the same IPv4 ranges are listed explicitly, because a host may
 * route them to the embedded address.
 */
const RANGES: Readonly<Record<SinkCategory, { v4: readonly string[]; v6: readonly string[] }>> = {
  loopback: { v4: ['127.0.0.0/8'], v6: ['::1/128'] },
  unspecified: { v4: ['0.0.0.0/8'], v6: ['::/128'] },
  'link-local': { v4: ['169.254.0.0/16'], v6: ['fe80::/10'] },
  multicast: { v4: ['224.0.0.0/4', '255.255.255.255/32'], v6: ['ff00::/8'] },
  private: {
    v4: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'],
    // Unique local, and the deprecated site-local range some networks still route internally.
    v6: ['fc00::/7', 'fec0::/10'],
  },
};

/**
 * Embedded-IPv4 prefixes whose low 32 bits a host may route as the IPv4 address itself: IPv4-compatible,
 * the well-known NAT64 prefix, the local-use NAT64 prefix (RFC 8215, with the /96 embedding) and SIIT.
 */
const EMBEDDING_PREFIXES = ['::', '64:ff9b::', '64:ff9b:1::', '::ffff:0:'];

function addSubnet(list: BlockList, cidr: string): void {
  const slash = cidr.lastIndexOf('/');
  const network = cidr.slice(0, slash);
  const prefix = Number(cidr.slice(slash + 1));
  list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
}

/** Adds an IPv4 CIDR and, unless `plainOnly`, the same range in each embedding IPv6 form. */
function addIPv4Subnet(list: BlockList, cidr: string, plainOnly = false): void {
  addSubnet(list, cidr);
  if (plainOnly) return;
  const [network, prefix] = cidr.split('/') as [string, string];
  for (const embedding of EMBEDDING_PREFIXES)
    addSubnet(list, `${embedding}${network}/${96 + Number(prefix)}`);
}

function categoryList(category: SinkCategory): BlockList {
  const list = new BlockList();
  const { v4, v6 } = RANGES[category];
  // `::0.0.0.0/104` would swallow `::1`: the unspecified range keeps only its exact IPv6 form.
  for (const cidr of v4) addIPv4Subnet(list, cidr, category === 'unspecified');
  for (const cidr of v6) addSubnet(list, cidr);
  return list;
}

const LISTS: ReadonlyArray<[SinkCategory, BlockList]> = SINK_CATEGORIES.map((c) => [c, categoryList(c)]);

/** Strips `[` `]` and an IPv6 zone; undefined when `host` is not an IP literal. */
export function ipLiteral(host: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined {
  let text = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const version = isIP(text);
  if (version === 0) return undefined;
  return { address: text, family: version === 6 ? 'ipv6' : 'ipv4' };
}

/** The category of an IP address, or undefined for an ordinary (public) address. */
export function categoryOf(address: string): SinkCategory | undefined {
  const literal = ipLiteral(address);
  if (literal === undefined) return undefined;
  for (const [category, list] of LISTS) if (list.check(literal.address, literal.family)) return category;
  return undefined;
}

/**
 * A list matching `addresses` in every spelling a sink URL or a resolver can give them: IPv6 in any
 * textual form, and an IPv4 address also as IPv4-mapped (BlockList does that itself), IPv4-compatible,
 * NAT64 and SIIT IPv6.
 */
export function addressList(addresses: Iterable<string>): BlockList {
  const list = new BlockList();
  for (const address of addresses) {
    const literal = ipLiteral(address);
    if (literal === undefined) continue;
    if (literal.family === 'ipv4') addIPv4Subnet(list, `${literal.address}/32`);
    else list.addAddress(literal.address, literal.family);
  }
  return list;
}

/**
 * Parses a CIDR (`10.0.0.0/8`, `fd00::/8`) or a bare address (a /32 or /128) into `list`; returns
 * false when `entry` is neither.
 */
export function addCidr(list: BlockList, entry: string): boolean {
  const slash = entry.lastIndexOf('/');
  const network = slash < 0 ? entry : entry.slice(0, slash);
  const literal = ipLiteral(network);
  if (literal === undefined) return false;
  const max = literal.family === 'ipv6' ? 128 : 32;
  const prefixText = slash < 0 ? String(max) : entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return false;
  list.addSubnet(literal.address, Number(prefixText), literal.family);
  return true;
}
