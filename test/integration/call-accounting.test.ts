import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CallMeter, parseCallSummary, setAmbientCallMeter } from '#shared/adapters/call-meter.js';
import { CALLS_HEADER } from '../../infra/local/gateway.js';
import {
  type Harness,
  hotDecisionIdsOf,
  putBudgetBreach,
  type Reply,
  readDecisionArchive,
  startHarness,
} from './harness.js';

/**
 * Call accounting over real HTTP: with call metering on, every answer carries the AWS calls its
 * request made (X-Conductor-Calls). The counts of the common requests are pinned here, so a change
 * that adds a call to them is seen in review (and priced by `npm run bench:cost`). The rate-limit
 * counter is written once per lease of requests, not per request: it is counted apart.
 */
let h: Harness;
let admin: string;
let operator: string;
const experts: string[] = [];
let task = 0;

const callsOf = (reply: Reply): Record<string, number> => {
  expect(reply.status, reply.text).toBeLessThan(300);
  const header = reply.headers.get(CALLS_HEADER);
  expect(header).toBeTruthy();
  return parseCallSummary(header ?? '');
};

/** One unit of one `service.Operation` in the request's X-Conductor-Calls (0 when absent). */
const unitOf = (reply: Reply, call: string, unit: string): number => {
  const part = (reply.headers.get(CALLS_HEADER) ?? '').split(';').find((p) => p.startsWith(`${call}=`));
  const match = part ? new RegExp(`[\\[,]${unit}=([0-9.]+)`).exec(part) : null;
  return match?.[1] ? Number(match[1]) : 0;
};

/** The calls of a request without the rate-limit counter's lease writes (asserted apart). */
const withoutLeases = (calls: Record<string, number>): Record<string, number> => {
  const { 'dynamodb.UpdateItem': leaseWrites = 0, ...rest } = calls;
  expect(leaseWrites).toBeLessThanOrEqual(1);
  return rest;
};

const route = (candidates: number, token = operator) => {
  task += 1;
  return h.call('POST', '/router/route', {
    token,
    body: {
      taskId: `calls-${task}`,
      context: { tokens: 800 },
      candidates: experts.slice(0, candidates),
    },
  });
};

const authorize = () =>
  h.call('POST', '/policy/authorize', {
    token: operator,
    body: {
      subject: { id: 'someone', tenantId: 'acme', roles: ['viewer'] },
      action: 'experts:list',
      resource: { tenantId: 'acme', kind: 'experts' },
    },
  });

/** `count` experts of the token's tenant, named `<prefix>-<i>`: their ids. */
const createExperts = async (token: string, prefix: string, count: number): Promise<string[]> => {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1) {
    const reply = await h.call('POST', '/experts', {
      token,
      body: {
        name: `${prefix}-${i}`,
        type: 'model',
        costPerCallUsd: 0.001,
        endpoint: `https://${prefix}-${i}.example.com/v1`,
      },
    });
    expect(reply.status, reply.text).toBe(201);
    ids.push(reply.json.id);
  }
  return ids;
};

beforeAll(async () => {
  h = await startHarness({ meterCalls: true });
  admin = h.tokens.acmeAdmin ?? '';
  operator = h.tokens.acmeOperator ?? '';
  experts.push(...(await createExperts(admin, 'calls', 16)));
  // Warm: the router's config, experts and model caches, the policy store's caches, the leases.
  for (const candidates of [4, 16, 4]) await route(candidates);
  await authorize();
  await h.call('GET', '/experts', { token: operator });
});
afterAll(async () => {
  await h?.conductor.stop();
});

/** A route's calls, whatever its candidates: one decision put, one decision-log batch, one archive message, one event. */
const ROUTE_CALLS = {
  'apigateway.Request': 1,
  'lambda.Invoke': 1,
  'dynamodb.BatchWriteItem': 1,
  'dynamodb.PutItem': 1,
  'events.PutEvents': 1,
  'sqs.SendMessage': 1,
};

