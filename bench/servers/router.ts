import { createInterface } from 'node:readline';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { dynamoModelStore } from '../../functions/router/src/adapters/dynamo-model-store.js';
import { seedBenchExperts, startBenchConductor } from '../lib/conductor.js';
import { serveUntilStopped } from '../lib/probe.js';
import { summarize } from '../lib/stats.js';

/**
 * Child process of `bench/router-http.ts`: the embedded runtime (memory, port 0) with the stage
 * throttle and per-tenant limits out of the way, 4 experts seeded for tenant `acme` through the API
 * and an operator token; and two more tenants, `beta` and `gamma`, with 10 experts each and LinUCB
 * at d = 64 (the two-tenant phase). Prints `{ ready: { url, token, expertIds, pair } }`, then
 * answers on stdin:
 * - `model [tenant]`: `{ "model": { version, stateVersion, observations } }` — the tenant's (default
 *   acme) model state in the router table (version = writes, stateVersion = updates learnt, as
 *   rationales report it, observations = the sum of every arm's n, i.e. the rewards learned so far);
 * - `events`: `{ "events": { count, ingestionLatencyMs } }` — `reward_ingested` events seen on the
 *   bus since the previous `events` (their `ingestionLatencyMs`: reward receivedAt to model write).
 * Serves until stdin closes or SIGTERM.
 */
const TENANT = 'acme';
const EXPERTS = 4;

const conductor = await startBenchConductor();

let ingestion: number[] = [];
conductor.bus.addRule({
  name: 'bench-reward-ingested',
  eventPattern: { 'detail-type': ['reward_ingested'] },
  target: async (event) => {
    const ms = (event.detail as { ingestionLatencyMs?: number }).ingestionLatencyMs;
    if (typeof ms === 'number' && ingestion.length < 1_000_000) ingestion.push(ms);
  },
});

const admin = await conductor.issuer.mint({
  subject: `${TENANT}-admin`,
  tenant: TENANT,
  roles: ['tenant-admin'],
  amr: ['pwd', 'mfa'],
});
const token = await conductor.issuer.mint({
  subject: `${TENANT}-operator`,
  tenant: TENANT,
  roles: ['operator'],
});
const expertIds = await seedBenchExperts(conductor.apiUrl, admin, EXPERTS, 'bench');

/** A tenant of the two-tenant phase: 10 experts, LinUCB at d = 64, an operator token. */
const PAIR_EXPERTS = 10;
const PAIR_DIMENSION = 64;
const seedPairTenant = async (tenant: string) => {
  const tenantAdmin = await conductor.issuer.mint({
    subject: `${tenant}-admin`,
    tenant,
    roles: ['tenant-admin'],
    amr: ['pwd', 'mfa'],
  });
  const ids = await seedBenchExperts(conductor.apiUrl, tenantAdmin, PAIR_EXPERTS, tenant);
  const config = await fetch(`${conductor.apiUrl}/router/config`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${tenantAdmin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ strategy: 'linucb', dimension: PAIR_DIMENSION }),
  });
  if (config.status !== 200) throw new Error(`config of ${tenant}: ${config.status} ${await config.text()}`);
  const operator = await conductor.issuer.mint({
    subject: `${tenant}-operator`,
    tenant,
    roles: ['operator'],
  });
  return { tenant, token: operator, expertIds: ids, dimension: PAIR_DIMENSION };
};
const pair = [await seedPairTenant('beta'), await seedPairTenant('gamma')];

const doc = makeDocumentClient({
  region: process.env.AWS_REGION ?? 'us-east-1',
  endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
});
interface ModelItem {
  id?: string;
  version?: number;
  state?: { version?: number; arms?: Record<string, { n?: number }> };
  /** Present when the state is split into one item per expert (functions/router/src/domain/model-store.ts). */
  armRefs?: Record<string, number>;
}
const model = async (tenant: string) => {
  const out = await doc.send(
    new QueryCommand({
      TableName: process.env.ROUTER_TABLE_NAME,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `T#${tenant}#MODEL` },
      ConsistentRead: true,
    }),
  );
  const heads = (out.Items ?? []) as ModelItem[];
  const store = dynamoModelStore(doc, process.env.ROUTER_TABLE_NAME as string);
  const items = await Promise.all(
    heads.map(async (head) =>
      head.armRefs && head.id
        ? (((await store.get(tenant, head.id)) as ModelItem | undefined) ?? head)
        : head,
    ),
  );
  let version = 0;
  let stateVersion = 0;
  let observations = 0;
  for (const item of items) {
    version = Math.max(version, item.version ?? 0);
    stateVersion = Math.max(stateVersion, item.state?.version ?? 0);
    for (const arm of Object.values(item.state?.arms ?? {})) observations += arm.n ?? 0;
  }
  // version: the item's write count; stateVersion: what a rationale's modelVersion reports.
  return { version, stateVersion, observations, items: items.length };
};

const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const [word, argument] = line.trim().split(/\s+/);
  if (word === 'model') {
    // The answer is keyed by the whole command line, so that two tenants' queries can be in flight at once.
    const key = argument ? `model ${argument}` : 'model';
    void model(argument ?? TENANT).then(
      (value) => process.stdout.write(`${JSON.stringify({ [key]: value })}\n`),
      (error: unknown) => process.stdout.write(`${JSON.stringify({ [key]: { error: String(error) } })}\n`),
    );
  } else if (word === 'events') {
    const seen = ingestion;
    ingestion = [];
    process.stdout.write(
      `${JSON.stringify({ events: { count: seen.length, ingestionLatencyMs: summarize(seen) } })}\n`,
    );
  }
});

process.stdout.write(`${JSON.stringify({ ready: { url: conductor.apiUrl, token, expertIds, pair } })}\n`);

serveUntilStopped(conductor);
