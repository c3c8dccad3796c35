/**
 * Outbound HTTP to user-supplied expert endpoints, guarded against server-side request forgery.
 *
 * Every call: (1) `checkEndpointUrl` (scheme, credentials, literal/special hosts); (2) resolve the
 * hostname and refuse the call if ANY address is not allowed; (3) connect to exactly the addresses
 * that were checked, by handing node:http a `lookup` that returns them, so a DNS answer that changes
 * between check and connect (DNS rebinding) cannot redirect the socket. Host header and TLS SNI stay
 * the original hostname, so virtual hosting and certificate checks work as usual.
 *
 * Redirects are NOT followed: a 3xx is returned as-is. Following one would send the request to a URL
 * the expert chose at call time (it could point at 169.254.169.254 or an internal service), bypassing
 * the registration-time check; a caller that wants to follow must run the new URL through this client.
 *
 * Error messages name the host (and port) only, never the path or query string, which may carry secrets.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { AppError, UpstreamError } from '../errors.js';
import { checkEndpointUrl, checkResolvedAddress, type EndpointRefusalCode } from './net.js';

export interface OutboundRequest {
  readonly url: string;
  /** Defaults to POST when there is a body, GET otherwise. */
  readonly method?: 'GET' | 'POST' | 'PUT';
  readonly headers?: Record<string, string>;
  /** JSON-encoded; `content-type: application/json` is set unless a content-type header is given. */
  readonly body?: unknown;
  /** Overall budget for DNS + connect + the whole response. */
  readonly timeoutMs?: number;
  readonly maxResponseBytes?: number;
}

export interface OutboundResponse {
  readonly status: number;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Record<string, string>;
  /** Parsed JSON when the content-type is JSON (null for an empty JSON body), else the text. */
  readonly body: unknown;
  /** Wall time of the whole call, DNS included. */
  readonly durationMs: number;
  /** Bytes of response body received. */
  readonly bytes: number;
}

export interface OutboundHttp {
  request(req: OutboundRequest): Promise<OutboundResponse>;
}

export interface ResolvedAddress {
  readonly address: string;
  readonly family: 4 | 6;
}

export type ResolveHost = (hostname: string) => Promise<readonly ResolvedAddress[]>;

export interface GuardedHttpClientOptions {
  /** Opens private, loopback and link-local targets (local development only). Default false. */
  readonly allowPrivate?: boolean;
  /** Ports an endpoint may name (`EndpointCheckOptions.allowedPorts`). Default 443 and 80 (any with allowPrivate). */
  readonly allowedPorts?: readonly number[];
  /** Default 5000 ms. */
  readonly defaultTimeoutMs?: number;
  /** Default 1 MiB. */
  readonly maxResponseBytes?: number;
  /** DNS resolution (all addresses). Default: node:dns/promises `lookup` with `all: true`. */
  readonly lookup?: ResolveHost;
  readonly userAgent?: string;
  /**
   * Connection agents (keep-alive tuning; tests intercept connections here). Default: a keep-alive
   * agent pair owned by this client. The pinned `lookup` travels in the options the agent receives.
   * Do not share agents between clients with different `allowPrivate`.
   */
  readonly agents?: { readonly http?: http.Agent; readonly https?: https.Agent };
}

/** A target an expert endpoint may not have: refused before any connection is attempted. */
export class EgressRefusedError extends AppError {
  constructor(message: string, code: EndpointRefusalCode) {
    super(422, code, message);
  }
}

/** The outcome of the checks: the URL, its bare hostname and the addresses the call is pinned to. */
export interface CheckedTarget {
  readonly url: URL;
  /** `url.hostname` without IPv6 brackets. */
  readonly hostname: string;
  readonly addresses: readonly ResolvedAddress[];
}

export const DEFAULT_TIMEOUT_MS = 5000;
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

const systemLookup: ResolveHost = async (hostname) =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

const withCause = <E extends Error>(error: E, cause: unknown): E => {
  error.cause = cause;
  return error;
};

const errorCode = (error: unknown): string =>
  typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : 'network error';

const isJson = (contentType: string | undefined): boolean =>
  contentType !== undefined && /[/+]json\b/i.test(contentType);

