import { createServer } from 'node:net';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import {
  DEFAULT_RATE_FAMILIES,
  DynamoRateLimiter,
  enforceRateLimit,
  InMemoryRateLimiter,
  leaseSizeFor,
  type RateFamily,
  type RateVerdict,
  rateLimitHeaders,
} from '#shared/adapters/rate-limit.js';
import { MissingTenantError, partitionKey } from '#shared/adapters/tenant-store.js';
import { TooManyRequestsError } from '#shared/errors.js';
import { errorResult } from '#shared/http/http.js';
import { rateFamiliesOf, routesOf, tableSpecOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { localTableName, startTestDynamo, type TestDynamo } from '../../../infra/local/dynamodb.js';

const tableSpec = (id: string) => tableSpecOf(PILLARS, id);

/** DynamoRateLimiter against a real DynamoDB API: dynalite, in memory, in this process. */
let local: TestDynamo;
let doc: DynamoDBDocumentClient;
const tableName = localTableName(tableSpec('router'));

/** 2026-01-01T00:00:00Z: the start of a window, so offsets below read as "seconds into the minute". */
const WINDOW_START_MS = Date.parse('2026-01-01T00:00:00.000Z');
const WINDOW_START_SECONDS = WINDOW_START_MS / 1000;

/** A clock the test moves by hand, in epoch milliseconds. */
const clockAt = (ms: number) => {
  const clock = { ms, now: () => clock.ms };
  return clock;
};

let tenants = 0;
/** Each test gets its own tenants, so its counters are its own in the shared table. */
const freshTenant = (label = 't'): string => {
  tenants += 1;
  return `${label}-${tenants}`;
};

/** Consumes `count` times in sequence and returns the verdicts. */
const consumeTimes = async (
  limiter: DynamoRateLimiter | InMemoryRateLimiter,
  tenantId: string,
  family: RateFamily,
  count: number,
): Promise<RateVerdict[]> => {
  const verdicts: RateVerdict[] = [];
  for (let i = 0; i < count; i += 1) verdicts.push(await limiter.consume(tenantId, family));
  return verdicts;
};

/** A loopback port nothing listens on. */
const closedPort = async (): Promise<number> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('expected a TCP address');
  return address.port;
};

beforeAll(async () => {
  local = await startTestDynamo();
  doc = local.doc;
});
afterAll(() => local?.close());

/** PRD §6.2: requests per minute per tenant, by endpoint. */
const PRD_LIMITS: ReadonlyArray<readonly [string, RateFamily, number]> = [
  ['POST /router/route', 'router.route', 600],
  ['POST /router/reward', 'router.reward', 1200],
  ['POST /eval/run', 'eval.run', 60],
  ['GET /eval/results/{runId}', 'eval.results', 600],
  ['POST /scheduler/enqueue', 'scheduler.enqueue', 300],
  ['PUT /budgets/limits', 'budgets', 60],
  ['POST /policy/authorize', 'policy.authorize', 900],
  ['GET /runbooks/registry', 'runbooks.registry', 300],
  ['POST /runbooks/execute', 'runbooks.execute', 120],
  ['POST /approvals/requests', 'approvals', 120],
  ['POST /edge/nodes', 'edge.nodes', 60],
  ['POST /edge/operations', 'edge.operations', 1200],
  ['POST /edge/sync', 'edge.sync', 600],
  ['POST /compliance/assessments', 'compliance', 60],
];

/** The families the limiters below count: the PRD's, whether or not a pillar serves them yet. */
const FAMILIES: Readonly<Record<string, number>> = Object.fromEntries(
  PRD_LIMITS.map(([, family, rpm]) => [family, rpm]),
);

