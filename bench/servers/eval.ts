import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { serveUntilStopped } from '../lib/probe.js';

/**
 * Child processes of `bench/eval.ts`, one script in two roles (`BENCH_ROLE`):
 *
 * - `expert`: the fake expert, a bare `node:http` server on 127.0.0.1, port 0. A POST of
 *   `{ a, b, serviceMs }` is read whole, then answered 200 after `serviceMs` (setTimeout, clamped to
 *   0..5000) with `{ "output": a + b }`: the right answer of a bench task. The bench draws each task's
 *   service time (a seeded lognormal), so every mode that runs a task waits the same for it. Anything
 *   else is a 400. Keep-alive sockets stay open 65 s, so that pooled connections never race an
 *   idle-socket close between phases. Prints `{ ready: { url } }`.
 * - `conductor` (the default): the embedded runtime (memory, port 0, the stage throttle and the
 *   per-tenant limits out of the way, as the other benchmarks run it, so `eval.run`'s 60 a minute
 *   does not apply; expert endpoints on private addresses allowed), tenant `acme` with one expert
 *   registered through the API at `<BENCH_EXPERT_URL>/eval` and a one-task suite `bench-tiny`
 *   (exact scorer, the expert's 80 ms answer expected), and an operator token. Prints
 *   `{ ready: { url, token, expertId, suiteId, task } }`, then answers on stdin, for the eval
 *   queue's worker (the `eval-runs` event source mapping, in this process here, another function on
 *   AWS):
 *   - `pause`: `{ "pause": { paused: true } }` once it has stopped (running runs finished);
 *   - `resume`: `{ "resume": { paused: false } }`;
 *   - `drain`: starts it, then `{ "drain": { waitedMs, stuck, errors, deleted, failedInvocations,
 *     partialFailures } }` once the queue has nothing visible and nothing running (up to 60 s), or
 *     `{ error }`. `stuck`: messages a failed run left in flight, back only after the visibility
 *     timeout (960 s); `errors`: the handlers' ERROR log lines since the last drain; the counts are
 *     the mapping's since start.
 *
 * Both report their CPU, event-loop delay and GC on `stats` (lib/probe.ts) and serve until stdin
 * closes or SIGTERM.
 */
const role = process.env.BENCH_ROLE ?? 'conductor';

/** A bench task's input, and what the fake expert answers for it. */
export interface SumInput {
  readonly a: number;
  readonly b: number;
  readonly serviceMs: number;
}

const MAX_SERVICE_MS = 5_000;

const serveExpert = async () => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const refuse = (status: number, message: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: message }));
      };
      if (req.method !== 'POST') return refuse(405, 'POST only');
      let input: Partial<SumInput> | null;
      try {
        input = JSON.parse(Buffer.concat(chunks).toString() || 'null') as Partial<SumInput> | null;
      } catch {
        return refuse(400, 'not JSON');
      }
      const { a, b, serviceMs } = input ?? {};
      if (typeof a !== 'number' || typeof b !== 'number') return refuse(400, 'a and b must be numbers');
      const wait = Number.isFinite(serviceMs)
        ? Math.max(0, Math.min(MAX_SERVICE_MS, serviceMs as number))
        : 0;
      const body = JSON.stringify({ output: a + b });
      const send = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (wait > 0) setTimeout(send, wait);
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
const SUITE_ID = 'bench-tiny';
/** The tiny suite's one task: the expert answers 5 after the median service time. */
const TINY_TASK: SumInput = { a: 2, b: 3, serviceMs: 80 };

