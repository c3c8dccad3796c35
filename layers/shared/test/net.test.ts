import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type AddressClass,
  checkEndpointUrl,
  checkResolvedAddress,
  classifyAddress,
  classifyHostname,
  isAddressClassAllowed,
  isIpLiteral,
  parsePortList,
} from '#shared/outbound/net.js';

const strict = { allowPrivate: false };
const lenient = { allowPrivate: true };

/** The hostname a WHATWG URL parser produces for a host, as the outbound client will see it. */
const urlHost = (host: string): string => new URL(`http://${host}/`).hostname;

const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
const hex16 = (hi: number, lo: number): string => ((hi << 8) | lo).toString(16);

describe('classifyAddress', () => {
  it.each<[string, AddressClass]>([
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.127.255.255', 'private'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['224.0.0.1', 'reserved'],
    ['239.255.255.250', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['192.0.2.10', 'reserved'],
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['172.15.255.255', 'public'],
    ['172.32.0.0', 'public'],
    ['100.63.255.255', 'public'],
    ['100.128.0.0', 'public'],
    ['198.20.0.0', 'public'],
  ])('classifies the IPv4 address %s as %s', (ip, expected) => {
    // Act / Assess
    expect(classifyAddress(ip)).toBe(expected);
  });

  it.each<[string, AddressClass]>([
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['::', 'unspecified'],
    ['fc00::1', 'private'],
    ['fd00::1', 'private'],
    ['[fd00::1]', 'private'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['febf::1', 'link-local'],
    ['ff02::1', 'reserved'],
    ['ff0e::1', 'reserved'],
    ['fd00:ec2::254', 'metadata'],
    ['FD00:EC2:0:0:0:0:0:254', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::a9fe:a9fe', 'metadata'],
    ['64:ff9b::808:808', 'public'],
    ['2002:7f00:1::', 'reserved'],
    ['2001::1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['::127.0.0.1', 'reserved'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:82b::200e', 'public'],
  ])('classifies the IPv6 address %s as %s', (ip, expected) => {
    // Act / Assess
    expect(classifyAddress(ip)).toBe(expected);
  });

  it.each<[string, AddressClass]>([
    ['0x7f.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0xa.0.0.5', 'private'],
    ['0xA9FEA9FE', 'metadata'],
    ['127.1', 'loopback'],
  ])('reads the legacy IPv4 spelling %s as a URL parser does (%s)', (ip, expected) => {
    // Prepare
    const normalised = urlHost(ip);

    // Act / Assess
    expect(classifyAddress(ip)).toBe(expected);
    expect(classifyAddress(normalised)).toBe(expected);
  });

  it.each(['example.com', '', 'not an ip', '1.2.3.4.5', '256.0.0.1', '::ffff:1.2.3'])(
    'fails closed, as reserved, for %j which is not an IP address',
    (input) => {
      // Act / Assess
      expect(classifyAddress(input)).toBe('reserved');
    },
  );

  it('classifies every address in 10.0.0.0/8 as private', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.nat(255), fc.nat(255), (b, c, d) => {
        expect(classifyAddress(`10.${b}.${c}.${d}`)).toBe('private');
      }),
    );
  });

  it('classifies IPv4-mapped and NAT64 forms exactly as the IPv4 address they carry', () => {
    fc.assert(
      fc.property(v4, ([a, b, c, d]) => {
        // Prepare
        const dotted = `${a}.${b}.${c}.${d}`;
        const expected = classifyAddress(dotted);

        // Act / Assess
        expect(classifyAddress(`::ffff:${dotted}`)).toBe(expected);
        expect(classifyAddress(`::ffff:${hex16(a, b)}:${hex16(c, d)}`)).toBe(expected);
        expect(classifyAddress(urlHost(`[::ffff:${dotted}]`))).toBe(expected);
        expect(classifyAddress(`64:ff9b::${dotted}`)).toBe(expected);
      }),
    );
  });

  it('classifies any WHATWG IPv4 spelling the same as the URL parser normalises it', () => {
    fc.assert(
      fc.property(fc.ipV4Extended(), (spelling) => {
        expect(classifyAddress(spelling)).toBe(classifyAddress(urlHost(spelling)));
      }),
    );
  });

  it('classifies every generated IPv6 address without throwing, and bracketed the same as bare', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        expect(classifyAddress(`[${ip}]`)).toBe(classifyAddress(ip));
        expect(classifyAddress(urlHost(`[${ip}]`))).toBe(classifyAddress(ip));
      }),
    );
  });
});