export class GuardedHttpClient implements OutboundHttp {
  private readonly allowPrivate: boolean;
  private readonly allowedPorts: readonly number[] | undefined;
  private readonly defaultTimeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly lookup: ResolveHost;
  private readonly userAgent: string;
  private readonly agents: { readonly http?: http.Agent; readonly https?: https.Agent };
  private readonly ownAgents: boolean;

  constructor(options: GuardedHttpClientOptions = {}) {
    this.allowPrivate = options.allowPrivate ?? false;
    this.allowedPorts = options.allowedPorts;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.lookup = options.lookup ?? systemLookup;
    this.userAgent = options.userAgent ?? 'conductor-outbound/1';
    // Own keep-alive pools by default, not Node's global agents: a pooled socket is keyed by host and
    // port only, so sharing a pool with a client under a laxer policy (allowPrivate) could hand this
    // client a socket that is connected to an address it would refuse.
    this.ownAgents = options.agents === undefined;
    this.agents = options.agents ?? {
      http: new http.Agent({ keepAlive: true }),
      https: new https.Agent({ keepAlive: true }),
    };
  }

  /** Closes the keep-alive sockets of the agents this client created (not of injected ones). */
  destroy(): void {
    if (!this.ownAgents) return;
    this.agents.http?.destroy();
    this.agents.https?.destroy();
  }

  /**
   * Runs every check without connecting: the URL check, then DNS, then each resolved address.
   * Throws `EgressRefusedError` (422) when the target is not allowed, `UpstreamError`
   * (`upstream_unreachable`) when the name does not resolve.
   */
  async resolveAndCheck(rawUrl: string): Promise<CheckedTarget> {
    const opts = {
      allowPrivate: this.allowPrivate,
      ...(this.allowedPorts ? { allowedPorts: this.allowedPorts } : {}),
    };
    const check = checkEndpointUrl(rawUrl, opts);
    if (!check.ok) throw new EgressRefusedError(check.reason, check.code);
    const { url } = check;
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const literal = isIP(hostname);
    if (literal !== 0) {
      return { url, hostname, addresses: [{ address: hostname, family: literal === 6 ? 6 : 4 }] };
    }

    let resolved: readonly ResolvedAddress[];
    try {
      resolved = await this.lookup(hostname);
    } catch (error) {
      throw withCause(
        new UpstreamError(
          `Expert endpoint ${url.host} could not be resolved (${errorCode(error)}).`,
          'upstream_unreachable',
        ),
        error,
      );
    }
    if (resolved.length === 0) {
      throw new UpstreamError(`Expert endpoint ${url.host} resolved to no address.`, 'upstream_unreachable');
    }
    const addresses: ResolvedAddress[] = [];
    for (const { address } of resolved) {
      const verdict = checkResolvedAddress(url.hostname, address, opts);
      if (!verdict.ok) throw new EgressRefusedError(verdict.reason, verdict.code);
      // Trust the address, not the family the resolver claims.
      addresses.push({ address, family: isIP(address) === 6 ? 6 : 4 });
    }
    return { url, hostname, addresses };
  }

  async request(req: OutboundRequest): Promise<OutboundResponse> {
    const started = performance.now();
    const timeoutMs = req.timeoutMs ?? this.defaultTimeoutMs;
    const target = await withDeadline(this.resolveAndCheck(req.url), timeoutMs, () =>
      timedOut(hostOf(req.url), timeoutMs),
    );
    const remainingMs = Math.max(1, timeoutMs - (performance.now() - started));
    return this.send(target, req, remainingMs, started);
  }