describe('the rate-limit families of the catalog', () => {
  const declared = rateFamiliesOf(PILLARS);
  const routes = routesOf(PILLARS);

  it.each(PRD_LIMITS)(
    'limits %s (family %s) to %i requests per minute per tenant, as PRD §6.2 says, once a pillar serves it',
    (endpoint, family, rpm) => {
      // Prepare
      const route = routes.find((spec) => `${spec.method} ${spec.path}` === endpoint);

      // Assess: a served endpoint names its family with the PRD's limit; an unbuilt one declares nothing yet.
      if (route) {
        expect(route.rateFamily).toBe(family);
        expect(declared[family]).toBe(rpm);
      } else {
        expect(declared[family]).toBeUndefined();
      }
    },
  );

  it("adds Conductor's own families and a default to the PRD's served ones, and nothing else", () => {
    // Prepare
    const own = {
      'experts.read': 600,
      'experts.write': 120,
      'router.read': 600,
      'router.admin': 120,
      'policy.admin': 120,
      'scheduler.read': 600,
      'budgets.read': 300,
      'eval.read': 600,
      'eval.write': 60,
      'runbooks.publish': 60,
      'runbooks.read': 600,
      'edge.read': 600,
      'edge.admin': 120,
      default: 600,
      refused: 60,
    };
    const served = PRD_LIMITS.filter(([endpoint]) =>
      routes.some((spec) => `${spec.method} ${spec.path}` === endpoint),
    );

    // Act
    const expected = { ...Object.fromEntries(served.map(([, family, rpm]) => [family, rpm])), ...own };

    // Assess
    expect(declared).toEqual(expected);
  });

  it('names a declared family on every route that names one', () => {
    for (const spec of routes)
      expect(declared[spec.rateFamily ?? 'default'], spec.operationId).toBeGreaterThan(0);
  });
});

describe('the refused family', () => {
  it('limits each caller’s refused requests to 60 a minute by default, and a deployment may override it', async () => {
    // Prepare
    const standard = new InMemoryRateLimiter();
    const overridden = new InMemoryRateLimiter({ limits: { refused: 5 } });

    // Act
    const verdict = await standard.consume('acme', 'refused', 'viewer-1');
    const stricter = await overridden.consume('acme', 'refused', 'viewer-1');

    // Assess
    expect(DEFAULT_RATE_FAMILIES).toEqual({ default: 600, refused: 60 });
    expect(verdict).toMatchObject({ ok: true, limit: 60 });
    expect(stricter).toMatchObject({ ok: true, limit: 5 });
  });
});

