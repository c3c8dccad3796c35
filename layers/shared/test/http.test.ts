import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { AppError, ForbiddenError, ServiceUnavailableError, TooManyRequestsError } from '#shared/errors.js';
import {
  API_VERSION,
  bind,
  DEFAULT_MAX_BODY_BYTES,
  type HttpEvent,
  httpApp,
  type RouteSpec,
  roleLadderAuthorizer,
  TRACE_HEADER,
  VERSION_HEADER,
} from '#shared/http/http.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { httpEvent, principalClaims } from '#shared/testing/events.js';
import { InMemoryTenantRecords, silentLogger } from '#shared/testing/fakes.js';
import { type HttpHandler, invoke, type Reply } from '#shared/testing/invoke.js';
import { makeRouterApp } from '../../../functions/router/src/app.js';
import {
  type Expert,
  type ExpertRepository,
  ExpertService,
} from '../../../functions/router/src/domain/experts.js';
import { inMemoryRouting } from '../../../functions/router/test/support/routing-fakes.js';

/**
 * The HTTP conventions of DESIGN §5, exercised through the router's real app (with in-memory
 * fakes behind it) and through small routes bound to httpApp for the cases the router cannot
 * provoke on purpose (a crash, a custom AppError).
 */
const logger = silentLogger();
const VERSION = VERSION_HEADER.toLowerCase();
const TRACE = TRACE_HEADER.toLowerCase();

const acmeAdmin = principalClaims({ tenant: 'acme', roles: ['admin'] });
const acmeViewer = principalClaims({ tenant: 'acme', roles: ['viewer'] });

const expertInput = {
  name: 'large-model',
  type: 'model',
  costPerCallUsd: 0.002,
  endpoint: 'https://models.example.com/v1/complete',
  metadata: { region: 'eu-west-1' },
  enabled: true,
};

const routerApp = (repository: ExpertRepository = new InMemoryTenantRecords<Expert>('EXPERT')): HttpHandler =>
  makeRouterApp({
    logger,
    experts: new ExpertService({
      repository,
      endpointPolicy: () => ({ ok: true }),
      clock: new ManualClock('2026-01-01T00:00:00.000Z'),
      ids: new SequentialIds(),
    }),
    ...inMemoryRouting(repository).appDeps,
    authorize: roleLadderAuthorizer,
  });

const createExpert = (overrides: Partial<Parameters<typeof httpEvent>[0]> = {}): HttpEvent =>
  httpEvent({ method: 'POST', path: '/experts', body: expertInput, claims: acmeAdmin, ...overrides });

/** The common part of the test-only routes below; each sets what it needs. */
const testRoute = {
  operationId: 'testOperation',
  method: 'GET',
  summary: 'test route',
  tag: 'test',
  auth: 'public',
  action: 'test:call',
  success: { status: 200, description: 'ok' },
  errors: [],
} as const;

const SECRET = 'hunter2-sk_live_51HxQ';

const echo = {
  ...testRoute,
  method: 'POST',
  path: '/echo',
  auth: 'jwt',
  minRole: 'viewer',
  body: z.strictObject({ text: z.string() }),
  maxBodyBytes: 64,
} as const satisfies RouteSpec;
const crash = { ...testRoute, path: '/crash' } as const satisfies RouteSpec;
const throwString = { ...testRoute, path: '/throw-string' } as const satisfies RouteSpec;
const teapot = { ...testRoute, path: '/teapot' } as const satisfies RouteSpec;
const slowDown = { ...testRoute, path: '/slow-down' } as const satisfies RouteSpec;

const testApp = (
  options: {
    ids?: SequentialIds;
    authorize?: Parameters<typeof httpApp>[0]['authorize'];
    trace?: Parameters<typeof httpApp>[0]['trace'];
  } = {},
) =>
  httpApp({
    logger,
    ...options,
    authorize: options.authorize ?? roleLadderAuthorizer,
    routes: [
      bind(echo, async ({ body }) => ({ echoed: body.text })),
      bind(crash, async () => {
        throw new Error(`connect ECONNREFUSED 10.0.3.7:5432 user=conductor password=${SECRET}`);
      }),
      bind(throwString, async () => {
        throw `raw string with ${SECRET}`;
      }),
      bind(teapot, async () => {
        throw new AppError(418, 'teapot', 'I am a teapot.', { details: { brewing: true } });
      }),
      bind(slowDown, async () => {
        throw new TooManyRequestsError(2.2);
      }),
    ],
  });

