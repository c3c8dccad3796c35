import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as Y from 'yjs';
import type { RouteSpec } from '#shared/http/http.js';
import { routesOf } from '#shared/pillar.js';
import { PILLARS } from '../../functions/catalog.js';
import { NODE_TOKEN_HEADER } from '../../functions/edge-sync/contract.js';
import { registerSuite } from '../../functions/eval/contract.js';
import { LocalRsaSigner, parseRunbook, signRunbook } from '../../functions/runbooks/offline.js';
import { expectUniformError, type Harness, type Reply, startHarness } from './harness.js';

const ALL_ROUTES = routesOf(PILLARS);

/**
 * Tenant isolation over real HTTP, driven by the route table: every token-bearing route of the
 * catalog is attacked by a tenant-admin (with MFA) of `acme` against `globex`, in the two ways a
 * caller can aim at another tenant: by naming it (X-Conductor-Tenant) and by using its ids. A new
 * route is covered automatically, with its contract's `exampleBody`; one that takes a body and has
 * neither an example nor a fixture below fails until it gets one.
 */
const MARKER = 'globex-secret-marker';

/**
 * A valid body per operation (validation must not be what stops the attack); a function when the
 * body must name the path's ids (a suite document names its suite).
 */
const BODIES: Record<string, unknown> = {
  createExpert: {
    name: 'intruder',
    type: 'tool',
    costPerCallUsd: 0,
    endpoint: 'https://intruder.example.com/x',
  },
  setExpertHealth: { status: 'unhealthy', reason: 'cross-tenant' },
  // Aimed at globex's routed task (globex-task, below): an outcome would feed its canary.
  postOutcome: { taskId: 'globex-task', status: 'error', latencyMs: 1 },
  updateExpert: {
    name: 'pwned',
    type: 'tool',
    costPerCallUsd: 0,
    endpoint: 'https://intruder.example.com/x',
  },
  authorize: {
    subject: { id: 'mallory', tenantId: 'acme', roles: ['tenant-admin'] },
    action: 'experts:get',
    resource: { tenantId: 'globex', kind: 'experts' },
    context: { mfa: true },
  },
  authorizeBatch: {
    requests: [
      {
        subject: { id: 'mallory', tenantId: 'acme', roles: ['tenant-admin'] },
        action: 'experts:list',
        resource: { tenantId: 'globex', kind: 'experts' },
        context: {},
      },
    ],
  },
  requestGrant: { reason: 'cross-tenant suite', durationMinutes: 60 },
  dryRunPolicies: { policies: { 'all.cedar': '@id("permit-all")\npermit (principal, action, resource);' } },
  // routeTask's candidates are globex's expert, filled in once it exists (beforeAll).
  updateRouterConfig: { strategy: 'static', killSwitch: true },
  // A reward aimed at globex's task: unknown in acme, so it is accepted and then recorded as rejected.
  postReward: { taskId: 'globex-task', signal: 'success_at_k', value: 1 },
  // A suite under globex's suite id: a suite id is a name within a tenant, so acme registers its own.
  registerEvalSuite: (ids: Record<string, string>) => ({ ...registerSuite.exampleBody, id: ids.suiteId }),
  // runEval and snapshotEvalBaseline aim at globex's suite, expert and run (filled in by beforeAll).
};

/** Operations that are allowed to reach into another tenant by design, and what they may do there. */
const CROSS_TENANT_BY_DESIGN = new Set(['policy:grants:request']);
/**
 * Operations another tenant reaches only for what is its own there: a requester withdraws its own
 * grant request (revoke); anyone else's grant looks missing to it.
 */
const CROSS_TENANT_OWN_ONLY = new Map([['policy:grants:revoke', 'grant_not_found']]);