describe('DynamoRateLimiter on dynalite', () => {
  it('admits the limit within a window and refuses the next call until the window ends', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 45_000);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'eval.run': 3 },
    });
    const tenant = freshTenant();

    // Act
    const verdicts = await consumeTimes(limiter, tenant, 'eval.run', 4);

    // Assess
    expect(verdicts).toEqual([
      { ok: true, remaining: 2, limit: 3, resetSeconds: 15 },
      { ok: true, remaining: 1, limit: 3, resetSeconds: 15 },
      { ok: true, remaining: 0, limit: 3, resetSeconds: 15 },
      { ok: false, retryAfterSeconds: 15, limit: 3 },
    ]);
  });

  it('rounds Retry-After up to whole seconds and never answers less than 1', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 44_200);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'eval.run': 1 },
    });
    const tenant = freshTenant();
    await limiter.consume(tenant, 'eval.run');

    // Act
    const early = await limiter.consume(tenant, 'eval.run');
    clock.ms = WINDOW_START_MS + 59_999;
    const last = await limiter.consume(tenant, 'eval.run');

    // Assess
    expect(early).toEqual({ ok: false, retryAfterSeconds: 16, limit: 1 });
    expect(last).toEqual({ ok: false, retryAfterSeconds: 1, limit: 1 });
  });

  it('starts counting again in a new window', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 10_000);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'eval.run': 2 },
    });
    const tenant = freshTenant();
    await consumeTimes(limiter, tenant, 'eval.run', 3);

    // Act
    clock.ms = WINDOW_START_MS + 60_000;
    const verdict = await limiter.consume(tenant, 'eval.run');

    // Assess
    expect(verdict).toEqual({ ok: true, remaining: 1, limit: 2, resetSeconds: 60 });
  });

  it('counts each tenant on its own, so one tenant at its limit does not limit another', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'eval.run': 2 },
    });
    const noisy = freshTenant('noisy');
    const quiet = freshTenant('quiet');
    await consumeTimes(limiter, noisy, 'eval.run', 3);

    // Act
    const verdict = await limiter.consume(quiet, 'eval.run');

    // Assess
    expect(verdict).toMatchObject({ ok: true, remaining: 1 });
    expect(await limiter.consume(noisy, 'eval.run')).toMatchObject({ ok: false });
  });

  it('counts each family on its own, so a tenant at one limit can still call other endpoints', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'eval.run': 1, 'router.route': 1 },
    });
    const tenant = freshTenant();
    await consumeTimes(limiter, tenant, 'eval.run', 2);

    // Act
    const verdict = await limiter.consume(tenant, 'router.route');

    // Assess
    expect(verdict).toMatchObject({ ok: true, remaining: 0, limit: 1 });
  });

  it('admits exactly the limit when 60 requests race for 25 slots, because the writes are conditional', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 30_000);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'router.route': 25 },
    });
    const tenant = freshTenant();

    // Act
    const verdicts = await Promise.all(
      Array.from({ length: 60 }, () => limiter.consume(tenant, 'router.route')),
    );

    // Assess
    const admitted = verdicts.filter((verdict) => verdict.ok);
    expect(admitted).toHaveLength(25);
    expect(admitted.map((verdict) => verdict.remaining).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 25 }, (_, index) => index),
    );
    expect(verdicts.filter((verdict) => !verdict.ok)).toHaveLength(35);
    const stored = await doc.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: partitionKey(tenant, 'RATE'), sk: `router.route#${WINDOW_START_SECONDS}` },
        ConsistentRead: true,
      }),
    );
    expect(stored.Item?.hits).toBe(25);
  });

  it('counts a lease of requests per table write once the limit is 200/min or more', async () => {
    // Prepare: 1,000/min, so a lease of 10.
    const clock = clockAt(WINDOW_START_MS + 1_000);
    let writes = 0;
    const counting = {
      send: ((command: unknown) => {
        if (command instanceof UpdateCommand) writes += 1;
        return doc.send(command as UpdateCommand);
      }) as DynamoDBDocumentClient['send'],
    };
    const limiter = new DynamoRateLimiter(counting, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'router.route': 1_000 },
    });
    const tenant = freshTenant();

    // Act
    const first = await Promise.all(
      Array.from({ length: 10 }, () => limiter.consume(tenant, 'router.route')),
    );
    const writesForTen = writes;
    await limiter.consume(tenant, 'router.route');

    // Assess
    expect(leaseSizeFor(1_000)).toBe(10);
    expect(first.every((verdict) => verdict.ok)).toBe(true);
    expect(writesForTen).toBe(1);
    expect(writes).toBe(2);
    expect(first.map((v) => (v.ok ? v.remaining : -1)).sort((a, b) => b - a)).toEqual(
      Array.from({ length: 10 }, (_, i) => 999 - i),
    );
  });

  it('never admits more than the limit across instances taking leases, and strands at most a lease each', async () => {
    // Prepare: three instances of 400/min (leases of 4) racing for one tenant's counter.
    const clock = clockAt(WINDOW_START_MS + 10_000);
    const instances = [0, 1, 2].map(
      () =>
        new DynamoRateLimiter(doc, tableName, {
          families: FAMILIES,
          now: clock.now,
          limits: { 'router.route': 400 },
        }),
    );
    const tenant = freshTenant();

    // Act
    const verdicts = await Promise.all(
      Array.from({ length: 500 }, (_, i) => instances[i % 3]?.consume(tenant, 'router.route')),
    );

    // Assess
    const admitted = verdicts.filter((verdict) => verdict?.ok).length;
    expect(admitted).toBeLessThanOrEqual(400);
    expect(admitted).toBeGreaterThanOrEqual(400 - 3 * (leaseSizeFor(400) - 1));
    const stored = await doc.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: partitionKey(tenant, 'RATE'), sk: `router.route#${WINDOW_START_SECONDS + 0}` },
        ConsistentRead: true,
      }),
    );
    expect(stored.Item?.hits).toBeLessThanOrEqual(400);
  });

  it('counts the last requests of a window one by one, so the limit is reached exactly', async () => {
    // Prepare: 200/min (leases of 2); other instances have counted 199.
    const clock = clockAt(WINDOW_START_MS + 20_000);
    const options = { families: FAMILIES, now: clock.now, limits: { 'router.route': 200 } };
    const tenant = freshTenant();
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: partitionKey(tenant, 'RATE'), sk: `router.route#${WINDOW_START_SECONDS}` },
        UpdateExpression: 'SET hits = :n',
        ExpressionAttributeValues: { ':n': 199 },
      }),
    );
    const limiter = new DynamoRateLimiter(doc, tableName, options);

    // Act
    const last = await limiter.consume(tenant, 'router.route');
    const over = await limiter.consume(tenant, 'router.route');

    // Assess
    expect(last).toMatchObject({ ok: true, remaining: 0 });
    expect(over.ok).toBe(false);
  });

  it('uses the PRD limit of a family unless the options override it', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'edge.nodes': 7 },
    });
    const tenant = freshTenant();

    // Act
    const overridden = await limiter.consume(tenant, 'edge.nodes');
    const standard = await limiter.consume(tenant, 'router.reward');

    // Assess
    expect(overridden).toMatchObject({ ok: true, limit: 7, remaining: 6 });
    expect(standard).toMatchObject({ ok: true, limit: 1200, remaining: 1199 });
  });

  it('refuses a limit override that is not a positive integer', () => {
    // Act
    const build = (limit: number) => () =>
      new DynamoRateLimiter(doc, tableName, { families: FAMILIES, limits: { 'eval.run': limit } });

    // Assess
    expect(build(0)).toThrow(RangeError);
    expect(build(2.5)).toThrow(RangeError);
    expect(build(-1)).toThrow(RangeError);
  });

  it('stores one counter per tenant, family and window under a tenant-first key that TTL expires, counting a lease at once', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 5_000);
    const limiter = new DynamoRateLimiter(doc, tableName, { families: FAMILIES, now: clock.now });
    const tenant = freshTenant();

    // Act
    await consumeTimes(limiter, tenant, 'policy.authorize', 2);

    // Assess
    const stored = await doc.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: `T#${tenant}#RATE`, sk: `policy.authorize#${WINDOW_START_SECONDS}` },
        ConsistentRead: true,
      }),
    );
    expect(stored.Item).toEqual({
      pk: `T#${tenant}#RATE`,
      sk: `policy.authorize#${WINDOW_START_SECONDS}`,
      // 900/min: one lease of 9 requests counted by the first request covers the second.
      hits: leaseSizeFor(900),
      expiresAt: WINDOW_START_SECONDS + 60 + 300,
    });
  });

  it('counts a caller of a tenant on its own in a caller-keyed family, apart from the tenant and its other callers', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS);
    const limiter = new DynamoRateLimiter(doc, tableName, { families: FAMILIES, now: clock.now });
    const tenant = freshTenant();
    await consumeTimes(limiter, tenant, 'router.route', 1);
    const noisy = [];
    for (let i = 0; i < 61; i += 1) noisy.push(await limiter.consume(tenant, 'refused', 'viewer-1'));

    // Act
    const other = await limiter.consume(tenant, 'refused', 'viewer-2');
    const tenantCount = await limiter.consume(tenant, 'router.route');

    // Assess
    expect(noisy[0]).toMatchObject({ ok: true, limit: 60, remaining: 59 });
    expect(noisy[60]).toEqual({ ok: false, retryAfterSeconds: 60, limit: 60 });
    expect(other).toMatchObject({ ok: true, limit: 60, remaining: 59 });
    expect(tenantCount).toMatchObject({ ok: true, remaining: 598 });
  });

  it('stores a caller’s counter under the tenant, named by the family and a digest of the caller', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS);
    const limiter = new DynamoRateLimiter(doc, tableName, { families: FAMILIES, now: clock.now });
    const tenant = freshTenant();

    // Act
    await limiter.consume(tenant, 'refused', 'user#7 with spaces');

    // Assess
    const stored = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `T#${tenant}#RATE` },
        ConsistentRead: true,
      }),
    );
    expect(stored.Items).toEqual([
      {
        pk: `T#${tenant}#RATE`,
        sk: expect.stringMatching(new RegExp(`^refused#[A-Za-z0-9_-]{22}#${WINDOW_START_SECONDS}$`)),
        hits: 1,
        expiresAt: WINDOW_START_SECONDS + 60 + 300,
      },
    ]);
  });

  it('throws on an invalid tenant id instead of failing open', async () => {
    // Prepare
    const onError = vi.fn();
    const limiter = new DynamoRateLimiter(doc, tableName, { families: FAMILIES, onError });

    // Act
    const attempt = limiter.consume('NOT A TENANT', 'default');

    // Assess
    await expect(attempt).rejects.toBeInstanceOf(MissingTenantError);
    expect(onError).not.toHaveBeenCalled();
  });

  it('fails open and reports the error when DynamoDB cannot be reached', async () => {
    // Prepare
    const port = await closedPort();
    const unreachable = makeDocumentClient({ region: 'us-east-1', endpoint: `http://127.0.0.1:${port}` });
    const onError = vi.fn();
    const clock = clockAt(WINDOW_START_MS + 20_000);
    const limiter = new DynamoRateLimiter(unreachable, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { 'eval.run': 1 },
      onError,
    });

    try {
      // Act
      const verdicts = await consumeTimes(limiter, freshTenant(), 'eval.run', 2);

      // Assess
      expect(verdicts).toEqual([
        { ok: true, remaining: 0, limit: 1, resetSeconds: 40 },
        { ok: true, remaining: 0, limit: 1, resetSeconds: 40 },
      ]);
      expect(onError).toHaveBeenCalledTimes(2);
      expect(onError.mock.calls[0]?.[0]).toBeInstanceOf(Error);
    } finally {
      unreachable.destroy();
    }
  });

  it('fails open when DynamoDB throttles, even if the error hook itself throws', async () => {
    // Prepare
    const client = makeDocumentClient({ region: 'us-east-1', endpoint: local.endpoint });
    const dynamo = mockClient(client);
    const throttled = new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} });
    dynamo.on(UpdateCommand).rejects(throttled);
    const onError = vi.fn(() => {
      throw new Error('logger down');
    });
    const limiter = new DynamoRateLimiter(client, tableName, {
      families: FAMILIES,
      now: clockAt(WINDOW_START_MS).now,
      onError,
    });

    try {
      // Act
      const verdict = await limiter.consume(freshTenant(), 'router.route');

      // Assess
      expect(verdict).toEqual({ ok: true, remaining: 599, limit: 600, resetSeconds: 60 });
      expect(onError).toHaveBeenCalledWith(throttled);
      expect(dynamo.commandCalls(UpdateCommand)).toHaveLength(1);
    } finally {
      dynamo.restore();
      client.destroy();
    }
  });
});

