import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { TenantRecordStore } from '#shared/adapters/tenant-store.js';
import { tablesOf } from '#shared/pillar.js';
import type { TenantRecord } from '#shared/ports/records.js';
import { PILLARS } from '../../functions/catalog.js';
import { ensureTables, startLocalDynamo } from '../../infra/local/dynamodb.js';
import { installProbe } from '../lib/probe.js';

const TABLES = tablesOf(PILLARS);

/**
 * Child process of `bench/api.ts`: the second baseline. A bare `node:http` server that does the data
 * work of `GET /experts` and nothing else: the same DynamoDB query (dynalite in this process, the same
 * SDK document client and TenantRecordStore), the same JSON, the same headers — no JWT, no policy
 * decision, no decision log, no rate-limit counter, no framework. Kernel / this = what Conductor's
 * request pipeline costs on top of the query itself.
 */
const EXPERTS = Number(process.env.BENCH_EXPERTS ?? 20);
const file = process.env.BENCH_RESPONSE_HEADERS;
const captured = file ? (JSON.parse(file) as Record<string, string>) : {};
const NODE_ADDS = new Set(['date', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']);

const dynamo = await startLocalDynamo({});
await ensureTables(dynamo.endpoint, TABLES);
const doc = makeDocumentClient({ region: 'us-east-1', endpoint: dynamo.endpoint });
const store = new TenantRecordStore<TenantRecord & Record<string, unknown>>(
  doc,
  'conductor-router',
  'EXPERT',
);
for (let i = 0; i < EXPERTS; i += 1) {
  const now = new Date().toISOString();
  await store.create({
    tenantId: 'acme',
    id: `exp_${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`,
    version: 1,
    createdAt: now,
    updatedAt: now,
    name: `bench-expert-${String(i).padStart(2, '0')}`,
    type: (['model', 'agent', 'tool'] as const)[i % 3],
    costPerCallUsd: 0.001 * (i + 1),
    endpoint: '[masked]',
    metadata: { tier: (i % 3) + 1, region: 'eu-west-1' },
    enabled: true,
  });
}

const headers: Record<string, string> = {};
for (const [key, value] of Object.entries(captured)) if (!NODE_ADDS.has(key)) headers[key] = value;

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    store
      .list('acme', { limit: 25 })
      .then((page) => {
        const body = Buffer.from(JSON.stringify(page));
        res.writeHead(200, { ...headers, 'content-length': String(body.length) });
        res.end(body);
      })
      .catch(() => {
        res.writeHead(500);
        res.end();
      });
  });
});
server.keepAliveTimeout = 5_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: { url: `http://127.0.0.1:${port}` } })}\n`);
});

const stop = () => {
  server.closeAllConnections();
  server.close(() => void dynamo.close().then(() => process.exit(0)));
};
process.on('SIGTERM', stop);
installProbe(stop);