let h: Harness;
let attacker: string;
/** Path parameter values that name globex's real resources. */
const globexIds: Record<string, string> = {};
/** Path parameter values that name nothing at all, for the "indistinguishable from missing" check. */
const missingIds: Record<string, string> = {
  expertId: 'exp_00000000-0000-0000-0000-000000000000',
  grantId: 'grt_00000000-0000-0000-0000-000000000000',
  rationaleId: `rat_${Buffer.from('no-such-task').toString('base64url')}`,
  jobId: 'rpl_00000000-0000-0000-0000-000000000000',
  suiteId: 'no-such-suite',
  runId: 'run_00000000-0000-0000-0000-000000000000',
  baselineId: 'no-such-baseline',
  runbookId: 'no-such-runbook',
  version: '999',
  executionId: 'rbx_00000000-0000-0000-0000-000000000000',
  requestId: 'rbx_00000000-0000-0000-0000-000000000000.0',
  stepId: 'no-such-step',
  nodeId: 'no-such-node',
  documentId: 'no-such-document',
  type: 'no-such-type',
  conflictId: 'cf_000000000000000000000000',
  assessmentId: 'asm_20260101T000000000Z_00000000-0000-0000-0000-000000000000',
  findingId: 'fnd_log-retention_999',
  dsrId: 'dsr_20260101T000000000Z_00000000-0000-0000-0000-000000000000',
};

/** A Yjs update writing `field` of a document's fields map, as node `clientId` would push it. */
const edgeUpdate = (clientId: number, field: string, value: string): string => {
  const doc = new Y.Doc();
  doc.clientID = clientId;
  doc.getMap('fields').set(field, { v: value, t: `${Date.now()}.000000.n${clientId}`, n: `n${clientId}` });
  return Buffer.from(Y.encodeStateAsUpdate(doc)).toString('base64');
};

let evalExpertServer: Server | undefined;
const RESTART_RUNBOOK = new URL('../../runbooks/restart-service.json', import.meta.url);

