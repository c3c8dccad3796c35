import { BENCH_TENANT_LIMIT, BENCH_THROTTLE, startBenchConductor } from '../lib/conductor.js';
import { serveUntilStopped } from '../lib/probe.js';

/**
 * Child process of `bench/api.ts`: starts the embedded runtime (memory, port 0, stage throttle
 * raised out of the way), seeds experts for tenant `acme`, captures one real `GET /experts` reply,
 * prints one JSON line `{ ready: … }` on stdout and serves until the parent closes stdin or sends
 * SIGTERM. Nothing else is written to stdout.
 */
const EXPERTS = Number(process.env.BENCH_EXPERTS ?? 20);

const conductor = await startBenchConductor();
const admin = await conductor.issuer.mint({
  subject: 'bench-acme-admin',
  tenant: 'acme',
  roles: ['tenant-admin'],
  amr: ['pwd', 'mfa'],
});
const viewer = await conductor.issuer.mint({
  subject: 'bench-acme-viewer',
  tenant: 'acme',
  roles: ['viewer'],
});

for (let i = 0; i < EXPERTS; i += 1) {
  const reply = await fetch(`${conductor.apiUrl}/experts`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      name: `bench-expert-${String(i).padStart(2, '0')}`,
      type: (['model', 'agent', 'tool'] as const)[i % 3],
      costPerCallUsd: 0.001 * (i + 1),
      endpoint: `https://expert-${i}.experts.example.com/v1/invoke`,
      metadata: { tier: (i % 3) + 1, region: 'eu-west-1' },
    }),
  });
  if (reply.status !== 201) throw new Error(`seeding expert ${i}: ${reply.status} ${await reply.text()}`);
}

const path = '/api/conductor/v1/experts';
const sample = await fetch(`${conductor.url}${path}`, { headers: { authorization: `Bearer ${viewer}` } });
const body = await sample.text();
if (sample.status !== 200) throw new Error(`GET /experts answered ${sample.status}: ${body}`);
const items = (JSON.parse(body) as { items: unknown[] }).items.length;
if (items !== EXPERTS) throw new Error(`GET /experts listed ${items} experts, expected ${EXPERTS}`);

const headers: Record<string, string> = {};
sample.headers.forEach((value, key) => {
  headers[key] = value;
});

process.stdout.write(
  `${JSON.stringify({ ready: { url: conductor.url, path, token: viewer, status: sample.status, headers, body, items, throttle: BENCH_THROTTLE, tenantRateLimitPerMinute: BENCH_TENANT_LIMIT } })}\n`,
);

serveUntilStopped(conductor);
