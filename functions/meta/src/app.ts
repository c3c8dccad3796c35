import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { MethodNotAllowedError, NotFoundError } from '#shared/errors.js';
import {
  API_BASE,
  bind,
  errorResult,
  type HttpEvent,
  type HttpResult,
  httpApp,
  type RouteSpec,
  traceIdOf,
} from '#shared/http/http.js';
import { RouteMatcher } from '#shared/http/route-match.js';
import type { Clock } from '#shared/ports/system.js';
import { health, openApiDocument } from '../contract.js';

export interface MetaAppDeps {
  readonly logger: Logger;
  readonly clock: Clock;
  readonly version: string;
  readonly stage: string;
  /** Every route of the API, for the `$default` route's 404/405 decision. */
  readonly allRoutes: readonly RouteSpec[];
  /** Built lazily: the document is only needed when someone asks for it. */
  readonly openApi: () => unknown;
}

export const DEFAULT_ROUTE_KEY = '$default';

export const makeMetaApp = (deps: MetaAppDeps) => {
  const app = httpApp({
    logger: deps.logger,
    routes: [
      bind(health, async () => ({
        status: 'ok' as const,
        version: deps.version,
        stage: deps.stage,
        time: deps.clock.now().toISOString(),
      })),
      bind(openApiDocument, async () => deps.openApi()),
    ],
  });
  const matcher = new RouteMatcher(
    deps.allRoutes.map((spec) => ({ method: spec.method, path: `${API_BASE}${spec.path}` })),
  );

  /** API Gateway sends every request no route matched here (`$default`): answer in the uniform shape. */
  const fallback = (event: HttpEvent): HttpResult => {
    const traceId = traceIdOf(event);
    const method = event.requestContext?.http?.method ?? 'GET';
    const found = matcher.match(method, event.rawPath ?? '/');
    const error =
      found.kind === 'method-not-allowed'
        ? new MethodNotAllowedError(found.allowed)
        : new NotFoundError(`No route for ${method} ${event.rawPath ?? '/'}.`, 'route_not_found');
    return errorResult(error, traceId);
  };

  return async (event: HttpEvent, context: Context): Promise<HttpResult> =>
    event.routeKey === DEFAULT_ROUTE_KEY ? fallback(event) : app(event, context);
};
