import { generateKeyPair, SignJWT } from 'jose';
import { expect } from 'vitest';
import { POLICY_ENGINES, type PolicyEngineName } from '#shared/policy/source.js';
import { type ConductorOptions, type RunningConductor, startConductor } from '../../infra/local/runtime.js';

/** A running embedded Conductor plus a small HTTP client for tests over real HTTP. */
export interface Harness {
  readonly conductor: RunningConductor;
  readonly tokens: Record<string, string>;
  call(method: string, path: string, options?: CallOptions): Promise<Reply>;
}

export interface CallOptions {
  readonly token?: string | undefined;
  readonly body?: unknown;
  readonly rawBody?: string;
  readonly headers?: Record<string, string>;
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are inspected field by field
  readonly json: any;
}

/**
 * The policy engine the suites run on: the default, or the one a `*.opa.test.ts` file sets before it
 * imports a suite (CONDUCTOR_TEST_POLICY_ENGINE), so one suite proves both engines.
 */
const testPolicyEngine = (): PolicyEngineName | undefined => {
  const name = process.env.CONDUCTOR_TEST_POLICY_ENGINE;
  if (name === undefined) return undefined;
  if (!(POLICY_ENGINES as readonly string[]).includes(name)) throw new Error(`unknown policy engine ${name}`);
  return name as PolicyEngineName;
};

/**
 * The API worker threads the suites run with: none, or as many as a `*.workers.test.ts` file sets
 * before it imports a suite (CONDUCTOR_TEST_API_WORKERS), so one suite proves both ways of running.
 */
const testApiWorkers = (): number | undefined => {
  const value = process.env.CONDUCTOR_TEST_API_WORKERS;
  if (value === undefined) return undefined;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1) throw new Error(`CONDUCTOR_TEST_API_WORKERS: ${value}`);
  return count;
};

export const startHarness = async (
  options: Pick<
    ConductorOptions,
    'functionEnv' | 'meterCalls' | 'allowPrivateEndpoints' | 'approvalTimeoutScale'
  > = {},
): Promise<Harness> => {
  const policyEngine = testPolicyEngine();
  const apiWorkers = testApiWorkers();
  const conductor = await startConductor({
    ...options,
    ...(policyEngine ? { policyEngine } : {}),
    ...(apiWorkers ? { apiWorkers } : {}),
    // Two instances of the router see each other's configuration and health changes within
    // ROUTER_CONFIG_CACHE_MS, as two Lambda instances do (functions/router/README.md); the suites
    // assert "at once", which holds across instances only without that cache.
    ...(apiWorkers && apiWorkers > 1
      ? { functionEnv: { ROUTER_CONFIG_CACHE_MS: '0', ...options.functionEnv } }
      : {}),
    memory: true,
    port: 0,
    // Tests fire requests back to back; the stage throttle has its own test.
    throttle: { rateLimit: 100_000, burstLimit: 100_000 },
    // Per-tenant limits have their own test (rate-limits.test.ts); here they would only add noise.
    rateLimits: {
      'experts.read': 100_000,
      'experts.write': 100_000,
      'router.route': 100_000,
      'router.reward': 100_000,
      'router.read': 100_000,
      'router.admin': 100_000,
      'eval.run': 100_000,
      'eval.read': 100_000,
      'eval.results': 100_000,
      'eval.write': 100_000,
      'runbooks.publish': 100_000,
      'runbooks.read': 100_000,
      'runbooks.registry': 100_000,
      'runbooks.execute': 100_000,
      approvals: 100_000,
      'edge.nodes': 100_000,
      'edge.operations': 100_000,
      'edge.sync': 100_000,
      'edge.read': 100_000,
      'edge.admin': 100_000,
      compliance: 100_000,
      // Suites that refuse on purpose (cross-tenant: every route, twice) would hit the 60 refusals a minute.
      refused: 100_000,
    },
  });
  const mint = (tenant: string, roles: string[], amr?: string[]) =>
    conductor.issuer.mint({
      subject: `test-${tenant}-${roles.join('-')}`,
      tenant,
      roles,
      ...(amr ? { amr } : {}),
    });
  const tokens: Record<string, string> = {
    acmeViewer: await mint('acme', ['viewer']),
    acmeOperator: await mint('acme', ['operator']),
    acmeAdmin: await mint('acme', ['tenant-admin'], ['pwd', 'mfa']),
    globexViewer: await mint('globex', ['viewer']),
    globexAdmin: await mint('globex', ['tenant-admin'], ['pwd', 'mfa']),
  };
  const call = async (method: string, path: string, options: CallOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const url = path.startsWith('http') ? path : `${conductor.apiUrl}${path}`;
    const response = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  };
  return { conductor, tokens, call };
};

/** Registers a model expert named `name` (endpoint https://<name>.example.com/v1); its id. */
export const createModelExpert = async (h: Harness, token: string, name: string): Promise<string> => {
  const reply = await h.call('POST', '/experts', {
    token,
    body: { name, type: 'model', costPerCallUsd: 0.001, endpoint: `https://${name}.example.com/v1` },
  });
  expect(reply.status, reply.text).toBe(201);
  return reply.json.id as string;
};