const expectUniformError = (reply: Reply, status: number, code: string): void => {
  expect(reply.status).toBe(status);
  expect(reply.body).toEqual({
    code,
    message: expect.any(String),
    traceId: reply.headers[TRACE],
    ...(reply.body?.details === undefined ? {} : { details: expect.any(Object) }),
  });
  expect(reply.headers[VERSION]).toBe(API_VERSION);
  expect(reply.headers[TRACE]).toMatch(/\S{8,}/);
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
};

describe('httpApp conventions', () => {
  describe('version and trace headers', () => {
    it('answers a successful call with the API version and the gateway request id as trace id', async () => {
      // Prepare
      const event = createExpert({ requestId: 'gw-request-0001' });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expect(reply.status).toBe(201);
      expect(reply.headers[VERSION]).toBe('v1');
      expect(reply.headers[TRACE]).toBe('gw-request-0001');
    });

    it('echoes a well-formed trace id the caller sent, on success and on error', async () => {
      // Prepare
      const headers = { [TRACE_HEADER]: 'client-trace:2026.01-01_abc' };

      // Act
      const ok = await invoke(routerApp(), createExpert({ headers }));
      const refused = await invoke(routerApp(), createExpert({ headers, claims: acmeViewer }));

      // Assess
      expect([ok.status, refused.status]).toEqual([201, 403]);
      expect(ok.headers[TRACE]).toBe('client-trace:2026.01-01_abc');
      expect(refused.headers[TRACE]).toBe('client-trace:2026.01-01_abc');
      expect(refused.body.traceId).toBe('client-trace:2026.01-01_abc');
    });

    it.each([
      ['too short', 'abc'],
      ['too long', 'a'.repeat(129)],
      ['with a header injection', 'abcdefgh\r\nSet-Cookie: x=1'],
      ['with spaces', 'trace id with spaces'],
      ['with non-ASCII letters', 'trace-ïd-ünicode'],
    ])('replaces a caller trace id that is %s with its own', async (_, offered) => {
      // Prepare
      const event = createExpert({ headers: { [TRACE_HEADER]: offered }, requestId: 'gw-request-0002' });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expect(reply.headers[TRACE]).toBe('gw-request-0002');
      expect(reply.text).not.toContain(offered);
    });

    it('generates a trace id when the event carries neither a caller trace id nor a request id', async () => {
      // Prepare
      const event = httpEvent({ method: 'GET', path: '/teapot' });
      (event.requestContext as { requestId?: string }).requestId = undefined;

      // Act
      const reply = await invoke(testApp({ ids: new SequentialIds() }), event);

      // Assess
      expect(reply.headers[TRACE]).toBe('trace_000001');
      expect(reply.body.traceId).toBe('trace_000001');
    });
  });

  describe('uniform errors', () => {
    const everyError: [string, () => Promise<Reply>, number, string][] = [
      [
        'malformed JSON',
        () => invoke(routerApp(), createExpert({ body: '{"name":' })),
        400,
        'malformed_json',
      ],
      [
        'a wrong field type',
        () => invoke(routerApp(), createExpert({ body: { ...expertInput, costPerCallUsd: 'x' } })),
        400,
        'validation_failed',
      ],
      ['no token', () => invoke(routerApp(), createExpert({ claims: undefined })), 401, 'unauthorized'],
      [
        'a role too low',
        () => invoke(routerApp(), createExpert({ claims: acmeViewer })),
        403,
        'insufficient_role',
      ],
      [
        'an unknown expert',
        () =>
          invoke(
            routerApp(),
            httpEvent({
              method: 'GET',
              path: '/experts/exp_404',
              pathParameters: { expertId: 'exp_404' },
              claims: acmeViewer,
            }),
          ),
        404,
        'expert_not_found',
      ],
      [
        'a route the app does not serve',
        () => invoke(routerApp(), createExpert({ routeKey: 'POST /api/conductor/v1/nope' })),
        404,
        'route_not_found',
      ],
      [
        'a body over the limit',
        () => invoke(routerApp(), createExpert({ body: 'x'.repeat(DEFAULT_MAX_BODY_BYTES + 1) })),
        413,
        'payload_too_large',
      ],
      [
        'a non-JSON body',
        () => invoke(routerApp(), createExpert({ headers: { 'content-type': 'text/plain' } })),
        415,
        'unsupported_media_type',
      ],
      [
        'a rate limit',
        () => invoke(testApp(), httpEvent({ method: 'GET', path: '/slow-down' })),
        429,
        'rate_limited',
      ],
      [
        'a crash',
        () => invoke(testApp(), httpEvent({ method: 'GET', path: '/crash' })),
        500,
        'internal_error',
      ],
    ];

    it.each(everyError)(
      'answers %s in the uniform shape with version and trace headers',
      async (_, call, status, code) => {
        // Act
        const reply = await call();

        // Assess
        expectUniformError(reply, status, code);
      },
    );
  });

  describe('request bodies', () => {
    it('refuses malformed JSON with 400 malformed_json', async () => {
      // Prepare
      const event = createExpert({ body: '{"name": "large-model",' });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 400, 'malformed_json');
      expect(reply.body.details.issues).toEqual([{ path: 'body', message: expect.any(String) }]);
    });

    it('names each field of the wrong type by its path below body', async () => {
      // Prepare
      const event = createExpert({ body: { ...expertInput, costPerCallUsd: 'cheap', type: 'oracle' } });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 400, 'validation_failed');
      const paths = reply.body.details.issues.map((issue: { path: string }) => issue.path);
      expect(paths).toEqual(expect.arrayContaining(['body.costPerCallUsd', 'body.type']));
    });

    it('names nested fields by their full path', async () => {
      // Prepare
      const event = createExpert({ body: { ...expertInput, metadata: { region: { nested: true } } } });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 400, 'validation_failed');
      expect(reply.body.details.issues.map((issue: { path: string }) => issue.path)).toContain(
        'body.metadata.region',
      );
    });

    it('reports each unknown field as body.<key>, so server-owned fields cannot be smuggled in', async () => {
      // Prepare
      const event = createExpert({ body: { ...expertInput, tenantId: 'globex', version: 99 } });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 400, 'validation_failed');
      expect(reply.body.details.issues).toEqual(
        expect.arrayContaining([
          { path: 'body.tenantId', message: 'unknown field' },
          { path: 'body.version', message: 'unknown field' },
        ]),
      );
    });

    it('requires a body on routes that take one', async () => {
      // Prepare
      const event = createExpert({ body: undefined });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 400, 'body_required');
    });

    it('validates path parameters and the query string with the same issue paths', async () => {
      // Prepare
      const badId = httpEvent({
        method: 'GET',
        path: '/experts/not-an-expert',
        routeKey: 'GET /api/conductor/v1/experts/{expertId}',
        pathParameters: { expertId: 'not-an-expert' },
        claims: acmeViewer,
      });
      const badLimit = httpEvent({
        method: 'GET',
        path: '/experts',
        query: { limit: '1000' },
        claims: acmeViewer,
      });

      // Act
      const replies = await Promise.all([invoke(routerApp(), badId), invoke(routerApp(), badLimit)]);

      // Assess
      expect(replies.map((reply) => reply.status)).toEqual([400, 400]);
      expect(replies[0]?.body.details.issues[0].path).toBe('params.expertId');
      expect(replies[1]?.body.details.issues[0].path).toBe('query.limit');
    });

    it('accepts a body of exactly the route limit and refuses one byte more with 413', async () => {
      // Prepare
      const atLimit = JSON.stringify({ text: 'a'.repeat(64 - '{"text":""}'.length) });
      const overLimit = JSON.stringify({ text: 'a'.repeat(65 - '{"text":""}'.length) });

      // Act
      const accepted = await invoke(
        testApp(),
        httpEvent({ method: 'POST', path: '/echo', body: atLimit, claims: acmeViewer }),
      );
      const refused = await invoke(
        testApp(),
        httpEvent({ method: 'POST', path: '/echo', body: overLimit, claims: acmeViewer }),
      );

      // Assess
      expect(Buffer.byteLength(atLimit)).toBe(64);
      expect(accepted.status).toBe(200);
      expectUniformError(refused, 413, 'payload_too_large');
      expect(refused.body.message).toContain('64 bytes');
    });

    it('counts the limit in UTF-8 bytes, not characters', async () => {
      // Prepare: 30 two-byte characters are 30 characters but 60 bytes of text.
      const body = JSON.stringify({ text: 'é'.repeat(30) });

      // Act
      const reply = await invoke(
        testApp(),
        httpEvent({ method: 'POST', path: '/echo', body, claims: acmeViewer }),
      );

      // Assess
      expect(body.length).toBeLessThan(64);
      expectUniformError(reply, 413, 'payload_too_large');
    });

    it('refuses a body over the default limit on routes without their own', async () => {
      // Prepare
      const body = { ...expertInput, name: 'n', metadata: { blob: 'x'.repeat(DEFAULT_MAX_BODY_BYTES) } };

      // Act
      const reply = await invoke(routerApp(), createExpert({ body }));

      // Assess
      expectUniformError(reply, 413, 'payload_too_large');
    });

    it.each([
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/jsonp',
      'multipart/form-data; boundary=x',
    ])('refuses a body sent as %s with 415', async (contentType) => {
      // Prepare
      const event = createExpert({ headers: { 'Content-Type': contentType } });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 415, 'unsupported_media_type');
    });

    it.each([
      'application/json',
      'application/json; charset=utf-8',
      'Application/JSON',
      'application/vnd.conductor+json',
    ])('accepts a body sent as %s', async (contentType) => {
      // Prepare
      const event = createExpert({ headers: { 'content-type': contentType } });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expect(reply.status).toBe(201);
    });

    it('decodes a base64-encoded body before parsing it', async () => {
      // Prepare
      const event = createExpert({
        body: Buffer.from(JSON.stringify(expertInput)).toString('base64'),
        isBase64Encoded: true,
      });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expect(reply.status).toBe(201);
      expect(reply.body.name).toBe('large-model');
    });
  });

  describe('identity and roles', () => {
    it.each([
      ['no authorizer context at all', undefined],
      ['empty claims', {}],
      ['a token without a tenant', { sub: 'user-1', roles: '[admin]' }],
      ['a token with a malformed tenant', { sub: 'user-1', tenant: 'ACME Corp', roles: '[admin]' }],
      ['a token without a subject', { tenant: 'acme', roles: '[admin]' }],
    ])('answers 401 with a Bearer challenge for %s', async (_, claims) => {
      // Prepare
      const event = createExpert({ claims });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 401, 'unauthorized');
      expect(reply.headers['www-authenticate']).toBe('Bearer');
    });

    it('checks identity before the body, so an anonymous caller learns nothing from validation', async () => {
      // Prepare
      const event = createExpert({ claims: undefined, body: '{not json' });

      // Act
      const reply = await invoke(routerApp(), event);

      // Assess
      expectUniformError(reply, 401, 'unauthorized');
    });

    it('answers 403 insufficient_role when the caller’s highest role is below the route’s minimum', async () => {
      // Prepare
      const operator = principalClaims({ tenant: 'acme', roles: ['viewer', 'operator'] });

      // Act
      const reply = await invoke(routerApp(), createExpert({ claims: operator }));

      // Assess
      expectUniformError(reply, 403, 'insufficient_role');
      expect(reply.body.message).toContain('admin');
    });

    it('lets any role above the minimum through', async () => {
      // Prepare
      const tenantAdmin = principalClaims({ tenant: 'acme', roles: ['tenant-admin'] });

      // Act
      const reply = await invoke(routerApp(), createExpert({ claims: tenantAdmin }));

      // Assess
      expect(reply.status).toBe(201);
      expect(reply.body.tenantId).toBe('acme');
    });

    it('passes a custom authorizer’s refusal on with its obligations', async () => {
      // Prepare
      const app = testApp({
        authorize: () => {
          throw new ForbiddenError('Step-up authentication required.', ['mfa'], 'policy_denied');
        },
      });

      // Act
      const reply = await invoke(
        app,
        httpEvent({ method: 'POST', path: '/echo', body: { text: 'hi' }, claims: acmeViewer }),
      );

      // Assess
      expectUniformError(reply, 403, 'policy_denied');
      expect(reply.body.details).toEqual({ obligations: ['mfa'] });
    });
  });

  describe('errors thrown by routes', () => {
    it('answers an unexpected Error with a generic 500 that contains nothing of the error', async () => {
      // Act
      const reply = await invoke(testApp(), httpEvent({ method: 'GET', path: '/crash' }));

      // Assess
      expectUniformError(reply, 500, 'internal_error');
      expect(reply.body.message).toBe('An internal error occurred.');
      expect(reply.text).not.toContain(SECRET);
      expect(reply.text).not.toContain('ECONNREFUSED');
      expect(reply.text).not.toContain('10.0.3.7');
      expect(JSON.stringify(reply.headers)).not.toContain(SECRET);
    });

    it('answers a thrown non-Error value with the same generic 500', async () => {
      // Act
      const reply = await invoke(testApp(), httpEvent({ method: 'GET', path: '/throw-string' }));

      // Assess
      expectUniformError(reply, 500, 'internal_error');
      expect(reply.text).not.toContain(SECRET);
    });

    it('hides a storage failure behind the router’s domain as a generic 500', async () => {
      // Prepare
      const failing = new InMemoryTenantRecords<Expert>('EXPERT');
      failing.create = async () => {
        throw new Error(
          `AccessDeniedException: arn:aws:iam::123456789012:role/conductor-router token=${SECRET}`,
        );
      };

      // Act
      const reply = await invoke(routerApp(failing), createExpert());

      // Assess
      expectUniformError(reply, 500, 'internal_error');
      expect(reply.text).not.toContain(SECRET);
      expect(reply.text).not.toContain('arn:aws');
    });

    it('passes an AppError below 500 on with its own status, code, message and details', async () => {
      // Act
      const reply = await invoke(testApp(), httpEvent({ method: 'GET', path: '/teapot' }));

      // Assess
      expectUniformError(reply, 418, 'teapot');
      expect(reply.body.message).toBe('I am a teapot.');
      expect(reply.body.details).toEqual({ brewing: true });
    });

    it('passes an AppError’s headers on, such as Retry-After of a 429', async () => {
      // Act
      const reply = await invoke(testApp(), httpEvent({ method: 'GET', path: '/slow-down' }));

      // Assess
      expectUniformError(reply, 429, 'rate_limited');
      expect(reply.headers['retry-after']).toBe('3');
    });

    it('passes a domain conflict on as 409 with its code', async () => {
      // Prepare
      const app = routerApp();
      const created = await invoke(app, createExpert());
      const id: string = created.body.id;
      const update = (version: string) =>
        httpEvent({
          method: 'PUT',
          path: `/experts/${id}`,
          pathParameters: { expertId: id },
          headers: { 'If-Match': version },
          body: { ...expertInput, name: `renamed at ${version}` },
          claims: acmeAdmin,
        });
      await invoke(app, update('"1"'));

      // Act
      const reply = await invoke(app, update('"1"'));

      // Assess
      expectUniformError(reply, 409, 'version_conflict');
    });
  });
});