describe('classifyHostname', () => {
  it.each<[string, AddressClass | undefined]>([
    ['localhost', 'loopback'],
    ['LOCALHOST.', 'loopback'],
    ['app.localhost', 'loopback'],
    ['metadata', 'metadata'],
    ['metadata.google.internal', 'metadata'],
    ['metadata.google.internal.', 'metadata'],
    ['instance-data', 'metadata'],
    ['ip-10-0-0-1.ec2.internal', 'private'],
    ['host.docker.internal', 'private'],
    ['[::1]', 'loopback'],
    ['10.0.0.1', 'private'],
    ['api.example.com', undefined],
    ['localhost.example.com', undefined],
  ])('classifies the hostname %s as %s without DNS', (hostname, expected) => {
    // Act / Assess
    expect(classifyHostname(hostname)).toBe(expected);
  });

  it('tells IP literals from names', () => {
    // Act / Assess
    expect(isIpLiteral('[::1]')).toBe(true);
    expect(isIpLiteral('10.0.0.1')).toBe(true);
    expect(isIpLiteral('cafe.bad')).toBe(false);
    expect(isIpLiteral('example.com')).toBe(false);
  });
});

describe('isAddressClassAllowed', () => {
  it.each<[AddressClass, boolean, boolean]>([
    ['public', true, true],
    ['private', false, true],
    ['loopback', false, true],
    ['link-local', false, true],
    ['metadata', false, false],
    ['unspecified', false, false],
    ['reserved', false, false],
  ])('allows %s when strict: %s, and with allowPrivate: %s', (cls, whenStrict, whenLenient) => {
    // Act / Assess
    expect(isAddressClassAllowed(cls, strict)).toBe(whenStrict);
    expect(isAddressClassAllowed(cls, lenient)).toBe(whenLenient);
  });
});