beforeAll(async () => {
  // Private endpoints for globex's local eval expert only: every other expert here is a public name.
  h = await startHarness({ allowPrivateEndpoints: true });
  attacker = await h.conductor.issuer.mint({
    subject: 'mallory',
    tenant: 'acme',
    roles: ['tenant-admin', 'org-admin'],
    amr: ['pwd', 'mfa'],
  });
  const expert = await h.call('POST', '/experts', {
    token: h.tokens.globexAdmin,
    body: { name: MARKER, type: 'model', costPerCallUsd: 1, endpoint: `https://${MARKER}.example.com/v1` },
  });
  expect(expert.status).toBe(201);
  globexIds.expertId = expert.json.id;
  BODIES.routeTask = {
    taskId: 'cross-tenant-task',
    context: { project: MARKER },
    candidates: [expert.json.id],
  };
  // Invoking globex's expert from acme: unknown there (and never called).
  BODIES.invokeTask = {
    taskId: 'cross-tenant-invoke',
    context: { project: MARKER },
    candidates: [expert.json.id],
    input: { project: MARKER },
  };
  // A routing decision of globex, whose rationale names the marker: its rationale id is aimed at.
  const routed = await h.call('POST', '/router/route', {
    token: h.tokens.globexAdmin,
    body: { taskId: 'globex-task', context: { project: MARKER }, candidates: [expert.json.id] },
  });
  expect(routed.status, routed.text).toBe(200);
  globexIds.rationaleId = routed.json.rationaleId;
  // A replay job of globex over its decisions: its result names globex's expert.
  const replay = await h.call('POST', '/router/replay', {
    token: h.tokens.globexAdmin,
    body: {
      from: new Date(Date.now() - 3_600_000).toISOString(),
      to: new Date(Date.now() + 3_600_000).toISOString(),
      candidate: { strategy: 'greedy' },
    },
  });
  expect(replay.status, replay.text).toBe(202);
  globexIds.jobId = replay.json.jobId;
  // A grant request of a third tenant lives in globex's partition: another globex id to aim at.
  const initechAdmin = await h.conductor.issuer.mint({
    subject: 'ivan',
    tenant: 'initech',
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  });
  const grant = await h.call('POST', '/policy/grants', {
    token: initechAdmin,
    headers: { 'x-conductor-tenant': 'globex' },
    body: { reason: MARKER, durationMinutes: 30 },
  });
  expect(grant.status, grant.text).toBe(201);
  globexIds.grantId = grant.json.id;
  // An evaluation of globex: a suite whose description is the marker, a run of it against a local
  // expert that answers it (so the run scores and can be a baseline), a baseline.
  const answering = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ output: MARKER }));
  });
  evalExpertServer = answering;
  await new Promise<void>((done) => answering.listen(0, '127.0.0.1', done));
  const evalExpert = await h.call('POST', '/experts', {
    token: h.tokens.globexAdmin,
    body: {
      name: `${MARKER}-eval`,
      type: 'model',
      costPerCallUsd: 0,
      endpoint: `http://127.0.0.1:${(answering.address() as AddressInfo).port}/answer`,
    },
  });
  expect(evalExpert.status, evalExpert.text).toBe(201);
  const suite = await h.call('PUT', '/eval/suites/globex-suite', {
    token: h.tokens.globexAdmin,
    body: {
      apiVersion: 'conductor.suite/v1',
      id: 'globex-suite',
      version: '1',
      description: MARKER,
      timeoutMs: 100,
      defaults: { scorer: { type: 'exact' } },
      tasks: [{ id: 'marker', input: { project: MARKER }, expected: MARKER }],
    },
  });
  expect(suite.status, suite.text).toBe(200);
  globexIds.suiteId = 'globex-suite';
  const run = await h.call('POST', '/eval/run', {
    token: h.tokens.globexAdmin,
    body: { suiteId: 'globex-suite', expertIds: [evalExpert.json.id], retries: 0 },
  });
  expect(run.status, run.text).toBe(202);
  globexIds.runId = run.json.runId;
  await h.conductor.mappings.get('conductor-eval-runs')?.drain();
  const baseline = await h.call('POST', '/eval/baselines', {
    token: h.tokens.globexAdmin,
    body: { runId: run.json.runId, baselineId: 'globex-main' },
  });
  expect(baseline.status, baseline.text).toBe(201);
  globexIds.baselineId = 'globex-main';
  BODIES.runEval = { suiteId: 'globex-suite', expertIds: [expert.json.id] };
  BODIES.snapshotEvalBaseline = { runId: run.json.runId, baselineId: 'globex-main' };
  // A signed runbook of globex whose description is the marker (signed with the runtime's local key).
  const runbook = parseRunbook(readFileSync(RESTART_RUNBOOK, 'utf8'), 'restart-service.json');
  const globexRunbook = { ...runbook, id: 'globex-runbook', description: MARKER };
  const published = await h.call('POST', '/runbooks/registry', {
    token: h.tokens.globexAdmin,
    body: {
      runbook: globexRunbook,
      signature: await signRunbook(
        globexRunbook,
        await LocalRsaSigner.open(h.conductor.runbookKeyDir),
        new Date(),
      ),
    },
  });
  expect(published.status, published.text).toBe(201);
  globexIds.runbookId = 'globex-runbook';
  globexIds.version = String(runbook.version);
  // An execution of it, waiting at its approval stage: acme aims at its id, request and step.
  const params = { service: 'search', reason: MARKER.slice(0, 400) };
  const execution = await h.call('POST', '/runbooks/execute', {
    token: h.tokens.globexAdmin,
    body: { runbookId: 'globex-runbook', params },
  });
  expect(execution.status, execution.text).toBe(202);
  globexIds.executionId = execution.json.executionId;
  globexIds.requestId = `${execution.json.executionId}.0`;
  globexIds.stepId = 'confirm-healthy';
  BODIES.executeRunbook = { runbookId: 'globex-runbook', params };
  BODIES.openApprovalRequest = { executionId: execution.json.executionId, stage: 'on-call' };
  BODIES.decideApprovalRequest = { decision: 'approve', digest: execution.json.digest };
  // Edge: globex's node (the marker in its meta), document type, document and an open conflict whose
  // values are the marker; acme aims at each by id, and pushes to and pulls from globex's document.
  const edgeType = await h.call('PUT', '/edge/document-types/globex-type', {
    token: h.tokens.globexAdmin,
    body: { fields: { [MARKER]: 'manual' }, defaultRule: 'manual' },
  });
  expect(edgeType.status, edgeType.text).toBe(200);
  const edgeDoc = await h.call('POST', '/edge/documents', {
    token: h.tokens.globexAdmin,
    body: { documentId: 'globex-doc', type: 'globex-type' },
  });
  expect(edgeDoc.status, edgeDoc.text).toBe(201);
  const edgeNode = await h.call('POST', '/edge/nodes', {
    token: h.tokens.globexAdmin,
    body: { nodeId: 'globex-node', meta: { owner: MARKER } },
  });
  expect(edgeNode.status, edgeNode.text).toBe(201);
  const edgeOps = [edgeUpdate(7001, 'status', `${MARKER}-1`), edgeUpdate(7002, 'status', `${MARKER}-2`)].map(
    (update, i) => ({ documentId: 'globex-doc', opId: `globex-${i}`, update }),
  );
  const pushedEdge = await h.call('POST', '/edge/operations', {
    token: h.tokens.globexAdmin,
    body: { nodeId: 'globex-node', ops: edgeOps },
    headers: { [NODE_TOKEN_HEADER]: edgeNode.json.token },
  });
  expect(pushedEdge.status, pushedEdge.text).toBe(200);
  expect(pushedEdge.json.conflicts).toHaveLength(1);
  globexIds.nodeId = 'globex-node';
  globexIds.documentId = 'globex-doc';
  globexIds.type = 'globex-type';
  globexIds.conflictId = pushedEdge.json.conflicts[0].conflictId;
  BODIES.pushEdgeOperations = { nodeId: 'globex-node', ops: edgeOps };
  BODIES.syncEdgeNode = { nodeId: 'globex-node', documentId: 'globex-doc' };
  // The dead letters are the platform's, not a tenant's: these name a real queue and no message.
  globexIds.queueId = 'rewards';
  globexIds.messageId = '00000000-0000-0000-0000-000000000000';
  // Compliance is the platform's too: no tenant has assessments or findings of its own to aim at.
  globexIds.assessmentId = missingIds.assessmentId as string;
  globexIds.findingId = missingIds.findingId as string;
  globexIds.dsrId = missingIds.dsrId as string;
});
afterAll(async () => {
  await h.conductor.stop();
  await new Promise<void>((done) => (evalExpertServer ? evalExpertServer.close(() => done()) : done()));
});