describe('enforceRateLimit', () => {
  it('throws a 429 TooManyRequestsError with Retry-After and the X-RateLimit-* headers when the tenant is over its limit', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 48_000);
    const limiter = new DynamoRateLimiter(doc, tableName, {
      families: FAMILIES,
      now: clock.now,
      limits: { budgets: 1 },
    });
    const tenant = freshTenant();
    await enforceRateLimit(limiter, tenant, 'budgets');

    // Act
    const error = await enforceRateLimit(limiter, tenant, 'budgets').catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(TooManyRequestsError);
    const tooMany = error as TooManyRequestsError;
    expect(tooMany.statusCode).toBe(429);
    expect(tooMany.code).toBe('rate_limited');
    const refusal = {
      'Retry-After': '12',
      'X-RateLimit-Limit': '1',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': '12',
    };
    expect(tooMany.headers).toEqual(refusal);
    expect(tooMany.message).toBe('Rate limit of 1 requests per minute for budgets exceeded for this tenant.');
    expect(errorResult(tooMany, 'trace-1')).toMatchObject({ statusCode: 429, headers: refusal });
  });

  it('names the caller, not the tenant, when a caller is over its own budget', async () => {
    // Prepare
    const limiter = new InMemoryRateLimiter({ limits: { refused: 1 } });
    await enforceRateLimit(limiter, 'acme', 'refused', 'viewer-1');

    // Act
    const error = await enforceRateLimit(limiter, 'acme', 'refused', 'viewer-1').catch(
      (caught: unknown) => caught,
    );

    // Assess
    expect(error).toBeInstanceOf(TooManyRequestsError);
    expect((error as TooManyRequestsError).message).toBe(
      'Rate limit of 1 refused requests per minute exceeded for this caller.',
    );
    expect((error as TooManyRequestsError).headers).toMatchObject({
      'X-RateLimit-Limit': '1',
      'X-RateLimit-Remaining': '0',
    });
  });

  it('returns the verdict of an admitted request, from which the rate-limit headers are built', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 1_000);
    const limiter = new DynamoRateLimiter(doc, tableName, { families: FAMILIES, now: clock.now });

    // Act
    const verdict = await enforceRateLimit(limiter, freshTenant(), 'router.reward');

    // Assess
    expect(verdict).toEqual({ ok: true, remaining: 1199, limit: 1200, resetSeconds: 59 });
    expect(rateLimitHeaders(verdict)).toEqual({
      'X-RateLimit-Limit': '1200',
      'X-RateLimit-Remaining': '1199',
      'X-RateLimit-Reset': '59',
    });
  });
});

