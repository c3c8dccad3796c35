import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '#shared/errors.js';
import { EgressRefusedError, GuardedHttpClient, type ResolvedAddress } from '#shared/outbound/outbound.js';

// Only 127.0.0.1 is ever contacted: this machine's network rules forbid anything else. Every test
// that names another address either expects a refusal before any connection, or routes the socket
// to 127.0.0.1 through an intercepting agent.

interface TestServer {
  readonly port: number;
  readonly base: string;
  readonly requests: http.IncomingMessage[];
  close(): Promise<void>;
}

const servers: TestServer[] = [];

const startServer = async (handler: http.RequestListener): Promise<TestServer> => {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    res.on('error', () => undefined);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const handle: TestServer = {
    port,
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(handle);
  return handle;
};

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const readBody = async (req: http.IncomingMessage): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
};

const lookupReturning = (...addresses: string[]) =>
  vi.fn(
    async (_hostname: string): Promise<ResolvedAddress[]> =>
      addresses.map((address) => ({ address, family: net.isIP(address) === 6 ? 6 : 4 })),
  );

interface Interception {
  readonly host: string | null | undefined;
  readonly servername: string | undefined;
  readonly pinned: readonly string[];
}

/**
 * Records what the client asked to connect to, asks the client's pinned lookup where that host would
 * go, then connects to the local test server instead (plain TCP, also for https).
 */
const interceptTo = (port: number | undefined) => {
  const seen: Interception[] = [];
  const connect = (options: http.ClientRequestArgs & { servername?: string }): Duplex => {
    const pinned: string[] = [];
    options.lookup?.(options.host ?? '', { all: true }, (_err, addresses) => {
      if (Array.isArray(addresses)) pinned.push(...addresses.map((a) => a.address));
    });
    seen.push({ host: options.host, servername: options.servername, pinned });
    if (port === undefined) throw new Error('test agent: no connection expected');
    return net.connect({ host: '127.0.0.1', port });
  };
  class HttpAgent extends http.Agent {
    override createConnection(options: http.ClientRequestArgs): Duplex {
      return connect(options);
    }
  }
  class HttpsAgent extends https.Agent {
    override createConnection(options: https.RequestOptions): Duplex {
      return connect(options);
    }
  }
  return { seen, agents: { http: new HttpAgent(), https: new HttpsAgent() } };
};

const rejection = async (promise: Promise<unknown>): Promise<AppError> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected the call to be rejected');
};