describe('httpApp trace segments', () => {
  /** A tracer that records the operations it ran and how each ended. */
  const recordingTracer = () => {
    const ran: string[] = [];
    const trace = async <T>(operation: string, work: () => Promise<T>): Promise<T> => {
      try {
        const value = await work();
        ran.push(`${operation}:ok`);
        return value;
      } catch (error) {
        ran.push(`${operation}:error`);
        throw error;
      }
    };
    return { ran, trace };
  };

  it('runs each route’s work in a segment named after its operationId, errors included', async () => {
    // Prepare
    const { ran, trace } = recordingTracer();
    const app = testApp({ trace });

    // Act
    const ok = await invoke(
      app,
      httpEvent({ method: 'POST', path: '/echo', body: { text: 'hi' }, claims: acmeViewer }),
    );
    const brewing = await invoke(app, httpEvent({ method: 'GET', path: '/teapot' }));

    // Assess
    expect(ok.status).toBe(200);
    expect(brewing.status).toBe(418);
    expect(ran).toEqual([`${echo.operationId}:ok`, `${teapot.operationId}:error`]);
  });

  it('does not trace a request refused before its work (no token)', async () => {
    const { ran, trace } = recordingTracer();
    const refused = await invoke(
      testApp({ trace }),
      httpEvent({ method: 'POST', path: '/echo', body: { text: 'hi' } }),
    );
    expect(refused.status).toBe(401);
    expect(ran).toEqual([]);
  });
});

