import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import type { JWTPayload } from 'jose';
import {
  CallMeter,
  callMeteringActive,
  chunksOf,
  meterCalls,
  recordCall,
  scopedCallMeter,
} from '#shared/adapters/call-meter.js';
import {
  AppError,
  ForbiddenError,
  PayloadTooLargeError,
  ServiceUnavailableError,
  TooManyRequestsError,
  UnauthorizedError,
} from '#shared/errors.js';
import { flattenClaims } from '#shared/http/claims.js';
import {
  API_BASE,
  errorResult,
  type HttpEvent,
  type HttpResult,
  jsonResult,
  type RouteSpec,
  routeKeyOf,
} from '#shared/http/http.js';
import { RouteMatcher } from '#shared/http/route-match.js';
import type { Clock } from '#shared/ports/system.js';
import { lambdaContext, recordInvocation } from './lambda-context.js';

/**
 * The embedded stand-in for API Gateway HTTP API: it does what the gateway does before a Lambda runs
 * (route matching, JWT verification, stage throttling, a concurrency bound, payload limit), builds
 * the same v2 event the Lambda would receive, and calls the same handler.
 */
export type LambdaHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

export interface GatewayRoute {
  readonly spec: RouteSpec;
  readonly functionName: string;
  readonly handler: LambdaHandler;
}

export interface GatewayOptions {
  readonly routes: readonly GatewayRoute[];
  /** Receives every request no route matches (`$default`), like API Gateway's default route. */
  readonly defaultRoute: { readonly functionName: string; readonly handler: LambdaHandler };
  /**
   * Verifies a bearer token as API Gateway's JWT authorizer does (the local issuer's
   * `makeJwtVerifier`: also requires `exp`, `iat` and `kid`, and refuses a token over its maximum
   * age); any rejection is a 401.
   */
  readonly verifyToken: (token: string) => Promise<JWTPayload>;
  readonly throttle: { readonly rateLimit: number; readonly burstLimit: number };
  /**
   * The stage throttle's time, for tests that move it by hand.
   * @default real time (performance.now)
   */
  readonly clock?: Clock;
  /**
   * Extra non-API paths served by the runtime itself (the local OIDC issuer's discovery documents,
   * the bus history): the JSON answer of a GET, or undefined for a path it does not serve. It may
   * refuse by throwing an AppError (`request.requireLoopback()`), answered in the uniform shape.
   */
  readonly extras?: (path: string, request: ExtraRequest) => unknown | undefined;
  readonly logRequest?: (line: { method: string; path: string; status: number; ms: number }) => void;
  readonly integrationTimeoutMs?: number;
  /**
   * The most API requests served at once (past the stage throttle, from reading the body to the
   * answer), like a Lambda function's reserved concurrency: one more is answered 503 `overloaded`
   * with `Retry-After` at once, instead of queueing behind the others until every answer is late.
   * @default DEFAULT_MAX_IN_FLIGHT
   */
  readonly maxInFlight?: number;
  /**
   * Call accounting: each API request runs in its own call meter, its answer carries
   * `X-Conductor-Calls` (the AWS calls made before it, with their units), and every request and
   * invocation is recorded as API Gateway and Lambda would bill it (into any active meter, e.g. a
   * benchmark's ambient one, whether or not this is set).
   */
  readonly meterCalls?: boolean;
}

/** The answer header with the request's AWS calls (`CallMeter.summary`), when call metering is on. */
export const CALLS_HEADER = 'x-conductor-calls';

/** API Gateway (HTTP API) bills a request per 512 KiB of its payload. */
const API_GATEWAY_CHUNK = 512 * 1024;

/**
 * In-flight bound of the embedded runtime. On a busy 2-core machine its knee is about 100 requests/s
 * (75 routes/s plus 37 rewards/s, bench/overload.ts); past it, 32 at once kept serving about that
 * many with p95 near 1 s, where no bound served fewer with p95 of 8 to 36 s. Far above what one
 * developer or the test suites send at once.
 */