/** A token signed by a key the issuer never published, with the right issuer and audience. */
export const foreignToken = async (issuer: string, tenant: string): Promise<string> => {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT({ tenant, roles: ['tenant-admin'] })
    .setProtectedHeader({ alg: 'RS256', kid: 'conductor-local-1' })
    .setIssuer(issuer)
    .setAudience('conductor')
    .setSubject('intruder')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
};

/** An unsigned token (`alg: none`) claiming to be a tenant admin. */
export const unsignedToken = (issuer: string, tenant: string): string => {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${encode({ alg: 'none', typ: 'JWT' })}.${encode({ iss: issuer, aud: 'conductor', sub: 'x', tenant, roles: ['tenant-admin'], iat: now, exp: now + 3600 })}.`;
};

/** The uniform error body every 4xx/5xx carries. */
export const expectUniformError = (reply: Reply, status: number, code?: string): void => {
  if (reply.status !== status) {
    throw new Error(`expected ${status}, got ${reply.status}: ${reply.text}`);
  }
  const body = reply.json as { code?: unknown; message?: unknown; traceId?: unknown };
  if (
    typeof body?.code !== 'string' ||
    typeof body.message !== 'string' ||
    typeof body.traceId !== 'string'
  ) {
    throw new Error(`not the uniform error shape: ${reply.text}`);
  }
  if (code !== undefined && body.code !== code)
    throw new Error(`expected code ${code}, got ${String(body.code)}`);
  if (reply.headers.get('x-conductor-api-version') !== 'v1') throw new Error('missing version header');
  if (reply.headers.get('x-conductor-trace-id') !== body.traceId)
    throw new Error('trace header differs from body');
};

/** A decision record as the archive holds it (one JSON line each). */
export interface ArchivedRecord {
  readonly decisionId: string;
  readonly tenantId: string;
  readonly at: string;
  readonly allow: boolean;
  readonly input: { readonly action: string };
}

/** Every archive object under decisions/ of the runtime's WORM store, with its records. */
export const readDecisionArchive = async (
  h: Harness,
): Promise<{ key: string; records: ArchivedRecord[] }[]> => {
  const keys = await h.conductor.worm.keys('decisions');
  return Promise.all(
    keys.map(async (key) => {
      const text = (await h.conductor.worm.get(key)) ?? '';
      expect(text.endsWith('\n')).toBe(true);
      const records = text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as ArchivedRecord);
      return { key, records };
    }),
  );
};

/**
 * Every decision id in the hot log of the token's tenant, page by page (GET /policy/decisions), of
 * one action when `action` is given.
 */
export const hotDecisionIdsOf = async (
  h: Harness,
  token: string | undefined,
  action?: string,
): Promise<string[]> => {
  const ids: string[] = [];
  let cursor: string | undefined;
  const filter = action ? `&action=${encodeURIComponent(action)}` : '';
  do {
    const reply = await h.call(
      'GET',
      `/policy/decisions?limit=100${filter}${cursor ? `&cursor=${cursor}` : ''}`,
      {
        token,
      },
    );
    expect(reply.status, reply.text).toBe(200);
    ids.push(...(reply.json.items as { decisionId: string }[]).map((item) => item.decisionId));
    cursor = reply.json.nextCursor;
  } while (cursor);
  return ids;
};

/** Puts on the local bus a `budget_breach` of tenant acme, as the scheduler publishes it (a monthly budget at 100 %). */
export const putBudgetBreach = async (h: Harness, traceId = 'trace-breach'): Promise<void> => {
  const detail = {
    tenantId: 'acme',
    traceId,
    occurredAt: new Date().toISOString(),
    window: 'monthly',
    windowId: 'monthly:2026-12',
    threshold: '100%',
    limitUsd: 10,
    projectedUsd: 12,
    spentUsd: 10.5,
    mode: 'throttle',
    action: 'throttle',
  };
  const put = await h.conductor.bus.putEvents([
    { Source: 'conductor', DetailType: 'budget_breach', Detail: JSON.stringify(detail) },
  ]);
  if (put.FailedEntryCount !== 0) throw new Error(`the bus refused the event: ${JSON.stringify(put)}`);
};

/**
 * Puts on the local bus a `runbook_executed` of an execution the runbooks pillar never ran (so no
 * trail of it is in the evidence store): the compliance check of executed runbooks must fail on it.
 */
export const putForgedRunbookExecution = async (h: Harness, executionId = 'rbx_forged'): Promise<void> => {
  const put = await h.conductor.bus.putEvents([
    {
      Source: 'conductor',
      DetailType: 'runbook_executed',
      Detail: JSON.stringify({
        tenantId: 'acme',
        traceId: `trace-${executionId}`,
        occurredAt: new Date().toISOString(),
        runbookId: 'rotate-keys',
        executionId,
        status: 'succeeded',
      }),
    },
  ]);
  if (put.FailedEntryCount !== 0) throw new Error(`the bus refused the event: ${JSON.stringify(put)}`);
};
