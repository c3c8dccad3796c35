import type { Logger } from '@aws-lambda-powertools/logger';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { ForbiddenError, ServiceUnavailableError, TooManyRequestsError } from '#shared/errors.js';
import {
  bind,
  HttpReply,
  httpApp,
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

/**
 * A limiter that waits until the authorizer started, or until the event loop turns once without it:
 * run one after the other, the count would settle first.
 */
const overlapProbe = (verdict: 'admit' | 'limit', policy: 'allow' | 'deny') => {
  const steps: string[] = [];
  let policyStarted: () => void = () => undefined;
  const started = new Promise<void>((resolve) => {
    policyStarted = resolve;
  });
  const rateLimit: RouteRateLimiter = async () => {
    steps.push('count:start');
    await Promise.race([started, new Promise((resolve) => setImmediate(resolve))]);
    steps.push('count:done');
    if (verdict === 'limit') throw new TooManyRequestsError(3);
    return { 'X-RateLimit-Remaining': '9' };
  };
  const authorize: RouteAuthorizer = async (request) => {
    steps.push('policy:start');
    policyStarted();
    if (policy === 'deny') throw new ForbiddenError('Denied.', [], 'policy_denied');
    return roleLadderAuthorizer(request);
  };
  return { steps, app: appWith({ authorize, rateLimit }) };
};

describe('httpApp middleware: rate limit and policy', () => {
  it('starts the policy decision while the tenant’s count is still running', async () => {
    // Prepare
    const { steps, app } = overlapProbe('admit', 'allow');

    // Act
    const reply = await invoke(app, call('ok'));

    // Assess
    expect(reply.status).toBe(200);
    expect(steps).toEqual(['count:start', 'policy:start', 'count:done']);
  });

  it('answers the policy’s refusal to a request both limited and denied, once the count settled', async () => {
    // Prepare
    const { steps, app } = overlapProbe('limit', 'deny');

    // Act
    const reply = await invoke(app, call('ok'));

    // Assess
    expect(reply.status).toBe(403);
    expect(reply.body.code).toBe('policy_denied');
    expect(steps).toContain('count:done');
  });

  it('answers 429 with Retry-After to a request limited but allowed', async () => {
    // Prepare
    const { app } = overlapProbe('limit', 'allow');

    // Act
    const reply = await invoke(app, call('ok'));

    // Assess
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('3');
  });

  it('adds the limiter’s headers to a success, below the route’s own, and not to an error', async () => {
    // Prepare
    const { app } = overlapProbe('admit', 'allow');

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