export const DEFAULT_MAX_IN_FLIGHT = 32;

/** What an extra path may ask of the request it serves. */
export interface ExtraRequest {
  /** Refuses (403) a request that is not from this machine, or not addressed to a loopback name. */
  requireLoopback(): void;
}

const LOOPBACK_ADDRESS = /^(127(\.\d{1,3}){3}|::1|::ffff:127(\.\d{1,3}){3})$/;
const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * A client on this machine, calling it by a loopback name: the socket's peer is a loopback address
 * and the Host header names loopback too, so a web page of another site whose name was rebound to
 * 127.0.0.1 (DNS rebinding: the browser's request comes from loopback) is not served.
 */
export const isLoopbackRequest = (req: IncomingMessage): boolean => {
  if (!LOOPBACK_ADDRESS.test(req.socket.remoteAddress ?? '')) return false;
  try {
    return LOOPBACK_HOST.test(new URL(`http://${req.headers.host ?? ''}`).hostname);
  } catch {
    return false;
  }
};

const extraRequestOf = (req: IncomingMessage): ExtraRequest => ({
  requireLoopback: () => {
    if (!isLoopbackRequest(req))
      throw new ForbiddenError(
        'This local endpoint answers clients on this machine only.',
        [],
        'loopback_only',
      );
  },
});

/** API Gateway's own payload limit; handlers apply their tighter per-route limits. */
const GATEWAY_MAX_BODY_BYTES = 10 * 1024 * 1024;
const TEXT_TYPES = /^(application\/(json|[a-z.+-]*\+json|x-www-form-urlencoded|xml)|text\/)/i;

/** Real time that never runs backwards (performance.now), whatever happens to the system clock. */
const monotonicClock: Clock = { now: () => new Date(performance.timeOrigin + performance.now()) };

/**
 * Stage throttling: a token bucket like API Gateway's. It starts full (`burst` tokens), refills at
 * `ratePerSecond` up to `burst`, and each request takes one token. Time comes from the clock, so a
 * test can move it by hand; a clock set back refills nothing.
 */
export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    private readonly clock: Clock = monotonicClock,
  ) {
    this.#tokens = burst;
    this.#last = clock.now().getTime();
  }
  /** Takes a token, or returns the seconds until one is available. */
  take(): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.clock.now().getTime();
    const elapsedSeconds = Math.max(0, now - this.#last) / 1000;
    this.#tokens = Math.min(this.burst, this.#tokens + elapsedSeconds * this.ratePerSecond);
    this.#last = Math.max(this.#last, now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: (1 - this.#tokens) / this.ratePerSecond };
  }
}

const readBody = (req: IncomingMessage, limit: number): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () =>
      tooLarge ? reject(new PayloadTooLargeError(limit)) : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });

const singleHeaders = (req: IncomingMessage): Record<string, string> => {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined || key === 'cookie') continue;
    headers[key] = Array.isArray(value) ? value.join(',') : value;
  }
  return headers;
};

const queryParameters = (search: URLSearchParams): Record<string, string> | undefined => {
  const out: Record<string, string> = {};
  for (const key of new Set(search.keys())) out[key] = search.getAll(key).join(',');
  return Object.keys(out).length > 0 ? out : undefined;
};

/**
 * Counts requests in flight against a fixed bound. `tryEnter` either takes a slot, which the
 * caller must `leave` exactly once, or refuses without waiting.
 */