describe('GuardedHttpClient calling a local server (allowPrivate)', () => {
  it('returns status, lower-case headers, the parsed JSON body, its size and the duration', async () => {
    // Prepare
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'X-Expert': 'a' });
      res.end(JSON.stringify({ answer: 42 }));
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const response = await client.request({ url: `${server.base}/solve` });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ answer: 42 });
    expect(response.headers['x-expert']).toBe('a');
    expect(response.bytes).toBe(Buffer.byteLength('{"answer":42}'));
    expect(response.durationMs).toBeGreaterThan(0);
    expect(server.requests[0]?.method).toBe('GET');
  });

  it('sends the body JSON-encoded with a JSON content-type, the user agent and the caller headers', async () => {
    // Prepare
    const server = await startServer(async (req, res) => {
      const body = await readBody(req);
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ received: JSON.parse(body), headers: req.headers, path: req.url }));
    });
    const client = new GuardedHttpClient({ allowPrivate: true, userAgent: 'conductor-test/1' });

    // Act
    const response = await client.request({
      url: `${server.base}/tasks?run=7`,
      body: { task: 'summarise', n: 3 },
      headers: { 'X-Trace': 't-1' },
    });

    // Assess
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({
      received: { task: 'summarise', n: 3 },
      path: '/tasks?run=7',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'conductor-test/1',
        'x-trace': 't-1',
        host: `127.0.0.1:${server.port}`,
      },
    });
    expect(server.requests[0]?.method).toBe('POST');
  });

  it('returns a non-JSON body as text', async () => {
    // Prepare
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('plain answer');
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const response = await client.request({ url: `${server.base}/`, method: 'PUT', body: { a: 1 } });

    // Assess
    expect(response.body).toBe('plain answer');
    expect(server.requests[0]?.method).toBe('PUT');
  });

  it('fails with upstream_invalid_json when a JSON content-type carries something else', async () => {
    // Prepare
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('<html>oops</html>');
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const error = await rejection(client.request({ url: `${server.base}/` }));

    // Assess
    expect(error).toMatchObject({ statusCode: 502, code: 'upstream_invalid_json' });
  });

  it('times out with upstream_timeout on a server that never answers, without leaking the query string', async () => {
    // Prepare
    const server = await startServer(() => undefined);
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act: the server never answers, so only the client's own 150 ms deadline can end the request.
    const error = await rejection(
      client.request({ url: `${server.base}/slow?api_key=s3cret`, timeoutMs: 150 }),
    );

    // Assess
    expect(error).toMatchObject({ statusCode: 502, code: 'upstream_timeout' });
    expect(error.message).toContain(`127.0.0.1:${server.port}`);
    expect(error.message).toContain('did not answer within 150 ms');
    expect(error.message).not.toContain('s3cret');
  });

  it('aborts with upstream_response_too_large when a streamed response passes the 1 MiB default cap', async () => {
    // Prepare
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked: no length up front
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      for (let i = 0; i < 32; i += 1) res.write(chunk); // 2 MiB
      res.end();
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const error = await rejection(client.request({ url: `${server.base}/big` }));

    // Assess
    expect(error).toMatchObject({ statusCode: 502, code: 'upstream_response_too_large' });
    expect(error.message).toContain('1048576 bytes');
  });

  it('refuses a response whose Content-Length exceeds the per-request cap before reading it', async () => {
    // Prepare
    const server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(2 * 1024 * 1024) });
      res.write('x'); // the rest never comes: only the declared length can trip the cap
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const error = await rejection(
      client.request({ url: `${server.base}/big`, maxResponseBytes: 1024, timeoutMs: 2000 }),
    );

    // Assess
    expect(error).toMatchObject({ code: 'upstream_response_too_large' });
  });

  it('returns a redirect as-is instead of following it (it could point at a private address)', async () => {
    // Prepare
    const server = await startServer((_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const response = await client.request({ url: `${server.base}/moved` });

    // Assess
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('http://169.254.169.254/latest/meta-data/');
    expect(server.requests).toHaveLength(1);
  });

  it('keeps its own connection alive across calls and closes it on destroy', async () => {
    // Prepare
    const ports: (number | undefined)[] = [];
    const server = await startServer((req, res) => {
      ports.push(req.socket.remotePort);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    await client.request({ url: `${server.base}/one` });
    await client.request({ url: `${server.base}/two` });
    client.destroy();

    // Assess
    expect(ports).toHaveLength(2);
    expect(ports[0]).toBeTypeOf('number');
    expect(ports[1]).toBe(ports[0]);
  });

  it('fails with upstream_unreachable when nothing listens on the port', async () => {
    // Prepare
    const server = await startServer(() => undefined);
    const { base } = server;
    await server.close();
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const error = await rejection(client.request({ url: `${base}/` }));

    // Assess
    expect(error).toMatchObject({ statusCode: 502, code: 'upstream_unreachable' });
    expect(error.message).toContain('ECONNREFUSED');
  });

  it('fails with upstream_unreachable when the server drops the connection mid-response', async () => {
    // Prepare
    const server = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '100' });
      res.write('partial', () => req.socket.destroy());
    });
    const client = new GuardedHttpClient({ allowPrivate: true });

    // Act
    const error = await rejection(client.request({ url: `${server.base}/` }));

    // Assess
    expect(error).toMatchObject({ code: 'upstream_unreachable' });
  });
});

