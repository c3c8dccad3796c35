/**
 * `npm run bench:runbooks` — what signed runbooks cost (issue 20): verifying a stored runbook before
 * it runs, publishing over HTTP, and the time from the final approval to the first step, each next to
 * a baseline measured in the same run. The issue sets no numeric target; the bars below are this
 * benchmark's own (see docs/benchmarks.md).
 *
 * One process: this one runs the embedded runtime (`startBenchConductor`: memory, port 0, the stage
 * throttle and the per-tenant limits raised out of the way, private endpoints allowed), the load and,
 * in part 3, the local server the runbook's http step calls. In-process on purpose: part 3 compares
 * the moment the decision is sent with the moment that server receives the step's request, on one
 * clock (`performance.now()`).
 *
 * Part 1, verify cost (in process, before the runtime starts). The execute path checks the stored
 * version again before anything runs (`RunbookRegistry.verifyStored`, again before the steps run):
 * `verifyRunbook` (canonical JSON, SHA-256 digest compared, RSA-PSS verify with the recorded key
 * version's public key, cached by `LocalPublicKeys` after its first read, as `KmsPublicKeys` caches
 * on AWS). Modes, per call, on the two shipped examples (`runbooks/restart-service.json`,
 * `runbooks/key-rotation.json`) signed by a fresh local key:
 * - bare (the baseline): `crypto.verify('sha256', message, { key, padding: PSS, saltLength: 32 },
 *   signature)` of the same message with the same KeyObject and the signature already decoded;
 * - canonical+sha: `signedMessageOf` + `sha256Hex` alone (what verifyRunbook adds besides RSA; info);
 * - parse: `JSON.parse` + `parseRunbookValue` of the stored document (what verifyStored adds; info);
 * - verifyRunbook: the domain function with the cached keys;
 * - verifyStored: `RunbookRegistry.verifyStored` on an in-memory registry (the same keys) of the version
 *   `publish` stored: JSON.parse of the stored document, the full runbook parse (zod), verifyRunbook,
 *   the canonical form compared with the stored one.
 * `BENCH_VERIFY_ROUNDS` (8) rounds of `BENCH_VERIFY_BATCH` (500) calls per mode and runbook, the order
 * rotated each round, after 300 discarded calls each; every call's answer checked; median and p95 in µs.
 *
 * Part 2, publish over HTTP. `POST /runbooks/registry` (a stepped-up admin) of `BENCH_PUBLISH_N`
 * (300) distinct versions of one runbook (restart-service's content under the id
 * `bench-publish-c<concurrency>`, versions 1..N), all signed before the clock starts, closed loop at
 * concurrency 1 and 8 (each worker sends its next request when its previous answer is read); every
 * answer must be 201. Baseline: `GET /runbooks/registry/{runbookId}` (a viewer; the latest version:
 * a read of the runbook record and of the version record through the same kernel: JWT, rate-limit
 * counter, policy decision), the same number of requests at the same concurrency. Two rounds each,
 * the order swapped in the second, after a warm-up of 40 publishes and 40 reads. Reported:
 * requests/s (N / wall), p50/p95 (ms), the ratios.
 *
 * Part 3, final approval to the first step. A runbook `bench-approve`: one stage (`on-call`, roles
 * operator and admin, minApprovers 1), one privileged http step POSTing to a local `node:http`
 * server on 127.0.0.1 (`/hit/${params.tag}`). Per execution (`BENCH_APPROVALS`, 30, after 3
 * discarded): `POST /runbooks/execute` (an operator), the timeline polled until stage 0 is
 * `waiting`, 50 ms of quiet, then the decision (`POST /approvals/requests/{id}.0/decision`, another
 * operator, the execution's digest) is sent at t0; t1 is when the local server's request handler sees
 * the step's request (its own `performance.now()`), the measure is t1 − t0; the decision's own
 * latency (its answer read) is reported too; then the execution must end `succeeded`. Baseline,
 * interleaved (one after each execution): the same POST sent directly with `fetch` to the same
 * server, from the call to the server's handler (and the whole round trip).
 *
 * `BENCH_STRICT=1` exits 1 when a bar is missed. Writes bench/results/runbooks.json.
 */

