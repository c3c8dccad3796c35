import { API_BASE, type HttpEvent } from './http.js';

/**
 * The API's own base URL, for a pillar that reaches another through its routes (DESIGN §4):
 * CONDUCTOR_API_URL when set (the embedded runtime sets it), else the domain and stage API Gateway
 * put in the request context (set by API Gateway, not by the caller's Host header).
 */
export const ownApiUrlOf = (event: HttpEvent): string => {
  const configured = process.env.CONDUCTOR_API_URL;
  if (configured) return configured.replace(/\/+$/, '');
  const { domainName, stage } = event.requestContext;
  return `https://${domainName}${stage && stage !== '$default' ? `/${stage}` : ''}${API_BASE}`;
};

/** How a pillar calls another's routes on the caller's behalf: the API, the caller's credentials, the trace. */
export interface OwnApiCallOptions {
  /** The API's base URL, ending in /api/conductor/v1 (ownApiUrlOf). */
  readonly apiUrl: string;
  /** The caller's Authorization header, passed on unchanged. */
  readonly authorization: string;
  /** The tenant the request acts in when the caller named one (X-Conductor-Tenant), passed on. */
  readonly tenantHeader?: string | undefined;
  readonly traceId: string;
  readonly fetch?: typeof fetch;
  /** Each call's time limit, in ms. */
  readonly timeoutMs?: number;
}

/** A JSON answer of the API: its status and its parsed body (undefined when empty or not JSON). */
export interface OwnApiAnswer<T> {
  readonly status: number;
  readonly json: T;
}

/**
 * One call of the API's own routes on the caller's behalf (Authorization, tenant and trace passed
 * on; JSON in and out, bounded by `timeoutMs`, 5 s by default). No answer, or a 5xx, is the
 * `ServiceUnavailableError` given as `unavailable` (retriable: nothing was decided); any other answer
 * is the caller's to read.
 */
export const ownApiRequest =
  (options: OwnApiCallOptions, unavailable: () => Error) =>
  async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<OwnApiAnswer<T>> => {
    const call = options.fetch ?? fetch;
    let response: Response;
    try {
      response = await call(`${options.apiUrl}${path}`, {
        method,
        headers: {
          authorization: options.authorization,
          'x-conductor-trace-id': options.traceId,
          ...(options.tenantHeader === undefined ? {} : { 'x-conductor-tenant': options.tenantHeader }),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(options.timeoutMs ?? 5000),
      });
    } catch {
      throw unavailable();
    }
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (response.status >= 500) throw unavailable();
    return { status: response.status, json: json as T };
  };
