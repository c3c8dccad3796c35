/**
 * Address classification for outbound calls to user-supplied expert endpoints (SSRF defence).
 *
 * PURE: no DNS, no sockets, no filesystem. `checkEndpointUrl` is the synchronous check run when an
 * endpoint is registered; the outbound client (outbound.ts) runs it again before every call and then
 * checks every address the hostname resolves to with `checkResolvedAddress`.
 *
 * Classification fails closed: anything that is not a recognisable IP literal, and any IPv6 address
 * outside global unicast (2000::/3), is 'reserved', which is never allowed.
 */
import { isIP } from 'node:net';

export type AddressClass =
  | 'public'
  | 'private'
  | 'loopback'
  | 'link-local'
  | 'metadata'
  | 'unspecified'
  | 'reserved';

export type EndpointRefusalCode =
  | 'endpoint_invalid'
  | 'endpoint_scheme'
  | 'endpoint_credentials'
  | 'endpoint_private_address'
  | 'endpoint_metadata_address'
  | 'endpoint_reserved_address'
  | 'endpoint_port';

export interface EndpointRefusal {
  readonly ok: false;
  readonly reason: string;
  readonly code: EndpointRefusalCode;
}

export type EndpointCheck = { readonly ok: true; readonly url: URL } | EndpointRefusal;

export interface EndpointCheckOptions {
  /**
   * Opens private, loopback and link-local targets (local development), on any port unless
   * `allowedPorts` is given. Never opens metadata or reserved addresses.
   */
  readonly allowPrivate: boolean;
  /**
   * The ports an endpoint may name (its URL's port, or 443 / 80 by scheme when it names none).
   * Default: `DEFAULT_ALLOWED_PORTS`; with `allowPrivate` and no list, any port.
   */
  readonly allowedPorts?: readonly number[];
}

/** The environment variable a composition root reads to build `{ allowPrivate }`. */
export const ALLOW_PRIVATE_ENDPOINTS_ENV = 'CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS';
/** The environment variable with a comma-separated port list that replaces the default one. */
export const ALLOWED_ENDPOINT_PORTS_ENV = 'CONDUCTOR_ALLOWED_ENDPOINT_PORTS';
/**
 * Outbound calls go to HTTPS and HTTP's own ports only, by default: a user-supplied URL naming
 * another port (a database, an admin console, SMTP on a public host) is refused before any call.
 */
export const DEFAULT_ALLOWED_PORTS: readonly number[] = [443, 80];