import { constants, type KeyObject, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InMemoryTenantRecords } from '#shared/adapters/memory-records.js';
import { sha256Hex } from '#shared/ports/canonical-json.js';
import { systemClock } from '#shared/ports/system.js';
import { LocalPublicKeys, LocalRsaSigner } from '../functions/runbooks/src/adapters/local-signer.js';
import {
  type RunbookRecord,
  RunbookRegistry,
  type RunbookVersionRecord,
} from '../functions/runbooks/src/domain/registry.js';
import { parseRunbookValue, type Runbook } from '../functions/runbooks/src/domain/runbook.js';
import {
  PSS_SALT_LENGTH,
  type RunbookSignature,
  signedMessageOf,
  signRunbook,
  verifyRunbook,
} from '../functions/runbooks/src/domain/signing.js';
import { startBenchConductor } from './lib/conductor.js';
import { checkQuiet, machine, otherCpuWatch } from './lib/machine.js';
import { REPO_ROOT, writeResult } from './lib/results.js';
import { oneApprovalRunbook } from './lib/runbook-fixture.js';
import { fixed, round, roundSummary, type Summary, summarize, table, verdict } from './lib/stats.js';

const log = (line = '') => process.stdout.write(`${line}\n`);

const VERIFY_ROUNDS = Number(process.env.BENCH_VERIFY_ROUNDS ?? 8);
const VERIFY_BATCH = Number(process.env.BENCH_VERIFY_BATCH ?? 500);
const VERIFY_WARM_UP = 300;
const PUBLISH_N = Math.max(20, Math.round(Number(process.env.BENCH_PUBLISH_N ?? 300) / 2) * 2);
const PUBLISH_CONCURRENCY = [1, 8];
const PUBLISH_WARM_UP = 40;
const APPROVALS = Number(process.env.BENCH_APPROVALS ?? 30);
const APPROVAL_WARM_UP = 3;
const QUIET_MS = 50;

/** This benchmark's bars (the issue sets no numeric target). */
const BARS = {
  /** verifyRunbook's median within this factor of the bare RSA-PSS verify. */
  verifyRatio: 2,
  /** verifyStored's p95 (µs): well under 5 % of an execute request on this runtime. */
  verifyStoredP95Us: 1000,
  /** Publish p95 within this factor of the GET baseline's p95, at each concurrency. */
  publishRatio: 3,
  /** Final approval to the step's request at the target, p95 (ms). */
  approvalToStepP95Ms: 100,
};

const EXAMPLES = ['restart-service.json', 'key-rotation.json'];
const exampleJson = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(REPO_ROOT, 'runbooks', name), 'utf8')) as Record<string, unknown>;

/** Other processes' CPU use during the timed phases (skews the figures). */
const { watched, otherShare } = otherCpuWatch();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Part 1: verify cost

const VERIFY_MODES = ['bare', 'canonical+sha', 'parse', 'verifyRunbook', 'verifyStored'] as const;
type VerifyMode = (typeof VERIFY_MODES)[number];

interface VerifyRow {
  readonly example: string;
  readonly messageBytes: number;
  readonly modes: Record<VerifyMode, Summary>;
  readonly failures: number;
}

