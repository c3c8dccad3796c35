/**
 * The typed Conductor client: openapi-fetch over the types `npm run client` generates from
 * docs/openapi.json, with the base URL, the bearer token and the uniform error set up once.
 *
 *   const conductor = createConductorClient({ apiUrl: 'http://127.0.0.1:4000/api/conductor/v1', token });
 *   const page = await unwrap(conductor.GET('/api/conductor/v1/experts', { params: { query: { limit: 5 } } }));
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './schema.js';

export type { components, operations, paths };
export type Schemas = components['schemas'];
/** The uniform error every 4xx/5xx carries: `{ code, message, traceId, details? }`. */
export type ApiErrorBody = Schemas['Error'];
export type ConductorClient = Client<paths>;

/** Where every operation of the document lives (its paths carry it). */
export const API_BASE_PATH = '/api/conductor/v1';
const TRACE_HEADER = 'x-conductor-trace-id';

export interface ConductorClientOptions {
  /**
   * The API's URL as `npm start` and the CDK output print it, e.g.
   * `http://127.0.0.1:4000/api/conductor/v1`; the server root (without the base path) works too.
   */
  readonly apiUrl: string;
  /** A bearer token (JWT); without one only public operations (health, openapi.json) answer. */
  readonly token?: string | undefined;
  /** Act in another tenant (sends X-Conductor-Tenant; needs an approved cross-tenant grant). */
  readonly tenant?: string | undefined;
  /** A fetch of your own (tests, proxies); defaults to the global fetch. */
  readonly fetch?: ClientOptions['fetch'];
  /** Sent as User-Agent, e.g. `conductor-cli/0.1.0`. */
  readonly userAgent?: string | undefined;
}

/** The server root the document's paths are relative to: the API URL without `/api/conductor/v1`. */
export const serverRootOf = (apiUrl: string): string => {
  let url = apiUrl.trim().replace(/\/+$/, '');
  if (url.endsWith(API_BASE_PATH)) url = url.slice(0, -API_BASE_PATH.length);
  return url;
};

export const createConductorClient = (options: ConductorClientOptions): ConductorClient => {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.tenant) headers['x-conductor-tenant'] = options.tenant;
  if (options.userAgent) headers['user-agent'] = options.userAgent;
  return createClient<paths>({
    baseUrl: serverRootOf(options.apiUrl),
    headers,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
};

/** An answer of 4xx or 5xx, with the uniform error it carried. */
export class ConductorApiError extends Error {
  override readonly name = 'ConductorApiError';
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
    /** The answer's Retry-After in seconds (429 and 503 carry one), when it had one. */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${status} ${body.code}: ${body.message}`);
  }
  get code(): string {
    return this.body.code;
  }
  get traceId(): string {
    return this.body.traceId;
  }
}

/** Retry-After in seconds, the form the API sends (an HTTP date, from a proxy, is left out). */
const retryAfterOf = (response: Response): number | undefined => {
  const header = response.headers.get('retry-after')?.trim();
  const seconds = header ? Number(header) : Number.NaN;
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : undefined;
};

const isUniformError = (value: unknown): value is ApiErrorBody => {
  const body = value as Partial<ApiErrorBody> | undefined;
  return (
    typeof body?.code === 'string' && typeof body.message === 'string' && typeof body.traceId === 'string'
  );
};

/**
 * The data of a successful answer; a failed one throws ConductorApiError. An error body that is not
 * the uniform one (a proxy's 502, say) still becomes one, named after its status.
 */
export const unwrap = async <Data>(
  pending: Promise<{ data?: Data; error?: unknown; response: Response }>,
): Promise<Data> => {
  const { data, error, response } = await pending;
  if (response.ok) return data as Data;
  const body: ApiErrorBody = isUniformError(error)
    ? error
    : {
        code: `http_${response.status}`,
        message: typeof error === 'string' && error !== '' ? error : response.statusText || 'request failed',
        traceId: response.headers.get(TRACE_HEADER) ?? '',
      };
  throw new ConductorApiError(response.status, body, retryAfterOf(response));
};