describe('httpApp: a route that defers its route-level decision record', () => {
  const deferredRoute = {
    ...testRoute,
    method: 'POST',
    path: '/deferred',
    auth: 'jwt',
    minRole: 'viewer',
    deferDecisionLog: true,
    body: z.strictObject({ outcome: z.enum(['ok', 'batch', 'teapot']) }),
  } as const satisfies RouteSpec;

  /** An authorizer whose deferred record tracks its writes, and the app around one route. */
  const setupDeferred = (options: { flushFails?: boolean; limited?: boolean } = {}) => {
    const writes: string[] = [];
    let written = false;
    const authorize: Parameters<typeof httpApp>[0]['authorize'] = async ({ defer }) => ({
      masks: [],
      decisionId: 'dec-route',
      ...(defer
        ? {
            deferred: {
              decideMany: async (inputs) => {
                writes.push(`batch:${written ? '' : 'route+'}${inputs.length}`);
                written = true;
                return [];
              },
              flush: async () => {
                if (written) return;
                if (options.flushFails) throw new ServiceUnavailableError('down', 'decision_not_recorded');
                writes.push('flush:route');
                written = true;
              },
            },
          }
        : {}),
    });
    const app = httpApp({
      logger,
      authorize,
      ...(options.limited
        ? {
            rateLimit: async () => {
              throw new TooManyRequestsError(3);
            },
          }
        : {}),
      routes: [
        bind(deferredRoute, async ({ body, decideMany }) => {
          if (body.outcome === 'batch') await decideMany?.([]);
          if (body.outcome === 'teapot') throw new AppError(418, 'teapot', 'I am a teapot.');
          return { done: true };
        }),
      ],
    });
    const call = (outcome: string) =>
      invoke(app, httpEvent({ method: 'POST', path: '/deferred', body: { outcome }, claims: acmeViewer }));
    return { call, writes };
  };

  it('writes the route-level record with the handler’s first batch, once', async () => {
    const { call, writes } = setupDeferred();
    const reply = await call('batch');
    expect(reply.status).toBe(200);
    expect(writes).toEqual(['batch:route+0']);
  });

  it('writes it after the handler when the handler asked nothing, before answering', async () => {
    const { call, writes } = setupDeferred();
    const reply = await call('ok');
    expect(reply.status).toBe(200);
    expect(writes).toEqual(['flush:route']);
  });

  it('writes it before an error answer too, which keeps its status', async () => {
    const { call, writes } = setupDeferred();
    const invalid = await call('nonsense');
    const teapot = await call('teapot');
    expect(invalid.status).toBe(400);
    expect(teapot.status).toBe(418);
    expect(writes).toEqual(['flush:route']);
  });

  it('answers 503, not the handler’s answer, when the record cannot be written', async () => {
    const { call } = setupDeferred({ flushFails: true });
    const reply = await call('ok');
    expect(reply.status).toBe(503);
    expect(reply.body.code).toBe('decision_not_recorded');
  });

  it('records the allow before a rate-limit refusal (429)', async () => {
    const { call, writes } = setupDeferred({ limited: true });
    const reply = await call('ok');
    expect(reply.status).toBe(429);
    expect(writes).toEqual(['flush:route']);
  });
});