const runVerify = async (): Promise<VerifyRow[]> => {
  const keyDir = mkdtempSync(join(tmpdir(), 'bench-runbooks-'));
  try {
    const signer = await LocalRsaSigner.open(keyDir);
    const keys = new LocalPublicKeys(keyDir);
    const key = (await keys.get(signer.keyId, '1')) as KeyObject;
    const nothing = { publish: async () => {} };
    const registry = new RunbookRegistry({
      runbooks: new InMemoryTenantRecords<RunbookRecord>('RUNBOOK'),
      versions: new InMemoryTenantRecords<RunbookVersionRecord>('RUNBOOK_VERSION'),
      keys,
      events: nothing,
      clock: systemClock,
    });
    const rows: VerifyRow[] = [];
    for (const example of EXAMPLES) {
      const json = exampleJson(example);
      const runbook = parseRunbookValue(json, example);
      const signature = await signRunbook(runbook, signer, new Date());
      const message = signedMessageOf(runbook);
      const signatureBytes = Buffer.from(signature.signature, 'base64');
      const { version: stored } = await registry.publish(
        'acme',
        { runbook: json, signature },
        'bench',
        'bench-trace',
      );
      let failures = 0;
      const once: Record<VerifyMode, () => Promise<boolean> | boolean> = {
        bare: () =>
          verify(
            'sha256',
            message,
            { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_LENGTH },
            signatureBytes,
          ),
        'canonical+sha': () => sha256Hex(signedMessageOf(runbook)) === signature.digest,
        parse: () => parseRunbookValue(JSON.parse(stored.document), stored.id).id === runbook.id,
        verifyRunbook: async () => (await verifyRunbook(runbook, signature, keys)).ok,
        verifyStored: async () => (await registry.verifyStored('acme', stored, 'bench-trace')).ok,
      };
      const samples = Object.fromEntries(VERIFY_MODES.map((m) => [m, [] as number[]])) as Record<
        VerifyMode,
        number[]
      >;
      const batch = async (mode: VerifyMode, count: number, keep: boolean) => {
        const call = once[mode];
        for (let i = 0; i < count; i += 1) {
          const started = process.hrtime.bigint();
          const ok = await call();
          const ns = Number(process.hrtime.bigint() - started);
          if (!ok) failures += 1;
          if (keep) samples[mode].push(ns / 1000);
        }
      };
      for (const mode of VERIFY_MODES) await batch(mode, VERIFY_WARM_UP, false);
      await watched(async () => {
        for (let r = 0; r < VERIFY_ROUNDS; r += 1)
          for (let i = 0; i < VERIFY_MODES.length; i += 1)
            await batch(VERIFY_MODES[(i + r) % VERIFY_MODES.length] as VerifyMode, VERIFY_BATCH, true);
      });
      rows.push({
        example,
        messageBytes: message.length,
        modes: Object.fromEntries(VERIFY_MODES.map((m) => [m, summarize(samples[m])])) as Record<
          VerifyMode,
          Summary
        >,
        failures,
      });
      log(`  ${example}: ${message.length} bytes signed, ${failures} failed verifications`);
    }
    return rows;
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
  }
};

// ---------------------------------------------------------------------------------------------
// Parts 2 and 3: the embedded runtime

interface Reply {
  readonly status: number;
  readonly ms: number;
  readonly text: string;
}

const callOf =
  (apiUrl: string) =>
  async (method: string, path: string, token: string, body?: string): Promise<Reply> => {
    const started = performance.now();
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    return { status: response.status, ms: performance.now() - started, text };
  };

interface LoadResult {
  readonly requests: number;
  readonly wallMs: number;
  readonly latencies: number[];
  readonly statuses: Record<string, number>;
  /** The first answer that was not the expected status. */
  readonly firstError?: string;
}

/** Sends `requests` with `concurrency` workers, each sending its next when its previous answer is read. */
const closedLoop = async (
  requests: readonly (() => Promise<Reply>)[],
  concurrency: number,
  expected: number,
): Promise<LoadResult> => {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  let firstError: string | undefined;
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < requests.length) {
      const send = requests[next++] as () => Promise<Reply>;
      const reply = await send();
      statuses[reply.status] = (statuses[reply.status] ?? 0) + 1;
      if (reply.status === expected) latencies.push(reply.ms);
      else firstError ??= `${reply.status} ${reply.text.slice(0, 300)}`;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return {
    requests: requests.length,
    wallMs: performance.now() - started,
    latencies,
    statuses,
    ...(firstError ? { firstError } : {}),
  };
};

