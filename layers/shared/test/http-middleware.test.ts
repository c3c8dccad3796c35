import type { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { enforceRateLimit, InMemoryRateLimiter, rateLimitHeaders } from '#shared/adapters/rate-limit.js';
import { ForbiddenError, ServiceUnavailableError, TooManyRequestsError } from '#shared/errors.js';
import { rolesClaimFromEnv } from '#shared/http/claims.js';
import {
  bind,
  type HttpEvent,
  HttpReply,
  httpApp,
  REFUSED_RATE_FAMILY,
  type RouteAuthorizer,
  type RouteRateLimiter,
  type RouteSpec,
  roleLadderAuthorizer,
} from '#shared/http/http.js';
import { httpEvent, principalClaims } from '#shared/testing/events.js';
import { silentLogger } from '#shared/testing/fakes.js';
import { invoke } from '#shared/testing/invoke.js';

/**
 * How the kernel's middlewares work together, beyond what each convention's own test shows
 * (http.test.ts): which round trips overlap, what waits for what, and what each leaves behind.
 */
const acmeViewer = principalClaims({ tenant: 'acme', roles: ['viewer'] });

const route = {
  operationId: 'testOperation',
  method: 'POST',
  path: '/work',
  summary: 'test route',
  tag: 'test',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'test:work',
  body: z.strictObject({ outcome: z.enum(['ok', 'teapot', 'own-header']) }),
  success: { status: 200, description: 'ok' },
  errors: [],
} as const satisfies RouteSpec;

const call = (outcome: string) =>
  httpEvent({ method: 'POST', path: '/work', body: { outcome }, claims: acmeViewer });

const appWith = (options: { authorize?: RouteAuthorizer; rateLimit?: RouteRateLimiter; logger?: Logger }) =>
  httpApp({
    logger: options.logger ?? silentLogger(),
    authorize: options.authorize ?? roleLadderAuthorizer,
    ...(options.rateLimit ? { rateLimit: options.rateLimit } : {}),
    routes: [
      bind(route, async ({ body }) => {
        if (body.outcome === 'teapot') throw new ForbiddenError('No tea.', [], 'no_tea');
        if (body.outcome === 'own-header')
          return new HttpReply(200, {}, { 'X-RateLimit-Remaining': 'route' });
        return { done: true };
      }),
    ],
  });

/** One call of the rate-limit hook: the tenant, the family and, for refusals, the caller. */
type Counted = readonly [tenantId: string, family: string, caller?: string];

/**
 * A limiter hook that records each count next to the policy's steps, and refuses the families it
 * is told to (as the real hook does, with the `X-RateLimit-*` headers on the 429).
 */
const countingProbe = (options: { policy?: 'allow' | 'deny'; limited?: readonly string[] } = {}) => {
  const steps: string[] = [];
  const counted: Counted[] = [];
  const rateLimit: RouteRateLimiter = async (...call) => {
    counted.push(call);
    steps.push(`count:${call[1]}`);
    if (options.limited?.includes(call[1])) {
      throw new TooManyRequestsError(3, `Limited in ${call[1]}.`, {
        'X-RateLimit-Limit': '2',
        'X-RateLimit-Remaining': '0',
        'X-RateLimit-Reset': '3',
      });
    }
    return { 'X-RateLimit-Remaining': '9' };
  };
  const authorize: RouteAuthorizer = async (request) => {
    steps.push('policy');
    if (options.policy === 'deny') throw new ForbiddenError('Denied.', [], 'policy_denied');
    return roleLadderAuthorizer(request);
  };
  return { steps, counted, app: appWith({ authorize, rateLimit }) };
};

describe('httpApp middleware: rate limit and policy', () => {
  it('counts a request against its tenant once the policy allowed it and its body is valid', async () => {
    // Prepare
    const { steps, counted, app } = countingProbe();

    // Act
    const reply = await invoke(app, call('ok'));

    // Assess
    expect(reply.status).toBe(200);
    expect(steps).toEqual(['policy', 'count:default']);
    expect(counted).toEqual([['acme', 'default']]);
  });

  it('counts a request the policy refuses against its caller’s refused budget, not its tenant', async () => {
    // Prepare
    const { counted, app } = countingProbe({ policy: 'deny' });

    // Act
    const reply = await invoke(app, call('ok'));

    // Assess
    expect(reply.status).toBe(403);
    expect(reply.body.code).toBe('policy_denied');
    expect(counted).toEqual([['acme', REFUSED_RATE_FAMILY, 'user-acme']]);
  });

  it.each<[string, HttpEvent]>([
    ['a body that fails its schema (400)', call('nonsense')],
    ['malformed JSON (400)', { ...call('ok'), body: '{' }],
    ['a body that is not JSON (415)', { ...call('ok'), headers: { 'content-type': 'text/plain' } }],
    [
      'a body over the limit (413)',
      { ...call('ok'), body: JSON.stringify({ outcome: 'x'.repeat(300_000) }) },
    ],
    ['a malformed X-Conductor-Tenant (400)', { ...call('ok'), headers: { 'x-conductor-tenant': 'ACME' } }],
  ])('counts %s against its caller’s refused budget, not its tenant', async (_, event) => {
    // Prepare
    const { counted, app } = countingProbe();

    // Act
    const reply = await invoke(app, event);

    // Assess
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect(counted).toEqual([['acme', REFUSED_RATE_FAMILY, 'user-acme']]);
  });

  it('counts a refusal of the route itself against the tenant only: the policy allowed the request', async () => {
    // Prepare
    const { counted, app } = countingProbe();

    // Act
    const reply = await invoke(app, call('teapot'));

    // Assess
    expect(reply.status).toBe(403);
    expect(counted).toEqual([['acme', 'default']]);
  });

  it('answers 429 with Retry-After and the X-RateLimit headers instead of the refusal once the caller is over its refused budget', async () => {
    // Prepare
    const { app } = countingProbe({ policy: 'deny', limited: [REFUSED_RATE_FAMILY] });

    // Act
    const reply = await invoke(app, call('ok'));

    // Assess
    expect(reply.status).toBe(429);
    expect(reply.body.code).toBe('rate_limited');
    expect(reply.headers['retry-after']).toBe('3');
    expect(reply.headers['x-ratelimit-remaining']).toBe('0');
    expect(reply.headers['x-ratelimit-limit']).toBe('2');
  });

  it('answers 429 with Retry-After to a request limited but allowed', async () => {
    // Prepare
    const { app } = countingProbe({ limited: ['default'] });

    // Act
    const reply = await invoke(app, call('ok'));

    // Assess
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('3');
  });

  it('adds the limiter’s headers to a success, below the route’s own, and not to an error', async () => {
    // Prepare
    const { app } = countingProbe();

    // Act
    const ok = await invoke(app, call('ok'));
    const own = await invoke(app, call('own-header'));
    const refused = await invoke(app, call('teapot'));

    // Assess
    expect(ok.headers['x-ratelimit-remaining']).toBe('9');
    expect(own.headers['x-ratelimit-remaining']).toBe('route');
    expect(refused.status).toBe(403);
    expect(refused.headers).not.toHaveProperty('x-ratelimit-remaining');
  });
});

describe('httpApp middleware: refusals and the tenant’s quota, with the real counters', () => {
  /** A caller of acme with these roles, in the roles claim the kernel reads. */
  const callAs = (sub: string, roles: readonly string[]) =>
    httpEvent({
      method: 'POST',
      path: '/work',
      body: { outcome: 'ok' },
      claims: { ...principalClaims({ tenant: 'acme', roles: [], sub }), [rolesClaimFromEnv()]: roles },
    });
  const admin = () => callAs('admin-1', ['tenant-admin']);
  const viewer = (sub: string) => callAs(sub, ['viewer']);

  /** The route above for admins only (every viewer call is a policy refusal), counted as the service kit counts. */
  const adminOnlyApp = (limits: Record<string, number>) => {
    const limiter = new InMemoryRateLimiter({ limits });
    const rateLimit: RouteRateLimiter = async (tenantId, family, caller) =>
      rateLimitHeaders(await enforceRateLimit(limiter, tenantId, family, caller));
    return httpApp({
      logger: silentLogger(),
      authorize: roleLadderAuthorizer,
      rateLimit,
      routes: [bind({ ...route, minRole: 'tenant-admin' }, async () => ({ done: true }))],
    });
  };

  it('leaves the tenant’s quota to its admin after 122 refused viewer requests, and limits the viewer', async () => {
    // Prepare
    const app = adminOnlyApp({ default: 5, [REFUSED_RATE_FAMILY]: 3 });
    const before = await invoke(app, admin());

    // Act
    const refusals = [];
    for (let i = 0; i < 122; i += 1) refusals.push(await invoke(app, viewer('viewer-1')));
    const after = await invoke(app, admin());

    // Assess
    expect(before.status).toBe(200);
    expect(before.headers['x-ratelimit-remaining']).toBe('4');
    expect(after.status).toBe(200);
    expect(after.headers['x-ratelimit-remaining']).toBe('3');
    expect(refusals.slice(0, 3).map((reply) => reply.status)).toEqual([403, 403, 403]);
    expect(new Set(refusals.slice(3).map((reply) => reply.status))).toEqual(new Set([429]));
    expect(refusals[3]?.body.message).toContain('this caller');
    expect(refusals[3]?.headers['x-ratelimit-limit']).toBe('3');
    expect(refusals[3]?.headers['x-ratelimit-remaining']).toBe('0');
    expect(Number(refusals[3]?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('gives each caller its own refused budget, so one caller’s refusals do not limit another', async () => {
    // Prepare
    const app = adminOnlyApp({ default: 5, [REFUSED_RATE_FAMILY]: 2 });
    for (let i = 0; i < 3; i += 1) await invoke(app, viewer('viewer-1'));

    // Act
    const other = await invoke(app, viewer('viewer-2'));
    const first = await invoke(app, viewer('viewer-1'));

    // Assess
    expect(other.status).toBe(403);
    expect(first.status).toBe(429);
  });

  it('still limits the tenant’s allowed requests in their family', async () => {
    // Prepare
    const app = adminOnlyApp({ default: 2 });

    // Act
    const statuses = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await invoke(app, admin())).status);

    // Assess
    expect(statuses).toEqual([200, 200, 429]);
  });
});

describe('httpApp middleware: the deferred decision record', () => {
  it('tries the write once per request, even when it fails after the route answered', async () => {
    // Prepare
    let attempts = 0;
    const authorize: RouteAuthorizer = async () => ({
      masks: [],
      deferred: {
        decideMany: async () => [],
        flush: async () => {
          attempts += 1;
          throw new ServiceUnavailableError('down', 'decision_not_recorded');
        },
      },
    });

    // Act
    const reply = await invoke(appWith({ authorize }), call('ok'));

    // Assess
    expect(reply.status).toBe(503);
    expect(reply.body).toEqual({
      code: 'decision_not_recorded',
      message: 'down',
      traceId: reply.headers['x-conductor-trace-id'],
    });
    expect(attempts).toBe(1);
  });
});

describe('httpApp middleware: log keys', () => {
  /** A logger that keeps its appended keys and the lines written with them. */
  const recordingLogger = () => {
    const keys: Record<string, unknown> = {};
    const lines: Record<string, unknown>[] = [];
    const write = (message: string) => lines.push({ message, ...keys });
    const logger = {
      appendKeys: (added: Record<string, unknown>) => Object.assign(keys, added),
      removeKeys: (names: string[]) => {
        for (const name of names) delete keys[name];
      },
      info: write,
      error: write,
    } as unknown as Logger;
    return { logger, keys, lines };
  };

  it('logs a refusal with the request’s trace id, route key and tenant', async () => {
    // Prepare
    const { logger, lines } = recordingLogger();

    // Act
    const reply = await invoke(appWith({ logger }), call('teapot'));

    // Assess
    expect(lines).toEqual([
      {
        message: 'request refused',
        traceId: reply.headers['x-conductor-trace-id'],
        routeKey: 'POST /api/conductor/v1/work',
        tenantId: 'acme',
      },
    ]);
  });

  it.each(['ok', 'teapot', 'nonsense'])('leaves no key behind once it answered (%s)', async (outcome) => {
    // Prepare
    const { logger, keys } = recordingLogger();

    // Act
    await invoke(appWith({ logger }), call(outcome));

    // Assess
    expect(keys).toEqual({});
  });
});
