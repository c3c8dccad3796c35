import { readFileSync } from 'node:fs';
import { EdgeClient } from '../../clients/edge/client.js';
import { WORK_ORDER_TYPE } from '../../clients/edge/drill.js';
import { MemoryStorage } from '../../clients/edge/storage.js';
import type { DemoToken } from './oidc.js';

/** Demo experts per tenant. Their endpoints are public example hosts; nothing calls them yet. */
const DEMO_EXPERTS: Record<
  string,
  {
    name: string;
    type: 'model' | 'agent' | 'tool';
    costPerCallUsd: number;
    endpoint: string;
    metadata: Record<string, string | number | boolean>;
  }[]
> = {
  acme: [
    {
      name: 'graph_ops',
      type: 'agent',
      costPerCallUsd: 0.004,
      endpoint: 'https://graph-ops.experts.example.com/v1/invoke',
      metadata: { domain: 'graphs' },
    },
    {
      name: 'rag_retrieval',
      type: 'tool',
      costPerCallUsd: 0.001,
      endpoint: 'https://rag.experts.example.com/v1/query',
      metadata: { domain: 'search' },
    },
    {
      name: 'general_llm',
      type: 'model',
      costPerCallUsd: 0.012,
      endpoint: 'https://llm.experts.example.com/v1/chat',
      metadata: { contextWindow: 128000 },
    },
  ],
  globex: [
    {
      name: 'fraud_scorer',
      type: 'model',
      costPerCallUsd: 0.002,
      endpoint: 'https://fraud.globex.example.com/score',
      metadata: { domain: 'risk' },
    },
    {
      name: 'ticket_triage',
      type: 'agent',
      costPerCallUsd: 0.006,
      endpoint: 'https://triage.globex.example.com/run',
      metadata: { domain: 'support' },
    },
  ],
};

/**
 * Demo router configurations: globex tries Thompson sampling in shadow next to its LinUCB baseline
 * (every route is also decided by the candidate, logged, never served; GET /router/experiment).
 */
const DEMO_EXPERIMENTS: Record<string, unknown> = {
  globex: {
    strategy: 'linucb',
    experiment: {
      name: 'triage-thompson',
      candidate: { strategy: 'thompson' },
      mode: 'shadow',
      percent: 100,
    },
  },
};

/**
 * Demo budgets (through PUT /budgets/limits): acme a monthly $1,000 with 10 % grace that throttles,
 * in Berlin's calendar; globex a daily $50 in New York's that downgrades. Plus two finished jobs of
 * acme, so its state shows spend.
 */
const DEMO_BUDGETS: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  acme: {
    window: 'monthly',
    limit: 1000,
    timeZone: 'Europe/Berlin',
    policy: { gracePercent: 10, mode: 'throttle', alertThresholds: [50, 80, 100] },
  },
  globex: {
    window: 'daily',
    limit: 50,
    timeZone: 'America/New_York',
    policy: { gracePercent: 5, mode: 'downgrade', carryOverCapPercent: 20 },
  },
};
const DEMO_JOBS: Readonly<Record<string, readonly Readonly<Record<string, unknown>>[]>> = {
  acme: [
    {
      queue: 'interactive',
      payload: { task: 'triage ticket 4711' },
      estimatedCostUsd: 0.4,
      idempotencyKey: 'demo-seed-1',
    },
    {
      queue: 'batch',
      payload: { report: 'nightly-digest' },
      estimatedCostUsd: 1.2,
      idempotencyKey: 'demo-seed-2',
    },
  ],
};

/** A tenant's demo budget and jobs, unless it has a budget already (a second start adds nothing). */
const seedBudgets = async (
  apiUrl: string,
  tenant: string,
  tokens: readonly DemoToken[],
): Promise<string[]> => {
  const budget = DEMO_BUDGETS[tenant];
  const admin = tokens.find((t) => t.tenant === tenant && t.roles.includes('tenant-admin'));
  const operator = tokens.find((t) => t.tenant === tenant && t.roles.includes('operator'));
  if (!budget || !admin) return [];
  const headersOf = (token: string) => ({
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  });
  const state = await fetch(`${apiUrl}/budgets/state`, { headers: headersOf(admin.token) });
  if (!state.ok) throw new Error(`Seeding ${tenant}: reading budgets answered ${state.status}`);
  if (((await state.json()) as { budgets: unknown[] }).budgets.length > 0) return [];
  const put = await fetch(`${apiUrl}/budgets/limits`, {
    method: 'PUT',
    headers: headersOf(admin.token),
    body: JSON.stringify(budget),
  });
  if (put.status !== 200) throw new Error(`Seeding ${tenant}'s budget: ${put.status} ${await put.text()}`);
  const jobs = operator ? (DEMO_JOBS[tenant] ?? []) : [];
  for (const job of jobs) {
    const queued = await fetch(`${apiUrl}/scheduler/enqueue`, {
      method: 'POST',
      headers: headersOf(operator?.token ?? ''),
      body: JSON.stringify(job),
    });
    if (queued.status !== 202)
      throw new Error(`Seeding ${tenant}'s jobs: ${queued.status} ${await queued.text()}`);
  }
  return [
    `a ${String(budget.window)} budget${jobs.length > 0 ? ` and ${jobs.length} jobs` : ''} for ${tenant}`,
  ];
};