const pooled = (parts: readonly LoadResult[]): LoadResult => {
  const statuses: Record<string, number> = {};
  for (const p of parts)
    for (const [k, v] of Object.entries(p.statuses)) statuses[k] = (statuses[k] ?? 0) + v;
  const firstError = parts.find((p) => p.firstError)?.firstError;
  return {
    requests: parts.reduce((s, p) => s + p.requests, 0),
    wallMs: parts.reduce((s, p) => s + p.wallMs, 0),
    latencies: parts.flatMap((p) => p.latencies),
    statuses,
    ...(firstError ? { firstError } : {}),
  };
};

interface PublishRow {
  readonly concurrency: number;
  readonly publish: LoadResult;
  readonly get: LoadResult;
}

const runPublish = async (
  call: ReturnType<typeof callOf>,
  signer: LocalRsaSigner,
  tokens: { admin: string; viewer: string },
): Promise<PublishRow[]> => {
  const base = exampleJson('restart-service.json');
  /** Publish bodies of versions 1..count of `id`, signed now (before any clock starts). */
  const signedBodies = async (id: string, count: number) => {
    const bodies: string[] = [];
    for (let version = 1; version <= count; version += 1) {
      const value = { ...base, id, version };
      const signature: RunbookSignature = await signRunbook(parseRunbookValue(value, id), signer, new Date());
      bodies.push(JSON.stringify({ runbook: value, signature }));
    }
    return bodies;
  };
  const signStarted = performance.now();
  const warm = await signedBodies('bench-publish-warm', PUBLISH_WARM_UP);
  const bodies = new Map<number, string[]>();
  for (const c of PUBLISH_CONCURRENCY) bodies.set(c, await signedBodies(`bench-publish-c${c}`, PUBLISH_N));
  log(
    `  signed ${PUBLISH_WARM_UP + PUBLISH_N * PUBLISH_CONCURRENCY.length} versions in ${fixed((performance.now() - signStarted) / 1000, 1)} s (before timing)`,
  );
  const publishes = (list: readonly string[]) =>
    list.map((body) => () => call('POST', '/runbooks/registry', tokens.admin, body));
  const gets = (id: string, count: number) =>
    Array.from({ length: count }, () => () => call('GET', `/runbooks/registry/${id}`, tokens.viewer));

  // Warm-up, discarded: JIT, the keep-alive pool, the key's first read.
  const warmPublish = await closedLoop(publishes(warm), 4, 201);
  if (warmPublish.firstError) throw new Error(`warm-up publish: ${warmPublish.firstError}`);
  await closedLoop(gets('bench-publish-warm', PUBLISH_WARM_UP), 4, 200);

  const rows: PublishRow[] = [];
  for (const c of PUBLISH_CONCURRENCY) {
    const all = bodies.get(c) as string[];
    const half = PUBLISH_N / 2;
    const id = `bench-publish-c${c}`;
    const parts: { publish: LoadResult[]; get: LoadResult[] } = { publish: [], get: [] };
    for (let r = 0; r < 2; r += 1) {
      const order = r === 0 ? (['publish', 'get'] as const) : (['get', 'publish'] as const);
      for (const mode of order) {
        const result = await watched(() =>
          mode === 'publish'
            ? closedLoop(publishes(all.slice(r * half, (r + 1) * half)), c, 201)
            : closedLoop(gets(id, half), c, 200),
        );
        parts[mode].push(result);
      }
    }
    const row = { concurrency: c, publish: pooled(parts.publish), get: pooled(parts.get) };
    rows.push(row);
    log(
      `  concurrency ${c}: ${row.publish.requests} publishes ${JSON.stringify(row.publish.statuses)}, ${row.get.requests} reads ${JSON.stringify(row.get.statuses)}`,
    );
  }
  return rows;
};

interface ApprovalSample {
  readonly executeMs: number;
  readonly toStepMs: number;
  readonly decisionMs: number;
  readonly stepBeforeDecisionAnswer: boolean;
  readonly directToServerMs: number;
  readonly directRoundTripMs: number;
}

