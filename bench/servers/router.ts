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
 * and an operator token. Prints `{ ready: { url, token, expertIds } }`, then answers on stdin:
 * - `model`: `{ "model": { version, stateVersion, observations } }` — the acme model state in the
 *   router table (version = writes, stateVersion = updates learnt, as rationales report it,
 *   observations = the sum of every arm's n, i.e. the rewards learned so far);
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
const model = async () => {
  const out = await doc.send(
    new QueryCommand({
      TableName: process.env.ROUTER_TABLE_NAME,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': `T#${TENANT}#MODEL` },
      ConsistentRead: true,
    }),
  );
  const heads = (out.Items ?? []) as ModelItem[];
  const store = dynamoModelStore(doc, process.env.ROUTER_TABLE_NAME as string);
  const items = await Promise.all(
    heads.map(async (head) =>
      head.armRefs && head.id
        ? (((await store.get(TENANT, head.id)) as ModelItem | undefined) ?? head)
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
  const word = line.trim();
  if (word === 'model') {
    void model().then(
      (value) => process.stdout.write(`${JSON.stringify({ model: value })}\n`),
      (error: unknown) => process.stdout.write(`${JSON.stringify({ model: { error: String(error) } })}\n`),
    );
  } else if (word === 'events') {
    const seen = ingestion;
    ingestion = [];
    process.stdout.write(
      `${JSON.stringify({ events: { count: seen.length, ingestionLatencyMs: summarize(seen) } })}\n`,
    );
  }
});

process.stdout.write(`${JSON.stringify({ ready: { url: conductor.apiUrl, token, expertIds } })}\n`);

serveUntilStopped(conductor);