const serveConductor = async () => {
  const expertUrl = process.env.BENCH_EXPERT_URL;
  if (!expertUrl) throw new Error('BENCH_EXPERT_URL (the fake expert) is not set.');
  // Imported here: the expert role never loads the runtime.
  const { startBenchConductorWithLocalExperts } = await import('../lib/conductor.js');
  const { conductor, admin, operator: token } = await startBenchConductorWithLocalExperts(TENANT);
  const call = async (method: string, path: string, bearer: string, body: unknown, expected: number) => {
    const reply = await fetch(`${conductor.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await reply.text();
    if (reply.status !== expected) throw new Error(`${method} ${path}: ${reply.status} ${text}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const expert = await call(
    'POST',
    '/experts',
    admin,
    { name: 'eval-bench', type: 'model', costPerCallUsd: 0.001, endpoint: `${expertUrl}/eval` },
    201,
  );
  await call(
    'PUT',
    `/eval/suites/${SUITE_ID}`,
    token,
    {
      apiVersion: 'conductor.suite/v1',
      id: SUITE_ID,
      version: '1',
      timeoutMs: 5000,
      defaults: { scorer: { type: 'exact' } },
      tasks: [{ id: 'sum', input: TINY_TASK, expected: TINY_TASK.a + TINY_TASK.b }],
    },
    200,
  );

  // The handlers' ERROR log lines (Powertools writes JSON lines to stdout), kept so that `drain` can
  // say why a run failed on a delivery; still written through.
  const errorLines: string[] = [];
  const write = process.stdout.write.bind(process.stdout) as (chunk: string | Uint8Array) => boolean;
  process.stdout.write = ((chunk: string | Uint8Array) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    if (text.includes('"level":"ERROR"') && errorLines.length < 50)
      errorLines.push(text.trim().slice(0, 1000));
    return write(chunk);
  }) as typeof process.stdout.write;

  const worker = conductor.mappings.get('conductor-eval-runs');
  if (!worker) throw new Error('No event source mapping for conductor-eval-runs.');
  /**
   * Waits, at most `maxMs`, until nothing is visible and no invocation runs. A message whose run
   * failed stays in flight until its visibility timeout (960 s), as on SQS: once the in-flight count
   * has held for 500 ms with nothing running, those are counted as `stuck`, not waited for.
   */
  const settle = async (maxMs: number) => {
    const started = performance.now();
    let inFlight = -1;
    let since = started;
    while (performance.now() - started < maxMs) {
      const depth = worker.queue.depth();
      const idle = depth.visible === 0 && worker.stats().inFlightInvocations === 0;
      if (idle && depth.inFlight === 0) return { waitedMs: performance.now() - started, stuck: 0 };
      if (!idle || depth.inFlight !== inFlight) {
        inFlight = idle ? depth.inFlight : -1;
        since = performance.now();
      } else if (performance.now() - since >= 500)
        return { waitedMs: since - started, stuck: depth.inFlight };
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`the eval queue did not settle in ${maxMs} ms: ${JSON.stringify(worker.queue.depth())}`);
  };
  const answer = (word: string, value: unknown) =>
    process.stdout.write(`${JSON.stringify({ [word]: value })}\n`);
  const commands = createInterface({ input: process.stdin });
  commands.on('line', (line) => {
    const word = line.trim();
    if (word === 'pause') {
      void worker.stop().then(() => answer('pause', { paused: true }));
      return;
    }
    if (word === 'resume') {
      worker.start();
      answer('resume', { paused: false });
      return;
    }
    if (word !== 'drain') return;
    worker.start();
    void settle(60_000).then(
      (settled) => {
        const stats = worker.stats();
        answer('drain', {
          ...settled,
          errors: errorLines.splice(0),
          deleted: stats.deleted,
          failedInvocations: stats.failedInvocations,
          partialFailures: stats.partialFailures,
        });
      },
      (error: unknown) => answer('drain', { error: String(error) }),
    );
  });

  process.stdout.write(
    `${JSON.stringify({ ready: { url: conductor.apiUrl, token, expertId: expert.id, suiteId: SUITE_ID, task: TINY_TASK } })}\n`,
  );
  serveUntilStopped(conductor);
};

if (role === 'expert') await serveExpert();
else await serveConductor();
