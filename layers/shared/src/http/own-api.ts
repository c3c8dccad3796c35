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