describe('InMemoryRateLimiter', () => {
  it('refuses the call after the limit and admits again in the next window', async () => {
    // Prepare
    const clock = clockAt(WINDOW_START_MS + 50_000);
    const limiter = new InMemoryRateLimiter({ families: FAMILIES, now: clock.now, limits: { approvals: 2 } });

    // Act
    const within = await consumeTimes(limiter, 'acme', 'approvals', 3);
    clock.ms += 10_000;
    const next = await limiter.consume('acme', 'approvals');

    // Assess
    expect(within.map((verdict) => verdict.ok)).toEqual([true, true, false]);
    expect(within[2]).toEqual({ ok: false, retryAfterSeconds: 10, limit: 2 });
    expect(next).toEqual({ ok: true, remaining: 1, limit: 2, resetSeconds: 60 });
  });

  it('gives the same verdicts as the DynamoDB limiter for any sequence of tenants, families and times', async () => {
    // Prepare
    const step = fc.record({
      tenant: fc.constantFrom('a', 'b'),
      family: fc.constantFrom<RateFamily>('router.route', 'eval.run'),
      advanceMs: fc.oneof(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 70_000 })),
    });
    const scenario = fc.record({
      startOffsetMs: fc.integer({ min: 0, max: 59_999 }),
      steps: fc.array(step, { maxLength: 30 }),
    });

    // Act & Assess
    await fc.assert(
      fc.asyncProperty(scenario, async ({ startOffsetMs, steps }) => {
        const clock = clockAt(WINDOW_START_MS + startOffsetMs);
        const options = { families: FAMILIES, now: clock.now, limits: { 'router.route': 3, 'eval.run': 2 } };
        const dynamo = new DynamoRateLimiter(doc, tableName, options);
        const memory = new InMemoryRateLimiter(options);
        const run = freshTenant('run');
        for (const { tenant, family, advanceMs } of steps) {
          clock.ms += advanceMs;
          const tenantId = `${run}-${tenant}`;
          const expected = await dynamo.consume(tenantId, family);
          expect(await memory.consume(tenantId, family)).toEqual(expected);
        }
      }),
      { numRuns: 40 },
    );
  });
});