const runApprovals = async (
  call: ReturnType<typeof callOf>,
  signer: LocalRsaSigner,
  tokens: { admin: string; requester: string; approver: string; viewer: string },
) => {
  // The local target of the step: notes when each request's handler runs, answers at once.
  const waiting = new Map<string, (at: number) => void>();
  const server = createServer((req, res) => {
    const at = performance.now();
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ state: 'restarted', received: body.length }));
    });
    const tag = (req.url ?? '').replace(/^\/hit\//, '');
    waiting.get(tag)?.(at);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const arrival = (tag: string, timeoutMs = 15_000) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(tag);
        reject(new Error(`the step's request for ${tag} never arrived`));
      }, timeoutMs);
      waiting.set(tag, (at) => {
        clearTimeout(timer);
        waiting.delete(tag);
        resolve(at);
      });
    });

  const stepBody = { requestedBy: 'conductor', reason: 'bench' };
  const runbook: Runbook = oneApprovalRunbook({
    id: 'bench-approve',
    description: 'One approval stage, then one http step to a local server (bench:runbooks)',
    parameters: {
      type: 'object',
      required: ['tag'],
      additionalProperties: false,
      properties: { tag: { type: 'string', pattern: '^[a-z0-9-]{1,40}$' } },
    },
    roles: ['operator', 'admin'],
    url: `${target}/hit/\${params.tag}`,
    body: stepBody,
  });
  const published = await call(
    'POST',
    '/runbooks/registry',
    tokens.admin,
    JSON.stringify({ runbook, signature: await signRunbook(runbook, signer, new Date()) }),
  );
  if (published.status !== 201)
    throw new Error(`publishing bench-approve: ${published.status} ${published.text}`);

  const timeline = async (id: string) => {
    const reply = await call('GET', `/runbooks/executions/${id}`, tokens.viewer);
    if (reply.status !== 200) throw new Error(`timeline of ${id}: ${reply.status} ${reply.text}`);
    return JSON.parse(reply.text) as { status: string; stages: { status: string }[]; failure?: string };
  };
  const until = async (check: () => Promise<boolean>, what: string, everyMs: number, timeoutMs = 15_000) => {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (await check()) return;
      await sleep(everyMs);
    }
    throw new Error(`timed out waiting for ${what}`);
  };

  const samples: ApprovalSample[] = [];
  const endStatuses: Record<string, number> = {};
  for (let i = 0; i < APPROVAL_WARM_UP + APPROVALS; i += 1) {
    const tag = `x${i}`;
    const executed = await call(
      'POST',
      '/runbooks/execute',
      tokens.requester,
      JSON.stringify({ runbookId: 'bench-approve', params: { tag } }),
    );
    if (executed.status !== 202) throw new Error(`execute: ${executed.status} ${executed.text}`);
    const { executionId, digest } = JSON.parse(executed.text) as { executionId: string; digest: string };
    await until(async () => (await timeline(executionId)).stages[0]?.status === 'waiting', 'stage 0', 10);
    await sleep(QUIET_MS);

    const arrived = arrival(tag);
    const t0 = performance.now();
    const decided = await call(
      'POST',
      `/approvals/requests/${executionId}.0/decision`,
      tokens.approver,
      JSON.stringify({ decision: 'approve', digest }),
    );
    if (decided.status !== 200) throw new Error(`decision: ${decided.status} ${decided.text}`);
    const t1 = await arrived;
    let status = '';
    await until(
      async () => {
        const view = await timeline(executionId);
        status = view.status;
        return ['succeeded', 'failed', 'rejected', 'timed_out'].includes(status);
      },
      `execution ${executionId} to end`,
      20,
    );
    if (i >= APPROVAL_WARM_UP) endStatuses[status] = (endStatuses[status] ?? 0) + 1;
    await sleep(QUIET_MS);

    // The baseline: the same POST straight to the server.
    const direct = arrival(`direct-${i}`);
    const d0 = performance.now();
    const reply = await fetch(`${target}/hit/direct-${i}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(stepBody),
    });
    await reply.text();
    const d2 = performance.now();
    const d1 = await direct;
    if (i >= APPROVAL_WARM_UP)
      samples.push({
        executeMs: executed.ms,
        toStepMs: t1 - t0,
        decisionMs: decided.ms,
        stepBeforeDecisionAnswer: t1 < t0 + decided.ms,
        directToServerMs: d1 - d0,
        directRoundTripMs: d2 - d0,
      });
    await sleep(QUIET_MS);
  }
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { samples, endStatuses };
};

// ---------------------------------------------------------------------------------------------

const main = async () => {
  const startedAt = performance.now();
  log('bench:runbooks — verify cost per execute, publish over HTTP, final approval to the first step');
  log(`machine: ${JSON.stringify(machine())}`);
  const busyBefore = await checkQuiet(log);

  log(
    `\nPart 1: verify cost, in process (${VERIFY_ROUNDS} rounds of ${VERIFY_BATCH} calls per mode and runbook)`,
  );
  const verifyRows = await runVerify();

  log('\nStarting the embedded runtime (in memory, limits out of the way, private endpoints allowed)');
  const conductor = await startBenchConductor({ allowPrivateEndpoints: true });
  let publishRows: PublishRow[];
  let approvals: Awaited<ReturnType<typeof runApprovals>>;
  try {
    const mint = (subject: string, roles: string[], mfa = true) =>
      conductor.issuer.mint({ subject, tenant: 'acme', roles, ...(mfa ? { amr: ['pwd', 'mfa'] } : {}) });
    const tokens = {
      admin: await mint('ada', ['admin']),
      requester: await mint('rita', ['operator']),
      approver: await mint('otto', ['operator']),
      viewer: await mint('vera', ['viewer'], false),
    };
    const signer = await LocalRsaSigner.open(conductor.runbookKeyDir);
    const call = callOf(conductor.apiUrl);
    log(`runtime ${conductor.apiUrl}`);

    log(
      `\nPart 2: publish over HTTP, ${PUBLISH_N} versions per concurrency (${PUBLISH_CONCURRENCY.join(', ')}), closed loop`,
    );
    publishRows = await runPublish(call, signer, tokens);

    log(
      `\nPart 3: final approval to the first step, ${APPROVALS} executions (${APPROVAL_WARM_UP} discarded first)`,
    );
    approvals = await watched(() => runApprovals(call, signer, tokens));
  } finally {
    await conductor.stop();
  }

  // ---- Report
  const us = (v: number) => fixed(v, 1);
  log('\n(1) Verify cost per call (µs), in process; ratio: median / the bare crypto.verify median');
  log(
    table(
      [
        ['runbook', 'signed bytes', 'mode', 'calls', 'p50', 'p95', 'p99', 'x bare (p50)'],
        ...verifyRows.flatMap((row) =>
          VERIFY_MODES.map((mode) => {
            const s = row.modes[mode];
            return [
              row.example,
              String(row.messageBytes),
              {
                bare: 'crypto.verify PSS/32 (baseline)',
                'canonical+sha': 'canonical JSON + SHA-256 (info)',
                parse: 'JSON.parse + parseRunbookValue of the stored document (info)',
                verifyRunbook: 'verifyRunbook, cached key',
                verifyStored: 'registry.verifyStored (in memory)',
              }[mode],
              String(s.count),
              us(s.p50),
              us(s.p95),
              us(s.p99),
              `${fixed(s.p50 / row.modes.bare.p50)}x`,
            ];
          }),
        ),
      ],
      'lrlrrrrr',
    ),
  );
  const verifyFailures = verifyRows.reduce((s, r) => s + r.failures, 0);
  log(`  failed verifications: ${verifyFailures} (every call must hold)`);

  log('\n(2) Publish over HTTP (ms): POST /runbooks/registry vs GET /runbooks/registry/{id}, closed loop');
  log(
    table(
      [
        ['concurrency', 'request', 'sent', 'statuses', 'req/s', 'p50', 'p95', 'p99', 'max'],
        ...publishRows.flatMap((row) =>
          (['publish', 'get'] as const).map((mode) => {
            const r = row[mode];
            const s = summarize(r.latencies);
            return [
              String(row.concurrency),
              mode === 'publish' ? 'POST /runbooks/registry' : 'GET /runbooks/registry/{id} (baseline)',
              String(r.requests),
              JSON.stringify(r.statuses),
              fixed((r.requests * 1000) / r.wallMs, 1),
              fixed(s.p50),
              fixed(s.p95),
              fixed(s.p99),
              fixed(s.max),
            ];
          }),
        ),
      ],
      'rlrlrrrrr',
    ),
  );
  const publishRatios = publishRows.map((row) => {
    const p = summarize(row.publish.latencies);
    const g = summarize(row.get.latencies);
    return {
      concurrency: row.concurrency,
      p50: p.p50 / g.p50,
      p95: p.p95 / g.p95,
      throughput: row.publish.requests / row.publish.wallMs / (row.get.requests / row.get.wallMs),
      publishOk: row.publish.statuses['201'] === row.publish.requests,
      getOk: row.get.statuses['200'] === row.get.requests,
      publishP95: p.p95,
      getP95: g.p95,
    };
  });
  for (const r of publishRatios)
    log(
      `  concurrency ${r.concurrency}: publish / GET p50 ${fixed(r.p50)}x, p95 ${fixed(r.p95)}x, throughput ${fixed(r.throughput)}x`,
    );
  for (const row of publishRows)
    for (const mode of ['publish', 'get'] as const)
      if (row[mode].firstError)
        log(`  concurrency ${row.concurrency} ${mode}: first error ${row[mode].firstError}`);

  const a = approvals.samples;
  const toStep = summarize(a.map((s) => s.toStepMs));
  const direct = summarize(a.map((s) => s.directToServerMs));
  const directRound = summarize(a.map((s) => s.directRoundTripMs));
  const decision = summarize(a.map((s) => s.decisionMs));
  const execute = summarize(a.map((s) => s.executeMs));
  const afterAnswer = summarize(a.map((s) => s.toStepMs - s.decisionMs));
  const before = a.filter((s) => s.stepBeforeDecisionAnswer).length;
  log(`\n(3) Final approval to the first step's request at the local server (ms), ${a.length} executions`);
  log(
    table(
      [
        ['measure', 'p50', 'p95', 'max', 'x direct (p50)'],
        [
          'decision sent -> step request received',
          fixed(toStep.p50),
          fixed(toStep.p95),
          fixed(toStep.max),
          `${fixed(toStep.p50 / direct.p50, 1)}x`,
        ],
        [
          'direct fetch -> request received (baseline)',
          fixed(direct.p50),
          fixed(direct.p95),
          fixed(direct.max),
          '1.0x',
        ],
        [
          'decision answered -> step request received',
          fixed(afterAnswer.p50),
          fixed(afterAnswer.p95),
          fixed(afterAnswer.max),
          '-',
        ],
        [
          'direct fetch, whole round trip',
          fixed(directRound.p50),
          fixed(directRound.p95),
          fixed(directRound.max),
          '-',
        ],
        [
          'POST decision, its own latency',
          fixed(decision.p50),
          fixed(decision.p95),
          fixed(decision.max),
          '-',
        ],
        ['POST /runbooks/execute (info)', fixed(execute.p50), fixed(execute.p95), fixed(execute.max), '-'],
      ],
      'lrrrr',
    ),
  );
  log(
    `  the step's request arrived before the decision's answer in ${before} of ${a.length}; executions ended ${JSON.stringify(approvals.endStatuses)}`,
  );

  const restart = verifyRows[0] as VerifyRow;
  const worstVerifyRatio = Math.max(...verifyRows.map((r) => r.modes.verifyRunbook.p50 / r.modes.bare.p50));
  const worstStoredP95 = Math.max(...verifyRows.map((r) => r.modes.verifyStored.p95));
  const checks = {
    verifyRatioWithinBar: worstVerifyRatio <= BARS.verifyRatio && verifyFailures === 0,
    verifyStoredP95WithinBar: worstStoredP95 <= BARS.verifyStoredP95Us && verifyFailures === 0,
    publishP95WithinBar: publishRatios.every((r) => r.p95 <= BARS.publishRatio && r.publishOk && r.getOk),
    approvalToStepP95WithinBar:
      toStep.p95 <= BARS.approvalToStepP95Ms &&
      approvals.endStatuses.succeeded === a.length &&
      a.length === APPROVALS,
  };
  log("\nVerdicts (the issue sets no numeric target: these bars are this benchmark's own)");
  log(
    `  (1) verify: verifyRunbook p50 ${us(restart.modes.verifyRunbook.p50)} µs vs bare ${us(restart.modes.bare.p50)} µs (${restart.example}), worst ratio ${fixed(worstVerifyRatio)}x <= ${BARS.verifyRatio}x: ${verdict(checks.verifyRatioWithinBar)}; verifyStored p95 ${us(worstStoredP95)} µs <= ${BARS.verifyStoredP95Us} µs: ${verdict(checks.verifyStoredP95WithinBar)}`,
  );
  log(
    `  (2) publish: ${publishRatios.map((r) => `c${r.concurrency} p95 ${fixed(r.publishP95)} ms vs GET ${fixed(r.getP95)} ms (${fixed(r.p95)}x)`).join(', ')}, every publish 201, bar <= ${BARS.publishRatio}x: ${verdict(checks.publishP95WithinBar)}`,
  );
  log(
    `  (3) approval -> first step: p50 ${fixed(toStep.p50)} ms, p95 ${fixed(toStep.p95)} ms vs direct p50 ${fixed(direct.p50)} ms, every execution succeeded, bar p95 <= ${BARS.approvalToStepP95Ms} ms: ${verdict(checks.approvalToStepP95WithinBar)}`,
  );
  if (otherShare() > 0.1)
    log(
      `\nWARNING: other processes used up to ${fixed(100 * otherShare(), 0)}% of the machine during a timed phase: tails are skewed, run again on a quiet machine`,
    );

  const file = writeResult('runbooks', {
    benchmark: 'runbooks',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    machineBusyBefore: round(busyBefore, 3),
    otherCpuShareMax: round(otherShare(), 3),
    wallSeconds: round((performance.now() - startedAt) / 1000, 1),
    bars: BARS,
    verify: verifyRows.map((row) => ({
      example: row.example,
      messageBytes: row.messageBytes,
      failures: row.failures,
      us: Object.fromEntries(VERIFY_MODES.map((m) => [m, roundSummary(row.modes[m])])),
      ratioP50: Object.fromEntries(
        VERIFY_MODES.map((m) => [m, round(row.modes[m].p50 / row.modes.bare.p50, 3)]),
      ),
    })),
    publish: publishRows.map((row) => ({
      concurrency: row.concurrency,
      ...Object.fromEntries(
        (['publish', 'get'] as const).map((mode) => [
          mode,
          {
            requests: row[mode].requests,
            statuses: row[mode].statuses,
            perSecond: round((row[mode].requests * 1000) / row[mode].wallMs, 1),
            ms: roundSummary(summarize(row[mode].latencies)),
          },
        ]),
      ),
    })),
    publishRatios: publishRatios.map((r) => ({
      concurrency: r.concurrency,
      p50: round(r.p50, 3),
      p95: round(r.p95, 3),
      throughput: round(r.throughput, 3),
    })),
    approval: {
      executions: a.length,
      endStatuses: approvals.endStatuses,
      stepBeforeDecisionAnswer: before,
      toStepMs: roundSummary(toStep),
      directToServerMs: roundSummary(direct),
      directRoundTripMs: roundSummary(directRound),
      decisionMs: roundSummary(decision),
      afterDecisionAnswerMs: roundSummary(afterAnswer),
      executeMs: roundSummary(execute),
    },
    checks,
  });
  log(`\nwritten: ${file} (${fixed((performance.now() - startedAt) / 1000, 0)} s)`);
  if (process.env.BENCH_STRICT === '1' && Object.values(checks).some((ok) => !ok)) process.exitCode = 1;
};

await main();