describe('GuardedHttpClient refusing targets before any connection', () => {
  it.each([
    ['http://10.0.0.5/expert', 'endpoint_private_address'],
    ['http://169.254.169.254/latest/meta-data/', 'endpoint_metadata_address'],
    ['http://[::1]:8080/', 'endpoint_private_address'],
    ['http://[fd00::1]/', 'endpoint_private_address'],
    ['http://0x7f.1/', 'endpoint_private_address'],
    ['http://[::ffff:7f00:1]/', 'endpoint_private_address'],
    ['http://localhost:3000/', 'endpoint_private_address'],
    ['http://0.0.0.0/', 'endpoint_reserved_address'],
    ['ftp://api.example.com/', 'endpoint_scheme'],
    ['https://user:pass@api.example.com/', 'endpoint_credentials'],
  ])('refuses %s with %s, resolving and connecting nothing', async (url, code) => {
    // Prepare
    const lookup = lookupReturning('93.184.216.34');
    const { seen, agents } = interceptTo(undefined);
    const client = new GuardedHttpClient({ lookup, agents });

    // Act
    const error = await rejection(client.request({ url }));

    // Assess
    expect(error).toBeInstanceOf(EgressRefusedError);
    expect(error).toMatchObject({ statusCode: 422, code });
    expect(lookup).not.toHaveBeenCalled();
    expect(seen).toHaveLength(0);
  });

  it.each([
    [['127.0.0.1'], 'endpoint_private_address'],
    [['93.184.216.34', '10.0.0.7'], 'endpoint_private_address'],
    [['2606:2800:220:1::1', '::1'], 'endpoint_private_address'],
    [['::ffff:10.0.0.7'], 'endpoint_private_address'],
    [['93.184.216.34', '169.254.169.254'], 'endpoint_metadata_address'],
    [['224.0.0.1'], 'endpoint_reserved_address'],
  ])('refuses a name resolving to %j with %s, without connecting', async (addresses, code) => {
    // Prepare
    const lookup = lookupReturning(...addresses);
    const { seen, agents } = interceptTo(undefined);
    const client = new GuardedHttpClient({ lookup, agents });

    // Act
    const error = await rejection(client.request({ url: 'https://expert.example.com/solve?key=s3cret' }));

    // Assess
    expect(error).toMatchObject({ statusCode: 422, code });
    expect(error.message).toContain('expert.example.com resolves to');
    expect(error.message).not.toContain('s3cret');
    expect(lookup).toHaveBeenCalledWith('expert.example.com');
    expect(seen).toHaveLength(0);
  });

  it.each([
    ['http://169.254.169.254/', []],
    ['http://[fd00:ec2::254]/', []],
    ['http://metadata.google.internal/computeMetadata/v1/', []],
    ['http://imds.example.com/', ['169.254.169.254']],
    ['http://imds.example.com/', ['::ffff:169.254.169.254']],
  ])('refuses the metadata target %s (resolving to %j) even with allowPrivate', async (url, addresses) => {
    // Prepare
    const lookup = lookupReturning(...addresses);
    const { seen, agents } = interceptTo(undefined);
    const client = new GuardedHttpClient({ allowPrivate: true, lookup, agents });

    // Act
    const error = await rejection(client.request({ url }));

    // Assess
    expect(error).toMatchObject({ statusCode: 422, code: 'endpoint_metadata_address' });
    expect(seen).toHaveLength(0);
  });

  it('fails with upstream_unreachable when the name does not resolve', async () => {
    // Prepare
    const lookup = vi.fn(async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nope.example.com'), { code: 'ENOTFOUND' });
    });
    const client = new GuardedHttpClient({ lookup });

    // Act
    const error = await rejection(client.request({ url: 'https://nope.example.com/' }));

    // Assess
    expect(error).toMatchObject({ statusCode: 502, code: 'upstream_unreachable' });
    expect(error.message).toContain('ENOTFOUND');
  });

  it('times out with upstream_timeout when DNS resolution hangs', async () => {
    // Prepare
    const lookup = vi.fn(() => new Promise<ResolvedAddress[]>(() => undefined));
    const client = new GuardedHttpClient({ lookup });

    // Act
    const error = await rejection(client.request({ url: 'https://slow-dns.example.com/', timeoutMs: 50 }));

    // Assess
    expect(error).toMatchObject({ code: 'upstream_timeout' });
  });
});

describe('GuardedHttpClient allowing public targets', () => {
  it('resolves and checks a public name without connecting', async () => {
    // Prepare
    const lookup = lookupReturning('93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946');
    const client = new GuardedHttpClient({ lookup });

    // Act
    const target = await client.resolveAndCheck('https://api.example.com/v1?token=x');

    // Assess
    expect(target.hostname).toBe('api.example.com');
    expect(target.addresses).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 },
    ]);
  });

  it('connects to the address it checked, not to a later DNS answer, keeping the Host header', async () => {
    // Prepare: DNS rebinding, public on the first answer and loopback on any later one.
    const server = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ host: req.headers.host }));
    });
    const answers = ['93.184.216.34', '127.0.0.1'];
    const lookup = vi.fn(async () => [{ address: answers.shift() ?? '127.0.0.1', family: 4 as const }]);
    const { seen, agents } = interceptTo(server.port);
    const client = new GuardedHttpClient({ lookup, agents });

    // Act
    const response = await client.request({ url: 'http://api.example.com/solve' });

    // Assess
    expect(response.body).toEqual({ host: 'api.example.com' });
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ host: 'api.example.com', pinned: ['93.184.216.34'] });
  });

  it('refuses a port outside the allow-list before resolving or connecting', async () => {
    // Prepare
    let resolved = 0;
    const client = new GuardedHttpClient({
      lookup: async () => {
        resolved += 1;
        return [{ address: '93.184.216.34', family: 4 }];
      },
    });

    // Act
    const error = await client.request({ url: 'https://api.example.com:6379/' }).catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ statusCode: 422, code: 'endpoint_port' });
    expect(resolved).toBe(0);
  });

  it('sets TLS SNI to the hostname for https and keeps a non-default port in the Host header', async () => {
    // Prepare
    const server = await startServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ host: req.headers.host }));
    });
    const lookup = lookupReturning('93.184.216.34');
    const { seen, agents } = interceptTo(server.port);
    const client = new GuardedHttpClient({ lookup, agents, allowedPorts: [443, 8443] });

    // Act
    const response = await client.request({ url: 'https://api.example.com:8443/solve' });

    // Assess
    expect(response.body).toEqual({ host: 'api.example.com:8443' });
    expect(seen).toEqual([
      { host: 'api.example.com', servername: 'api.example.com', pinned: ['93.184.216.34'] },
    ]);
  });
});
