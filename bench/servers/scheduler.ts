import { createInterface } from 'node:readline';
import { type CallLine, CallMeter, setAmbientCallMeter } from '#shared/adapters/call-meter.js';
import { queuesOf } from '#shared/pillar.js';
import { PILLARS } from '../../functions/catalog.js';
import {
  EventSourceMapping,
  eventSourceMappingOptionsOf,
  type SqsBatchHandler,
} from '../../infra/local/event-source-mapping.js';
import { startBenchConductor } from '../lib/conductor.js';
import { serveUntilStopped } from '../lib/probe.js';

/**
 * Child process of `bench/scheduler.ts`: the embedded runtime (memory, port 0, throttles and
 * per-tenant limits out of the way), with tokens for three tenants: `acme` (operator), `initech`
 * (operator, and an admin with step-up for PUT /budgets/limits) and `globex` (operator). Every
 * `initech` weighs 3 in the scheduler's fair share (SCHEDULER_TENANT_WEIGHTS), the others 1. Every
 * `job_completed` published on the local bus is noted with the instant it reached the bus (epoch ms,
 * `performance.timeOrigin + performance.now()`, comparable with the parent's). Prints
 * `{ ready: { url, tokens } }`, then answers each command on stdin with `{ "<command>": … }`:
 * - `completions`: the `[jobId, atMs]` noted since the previous call;
 * - `settle <ms>`: waits, at most ms, until the three scheduler queues are drained and the process
 *   idle; answers `{ ms, drained, idle, depth }`;
 * - `pause` / `resume <ms>`: stops the three scheduler queues' workers / starts them and settles;
 * - `meter` / `read`: an ambient CallMeter from now on / its lines once the other queues' consumers
 *   are drained, and no meter after it;
 * - `slow <ms>`: the low queue's worker becomes the real worker handler after `<ms>` of simulated
 *   work per batch (a batch's jobs calling their experts at once), same batch size and concurrency;
 * - `groups on|off`: whether messages sent to the low queue keep their MessageGroupId (the tenant;
 *   off: plain FIFO, the queue as it was before fair queues).
 * Serves until stdin closes or SIGTERM.
 */
const SCHEDULER_QUEUES = ['scheduler-high', 'scheduler-jobs', 'scheduler-low'];

// initech weighs 3 in the fair share (the weighted phase of bench/scheduler.ts); the others 1.
process.env.SCHEDULER_TENANT_WEIGHTS = JSON.stringify({ initech: 3 });
const conductor = await startBenchConductor();
const mint = (tenant: string, roles: string[], amr?: string[]) =>
  conductor.issuer.mint({ subject: `bench-${tenant}-${roles[0]}`, tenant, roles, ...(amr ? { amr } : {}) });
const tokens = {
  acmeOperator: await mint('acme', ['operator']),
  initechOperator: await mint('initech', ['operator']),
  initechAdmin: await mint('initech', ['tenant-admin'], ['pwd', 'mfa']),
  globexOperator: await mint('globex', ['operator']),
};

const now = () => performance.timeOrigin + performance.now();
let completions: [string, number][] = [];
conductor.bus.addRule({
  name: 'bench-job-completed',
  eventPattern: { 'detail-type': ['job_completed'] },
  target: async (event) => {
    completions.push([(event.detail as { jobId: string }).jobId, now()]);
  },
});

/** The workers of the scheduler queues now serving (the runtime's, or the slowed low one). */
const workers = new Map<string, EventSourceMapping>();
for (const id of SCHEDULER_QUEUES) {
  const mapping = conductor.mappings.get(`conductor-${id}`);
  if (!mapping) throw new Error(`no event source mapping for ${id}`);
  workers.set(id, mapping);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits, at most `maxMs`, until the scheduler queues are drained and this process is idle (under
 * 20 % of a core over 250 ms): requests a client gave up on are still being served after it left.
 */
const settle = async (maxMs: number) => {
  const started = performance.now();
  const left = () => Math.max(1, started + maxMs - performance.now());
  let drained = true;
  try {
    for (const mapping of workers.values()) await mapping.drain(left());
  } catch {
    drained = false;
  }
  let idle = false;
  while (!idle && performance.now() - started < maxMs) {
    const before = process.cpuUsage();
    await sleep(250);
    const used = process.cpuUsage(before);
    idle = (used.user + used.system) / 1000 < 50;
  }
  const depth = Object.fromEntries([...workers].map(([id, mapping]) => [id, mapping.queue.depth()]));
  return { ms: performance.now() - started, drained, idle, depth };
};

const slowLowQueue = async (ms: number) => {
  const spec = queuesOf(PILLARS).find((queue) => queue.id === 'scheduler-low');
  const current = workers.get('scheduler-low');
  if (!spec || !current) throw new Error('no scheduler-low queue');
  // The same module the runtime loaded (its environment is set by now).
  const { handler } = (await import('../../functions/scheduler/src/worker.js')) as {
    handler: SqsBatchHandler;
  };
  const slowed: SqsBatchHandler = async (event, context) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return handler(event, context);
  };
  await current.stop();
  const mapping = new EventSourceMapping(current.queue, slowed, {
    ...eventSourceMappingOptionsOf(spec),
    functionName: 'conductor-scheduler-worker',
  });
  mapping.start();
  workers.set('scheduler-low', mapping);
  return { simulatedMsPerBatch: ms, batchSize: spec.batchSize, maximumConcurrency: spec.maximumConcurrency };
};

// Fair queues are the stand-in's rule for messages with a MessageGroupId; without one it is FIFO.
const lowQueue = conductor.queues.get('conductor-scheduler-low');
if (!lowQueue) throw new Error('no conductor-scheduler-low queue');
let groups = true;
const send = lowQueue.send.bind(lowQueue);
lowQueue.send = (body, attrs = {}) => send(body, groups ? attrs : { ...attrs, messageGroupId: undefined });

let meter: CallMeter | undefined;
const commands: Record<string, (argument: string | undefined) => Promise<unknown>> = {
  completions: async () => {
    const taken = completions;
    completions = [];
    return taken;
  },
  settle: async (argument) => settle(Number(argument)),
  pause: async () => {
    for (const mapping of workers.values()) await mapping.stop();
    return { paused: workers.size };
  },
  resume: async (argument) => {
    for (const mapping of workers.values()) mapping.start();
    return settle(Number(argument));
  },
  meter: async () => {
    meter = new CallMeter();
    setAmbientCallMeter(meter);
    return {};
  },
  read: async () => {
    // The other consumers' work (the decision archive's batches) counts in the window that caused it.
    for (const [name, mapping] of conductor.mappings)
      if (!SCHEDULER_QUEUES.some((id) => name === `conductor-${id}`))
        await mapping.drain(10_000).catch(() => {});
    const lines: CallLine[] = meter?.lines() ?? [];
    setAmbientCallMeter(undefined);
    meter = undefined;
    return lines;
  },
  slow: async (argument) => slowLowQueue(Number(argument)),
  groups: async (argument) => {
    groups = argument !== 'off';
    return { groups };
  },
};

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = line.trim();
  const [word, argument] = command.split(/\s+/);
  const run = word === undefined ? undefined : commands[word];
  if (!run) return;
  run(argument).then(
    // Keyed by the whole command line, as ServerChild.command expects.
    (value) => process.stdout.write(`${JSON.stringify({ [command]: value })}\n`),
    (error: unknown) => process.stdout.write(`${JSON.stringify({ [command]: { error: String(error) } })}\n`),
  );
});

process.stdout.write(`${JSON.stringify({ ready: { url: conductor.apiUrl, tokens } })}\n`);

serveUntilStopped(conductor);