describe('checkEndpointUrl', () => {
  it('accepts a public https URL and returns the parsed URL', () => {
    // Act
    const result = checkEndpointUrl('https://api.example.com/v1/solve?x=1', strict);

    // Assess
    expect(result.ok).toBe(true);
    expect(result.ok && result.url.href).toBe('https://api.example.com/v1/solve?x=1');
  });

  it('allows the default ports only (443, 80, and a URL that names none), unless a list replaces them', () => {
    // Act
    const verdicts = [
      'https://api.example.com/v1',
      'https://api.example.com:443/v1',
      'http://api.example.com:80/v1',
      'https://api.example.com:8443/v1',
      'http://api.example.com:25/',
      'https://api.example.com:6379/',
    ].map((url) => {
      const result = checkEndpointUrl(url, strict);
      return result.ok ? 'ok' : result.code;
    });
    const listed = checkEndpointUrl('https://api.example.com:8443/v1', { ...strict, allowedPorts: [8443] });
    const unlisted = checkEndpointUrl('https://api.example.com/v1', { ...strict, allowedPorts: [8443] });
    const local = checkEndpointUrl('http://127.0.0.1:4123/expert', { allowPrivate: true });

    // Assess
    expect(verdicts).toEqual(['ok', 'ok', 'ok', 'endpoint_port', 'endpoint_port', 'endpoint_port']);
    expect(listed.ok).toBe(true);
    expect(unlisted.ok ? 'ok' : unlisted.reason).toMatch(
      /port 443 is not allowed; allowed: 8443 .*CONDUCTOR_ALLOWED_ENDPOINT_PORTS/,
    );
    expect(local.ok).toBe(true);
  });

  it('reads a port list strictly', () => {
    expect(parsePortList('443, 8443')).toEqual([443, 8443]);
    for (const bad of ['', '443,', 'https', '0', '65536', '44 3', '-1'])
      expect(() => parsePortList(bad), bad).toThrow();
  });

  it('refuses a private address with a sentence that says how to allow it locally', () => {
    // Act
    const result = checkEndpointUrl('http://10.0.0.5:8080/expert', strict);

    // Assess
    expect(result).toEqual({
      ok: false,
      code: 'endpoint_private_address',
      reason:
        'Endpoint host 10.0.0.5 is a private address; experts must be publicly reachable (for local development: npm start -- --allow-private-endpoints, or CONDUCTOR_ALLOW_PRIVATE_ENDPOINTS=true).',
    });
  });

  it.each([
    ['http://127.0.0.1/', 'loopback'],
    ['http://0x7f.1/', 'loopback'],
    ['http://2130706433/', 'loopback'],
    ['http://[::1]:3000/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'loopback'],
    ['http://[fd00::1]/', 'private'],
    ['http://192.168.0.10/', 'private'],
    ['http://169.254.10.10/', 'link-local'],
    ['http://localhost:3000/', 'loopback'],
    ['http://expert.localhost/', 'loopback'],
    ['http://host.docker.internal/', 'private'],
  ])('refuses %s as a %s target unless private endpoints are allowed', (raw, kind) => {
    // Act
    const refused = checkEndpointUrl(raw, strict);
    const allowed = checkEndpointUrl(raw, lenient);

    // Assess
    expect(refused).toMatchObject({ ok: false, code: 'endpoint_private_address' });
    expect(!refused.ok && refused.reason).toContain(`a ${kind} address`);
    expect(allowed.ok).toBe(true);
  });

  it.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://169.254.170.2/v2/credentials',
    'http://[fd00:ec2::254]/',
    'http://[::ffff:169.254.169.254]/',
    'http://0xa9fea9fe/',
    'http://metadata.google.internal/computeMetadata/v1/',
    'http://metadata/',
    'http://instance-data/latest/',
  ])('refuses the metadata endpoint %s even when private endpoints are allowed', (raw) => {
    // Act
    const result = checkEndpointUrl(raw, lenient);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'endpoint_metadata_address' });
    expect(!result.ok && result.reason).toContain('never allowed');
  });

  it.each([
    'http://0.0.0.0/',
    'http://[::]/',
    'http://224.0.0.1/',
    'http://255.255.255.255/',
    'http://[ff02::1]/',
  ])('refuses the non-routable address %s even when private endpoints are allowed', (raw) => {
    // Act / Assess
    expect(checkEndpointUrl(raw, lenient)).toMatchObject({ ok: false, code: 'endpoint_reserved_address' });
  });

  it.each(['ftp://example.com/', 'file:///etc/passwd', 'javascript:alert(1)', 'gopher://example.com/'])(
    'refuses the non-HTTP scheme of %s',
    (raw) => {
      // Act / Assess
      expect(checkEndpointUrl(raw, lenient)).toMatchObject({ ok: false, code: 'endpoint_scheme' });
    },
  );

  it('refuses credentials embedded in the URL without echoing them', () => {
    // Act
    const result = checkEndpointUrl('https://alice:s3cret@api.example.com/', lenient);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'endpoint_credentials' });
    expect(JSON.stringify(result)).not.toContain('s3cret');
  });

  it.each(['', 'not a url', '/relative/path', 'http://', 'http://exa mple.com/'])(
    'refuses %j as an invalid URL without echoing it',
    (raw) => {
      // Act
      const result = checkEndpointUrl(raw, lenient);

      // Assess
      expect(result).toMatchObject({ ok: false, code: 'endpoint_invalid' });
    },
  );

  it('never accepts a non-public IPv4 literal when private endpoints are not allowed', () => {
    fc.assert(
      fc.property(v4, ([a, b, c, d]) => {
        // Prepare
        const ip = `${a}.${b}.${c}.${d}`;

        // Act
        const result = checkEndpointUrl(`https://${ip}/`, strict);

        // Assess
        expect(result.ok).toBe(classifyAddress(ip) === 'public');
      }),
    );
  });
});

describe('checkResolvedAddress', () => {
  it('names both the host and the address it resolved to', () => {
    // Act
    const result = checkResolvedAddress('api.example.com', '10.1.2.3', strict);

    // Assess
    expect(result).toMatchObject({ ok: false, code: 'endpoint_private_address' });
    expect(!result.ok && result.reason).toMatch(
      /^Endpoint host api\.example\.com resolves to 10\.1\.2\.3, which is a private address;/,
    );
  });

  it('allows a public address and, with allowPrivate, a loopback one', () => {
    // Act / Assess
    expect(checkResolvedAddress('api.example.com', '93.184.216.34', strict)).toEqual({ ok: true });
    expect(checkResolvedAddress('localhost', '::1', lenient)).toEqual({ ok: true });
  });
});