describe('the AWS calls of a request (X-Conductor-Calls)', () => {
  it('routes with 4 candidates in one decision put, one decision-log batch, one archive message and one event', async () => {
    const reply = await route(4);
    const calls = withoutLeases(callsOf(reply));

    expect(calls).toEqual(ROUTE_CALLS);
    // The five decisions in one group item, the decision with its rationale: one write unit each.
    expect(unitOf(reply, 'dynamodb.BatchWriteItem', 'wru')).toBe(1);
    expect(unitOf(reply, 'dynamodb.PutItem', 'wru')).toBe(1);
  });

  it('routes with 16 candidates in the same calls as with 4', async () => {
    const reply = await route(16);
    const calls = withoutLeases(callsOf(reply));

    expect(calls).toEqual(ROUTE_CALLS);
    expect(unitOf(reply, 'dynamodb.BatchWriteItem', 'wru')).toBeLessThanOrEqual(2);
    expect(unitOf(reply, 'dynamodb.PutItem', 'wru')).toBeLessThanOrEqual(2);
  });

  it('accepts a reward in one message to the rewards queue, and learns it in the consumer', async () => {
    const routed = await route(4);
    expect(routed.status, routed.text).toBe(200);
    const taskId = `calls-${task}`;
    // Only the reward's own asynchronous work is left to count (the route's archive message is done).
    for (const mapping of h.conductor.mappings.values()) await mapping.drain();
    // Everything from the reward on (its request and the consumers it sets off), then the request's
    // own calls taken away: what the consumers did.
    const all = new CallMeter();
    setAmbientCallMeter(all);
    let header: Record<string, number>;
    try {
      header = callsOf(
        await h.call('POST', '/router/reward', {
          token: operator,
          body: { taskId, signal: 'success_at_k', value: 1 },
        }),
      );
      for (const mapping of h.conductor.mappings.values()) await mapping.drain();
    } finally {
      setAmbientCallMeter(undefined);
    }
    const calls = withoutLeases(header);
    const consumers = Object.fromEntries(
      Object.entries(parseCallSummary(all.summary()))
        .map(([call, count]) => [call, count - (header[call] ?? 0)] as const)
        .filter(([, count]) => count !== 0),
    );

    expect(calls).toEqual({
      'apigateway.Request': 1,
      'lambda.Invoke': 1,
      'dynamodb.BatchWriteItem': 1,
      'sqs.SendMessage': 2,
    });
    // The reward consumer (decision, model, marker; model and marker written back; reward_ingested)
    // and the decision-archive consumer (the reward's decision record, one object).
    expect(consumers).toEqual({
      'sqs.ReceiveMessage': 2,
      'lambda.Invoke': 2,
      'dynamodb.BatchGetItem': 2,
      'dynamodb.GetItem': 2,
      'dynamodb.PutItem': 2,
      'events.PutEvents': 1,
      's3.PutObject': 1,
      'sqs.DeleteMessageBatch': 2,
    });
  });

  it('answers an authorize question with its route-level decision in one decision-log item and one archive message', async () => {
    const reply = await authorize();
    const calls = withoutLeases(callsOf(reply));

    expect(calls).toEqual({
      'apigateway.Request': 1,
      'lambda.Invoke': 1,
      'dynamodb.BatchWriteItem': 1,
      'sqs.SendMessage': 1,
    });
    expect(unitOf(reply, 'dynamodb.BatchWriteItem', 'wru')).toBe(1);
  });

  it('lists experts in one query, one decision-log batch and one archive message', async () => {
    const calls = withoutLeases(callsOf(await h.call('GET', '/experts', { token: operator })));

    expect(calls).toEqual({
      'apigateway.Request': 1,
      'lambda.Invoke': 1,
      'dynamodb.Query': 1,
      'dynamodb.BatchWriteItem': 1,
      'sqs.SendMessage': 1,
    });
  });

  it('writes the rate-limit counter once per lease, not once per request', async () => {
    let leaseWrites = 0;
    for (let i = 0; i < 40; i += 1) leaseWrites += callsOf(await route(4))['dynamodb.UpdateItem'] ?? 0;

    // 100,000 a minute in the harness: leases of 20 (two, or three across a window's end).
    expect(leaseWrites).toBeGreaterThanOrEqual(2);
    expect(leaseWrites).toBeLessThanOrEqual(3);
  });
});

describe('the audit trail of a run of known requests', () => {
  it('holds every decision of every route in the hot log and in the archive', async () => {
    const tenant = 'calls-audit';
    const tenantAdmin = await h.conductor.issuer.mint({
      subject: 'audit-admin',
      tenant,
      roles: ['tenant-admin'],
    });
    const tenantOperator = await h.conductor.issuer.mint({
      subject: 'audit-op',
      tenant,
      roles: ['operator'],
    });
    const own = await createExperts(tenantAdmin, 'audit', 4);

    const routes = 12;
    for (let i = 0; i < routes; i += 1) {
      const reply = await h.call('POST', '/router/route', {
        token: tenantOperator,
        body: { taskId: `audit-${i}`, context: {}, candidates: own },
      });
      expect(reply.status, reply.text).toBe(200);
    }
    for (const mapping of h.conductor.mappings.values()) await mapping.drain();

    // Each route: its own decision (router:route) and one per candidate (router:route-to).
    const routeDecisions = await hotDecisionIdsOf(h, tenantAdmin, 'router:route');
    const candidateDecisions = await hotDecisionIdsOf(h, tenantAdmin, 'router:route-to');
    expect(routeDecisions).toHaveLength(routes);
    expect(candidateDecisions).toHaveLength(routes * own.length);
    const hot = [...routeDecisions, ...candidateDecisions];
    const archived = new Set(
      (await readDecisionArchive(h)).flatMap((object) =>
        object.records.filter((record) => record.tenantId === tenant).map((record) => record.decisionId),
      ),
    );
    for (const id of hot) expect(archived.has(id), id).toBe(true);
  });
});

describe('the invocations of the asynchronous sources', () => {
  /** What `work` recorded into an ambient meter, once the bus and the queues are at rest. */
  const metered = async (work: () => Promise<unknown>) => {
    const meter = new CallMeter();
    setAmbientCallMeter(meter);
    try {
      await work();
      await h.conductor.bus.drain();
      for (const mapping of h.conductor.mappings.values()) await mapping.drain();
    } finally {
      setAmbientCallMeter(undefined);
    }
    return meter.lines().find((line) => line.service === 'lambda');
  };

  it("records a schedule's run of its function as a billed Lambda invocation", async () => {
    const invocations = await metered(() => h.conductor.bus.trigger('conductor-compliance-sweep'));

    expect(invocations?.units['ms.compliance']).toBeGreaterThan(0);
    expect(invocations?.units.mbMs).toBeGreaterThan(0);
  });

  it("records a subscription's run of its function as a billed Lambda invocation", async () => {
    const invocations = await metered(() => putBudgetBreach(h, 'trace-calls-breach'));

    expect(invocations?.units['ms.compliance']).toBeGreaterThan(0);
  });
});
