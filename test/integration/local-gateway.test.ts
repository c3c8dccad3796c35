import type { IncomingMessage } from 'node:http';
import { request } from 'node:http';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolesClaimFromEnv } from '#shared/http/claims.js';
import { isLoopbackRequest } from '../../infra/local/gateway.js';
import { DEMO_TOKEN_SECONDS } from '../../infra/local/oidc.js';
import { expectUniformError, type Harness, startHarness } from './harness.js';

/**
 * The embedded gateway is at least as strict as API Gateway's JWT authorizer: a token needs `exp`,
 * `iat` and `kid`, an `iat` in the future is refused (beyond a minute of clock skew) and so is a token
 * older than 24 hours; the roles claim is read exactly; the local bus history is for this machine only.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.conductor.stop());

const now = () => Math.floor(Date.now() / 1000);
const listExperts = (token: string) => h.call('GET', '/experts', { token });

describe('tokens the local gateway refuses with 401, as loose as they are', () => {
  it.each<[string, () => Promise<string>]>([
    [
      'without exp (it would never expire)',
      () => h.conductor.issuer.mint({ subject: 'u', tenant: 'acme', roles: ['viewer'], omit: ['exp'] }),
    ],
    [
      'without iat',
      () => h.conductor.issuer.mint({ subject: 'u', tenant: 'acme', roles: ['viewer'], omit: ['iat'] }),
    ],
    [
      'with an iat an hour ahead',
      () =>
        h.conductor.issuer.mint({ subject: 'u', tenant: 'acme', roles: ['viewer'], issuedAt: now() + 3600 }),
    ],
    [
      'without kid',
      () => h.conductor.issuer.mint({ subject: 'u', tenant: 'acme', roles: ['viewer'], omit: ['kid'] }),
    ],
    [
      'issued 25 hours ago, though its exp is an hour ahead',
      () =>
        h.conductor.issuer.mint({
          subject: 'u',
          tenant: 'acme',
          roles: ['viewer'],
          issuedAt: now() - 25 * 3600,
          expiresInSeconds: 3600,
        }),
    ],
  ])('refuses a token %s', async (_, mint) => {
    // Act
    const reply = await listExperts(await mint());

    // Assess
    expectUniformError(reply, 401, 'unauthorized');
    expect(reply.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('accepts a token whose iat is a few seconds ahead of its clock', async () => {
    // Prepare
    const token = await h.conductor.issuer.mint({
      subject: 'u',
      tenant: 'acme',
      roles: ['viewer'],
      issuedAt: now() + 30,
    });

    // Act
    const reply = await listExperts(token);

    // Assess
    expect(reply.status).toBe(200);
  });

  it('accepts every demo token npm start prints, each valid 12 hours', async () => {
    // Prepare
    const demo = await h.conductor.issuer.demoTokens();

    // Act
    const statuses = await Promise.all(demo.map(async ({ token }) => (await listExperts(token)).status));

    // Assess
    expect(statuses.every((status) => status === 200)).toBe(true);
    for (const { token } of demo) {
      const { iat, exp } = decodeJwt(token);
      expect((exp ?? 0) - (iat ?? 0)).toBe(DEMO_TOKEN_SECONDS);
    }
    expect(DEMO_TOKEN_SECONDS).toBe(12 * 3600);
  });
});

describe('roles over HTTP, read exactly from the roles claim', () => {
  /** A token of acme with MFA whose roles claim holds exactly `groups`. */
  const tokenWithGroups = (groups: unknown) =>
    h.conductor.issuer.mint({
      subject: 'grouped',
      tenant: 'acme',
      amr: ['pwd', 'mfa'],
      extraClaims: { [rolesClaimFromEnv()]: groups },
    });
  const createExpert = async (token: string, name: string) =>
    h.call('POST', '/experts', {
      token,
      body: { name, type: 'tool', costPerCallUsd: 0, endpoint: `https://${name}.example.com/v1` },
    });

  it.each<[string, unknown]>([
    ['"x admin"', ['x admin']],
    ['"viewer,tenant-admin"', ['viewer,tenant-admin']],
  ])('gives a token whose only group is %s no role: 403 where an admin is needed', async (_, groups) => {
    // Act
    const reply = await createExpert(await tokenWithGroups(groups), 'split-role');

    // Assess
    expectUniformError(reply, 403);
  });

  it('lets the admin group itself create an expert', async () => {
    // Act
    const reply = await createExpert(await tokenWithGroups(['admin']), 'exact-role');

    // Assess
    expect(reply.status, reply.text).toBe(201);
  });
});

describe('the local bus history (/_local/events)', () => {
  /** GET with a Host header of the test's choosing (fetch would not let it be set). */
  const rawGet = (path: string, host: string) =>
    new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(`${h.conductor.url}${path}`, { headers: { host } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => {
          body += chunk.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });

  it('answers a client on this machine that calls it by a loopback name', async () => {
    // Prepare
    const port = new URL(h.conductor.url).port;

    // Act
    const byAddress = await rawGet('/_local/events', `127.0.0.1:${port}`);
    const byName = await rawGet('/_local/events', `localhost:${port}`);

    // Assess
    expect(byAddress.status).toBe(200);
    expect(Array.isArray(JSON.parse(byAddress.body))).toBe(true);
    expect(byName.status).toBe(200);
  });

  it('refuses a request addressed to another name (a page of another site rebound to 127.0.0.1), in the uniform shape', async () => {
    // Act
    const reply = await rawGet('/_local/events', 'attacker.example:4000');

    // Assess
    expect(reply.status).toBe(403);
    expect(JSON.parse(reply.body)).toEqual({
      code: 'loopback_only',
      message: expect.stringContaining('this machine'),
      traceId: expect.any(String),
    });
  });

  it.each<[string, string, string | undefined, boolean]>([
    ['IPv4 loopback by address', '127.0.0.1', '127.0.0.1:4000', true],
    ['IPv6 loopback', '::1', '[::1]:4000', true],
    ['IPv4-mapped loopback', '::ffff:127.0.0.1', 'localhost:4000', true],
    ['a client on the network', '192.168.1.20', '127.0.0.1:4000', false],
    ['the Docker bridge', '172.17.0.1', 'localhost:4000', false],
    ['a loopback client naming another host', '127.0.0.1', 'attacker.example', false],
    ['a loopback client naming a host under localhost', '127.0.0.1', 'localhost.attacker.example', false],
    ['a loopback client without Host', '127.0.0.1', undefined, false],
  ])('takes %s for loopback: %s', (_, remoteAddress, host, loopback) => {
    // Prepare
    const req = {
      socket: { remoteAddress },
      headers: host === undefined ? {} : { host },
    } as unknown as IncomingMessage;

    // Act / Assess
    expect(isLoopbackRequest(req)).toBe(loopback);
  });
});