/** `"443, 8443"` -> `[443, 8443]`; throws on anything that is not a list of ports 1-65535. */
export const parsePortList = (raw: string): number[] => {
  const ports = raw.split(',').map((part) => part.trim());
  if (ports.some((port) => !/^[0-9]{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)) {
    throw new Error(`${ALLOWED_ENDPOINT_PORTS_ENV} must be a comma-separated list of ports 1-65535.`);
  }
  return ports.map(Number);
};

const portOf = (url: URL): number =>
  url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;

interface ParsedIp {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

interface Rule {
  readonly prefix: Uint8Array;
  readonly bits: number;
  readonly cls: AddressClass;
}

/** Strips `[...]` brackets (URL hostnames) and an IPv6 zone id (`fe80::1%eth0`). */
const bare = (input: string): string => {
  let s = input.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  return zone === -1 ? s : s.slice(0, zone);
};

/**
 * IPv4 as the WHATWG URL host parser reads it: one to four dot-separated parts, each decimal, octal
 * (leading 0) or hex (0x); the last part fills the remaining bytes (`0x7f.1` is 127.0.0.1,
 * `2130706433` is 127.0.0.1). One trailing dot is allowed.
 */
const parseIPv4Loose = (input: string): Uint8Array | null => {
  const parts = input.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length === 0 || parts.length > 4) return null;
  const numbers: number[] = [];
  for (const part of parts) {
    let digits = part;
    let radix = 10;
    if (/^0x/i.test(part)) {
      digits = part.slice(2);
      radix = 16;
    } else if (part.length > 1 && part.startsWith('0')) {
      digits = part.slice(1);
      radix = 8;
    }
    const pattern = radix === 16 ? /^[0-9a-f]*$/i : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
    if (!pattern.test(digits)) return null;
    const value = digits === '' ? 0 : Number.parseInt(digits, radix);
    if (!Number.isSafeInteger(value)) return null;
    numbers.push(value);
  }
  const last = numbers.pop() ?? 0;
  if (numbers.some((n) => n > 255)) return null;
  if (last >= 256 ** (4 - numbers.length)) return null;
  let value = last;
  numbers.forEach((n, i) => {
    value += n * 256 ** (3 - i);
  });
  return Uint8Array.of((value >>> 24) & 0xff, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
};

const parseIPv6 = (input: string): Uint8Array | null => {
  if (isIP(input) !== 6) return null;
  let text = input.toLowerCase();
  let embedded: Uint8Array | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    embedded = parseIPv4Loose(text.slice(lastColon + 1));
    if (embedded === null) return null;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const groups = (half: string): string[] => (half === '' ? [] : half.split(':'));
  const gap = text.indexOf('::');
  const left = gap === -1 ? groups(text) : groups(text.slice(0, gap));
  const right = gap === -1 ? [] : groups(text.slice(gap + 2));
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  if (all.length !== 8) return null;
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    const value = Number.parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  if (embedded) bytes.set(embedded, 12);
  return bytes;
};

/**
 * Parses an IP literal in any spelling a URL or a resolver may produce: dotted IPv4, WHATWG legacy
 * IPv4 (`0x7f.1`, `017700000001`), IPv6 with or without brackets, zone id or embedded IPv4.
 * Returns null for anything else (a host name).
 */
const parseIp = (input: string): ParsedIp | null => {
  const s = bare(input);
  if (s.includes(':')) {
    const bytes = parseIPv6(s);
    return bytes ? { family: 6, bytes } : null;
  }
  // A host name whose last label is not numeric is a name, not an address (WHATWG "ends in a number").
  const bytes = /^[0-9a-fx.]+$/i.test(s) ? parseIPv4Loose(s) : null;
  return bytes ? { family: 4, bytes } : null;
};

const rule = (cidr: string, cls: AddressClass): Rule => {
  const [address = '', bits = ''] = cidr.split('/');
  const parsed = parseIp(address);
  if (!parsed) throw new Error(`bad CIDR in rule table: ${cidr}`);
  return { prefix: parsed.bytes, bits: Number(bits), cls };
};

const matches = (bytes: Uint8Array, { prefix, bits }: Rule): boolean => {
  for (let i = 0; i < bits; i += 8) {
    const take = Math.min(8, bits - i);
    const mask = (0xff << (8 - take)) & 0xff;
    if (((bytes[i / 8] ?? 0) & mask) !== ((prefix[i / 8] ?? 0) & mask)) return false;
  }
  return true;
};

// Most specific first; the first match wins.
const V4_RULES: readonly Rule[] = [
  rule('169.254.169.254/32', 'metadata'), // EC2 IMDS (also Azure, GCP, OCI)
  rule('169.254.170.2/32', 'metadata'), // ECS task metadata and credentials
  rule('169.254.170.23/32', 'metadata'), // EKS Pod Identity credentials
  rule('0.0.0.0/8', 'unspecified'), // "this network": 0.0.0.0 reaches the local host on Linux
  rule('10.0.0.0/8', 'private'),
  rule('100.64.0.0/10', 'private'), // carrier-grade NAT
  rule('127.0.0.0/8', 'loopback'),
  rule('169.254.0.0/16', 'link-local'),
  rule('172.16.0.0/12', 'private'),
  rule('192.0.0.0/24', 'reserved'), // IETF protocol assignments
  rule('192.0.2.0/24', 'reserved'), // TEST-NET-1
  rule('192.88.99.0/24', 'reserved'), // 6to4 relay anycast
  rule('192.168.0.0/16', 'private'),
  rule('198.18.0.0/15', 'reserved'), // benchmarking
  rule('198.51.100.0/24', 'reserved'), // TEST-NET-2
  rule('203.0.113.0/24', 'reserved'), // TEST-NET-3
  rule('224.0.0.0/4', 'reserved'), // multicast
  rule('240.0.0.0/4', 'reserved'), // reserved, includes 255.255.255.255 broadcast
];

const V6_RULES: readonly Rule[] = [
  rule('::/128', 'unspecified'),
  rule('::1/128', 'loopback'),
  rule('fd00:ec2::254/128', 'metadata'), // EC2 IMDS over IPv6
  rule('fd00:ec2::23/128', 'metadata'), // EKS Pod Identity over IPv6
  rule('fd20:ce::254/128', 'metadata'), // GCE metadata over IPv6
  rule('fc00::/7', 'private'), // unique local
  rule('fe80::/10', 'link-local'),
  rule('fec0::/10', 'private'), // deprecated site-local
  rule('2001::/23', 'reserved'), // IETF protocol assignments, includes Teredo 2001::/32
  rule('2001:db8::/32', 'reserved'), // documentation
  rule('2002::/16', 'reserved'), // 6to4: embeds an arbitrary IPv4
  rule('3fff::/20', 'reserved'), // documentation
  rule('2000::/3', 'public'), // global unicast; everything else (multicast ff00::/8, ::/96, 100::/64, ...) is reserved
];

// IPv6 forms that carry an IPv4 address in their last 32 bits and are classified by it.
const V4_IN_V6: readonly Rule[] = [
  rule('::ffff:0:0/96', 'public'), // IPv4-mapped
  rule('64:ff9b::/96', 'public'), // NAT64 well-known prefix
];

const classifyV4 = (bytes: Uint8Array): AddressClass =>
  V4_RULES.find((r) => matches(bytes, r))?.cls ?? 'public';

/**
 * Classifies an IP literal. Accepts the forms `new URL().hostname` produces (brackets included) and
 * the legacy IPv4 spellings a URL parser normalises. IPv4-mapped and NAT64 IPv6 addresses are
 * classified by the IPv4 they carry. Anything that is not an IP address is 'reserved' (fail closed).
 */
export const classifyAddress = (ip: string): AddressClass => {
  const parsed = parseIp(ip);
  if (!parsed) return 'reserved';
  if (parsed.family === 4) return classifyV4(parsed.bytes);
  if (V4_IN_V6.some((r) => matches(parsed.bytes, r))) return classifyV4(parsed.bytes.subarray(12));
  return V6_RULES.find((r) => matches(parsed.bytes, r))?.cls ?? 'reserved';
};

/** True when `host` (a URL hostname, brackets allowed) is an IP literal rather than a name. */
export const isIpLiteral = (host: string): boolean => parseIp(host) !== null;

const METADATA_NAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'instance-data',
  'instance-data.ec2.internal',
]);