/** acme's demo runbook (runbooks/restart-service.json), signed with the runtime's local key, then published. */
const DEMO_RUNBOOK = new URL('../../runbooks/restart-service.json', import.meta.url);

const seedRunbooks = async (
  apiUrl: string,
  tokens: readonly DemoToken[],
  keyDir: string,
): Promise<string[]> => {
  const admin = tokens.find((t) => t.tenant === 'acme' && t.roles.includes('tenant-admin'));
  if (!admin) return [];
  const headers = { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' };
  const listed = await fetch(`${apiUrl}/runbooks/registry?limit=1`, { headers });
  if (!listed.ok) throw new Error(`Seeding acme's runbooks: listing answered ${listed.status}`);
  if (((await listed.json()) as { items: unknown[] }).items.length > 0) return [];
  const { LocalRsaSigner, parseRunbook, signRunbook } = await import('../../functions/runbooks/offline.js');
  const runbook = parseRunbook(readFileSync(DEMO_RUNBOOK, 'utf8'), 'runbooks/restart-service.json');
  const signature = await signRunbook(runbook, await LocalRsaSigner.open(keyDir), new Date());
  const published = await fetch(`${apiUrl}/runbooks/registry`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ runbook, signature }),
  });
  if (published.status !== 201)
    throw new Error(`Seeding acme's runbook: ${published.status} ${await published.text()}`);
  return ['a signed runbook for acme'];
};

/** acme's demo golden suite (examples/eval/suites/sums.json): the eval pillar's walk-through runs it. */
const DEMO_SUITE = new URL('../../examples/eval/suites/sums.json', import.meta.url);

/** Registers the demo suite for acme, once (registering the same document again changes nothing anyway). */
const seedSuites = async (apiUrl: string, tokens: readonly DemoToken[]): Promise<string[]> => {
  const admin = tokens.find((t) => t.tenant === 'acme' && t.roles.includes('tenant-admin'));
  if (!admin) return [];
  const headers = { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' };
  const listed = await fetch(`${apiUrl}/eval/suites?limit=1`, { headers });
  if (!listed.ok) throw new Error(`Seeding acme's suites: listing answered ${listed.status}`);
  if (((await listed.json()) as { items: unknown[] }).items.length > 0) return [];
  const put = await fetch(`${apiUrl}/eval/suites/sums`, {
    method: 'PUT',
    headers,
    body: readFileSync(DEMO_SUITE, 'utf8'),
  });
  if (put.status !== 200) throw new Error(`Seeding acme's suite: ${put.status} ${await put.text()}`);
  return ['a golden suite for acme'];
};

/**
 * The platform's first assessments (SOC2, GDPR), as the hourly sweep would collect them: freshness,
 * findings and the risk register have something to show. The org-admin runs them; once there is an
 * assessment, nothing is run again at start.
 */
const seedCompliance = async (apiUrl: string, tokens: readonly DemoToken[]): Promise<string[]> => {
  const orgAdmin = tokens.find((t) => t.roles.includes('org-admin'));
  if (!orgAdmin) return [];
  const headers = { authorization: `Bearer ${orgAdmin.token}`, 'content-type': 'application/json' };
  const listed = await fetch(`${apiUrl}/compliance/assessments?limit=1`, { headers });
  if (!listed.ok) throw new Error(`Seeding compliance: listing assessments answered ${listed.status}`);
  if (((await listed.json()) as { items: unknown[] }).items.length > 0) return [];
  for (const framework of ['SOC2', 'GDPR']) {
    const run = await fetch(`${apiUrl}/compliance/assessments`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ framework, scope: 'all' }),
    });
    if (run.status !== 201)
      throw new Error(
        `Seeding compliance: the ${framework} assessment answered ${run.status} ${await run.text()}`,
      );
  }
  return ['the first SOC2 and GDPR assessments'];
};

/**
 * acme's edge demo: the work-order type, the document wo-1042, and two field tablets that edited it
 * offline (through the edge client, as a node would): the rules settle most of their conflicts, the
 * two sign-offs wait in the conflict center. The tablets' credentials are not kept anywhere.
 */