  private send(
    target: CheckedTarget,
    req: OutboundRequest,
    timeoutMs: number,
    started: number,
  ): Promise<OutboundResponse> {
    const { url, hostname, addresses } = target;
    const isHttps = url.protocol === 'https:';
    const maxBytes = req.maxResponseBytes ?? this.maxResponseBytes;

    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': this.userAgent };
    for (const [name, value] of Object.entries(req.headers ?? {})) headers[name.toLowerCase()] = value;
    let payload: Buffer | undefined;
    if (req.body !== undefined) {
      const text = JSON.stringify(req.body);
      if (text === undefined) throw new TypeError('Outbound request body is not JSON-serialisable.');
      payload = Buffer.from(text, 'utf8');
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(payload.length);
    }

    // Resolves the hostname to the addresses checked above and nothing else.
    const pinnedLookup: LookupFunction = (_name, options, callback) => {
      const wanted = options.family === 4 || options.family === 6 ? options.family : undefined;
      const usable = addresses.filter((a) => wanted === undefined || a.family === wanted);
      const first = usable[0];
      if (first === undefined) {
        callback(Object.assign(new Error(`no checked IPv${wanted} address`), { code: 'ENOTFOUND' }), '', 0);
      } else if (options.all) {
        callback(
          null,
          usable.map((a) => ({ address: a.address, family: a.family })),
        );
      } else {
        callback(null, first.address, first.family);
      }
    };

    const options: https.RequestOptions = {
      protocol: url.protocol,
      hostname,
      port: url.port === '' ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      method: req.method ?? (payload === undefined ? 'GET' : 'POST'),
      headers,
      lookup: pinnedLookup,
      agent: isHttps ? this.agents.https : this.agents.http,
      // SNI must be the name the certificate is for; it is never set for an IP literal.
      ...(isHttps && isIP(hostname) === 0 ? { servername: hostname.replace(/\.$/, '') } : {}),
    };

    return new Promise<OutboundResponse>((resolve, reject) => {
      let settled = false;
      let request: http.ClientRequest | undefined;
      const timer = setTimeout(() => {
        fail(timedOut(url.host, timeoutMs));
        request?.destroy();
      }, timeoutMs);
      const settle = (action: () => void): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        action();
      };
      const fail = (error: Error): void => settle(() => reject(error));

      const onResponse = (res: http.IncomingMessage): void => {
        const tooLarge = (): void => {
          fail(
            new UpstreamError(
              `Expert endpoint ${url.host} returned a response larger than ${maxBytes} bytes.`,
              'upstream_response_too_large',
            ),
          );
          res.destroy();
          request?.destroy();
        };
        const declared = Number(res.headers['content-length']);
        if (Number.isFinite(declared) && declared > maxBytes) {
          tooLarge();
          return;
        }
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > maxBytes) {
            tooLarge();
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', (error) => fail(unreachable(url.host, error)));
        res.on('close', () => {
          if (!res.complete) fail(unreachable(url.host, new Error('response aborted')));
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          if (isJson(res.headers['content-type'])) {
            try {
              body = text === '' ? null : JSON.parse(text);
            } catch (error) {
              fail(
                withCause(
                  new UpstreamError(
                    `Expert endpoint ${url.host} returned invalid JSON.`,
                    'upstream_invalid_json',
                  ),
                  error,
                ),
              );
              return;
            }
          }
          const flat: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          const response = {
            status: res.statusCode ?? 0,
            headers: flat,
            body,
            durationMs: performance.now() - started,
            bytes,
          };
          settle(() => resolve(response));
        });
      };

      try {
        request = (isHttps ? https : http).request(options, onResponse);
      } catch (error) {
        // e.g. a header value with a control character: the caller's bug, reported as is.
        settle(() => reject(error));
        return;
      }
      request.on('error', (error) => fail(unreachable(url.host, error)));
      request.end(payload);
    });
  }
}

const unreachable = (host: string, error: unknown): UpstreamError =>
  withCause(
    new UpstreamError(
      `Expert endpoint ${host} is unreachable (${errorCode(error)}).`,
      'upstream_unreachable',
    ),
    error,
  );

const timedOut = (host: string, timeoutMs: number): UpstreamError =>
  new UpstreamError(
    `Expert endpoint ${host} did not answer within ${Math.round(timeoutMs)} ms.`,
    'upstream_timeout',
  );

/** Host (and port) of a URL for messages; never the path or query. */
const hostOf = (rawUrl: string): string => {
  try {
    return new URL(rawUrl).host;
  } catch {
    return 'endpoint';
  }
};

/** Bounds a step (DNS resolution) by the call's budget: a hung resolver must not outlive the timeout. */
const withDeadline = async <T>(work: Promise<T>, timeoutMs: number, onTimeout: () => Error): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
};