const fill = (spec: RouteSpec, ids: Record<string, string>): string =>
  spec.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = ids[name];
    if (value === undefined)
      throw new Error(`cross-tenant suite: add a fixture id for {${name}} (route ${spec.operationId})`);
    return value;
  });

const bodyOf = (spec: RouteSpec, ids: Record<string, string>): unknown => {
  if (!spec.body) return undefined;
  // A body aimed at globex where the route takes one; else the contract's own valid example.
  const fixture = spec.operationId in BODIES ? BODIES[spec.operationId] : spec.exampleBody;
  const body = typeof fixture === 'function' ? fixture(ids) : fixture;
  if (body === undefined)
    throw new Error(
      `cross-tenant suite: give ${spec.operationId} an exampleBody in its contract, or a body here`,
    );
  return body;
};

const send = (
  spec: RouteSpec,
  ids: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Reply> => {
  const body = bodyOf(spec, ids);
  return h.call(spec.method, fill(spec, ids), {
    token: attacker,
    headers,
    ...(body === undefined ? {} : { body }),
  });
};

/** The values of the route's path parameters among `ids`. */
const pathIdsOf = (spec: RouteSpec, ids: Record<string, string>): string[] =>
  [...spec.path.matchAll(/\{(\w+)\}/g)].flatMap(([, name]) => {
    const value = name === undefined ? undefined : ids[name];
    return value === undefined ? [] : [value];
  });

const jwtRoutes = ALL_ROUTES.filter((spec) => spec.auth === 'jwt');

describe('cross-tenant isolation, for every route of the catalog', () => {
  it('covers every token-bearing route', () => {
    expect(jwtRoutes.length).toBeGreaterThanOrEqual(5);
  });

  for (const spec of jwtRoutes) {
    describe(`${spec.method} ${spec.path} (${spec.action})`, () => {
      it('refuses acting in another tenant by naming it, unless the route exists to ask for access', async () => {
        const reply = await send(spec, globexIds, { 'x-conductor-tenant': 'globex' });

        expect(reply.text).not.toContain(MARKER);
        if (CROSS_TENANT_BY_DESIGN.has(spec.action)) {
          expect(reply.status).toBeLessThan(300);
          return;
        }
        const ownOnly = CROSS_TENANT_OWN_ONLY.get(spec.action);
        if (ownOnly) {
          expectUniformError(reply, 404, ownOnly);
          return;
        }
        expectUniformError(reply, 403, 'policy_denied');
        expect(reply.json.details.obligations).toContain('request_approval');
      });

      it('never answers with another tenant’s data when given its ids, and looks like a missing resource', async () => {
        const reply = await send(spec, globexIds);

        expect(reply.text).not.toContain(MARKER);
        expect(reply.status).not.toBe(500);
        if (spec.path.includes('{')) {
          const missingOnes = { ...globexIds, ...missingIds };
          const missing = await send(spec, missingOnes);
          expect(reply.status).toBe(missing.status);
          expect(reply.json?.code).toBe(missing.json?.code);
          // The ids the message names (those of the path, and expert or grant ids) are not the point.
          const strip = (text: string, ids: string[]) =>
            ids
              .reduce((stripped, id) => stripped.split(id).join('<id>'), text)
              .replace(/exp_[\w-]+|grant_[\w-]+|grt_[\w-]+/g, '<id>');
          expect(strip(reply.json?.message ?? '', pathIdsOf(spec, globexIds))).toBe(
            strip(missing.json?.message ?? '', pathIdsOf(spec, missingOnes)),
          );
        }
      });
    });
  }

  it('leaves globex’s data unchanged after every attack', async () => {
    const reply = await h.call('GET', `/experts/${globexIds.expertId}`, { token: h.tokens.globexAdmin });
    expect(reply.status).toBe(200);
    expect(reply.json.name).toBe(MARKER);
    expect(reply.json.version).toBe(1);
    const grant = await h.call('GET', `/policy/grants/${globexIds.grantId}`, { token: h.tokens.globexAdmin });
    expect(grant.status).toBe(200);
    expect(grant.json.status).toBe('pending');
    const rationale = await h.call('GET', `/router/rationale/${globexIds.rationaleId}`, {
      token: h.tokens.globexAdmin,
    });
    expect(rationale.status).toBe(200);
    expect(rationale.json.taskId).toBe('globex-task');
    const config = await h.call('GET', '/router/config', { token: h.tokens.globexAdmin });
    expect(config.json).toMatchObject({ version: 0, killSwitch: false });
    const suites = await h.call('GET', '/eval/suites', { token: h.tokens.globexAdmin });
    expect(suites.json.items).toEqual([
      expect.objectContaining({ suiteId: 'globex-suite', version: '1', description: MARKER }),
    ]);
    const run = await h.call('GET', `/eval/results/${globexIds.runId}`, { token: h.tokens.globexAdmin });
    expect(run.json).toMatchObject({ suiteId: 'globex-suite', status: 'completed' });
    const baselines = await h.call('GET', '/eval/baselines', { token: h.tokens.globexAdmin });
    expect(baselines.json.items).toEqual([
      expect.objectContaining({ baselineId: 'globex-main', sourceRunId: globexIds.runId, promoted: false }),
    ]);
  });

  it('grants nothing by asking: a pending request of acme opens no globex data', async () => {
    const reply = await h.call('GET', '/experts', {
      token: attacker,
      headers: { 'x-conductor-tenant': 'globex' },
    });
    expectUniformError(reply, 403, 'policy_denied');
  });
});