describe('httpApp: a GET writes its route-level record while it reads', () => {
  const readRoute = {
    ...testRoute,
    method: 'GET',
    path: '/read',
    auth: 'jwt',
    minRole: 'viewer',
  } as const satisfies RouteSpec;

  const setupRead = (flushFails = false) => {
    const steps: string[] = [];
    const authorize: Parameters<typeof httpApp>[0]['authorize'] = async ({ defer }) => ({
      masks: [],
      ...(defer
        ? {
            deferred: {
              decideMany: async () => [],
              flush: async () => {
                steps.push('flush:start');
                await new Promise((resolve) => setTimeout(resolve, 5));
                if (flushFails) throw new ServiceUnavailableError('down', 'decision_not_recorded');
                steps.push('flush:done');
              },
            },
          }
        : {}),
    });
    const app = httpApp({
      logger,
      authorize,
      routes: [
        bind(readRoute, async () => {
          steps.push('handler');
          return { items: [] };
        }),
      ],
    });
    return {
      steps,
      call: () => invoke(app, httpEvent({ method: 'GET', path: '/read', claims: acmeViewer })),
    };
  };

  it('starts the write before the handler runs and answers only once it is done', async () => {
    const { steps, call } = setupRead();
    const reply = await call();
    expect(reply.status).toBe(200);
    expect(steps).toEqual(['flush:start', 'handler', 'flush:done']);
  });

  it('answers 503, not the data read, when the write fails', async () => {
    const { call } = setupRead(true);
    const reply = await call();
    expect(reply.status).toBe(503);
    expect(reply.body).not.toHaveProperty('items');
  });
});
