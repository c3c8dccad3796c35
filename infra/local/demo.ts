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
 * Seeds demo experts through the public API (so seeding exercises the same path users take).
 * A tenant that already has experts is left alone: a second start does not duplicate anything.
 */
export const seedDemoData = async (apiUrl: string, tokens: readonly DemoToken[]): Promise<string[]> => {
  const seeded: string[] = [];
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
