import { describe, expect, it } from 'vitest';
import { API_VERSION, TRACE_HEADER, VERSION_HEADER } from '#shared/http/http.js';
import { routesOf } from '#shared/pillar.js';
import { ManualClock } from '#shared/ports/system.js';
import { httpEvent } from '#shared/testing/events.js';
import { silentLogger } from '#shared/testing/fakes.js';
import { invoke, type Reply } from '#shared/testing/invoke.js';
import { PILLARS } from '../../catalog.js';
import { DEFAULT_ROUTE_KEY, makeMetaApp } from '../src/app.js';

const ALL_ROUTES = routesOf(PILLARS);

import { healthSchema } from '../contract.js';

const VERSION = VERSION_HEADER.toLowerCase();
const TRACE = TRACE_HEADER.toLowerCase();
const OPENAPI_DOCUMENT = { openapi: '3.1.0', info: { title: 'stub' } };

const metaApp = () => {
  let documentsBuilt = 0;
  const app = makeMetaApp({
    logger: silentLogger(),
    clock: new ManualClock('2026-03-04T05:06:07.000Z'),
    version: '1.4.2',
    stage: 'test',
    allRoutes: ALL_ROUTES,
    openApi: () => {
      documentsBuilt += 1;
      return OPENAPI_DOCUMENT;
    },
  });
  return { app, documentsBuilt: () => documentsBuilt };
};

/** A request API Gateway matched to no route, so it arrives on `$default`. */
const unmatched = (
  method: Parameters<typeof httpEvent>[0]['method'],
  path: string,
  headers?: Record<string, string>,
) =>
  httpEvent({
    method,
    path,
    routeKey: DEFAULT_ROUTE_KEY,
    requestId: 'gw-request-0042',
    ...(headers ? { headers } : {}),
  });

const expectUniformError = (reply: Reply, status: number, code: string): void => {
  expect(reply.status).toBe(status);
  expect(reply.body).toEqual({ code, message: expect.any(String), traceId: reply.headers[TRACE] });
  expect(reply.headers[VERSION]).toBe(API_VERSION);
  expect(reply.headers[TRACE]).toBe('gw-request-0042');
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
};

describe('meta app', () => {
  describe('GET /health', () => {
    it('answers without a token with status, version, stage and the clock’s time', async () => {
      // Prepare
      const { app } = metaApp();

      // Act
      const reply = await invoke(app, httpEvent({ method: 'GET', path: '/health' }));

      // Assess
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual({
        status: 'ok',
        version: '1.4.2',
        stage: 'test',
        time: '2026-03-04T05:06:07.000Z',
      });
      expect(healthSchema.strict().safeParse(reply.body).success).toBe(true);
      expect(reply.headers[VERSION]).toBe(API_VERSION);
      expect(reply.headers[TRACE]).toBeDefined();
    });
  });

  describe('GET /openapi.json', () => {
    it('serves the document it is given, building it only when asked', async () => {
      // Prepare
      const { app, documentsBuilt } = metaApp();
      const before = documentsBuilt();

      // Act
      const reply = await invoke(app, httpEvent({ method: 'GET', path: '/openapi.json' }));

      // Assess
      expect(before).toBe(0);
      expect(reply.status).toBe(200);
      expect(reply.body).toEqual(OPENAPI_DOCUMENT);
    });
  });

  describe('the $default route', () => {
    it.each([
      ['a path no route has', 'GET', '/no-such-thing'],
      ['a path one segment too deep', 'GET', '/experts/exp_1/versions'],
      ['a near miss of a real path', 'POST', '/expert'],
    ] as const)('answers %s with 404 route_not_found in the uniform shape', async (_, method, path) => {
      // Prepare
      const { app } = metaApp();

      // Act
      const reply = await invoke(app, unmatched(method, path));

      // Assess
      expectUniformError(reply, 404, 'route_not_found');
      expect(reply.body.message).toContain(path);
    });

    it('answers a path outside the API base with 404', async () => {
      // Prepare
      const { app } = metaApp();
      const event = unmatched('GET', '/health');
      event.rawPath = '/wp-admin/index.php';

      // Act
      const reply = await invoke(app, event);

      // Assess
      expectUniformError(reply, 404, 'route_not_found');
    });

    it.each([
      ['PATCH', '/experts/exp_1', 'DELETE, GET, PUT'],
      ['DELETE', '/experts', 'GET, POST'],
      ['POST', '/health', 'GET'],
    ] as const)(
      'answers %s %s with 405 and Allow: %s in the uniform shape',
      async (method, path, allowed) => {
        // Prepare
        const { app } = metaApp();

        // Act
        const reply = await invoke(app, unmatched(method, path));

        // Assess
        expectUniformError(reply, 405, 'method_not_allowed');
        expect(reply.headers.allow).toBe(allowed);
      },
    );

    it('gives a 405 for a known path even with a trailing slash', async () => {
      // Prepare
      const { app } = metaApp();

      // Act
      const reply = await invoke(app, unmatched('PATCH', '/experts/'));

      // Assess
      expectUniformError(reply, 405, 'method_not_allowed');
      expect(reply.headers.allow).toBe('GET, POST');
    });

    it('echoes a well-formed caller trace id, like every other route', async () => {
      // Prepare
      const { app } = metaApp();
      const callerTrace = 'client-trace-0001';

      // Act
      const matched = await invoke(
        app,
        httpEvent({ method: 'GET', path: '/health', headers: { [TRACE_HEADER]: callerTrace } }),
      );
      const fallback = await invoke(app, unmatched('GET', '/no-such-thing', { [TRACE_HEADER]: callerTrace }));

      // Assess
      expect(matched.headers[TRACE]).toBe(callerTrace);
      expect(fallback.headers[TRACE]).toBe(callerTrace);
      expect(fallback.body.traceId).toBe(callerTrace);
    });
  });
});
