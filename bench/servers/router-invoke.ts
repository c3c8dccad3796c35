import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { serveUntilStopped } from '../lib/probe.js';

/**
 * Child processes of `bench/router-invoke.ts`, one script in two roles (`BENCH_ROLE`):
 *
 * - `expert`: the fake expert, a bare `node:http` server on 127.0.0.1, port 0. Any POST is read
 *   whole, then answered 200 after `serviceMs` of its JSON body (setTimeout; 0 answers at once,
 *   clamped to 0..2000) with `{ answer: "pong", serviceMs, costUsd: 0.0004 }`: the body the bench
 *   expects back, directly or as invoke's `output`. Keep-alive sockets stay open 65 s, so that
 *   invoke's pooled connections never race an idle-socket close between chunks. Prints
 *   `{ ready: { url } }`.
 * - `conductor` (the default): the embedded runtime (memory, port 0, the stage throttle and the
 *   per-tenant limits out of the way, expert endpoints on private addresses allowed, as
 *   `npm start -- --allow-private-endpoints`), tenant `acme` with 4 experts registered through the
 *   API at `<BENCH_EXPERT_URL>/e<i>` (all the same fake expert), strategy LinUCB, and an operator
 *   token. Prints `{ ready: { url, token, expertIds } }`, then answers on stdin:
 *   - `drain`: `{ "drain": { waitedMs, deleted, failedInvocations, partialFailures } }` once the
 *     rewards queue's event source mapping has nothing visible, in flight or running (up to 30 s):
 *     waitedMs is how long that took, the counts are the mapping's since start (records learnt and
 *     deleted, failed batches), or `{ error }`.
 *
 * Both report their CPU, event-loop delay and GC on `stats` (lib/probe.ts) and serve until stdin
 * closes or SIGTERM.
 */
const role = process.env.BENCH_ROLE ?? 'conductor';

/** What the fake expert answers for a service time (bench/router-invoke.ts checks every answer against it). */
const expertAnswer = (serviceMs: number) => ({ answer: 'pong', serviceMs, costUsd: 0.0004 });

const serveExpert = async () => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST') {
        res.writeHead(405, { 'content-type': 'application/json' });
        res.end('{"error":"POST only"}');
        return;
      }
      let serviceMs = 0;
      try {
        const input = JSON.parse(Buffer.concat(chunks).toString() || 'null') as { serviceMs?: unknown };
        const asked = Number(input?.serviceMs);
        serviceMs = Number.isFinite(asked) ? Math.max(0, Math.min(2000, asked)) : 0;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end('{"error":"not JSON"}');
        return;
      }
      const body = JSON.stringify(expertAnswer(serviceMs));
      const send = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (serviceMs > 0) setTimeout(send, serviceMs);
      else send();
    });
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`${JSON.stringify({ ready: { url: `http://127.0.0.1:${port}` } })}\n`);
  serveUntilStopped({
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
};

const TENANT = 'acme';
const EXPERTS = 4;

const serveConductor = async () => {
  const expertUrl = process.env.BENCH_EXPERT_URL;
  if (!expertUrl) throw new Error('BENCH_EXPERT_URL (the fake expert) is not set.');
  // Imported here: the expert role never loads the runtime.
  const { startBenchConductorWithLocalExperts } = await import('../lib/conductor.js');
  const { conductor, admin, operator: token } = await startBenchConductorWithLocalExperts(TENANT);
  const headers = { authorization: `Bearer ${admin}`, 'content-type': 'application/json' };
  const expertIds: string[] = [];
  for (let i = 0; i < EXPERTS; i += 1) {
    const reply = await fetch(`${conductor.apiUrl}/experts`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        name: `invoke-e${i}`,
        type: 'model',
        costPerCallUsd: 0.001,
        endpoint: `${expertUrl}/e${i}`,
      }),
    });
    const text = await reply.text();
    if (reply.status !== 201) throw new Error(`registering expert ${i}: ${reply.status} ${text}`);
    expertIds.push((JSON.parse(text) as { id: string }).id);
  }
  const config = await fetch(`${conductor.apiUrl}/router/config`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({ strategy: 'linucb' }),
  });
  if (config.status !== 200) throw new Error(`router config: ${config.status} ${await config.text()}`);

  const rewards = conductor.mappings.get('conductor-rewards');
  if (!rewards) throw new Error('No event source mapping for conductor-rewards.');
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const word = line.trim();
    if (word === 'pause') {
      void rewards
        .stop()
        .then(() => process.stdout.write(`${JSON.stringify({ pause: { paused: true } })}\n`));
      return;
    }
    if (word === 'resume') {
      rewards.start();
      process.stdout.write(`${JSON.stringify({ resume: { paused: false } })}\n`);
      return;
    }
    if (word !== 'drain') return;
    rewards.start();
    const started = performance.now();
    void rewards.drain(30_000).then(
      () => {
        const stats = rewards.stats();
        process.stdout.write(
          `${JSON.stringify({
            drain: {
              waitedMs: performance.now() - started,
              deleted: stats.deleted,
              failedInvocations: stats.failedInvocations,
              partialFailures: stats.partialFailures,
            },
          })}\n`,
        );
      },
      (error: unknown) => process.stdout.write(`${JSON.stringify({ drain: { error: String(error) } })}\n`),
    );
  });

  process.stdout.write(`${JSON.stringify({ ready: { url: conductor.apiUrl, token, expertIds } })}\n`);
  serveUntilStopped(conductor);
};

if (role === 'expert') await serveExpert();
else await serveConductor();