export class InFlightLimit {
  #inFlight = 0;
  constructor(readonly max: number) {
    if (!Number.isSafeInteger(max) || max < 1)
      throw new RangeError(`maxInFlight must be a positive integer, got ${max}.`);
  }
  get inFlight(): number {
    return this.#inFlight;
  }
  tryEnter(): boolean {
    if (this.#inFlight >= this.max) return false;
    this.#inFlight += 1;
    return true;
  }
  leave(): void {
    this.#inFlight = Math.max(0, this.#inFlight - 1);
  }
}

/** A shed request is worth retrying about as soon as a served one has answered. */
const OVERLOAD_RETRY_AFTER_SECONDS = 1;

export interface StartedGateway {
  readonly server: Server;
  readonly url: string;
  close(): Promise<void>;
}

export const createGateway = (options: GatewayOptions) => {
  const matcher = new RouteMatcher(
    options.routes.map((route) => ({
      method: route.spec.method,
      path: `${API_BASE}${route.spec.path}`,
      route,
    })),
  );
  const bucket = new TokenBucket(options.throttle.rateLimit, options.throttle.burstLimit, options.clock);
  const timeoutMs = options.integrationTimeoutMs ?? 30_000;
  const inFlight = new InFlightLimit(options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT);

  const send = (res: ServerResponse, result: HttpResult): void => {
    const headers: Record<string, string | string[]> = {};
    for (const [key, value] of Object.entries(result.headers ?? {})) headers[key] = String(value);
    if (result.cookies?.length) headers['set-cookie'] = result.cookies;
    const body = result.body
      ? result.isBase64Encoded
        ? Buffer.from(result.body, 'base64')
        : Buffer.from(result.body, 'utf8')
      : Buffer.alloc(0);
    headers['content-length'] = String(body.length);
    res.writeHead(result.statusCode ?? 200, headers);
    res.end(body);
  };

  const invoke = async (
    functionName: string,
    handler: LambdaHandler,
    event: HttpEvent,
  ): Promise<HttpResult> => {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<HttpResult>((resolve) => {
      timer = setTimeout(
        () =>
          resolve(
            jsonResult(
              503,
              {
                code: 'integration_timeout',
                message: 'The service did not answer in time.',
                traceId: event.requestContext.requestId,
              },
              event.requestContext.requestId,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      return await Promise.race([
        handler(event, lambdaContext(`conductor-${functionName}`, timeoutMs)),
        timeout,
      ]);
    } catch {
      // A handler that throws is a 500 at the gateway, with nothing of the error in the body.
      const traceId = event.requestContext.requestId;
      return jsonResult(
        500,
        { code: 'internal_error', message: 'An internal error occurred.', traceId },
        traceId,
      );
    } finally {
      clearTimeout(timer);
    }
  };

  const handle = (req: IncomingMessage, res: ServerResponse): Promise<number> =>
    options.meterCalls ? meterCalls(new CallMeter(), () => serve(req, res)) : serve(req, res);

  const serve = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    const started = Date.now();
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();

    let entered = false;
    try {
      const extra = options.extras?.(url.pathname, extraRequestOf(req));
      if (extra !== undefined) {
        send(res, jsonResult(200, extra, requestId));
        return 200;
      }

      const allowed = bucket.take();
      if (!allowed.ok)
        throw new TooManyRequestsError(allowed.retryAfterSeconds, 'Too many requests for this API stage.');
      entered = inFlight.tryEnter();
      if (!entered)
        throw new ServiceUnavailableError(
          'The service is at capacity; retry after Retry-After.',
          'overloaded',
          OVERLOAD_RETRY_AFTER_SECONDS,
        );

      const body = await readBody(req, GATEWAY_MAX_BODY_BYTES);
      const headers = singleHeaders(req);
      const found = matcher.match(method, url.pathname);
      const matched = found.kind === 'match' ? found : undefined;
      const target = matched
        ? { functionName: matched.route.route.functionName, handler: matched.route.route.handler }
        : options.defaultRoute;

      let claims: Record<string, string> | undefined;
      if (matched && matched.route.route.spec.auth === 'jwt') {
        const authorization = headers.authorization ?? '';
        const bearer = /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
        if (!bearer)
          throw new UnauthorizedError('A bearer token is required (Authorization: Bearer <token>).');
        try {
          claims = flattenClaims(await options.verifyToken(bearer));
        } catch {
          throw new UnauthorizedError('The bearer token is invalid or expired.');
        }
      }

      const contentType = headers['content-type'] ?? '';
      const isText = body.length === 0 || TEXT_TYPES.test(contentType);
      const routeKey = matched ? routeKeyOf(matched.route.route.spec) : '$default';
      const now = new Date();
      const event: HttpEvent = {
        version: '2.0',
        routeKey,
        rawPath: url.pathname,
        rawQueryString: url.search.startsWith('?') ? url.search.slice(1) : url.search,
        ...(req.headers.cookie ? { cookies: req.headers.cookie.split(/;\s*/) } : {}),
        headers,
        ...(queryParameters(url.searchParams)
          ? { queryStringParameters: queryParameters(url.searchParams) }
          : {}),
        ...(matched && Object.keys(matched.params).length > 0 ? { pathParameters: matched.params } : {}),
        requestContext: {
          accountId: '000000000000',
          apiId: 'local',
          authorizer: { jwt: { claims: claims ?? {}, scopes: [] }, principalId: '', integrationLatency: 0 },
          domainName: headers.host ?? 'localhost',
          domainPrefix: 'localhost',
          http: {
            method,
            path: url.pathname,
            protocol: `HTTP/${req.httpVersion}`,
            sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
            userAgent: headers['user-agent'] ?? '',
          },
          requestId,
          routeKey,
          stage: '$default',
          time: now.toUTCString(),
          timeEpoch: now.getTime(),
        },
        ...(body.length > 0 ? { body: isText ? body.toString('utf8') : body.toString('base64') } : {}),
        isBase64Encoded: !isText,
      };
      if (!claims) {
        // Public routes and $default carry no authorizer context on AWS.
        (event.requestContext as { authorizer?: unknown }).authorizer = undefined;
      }
      if (callMeteringActive()) {
        recordCall('apigateway', 'Request', { requests: chunksOf(body.length, API_GATEWAY_CHUNK) });
      }
      const startedAt = performance.now();
      const result = await invoke(target.functionName, target.handler, event);
      if (callMeteringActive()) recordInvocation(target.functionName, startedAt);
      const meter = options.meterCalls ? scopedCallMeter() : undefined;
      send(
        res,
        meter ? { ...result, headers: { ...result.headers, [CALLS_HEADER]: meter.summary() } } : result,
      );
      return result.statusCode ?? 200;
    } catch (error) {
      const appError =
        error instanceof AppError
          ? error
          : new AppError(500, 'internal_error', 'An internal error occurred.');
      send(res, errorResult(appError, requestId));
      return appError.statusCode;
    } finally {
      if (entered) inFlight.leave();
      options.logRequest?.({ method, path: url.pathname, status: res.statusCode, ms: Date.now() - started });
    }
  };

  const server = createServer((req, res) => {
    void handle(req, res);
  });
  server.keepAliveTimeout = 5_000;
  // A request Node's parser refuses (headers or URL over its 16 KiB, a malformed request line) never
  // reaches `handle`: answer it in the uniform error shape too, not with Node's empty body.
  server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return socket.destroy();
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const body = JSON.stringify({
      code: tooLarge ? 'request_too_large' : 'malformed_request',
      message: tooLarge
        ? 'The request line or headers are too large (16 KiB at most).'
        : 'The request is not valid HTTP.',
      traceId: randomUUID(),
    });
    socket.end(
      `HTTP/1.1 ${status} ${tooLarge ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  });

  return {
    server,
    listen: (port: number, host = '127.0.0.1'): Promise<StartedGateway> =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          const address = server.address() as AddressInfo;
          resolve({
            server,
            url: `http://${host}:${address.port}`,
            close: () =>
              new Promise<void>((done) => {
                server.closeAllConnections();
                server.close(() => done());
              }),
          });
        });
      }),
  };
};
