import { afterEach } from 'vitest';
import { type HttpEvent, type HttpResult, jsonResult, type RouteSpec } from '#shared/http/http.js';
import { createGateway, type GatewayOptions, type StartedGateway } from '../../gateway.js';

/** A public GET route of the `meta` function, for gateway tests. */
export const publicRoute = (name: string) =>
  ({
    operationId: `get${name.charAt(0).toUpperCase()}${name.slice(1)}`,
    method: 'GET',
    path: `/${name}`,
    summary: name,
    tag: 'meta',
    auth: 'public',
    action: `meta:${name}`,
    success: { status: 200, description: 'ok' },
    errors: [],
  }) as const satisfies RouteSpec;

/**
 * Starts an embedded gateway with one public route served by `handler` (tokens refused, a uniform 404
 * for anything else) and closes it after each test; `call()` GETs the route.
 */
export const oneRouteGateway = () => {
  let started: StartedGateway | undefined;
  afterEach(async () => {
    await started?.close();
    started = undefined;
  });
  return async (
    spec: RouteSpec,
    handler: (event: HttpEvent) => Promise<HttpResult>,
    options: Pick<GatewayOptions, 'throttle'> & Partial<Pick<GatewayOptions, 'maxInFlight' | 'clock'>>,
  ) => {
    const gateway = createGateway({
      routes: [{ spec, functionName: 'meta', handler }],
      defaultRoute: { functionName: 'meta', handler: async () => jsonResult(404, {}, 'none') },
      verifyToken: async () => {
        throw new Error('no tokens here');
      },
      ...options,
    });
    started = await gateway.listen(0);
    const url = `${started.url}/api/conductor/v1${spec.path}`;
    return async () => {
      const reply = await fetch(url);
      return { status: reply.status, headers: reply.headers, body: await reply.json() };
    };
  };
};