/**
 * Classifies a hostname without resolving it: IP literals by address, well-known special names by
 * name (`localhost`, `*.localhost` loopback; metadata service names; `*.internal` private, the
 * reserved TLD for private networks, e.g. `ip-10-0-0-1.ec2.internal`, `host.docker.internal`).
 * Returns undefined for an ordinary name, whose class only DNS can tell.
 */
export const classifyHostname = (hostname: string): AddressClass | undefined => {
  if (isIpLiteral(hostname)) return classifyAddress(hostname);
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (METADATA_NAMES.has(name)) return 'metadata';
  if (name === 'localhost' || name.endsWith('.localhost')) return 'loopback';
  if (name === 'internal' || name.endsWith('.internal')) return 'private';
  return undefined;
};

const CLASS_PHRASE: Record<Exclude<AddressClass, 'public'>, string> = {
  private: 'a private address',
  loopback: 'a loopback address',
  'link-local': 'a link-local address',
  metadata: 'a cloud instance-metadata address',
  unspecified: 'an unspecified address',
  reserved: 'a reserved, multicast or non-routable address',
};

/**
 * The refusal for an address class, or null when the class is allowed. `subject` starts the sentence
 * ("Endpoint host 10.0.0.5 is" / "Endpoint host api.example.com resolves to 10.0.0.5, which is").
 */
