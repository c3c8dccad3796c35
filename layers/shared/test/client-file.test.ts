import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  API_BASE_PATH,
  ConductorApiError,
  createConductorClient,
  serverRootOf,
  unwrap,
} from '../../../clients/typescript/index.js';
import { CLIENT_SCHEMA_FILE, renderClientTypes } from '../../../scripts/generate-client.js';
import { API_BASE } from '../src/http/conventions.js';

describe('clients/typescript/schema.d.ts', () => {
  it('holds the types of docs/openapi.json (run `npm run client` after `npm run openapi`)', async () => {
    expect(readFileSync(CLIENT_SCHEMA_FILE, 'utf8')).toBe(await renderClientTypes());
  }, 30_000);
});

/** A fetch that records the request and answers with the given status and body. */
const answering = (status: number, body: unknown, headers: Record<string, string> = {}) => {
  const requests: Request[] = [];
  const fetch = async (request: Request) => {
    requests.push(request);
    return new Response(typeof body === 'string' ? body : JSON.stringify(body), {
      status,
      headers: { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json', ...headers },
    });
  };
  return { fetch, requests };
};

describe('createConductorClient', () => {
  it('serves the same base path as the API', () => {
    expect(API_BASE_PATH).toBe(API_BASE);
  });

  it('takes the API URL with or without the base path and a trailing slash', () => {
    expect(serverRootOf('http://127.0.0.1:4000/api/conductor/v1')).toBe('http://127.0.0.1:4000');
    expect(serverRootOf('https://abc.execute-api.eu-west-1.amazonaws.com/')).toBe(
      'https://abc.execute-api.eu-west-1.amazonaws.com',
    );
    expect(serverRootOf('https://gw.example.com/prod/api/conductor/v1/')).toBe('https://gw.example.com/prod');
  });

  it('sends the bearer token and the acting tenant to the path under the API URL', async () => {
    const { fetch, requests } = answering(200, { items: [] });
    const client = createConductorClient({
      apiUrl: 'http://127.0.0.1:4000/api/conductor/v1',
      token: 'jwt-1',
      tenant: 'globex',
      fetch,
    });

    await unwrap(client.GET('/api/conductor/v1/experts', { params: { query: { limit: 3 } } }));

    expect(requests[0]?.url).toBe('http://127.0.0.1:4000/api/conductor/v1/experts?limit=3');
    expect(requests[0]?.headers.get('authorization')).toBe('Bearer jwt-1');
    expect(requests[0]?.headers.get('x-conductor-tenant')).toBe('globex');
  });
});

describe('unwrap', () => {
  it('throws ConductorApiError with the uniform error of a 4xx', async () => {
    const { fetch } = answering(404, {
      code: 'expert_not_found',
      message: 'Expert exp_x not found.',
      traceId: 't-1',
    });
    const client = createConductorClient({ apiUrl: 'http://api.test', token: 'jwt', fetch });

    const failure = await unwrap(
      client.GET('/api/conductor/v1/experts/{expertId}', { params: { path: { expertId: 'exp_x' } } }),
    ).catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(ConductorApiError);
    expect((failure as ConductorApiError).status).toBe(404);
    expect((failure as ConductorApiError).body).toEqual({
      code: 'expert_not_found',
      message: 'Expert exp_x not found.',
      traceId: 't-1',
    });
  });

  it('carries the Retry-After of a refusal in seconds, and none when the answer had none', async () => {
    const refusal = { code: 'budget_throttled', message: 'The monthly budget is breached.', traceId: 't-3' };
    const throttled = answering(429, refusal, { 'retry-after': '300' });
    const bare = answering(429, refusal);
    const call = async (fetch: typeof throttled.fetch): Promise<unknown> => {
      const client = createConductorClient({ apiUrl: 'http://api.test', token: 'jwt', fetch });
      return unwrap(client.GET('/api/conductor/v1/scheduler/jobs')).catch((error: unknown) => error);
    };

    const [withHeader, withoutHeader] = await Promise.all([call(throttled.fetch), call(bare.fetch)]);

    expect(withHeader).toBeInstanceOf(ConductorApiError);
    expect((withHeader as ConductorApiError).retryAfterSeconds).toBe(300);
    expect(withoutHeader).toBeInstanceOf(ConductorApiError);
    expect((withoutHeader as ConductorApiError).retryAfterSeconds).toBeUndefined();
  });

  it('names an error body that is not the uniform one after its status, keeping the trace header', async () => {
    const { fetch } = answering(502, 'Bad Gateway', { 'x-conductor-trace-id': 't-2' });
    const client = createConductorClient({ apiUrl: 'http://api.test', fetch });

    const failure = await unwrap(client.GET('/api/conductor/v1/health')).catch((error: unknown) => error);

    expect((failure as ConductorApiError).status).toBe(502);
    expect((failure as ConductorApiError).body).toEqual({
      code: 'http_502',
      message: 'Bad Gateway',
      traceId: 't-2',
    });
  });
});