const seedEdge = async (apiUrl: string, tokens: readonly DemoToken[]): Promise<string[]> => {
  const admin = tokens.find((t) => t.tenant === 'acme' && t.roles.includes('tenant-admin'));
  if (!admin) return [];
  const headers = { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' };
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    if (!response.ok)
      throw new Error(
        `Seeding acme's edge demo: ${method} ${path}: ${response.status} ${await response.text()}`,
      );
    return (await response.json()) as Record<string, unknown>;
  };
  const listed = await call('GET', '/edge/documents?limit=1');
  if ((listed.items as unknown[]).length > 0) return [];
  await call('PUT', '/edge/document-types/work-order', WORK_ORDER_TYPE);
  await call('POST', '/edge/documents', { documentId: 'wo-1042', type: 'work-order' });
  const tablet = async (nodeId: string) => {
    const node = await call('POST', '/edge/nodes', { nodeId, meta: { site: 'depot-north', kind: 'tablet' } });
    return EdgeClient.open({
      apiUrl,
      nodeId,
      nodeToken: node.token as string,
      bearerToken: () => admin.token,
      storage: new MemoryStorage(),
      documents: ['wo-1042'],
    });
  };
  const north = await tablet('demo-tablet-north');
  const south = await tablet('demo-tablet-south');
  await north.set('wo-1042', 'status', 'open');
  await north.set('wo-1042', 'assignee', 'kim');
  await north.increment('wo-1042', 'hoursLogged', 1);
  await north.set('wo-1042', 'signOff', 'pending');
  await north.sync();
  await south.sync();
  // Both offline: each edits the same fields.
  await north.set('wo-1042', 'status', 'in-progress');
  await north.increment('wo-1042', 'hoursLogged', 2);
  await north.addToSet('wo-1042', 'partsUsed', 'filter F-220');
  await north.set('wo-1042', 'signOff', 'kim');
  await south.set('wo-1042', 'status', 'waiting-for-parts');
  await south.increment('wo-1042', 'hoursLogged', 3);
  await south.addToSet('wo-1042', 'partsUsed', 'gasket G-7');
  await south.set('wo-1042', 'signOff', 'lee');
  await north.sync();
  await south.sync();
  await north.sync();
  return ['an edge work order edited offline by two tablets, for acme'];
};

/**
 * Seeds demo budgets, jobs and experts through the public API (so seeding exercises the same path
 * users take). A tenant that already has them is left alone: a second start duplicates nothing.
 */
export const seedDemoData = async (
  apiUrl: string,
  tokens: readonly DemoToken[],
  options: { readonly runbookKeyDir?: string } = {},
): Promise<string[]> => {
  const seeded: string[] = [];
  if (options.runbookKeyDir) seeded.push(...(await seedRunbooks(apiUrl, tokens, options.runbookKeyDir)));
  for (const tenant of Object.keys(DEMO_BUDGETS)) seeded.push(...(await seedBudgets(apiUrl, tenant, tokens)));
  seeded.push(...(await seedSuites(apiUrl, tokens)));
  seeded.push(...(await seedEdge(apiUrl, tokens)));
  seeded.push(...(await seedCompliance(apiUrl, tokens)));
  for (const [tenant, experts] of Object.entries(DEMO_EXPERTS)) {
    const admin = tokens.find((t) => t.tenant === tenant && t.roles.includes('tenant-admin'));
    if (!admin) continue;
    const headers = { authorization: `Bearer ${admin.token}`, 'content-type': 'application/json' };
    const existing = await fetch(`${apiUrl}/experts?limit=1`, { headers });
    if (!existing.ok) throw new Error(`Seeding ${tenant}: listing experts answered ${existing.status}`);
    const page = (await existing.json()) as { items: unknown[] };
    if (page.items.length > 0) continue;
    for (const expert of experts) {
      const created = await fetch(`${apiUrl}/experts`, {
        method: 'POST',
        headers,
        body: JSON.stringify(expert),
      });
      if (created.status !== 201)
        throw new Error(`Seeding ${tenant}/${expert.name}: ${created.status} ${await created.text()}`);
    }
    seeded.push(`${experts.length} experts for ${tenant}`);
    const experiment = DEMO_EXPERIMENTS[tenant];
    if (experiment) {
      // Through the API as well: a configuration change, audited, with the admin's step-up.
      const put = await fetch(`${apiUrl}/router/config`, {
        method: 'PUT',
        headers,
        body: JSON.stringify(experiment),
      });
      if (put.status !== 200)
        throw new Error(`Seeding ${tenant}'s experiment: ${put.status} ${await put.text()}`);
      seeded.push(`a shadow experiment for ${tenant}`);
    }
  }
  return seeded;
};