const refuse = (subject: string, cls: AddressClass, opts: EndpointCheckOptions): EndpointRefusal | null => {
  if (cls === 'public') return null;
  const phrase = CLASS_PHRASE[cls];
  if (cls === 'metadata') {
    return {
      ok: false,
      code: 'endpoint_metadata_address',
      reason: `${subject} ${phrase}; instance-metadata services are never allowed as expert endpoints.`,
    };
  }
  if (cls === 'unspecified' || cls === 'reserved') {
    return {
      ok: false,
      code: 'endpoint_reserved_address',
      reason: `${subject} ${phrase}; experts must be reachable at a public unicast address.`,
    };
  }
  if (opts.allowPrivate) return null;
  return {
    ok: false,
    code: 'endpoint_private_address',
    reason: `${subject} ${phrase}; experts must be publicly reachable (for local development: npm start -- --allow-private-endpoints, or ${ALLOW_PRIVATE_ENDPOINTS_ENV}=true).`,
  };
};

/** Whether an address class may be called: public always, private/loopback/link-local only when allowPrivate. */
export const isAddressClassAllowed = (cls: AddressClass, opts: EndpointCheckOptions): boolean =>
  refuse('', cls, opts) === null;

/**
 * Synchronous check of a user-supplied endpoint URL: http(s) only, no embedded credentials, a host,
 * and a host that is not (by literal or well-known name) a non-public target. Names that need DNS
 * pass here; the outbound client checks what they resolve to before every call.
 */
export const checkEndpointUrl = (raw: string, opts: EndpointCheckOptions): EndpointCheck => {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Never echo the input: it may carry a secret.
    return { ok: false, code: 'endpoint_invalid', reason: 'Endpoint URL is not a valid absolute URL.' };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      ok: false,
      code: 'endpoint_scheme',
      reason: `Endpoint URL must use http: or https:, not ${url.protocol}.`,
    };
  }
  if (url.username !== '' || url.password !== '') {
    return {
      ok: false,
      code: 'endpoint_credentials',
      reason:
        'Endpoint URL must not embed a username or password; send credentials in request headers instead.',
    };
  }
  if (url.hostname === '') {
    return { ok: false, code: 'endpoint_invalid', reason: 'Endpoint URL has no host.' };
  }
  const cls = classifyHostname(bare(url.hostname));
  if (cls !== undefined) {
    const refusal = refuse(`Endpoint host ${url.hostname} is`, cls, opts);
    if (refusal) return refusal;
  }
  const allowedPorts = opts.allowedPorts ?? (opts.allowPrivate ? undefined : DEFAULT_ALLOWED_PORTS);
  if (allowedPorts && !allowedPorts.includes(portOf(url))) {
    return {
      ok: false,
      code: 'endpoint_port',
      reason: `Endpoint port ${portOf(url)} is not allowed; allowed: ${allowedPorts.join(', ')} (set ${ALLOWED_ENDPOINT_PORTS_ENV} to change the list).`,
    };
  }
  return { ok: true, url };
};

/** Checks one address a hostname resolved to; the reason names both the host and the address. */
export const checkResolvedAddress = (
  hostname: string,
  address: string,
  opts: EndpointCheckOptions,
): { readonly ok: true } | EndpointRefusal =>
  refuse(
    `Endpoint host ${hostname} resolves to ${bare(address)}, which is`,
    classifyAddress(address),
    opts,
  ) ?? {
    ok: true,
  };
