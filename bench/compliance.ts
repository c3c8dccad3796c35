/**
 * `npm run bench:compliance` — continuous compliance (M7): the time to run the full catalog on the
 * embedded runtime and the evidence written per second, next to bare write-once puts of the same
 * bodies into the same kind of store (the ratio); evidence freshness over a simulated 7-day run of
 * the hourly sweep, on time and with sweeps missed. The issue's bar: 100 % of the critical controls
 * fresh at every hour. For the catalog's run time it sets no number (the ratio is reported, no bar
 * is invented here).
 *
 * 1. The full catalog over HTTP. The embedded runtime in this process (`startBenchConductor`:
 *    memory, port 0, the stage throttle and the per-tenant limits out of the way); an org-admin
 *    (MFA) token. First, for information, the first scheduled sweep (`bus.trigger` of
 *    `conductor-compliance-sweep`: every control missing, all collected), then one discarded round.
 *    A round is `POST /compliance/assessments {framework, scope: 'all'}` for SOC2 then GDPR, one
 *    request at a time; `BENCH_COMPLIANCE_ROUNDS` (20) rounds. Every answer must be 201 with one
 *    result per test of the framework, and every result's evidence record and its artifact must be
 *    in the runtime's WORM store (read back after the clock stops). Evidence written = 2 objects per
 *    result (the artifact, then the record naming its hash); the WORM probe of
 *    `platform.evidence-store-worm` (one more object, a refused overwrite, a refused delete, a read)
 *    is part of the work but not counted. Without AWS resources the `aws.*` tests are
 *    `not_applicable` and return at once; every `platform.*` test runs its real collector (the
 *    decision log against its WORM archive, budgets, eval gates, grants, the DSR log, records of
 *    processing) on the runtime's own data: this is the platform's own cost (HTTP, JWT, policy,
 *    DynamoDB records, events, WORM writes, the platform collectors), not the AWS calls' latency.
 *    The decision checks compare a window ending ARCHIVE_LAG_MINUTES before now: during the timed
 *    rounds nothing of this run is in it. For information, after part 3 the handlers' clock is
 *    moved past the lag and one more round compares the seed's decisions (archive vs log).
 *    Baseline, same run, interleaved (the order rotated every round): the same number of `putOnce`
 *    of the same bodies (the evidence of the warm-up round, texts unchanged) under keys of the same
 *    shape into a fresh `FileWormStore` in a temporary folder (the runtime's WORM stand-in: staged
 *    file, fsync, read-only, hard link, directory fsync), one after the other: no HTTP, no
 *    assessment. For information, interleaved with both, `Compliance.assess` in process on the
 *    same kind of store with in-memory records and events (no HTTP, no DynamoDB, no bus).
 * 2. Freshness over 7 simulated days. The domain `Compliance` with the built-in catalog and
 *    `controlTests` (no AWS resources), a ManualClock, in-memory records, and a `FileWormStore` in a
 *    temporary folder; the decision log, budgets and eval runs are tables whose every Query answers
 *    nothing, and no decision is archived, so the decision and activity checks pass saying so. `sweep()` at hour 0 (everything missing), then every hour for 7 × 24 hours.
 *    Each hour is read twice with `freshness()` of every framework: just before its sweep (1 ms
 *    before: the oldest the evidence gets in that hour) and just after. Reported: the share of
 *    critical controls (and of all controls) fresh in the readings, the hours with a critical
 *    control not fresh, `evidence_stale` events after the first sweep, collections per control per
 *    day, the longest interval between two collections of a control and the time evidence spent
 *    stale (from the collection times: exact, not sampled), the wall time. Every sweep run, in
 *    three timings: on the hour with the tests taking no simulated time (the ideal); on the hour
 *    with each test taking `TEST_SECONDS` (0.5 s) of simulated time, as its AWS calls would; and
 *    0-60 s after the hour (seeded: EventBridge's rate rules fire within the minute) with 0.5 s a
 *    test (the realistic one). Then missed sweeps: `k` = 1, 2, 3 consecutive sweeps skipped once a
 *    day (not invoked), ideal and realistic timing, the gap at each of the 24 hours of the day in
 *    turn (where it falls against the collection times decides whether it hurts: one position
 *    would prove nothing). DUE_MARGIN_HOURS (2) decides how early a control is collected again
 *    before its evidence would be stale (24 h).
 *
 * 3. Data subject requests over HTTP (same runtime, after part 1). Seeded through the API: 11
 *    people (the subject, 10 others) × `BENCH_DSR_RECORDS` (200) records × 5 entity types of 3
 *    pillars (eval suites and their versions, edge nodes, edge documents, experts' health) in one
 *    tenant, so the subject's records are a tenth of the partitions. `access` for the subject
 *    `BENCH_DSR_ROUNDS` (7) times after one discarded, interleaved with the baseline: the same
 *    Queries (every searched entity of the register, tenant and platform partitions, 500 a page,
 *    consistent) straight to the local DynamoDB stand-in. Then `delete` of three of the others in
 *    turn (each erasure on records nothing touched before), each after a baseline read.
 *
 * Writes bench/results/compliance.json. `BENCH_STRICT=1` exits 1 on a FAIL (the runs with every
 * sweep; the missed-sweep variants are information: they show what the margin covers). About two
 * minutes on 2 cores (three on a busy machine).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import type { ConductorEvent } from '#shared/ports/events.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { seededRandom } from '../clients/edge/drill.js';
import register from '../functions/compliance/generated/processing-register.json' with { type: 'json' };
import {
  type AssessmentRecord,
  Compliance,
  type ControlState,
  type ControlTest,
  DUE_MARGIN_HOURS,
  DUE_TOLERANCE_HOURS,
  type FindingRecord,
  PLATFORM,
  type SeenEventRecord,
  STALE_AFTER_HOURS,
} from '../functions/compliance/src/domain/assess.js';
import { type Catalog, controlsOf } from '../functions/compliance/src/domain/catalog.js';
import { ARCHIVE_LAG_MINUTES } from '../functions/compliance/src/domain/decision-checks.js';
import {
  complianceCatalog,
  controlTests,
  type ProcessingRegister,
  personalDataRegister,
} from '../functions/compliance/src/wiring.js';
import { FileWormStore } from '../infra/local/worm-store.js';
import { startBenchConductor } from './lib/conductor.js';
import { checkQuiet, machine, otherCpuWatch } from './lib/machine.js';
import { writeResult } from './lib/results.js';
import { fixed, round, roundSummary, summarize, table, verdict } from './lib/stats.js';

const log = (line = '') => process.stdout.write(`${line}\n`);

const ROUNDS = Math.max(3, Number(process.env.BENCH_COMPLIANCE_ROUNDS ?? 20));
const FRAMEWORKS = ['SOC2', 'GDPR'] as const;
const DAYS = 7;
const HOURS = DAYS * 24;
const HOUR_MS = 3_600_000;
/** Simulated time one test takes in the timed runs (AWS calls). */
const TEST_SECONDS = 0.5;
/** The most EventBridge's rate rule fires after the hour in the late runs. */
const FIRE_JITTER_SECONDS = 60;
const SIM_START = Date.parse('2026-12-01T00:00:00.000Z');
const TENANT = 'acme';

/** The issue's bar: every critical control fresh at every hour (on-time sweeps). */
const BARS = { criticalFreshShare: 1 };

const { watched, otherShare } = otherCpuWatch();

const median = (values: readonly number[]): number => summarize(values).p50;
const thousands = (value: number): string => Math.round(value).toLocaleString('en-US');
const pct = (share: number, digits = 1): string => `${fixed(100 * share, digits)} %`;

// ---------------------------------------------------------------------------------------------
// 1. The full catalog over HTTP

interface Result {
  readonly controlId: string;
  readonly testId: string;
  readonly result: string;
  readonly summary: string;
  readonly evidenceKey: string;
}
interface Assessment {
  readonly assessmentId: string;
  readonly results: readonly Result[];
}

/** One evidence object as the store holds it: its key's shape (control, day) and its body. */
interface Body {
  readonly controlId: string;
  readonly text: string;
}

interface CatalogRound {
  readonly byFramework: Record<string, number>;
  readonly wallMs: number;
  readonly objects: number;
}

const testsOf = (catalog: Catalog, framework: string): number =>
  controlsOf(catalog, framework).reduce((sum, control) => sum + control.tests.length, 0);

const runHttp = async (catalog: Catalog, domainRound: () => Promise<DomainRound>) => {
  const conductor = await startBenchConductor();
  try {
    log(`runtime ${conductor.apiUrl}`);
    const token = await conductor.issuer.mint({
      subject: 'bench-grc',
      tenant: TENANT,
      roles: ['org-admin'],
      amr: ['pwd', 'mfa'],
    });
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const problems: string[] = [];
    const resultCounts: Record<string, number> = {};

    const assess = async (framework: string): Promise<{ ms: number; assessment: Assessment }> => {
      const started = performance.now();
      const reply = await fetch(`${conductor.apiUrl}/compliance/assessments`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ framework, scope: 'all' }),
      });
      const text = await reply.text();
      const ms = performance.now() - started;
      if (reply.status !== 201) throw new Error(`${framework}: ${reply.status} ${text}`);
      return { ms, assessment: JSON.parse(text) as Assessment };
    };
    /** Every result's record and artifact are in the WORM store; the bodies, in writing order. */
    const check = async (framework: string, assessment: Assessment): Promise<Body[]> => {
      const bodies: Body[] = [];
      if (assessment.results.length !== testsOf(catalog, framework))
        problems.push(
          `${framework}: ${assessment.results.length} results, ${testsOf(catalog, framework)} tests`,
        );
      for (const result of assessment.results) {
        resultCounts[result.result] = (resultCounts[result.result] ?? 0) + 1;
        const record = await conductor.worm.get(result.evidenceKey);
        if (record === undefined) {
          problems.push(`${result.evidenceKey} missing`);
          continue;
        }
        const artifactKey = (JSON.parse(record) as { artifact: { key: string } }).artifact.key;
        const artifact = await conductor.worm.get(artifactKey);
        if (artifact === undefined) problems.push(`${artifactKey} missing`);
        bodies.push({ controlId: result.controlId, text: artifact ?? '' });
        bodies.push({ controlId: result.controlId, text: record });
      }
      return bodies;
    };
    const freshCount = async () => {
      const counts: Record<string, string> = {};
      for (const framework of FRAMEWORKS) {
        const reply = await fetch(`${conductor.apiUrl}/compliance/freshness?framework=${framework}`, {
          headers,
        });
        const body = (await reply.json()) as { fresh: number; total: number };
        counts[framework] = `${body.fresh}/${body.total}`;
      }
      return counts;
    };

    // The first scheduled sweep: nothing collected yet, every control due.
    const sweepStarted = performance.now();
    await conductor.bus.trigger('conductor-compliance-sweep');
    const firstSweepMs = performance.now() - sweepStarted;
    const freshAfterSweep = await freshCount();
    log(
      `  first scheduled sweep (every control missing, all collected): ${fixed(firstSweepMs, 0)} ms; fresh after it: ${Object.entries(
        freshAfterSweep,
      )
        .map(([f, c]) => `${f} ${c}`)
        .join(', ')}`,
    );

    // Warm-up, discarded; its evidence is the baseline's bodies.
    const bodies: Record<string, Body[]> = {};
    /** What each test answered in the warm-up round (the real collectors, on this runtime's data). */
    const warmResults: Record<string, { result: string; summary: string }> = {};
    for (const framework of FRAMEWORKS) {
      const { assessment } = await assess(framework);
      bodies[framework] = await check(framework, assessment);
      for (const result of assessment.results)
        warmResults[result.testId] = { result: result.result, summary: result.summary.slice(0, 240) };
    }
    const warmCounts = { ...resultCounts };
    for (const [testId, { result, summary }] of Object.entries(warmResults))
      if (testId.startsWith('platform.')) log(`    ${testId}: ${result}: ${summary}`);
    for (const key of Object.keys(resultCounts)) delete resultCounts[key];
    const objectsPerRound = FRAMEWORKS.reduce((sum, f) => sum + (bodies[f]?.length ?? 0), 0);
    const bodyBytes = summarize(FRAMEWORKS.flatMap((f) => (bodies[f] ?? []).map((b) => b.text.length)));
    log(
      `  warm-up round: ${FRAMEWORKS.map((f) => `${f} ${(bodies[f]?.length ?? 0) / 2} results`).join(', ')} (${Object.entries(
        warmCounts,
      )
        .map(([r, n]) => `${r} ${n}`)
        .join(
          ', ',
        )}); ${objectsPerRound} evidence objects a round, ${fixed(bodyBytes.mean, 0)} bytes each on average (${bodyBytes.min}-${bodyBytes.max})`,
    );

    const bareDir = mkdtempSync(join(tmpdir(), 'bench-compliance-bare-'));
    const bare = new FileWormStore(bareDir);
    let bareSeq = 0;
    const day = new Date().toISOString().slice(0, 10);
    const bareRound = async (): Promise<CatalogRound> => {
      const byFramework: Record<string, number> = {};
      let objects = 0;
      for (const framework of FRAMEWORKS) {
        const started = performance.now();
        for (const body of bodies[framework] ?? []) {
          bareSeq += 1;
          const id = `evd_${String(bareSeq).padStart(6, '0')}`;
          const kind = bareSeq % 2 === 1 ? 'artifacts' : 'evidence';
          await bare.putOnce(
            `compliance/${kind}/${body.controlId}/${day}/${id}.json`,
            body.text,
            'application/json',
          );
          objects += 1;
        }
        byFramework[framework] = performance.now() - started;
      }
      return { byFramework, wallMs: Object.values(byFramework).reduce((a, b) => a + b, 0), objects };
    };
    const conductorRound = async (): Promise<CatalogRound & { assessments: [string, Assessment][] }> => {
      const byFramework: Record<string, number> = {};
      const assessments: [string, Assessment][] = [];
      for (const framework of FRAMEWORKS) {
        const { ms, assessment } = await assess(framework);
        byFramework[framework] = ms;
        assessments.push([framework, assessment]);
      }
      const objects = 2 * assessments.reduce((sum, [, a]) => sum + a.results.length, 0);
      return {
        byFramework,
        wallMs: Object.values(byFramework).reduce((a, b) => a + b, 0),
        objects,
        assessments,
      };
    };

    await bareRound(); // discarded: the baseline's own warm-up
    await domainRound(); // discarded
    const conductorRounds: CatalogRound[] = [];
    const bareRounds: CatalogRound[] = [];
    const domainRounds: DomainRound[] = [];
    const sides = ['conductor', 'bare', 'domain'] as const;
    for (let r = 0; r < ROUNDS; r += 1) {
      // Interleaved, the order rotated every round: the disk's fsync time drifts.
      for (const side of [...sides.slice(r % 3), ...sides.slice(0, r % 3)]) {
        if (side === 'bare') bareRounds.push(await watched(bareRound));
        else if (side === 'domain') domainRounds.push(await watched(domainRound));
        else {
          const round = await watched(conductorRound);
          for (const [framework, assessment] of round.assessments) await check(framework, assessment);
          conductorRounds.push(round);
        }
      }
    }
    const freshAfterRounds = await freshCount();
    rmSync(bareDir, { recursive: true, force: true });

    log(
      `\n(3) Data subject requests over HTTP: access ${DSR_ACCESS_ROUNDS} times, delete ${DSR_DELETES} people, vs the same Queries straight to the local DynamoDB`,
    );
    const dsr = await runDsrBench(conductor, headers);
    // For information: one more catalog round now that the tenant and the decision log hold the
    // seed. The decision checks compare a window ending ARCHIVE_LAG_MINUTES before now, so nothing
    // of this run is in it until the handlers' clock moves past the lag: the archiver's queue
    // drained, the clock moved ARCHIVE_LAG_MINUTES + 1 min, the seed's decisions are compared.
    await conductor.mappings.get('conductor-decision-archive')?.drain(60_000);
    conductor.advanceClock((ARCHIVE_LAG_MINUTES + 1) * 60_000);
    const afterSeed = await conductorRound();
    const afterSeedResults: Record<string, number> = {};
    const afterSeedTests: Record<string, string> = {};
    for (const [, assessment] of afterSeed.assessments)
      for (const result of assessment.results) {
        afterSeedResults[result.result] = (afterSeedResults[result.result] ?? 0) + 1;
        if (result.testId.startsWith('platform.'))
          afterSeedTests[result.testId] = `${result.result}: ${result.summary.slice(0, 240)}`;
      }
    return {
      firstSweepMs,
      freshAfterSweep,
      freshAfterRounds,
      objectsPerRound,
      bodyBytes,
      conductorRounds,
      bareRounds,
      domainRounds,
      resultCounts,
      warmResults,
      problems,
      dsr,
      afterSeed: {
        wallMs: afterSeed.wallMs,
        byFramework: afterSeed.byFramework,
        results: afterSeedResults,
        tests: afterSeedTests,
      },
    };
  } finally {
    await conductor.stop();
  }
};

// ---------------------------------------------------------------------------------------------
// 3. Data subject requests over HTTP

/** Records naming each person per entity type (`BENCH_DSR_RECORDS`). */
const DSR_PER_ENTITY = Math.max(10, Number(process.env.BENCH_DSR_RECORDS ?? 200));
/** People besides the subject, each with as many records: the partitions hold 10x the subject's. */
const DSR_OTHERS = 10;
/** The first of the others are erased in turn: one `delete` each, on records nothing touched before. */
const DSR_DELETES = 3;
const DSR_ACCESS_ROUNDS = Math.max(3, Number(process.env.BENCH_DSR_ROUNDS ?? 7));
/** Requests in flight while seeding (not timed). */
const SEED_CONCURRENCY = 8;
const DSR_ENTITIES = ['EVAL_SUITE', 'EVAL_SUITE_VERSION', 'EDGE_NODE', 'EDGE_DOC', 'EXPERT'] as const;
const DSR_TYPE = 'bench-dsr';

interface DsrOutcome {
  readonly entity: string;
  readonly records: number;
  readonly redacted: number;
  readonly deleted: number;
}
interface DsrReply {
  readonly dsrId: string;
  readonly status: string;
  readonly tenantIds: readonly string[];
  readonly outcome: readonly DsrOutcome[];
  readonly records?: readonly unknown[];
}

/** Runs `jobs` with at most `limit` in flight. */
const pool = async (jobs: readonly (() => Promise<void>)[], limit: number): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, jobs.length) }, async () => {
      while (next < jobs.length) {
        const job = jobs[next] as () => Promise<void>;
        next += 1;
        await job();
      }
    }),
  );
};

type Conductor = Awaited<ReturnType<typeof startBenchConductor>>;

const runDsrBench = async (conductor: Conductor, grcHeaders: Record<string, string>) => {
  const people = [
    'u-bench-jane',
    ...Array.from({ length: DSR_OTHERS }, (_, i) => `u-bench-other-${String(i).padStart(2, '0')}`),
  ];
  const [subject] = people as [string];
  const erased = people.slice(1, 1 + DSR_DELETES);
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const reply = await fetch(`${conductor.apiUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await reply.text();
    if (reply.status !== 200 && reply.status !== 201)
      throw new Error(`${method} ${path}: ${reply.status} ${text.slice(0, 300)}`);
    return JSON.parse(text) as Record<string, unknown>;
  };
  const mint = (name: string) =>
    conductor.issuer.mint({ subject: name, tenant: TENANT, roles: ['tenant-admin'], amr: ['pwd', 'mfa'] });
  const admin = await mint('u-bench-seeder');
  const tokens = new Map(await Promise.all(people.map(async (p) => [p, await mint(p)] as const)));

  // Seed over the API: per person and index, an eval suite (EVAL_SUITE + EVAL_SUITE_VERSION,
  // registeredBy), an edge node (registeredBy), an edge document (createdBy), an expert the seeder
  // creates whose health the person sets (health.setBy). People interleaved, as in a real tenant.
  await call('PUT', `/edge/document-types/${DSR_TYPE}`, admin, {
    fields: { status: 'lww' },
    defaultRule: 'lww',
  });
  const seedStarted = performance.now();
  const jobs: (() => Promise<void>)[] = [];
  for (let i = 0; i < DSR_PER_ENTITY; i += 1)
    for (const [p, person] of people.entries()) {
      const token = tokens.get(person) ?? '';
      const id = `p${String(p).padStart(2, '0')}-${String(i).padStart(4, '0')}`;
      jobs.push(async () => {
        await call('PUT', `/eval/suites/dsr-${id}`, token, {
          apiVersion: 'conductor.suite/v1',
          id: `dsr-${id}`,
          version: '1',
          defaults: { scorer: { type: 'exact' } },
          tasks: [{ id: 'add', input: { question: '2+2' }, expected: 4 }],
        });
        await call('POST', '/edge/nodes', token, { nodeId: `node-${id}`, meta: { site: 'bench' } });
        await call('POST', '/edge/documents', token, { documentId: `doc-${id}`, type: DSR_TYPE });
        const expert = await call('POST', '/experts', admin, {
          name: `dsr-${id}`,
          type: 'model',
          costPerCallUsd: 0.001,
          endpoint: `https://dsr-${id}.experts.example.com/v1`,
        });
        await call('PUT', `/experts/${expert.id as string}/health`, token, {
          status: 'unhealthy',
          reason: 'bench',
        });
      });
    }
  await pool(jobs, SEED_CONCURRENCY);
  const seedMs = performance.now() - seedStarted;
  const seedRequests = jobs.length * 5 + 1;
  log(
    `  seeded ${people.length} people × ${DSR_PER_ENTITY} records × ${DSR_ENTITIES.length} entity types (${DSR_ENTITIES.join(', ')}) in tenant ${TENANT}: ${thousands(seedRequests)} requests in ${fixed(seedMs / 1000, 1)} s (${SEED_CONCURRENCY} in flight, not timed)`,
  );

  // The baseline: the same Queries the request makes (every searched entity of the register, in
  // the tenant's and the platform's partitions, 500 items a page, consistent reads), straight to
  // the local DynamoDB stand-in the runtime uses: no HTTP, no policy, no matching, no log.
  const data = personalDataRegister(REGISTER, process.env);
  const searched = data.register.filter((entry) => entry.notSearched === undefined);
  const doc = makeDocumentClient({
    region: 'us-east-1',
    endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB ?? '',
  });
  const bareRead = async (): Promise<{ ms: number; items: number; partitions: number; queries: number }> => {
    const started = performance.now();
    let items = 0;
    let partitions = 0;
    let queries = 0;
    for (const entry of searched)
      for (const tenantId of [TENANT, PLATFORM].sort()) {
        partitions += 1;
        let cursor: Record<string, unknown> | undefined;
        do {
          const out = await doc.send(
            new QueryCommand({
              TableName: data.tableNames[entry.table],
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': partitionKey(tenantId, entry.entity) },
              Limit: 500,
              ConsistentRead: true,
              ...(cursor === undefined ? {} : { ExclusiveStartKey: cursor }),
            }),
          );
          queries += 1;
          items += out.Items?.length ?? 0;
          cursor = out.LastEvaluatedKey;
        } while (cursor !== undefined);
      }
    return { ms: performance.now() - started, items, partitions, queries };
  };
  const dsr = async (type: 'access' | 'delete', person: string) => {
    const started = performance.now();
    const reply = await fetch(`${conductor.apiUrl}/compliance/dsr`, {
      method: 'POST',
      headers: grcHeaders,
      body: JSON.stringify({ type, subject: person, tenantIds: [TENANT] }),
    });
    const text = await reply.text();
    const ms = performance.now() - started;
    if (reply.status !== 201) throw new Error(`dsr ${type}: ${reply.status} ${text.slice(0, 300)}`);
    return { ms, bytes: text.length, body: JSON.parse(text) as DsrReply };
  };
  const problems: string[] = [];
  const expectOutcome = (what: string, body: DsrReply, field: 'records' | 'redacted') => {
    const counts = Object.fromEntries(body.outcome.map((o) => [o.entity, o[field]]));
    for (const entity of DSR_ENTITIES)
      if (counts[entity] !== DSR_PER_ENTITY)
        problems.push(`${what}: ${entity} ${field} ${counts[entity] ?? 0}, expected ${DSR_PER_ENTITY}`);
    if (body.outcome.length !== DSR_ENTITIES.length)
      problems.push(`${what}: ${body.outcome.length} entities in the outcome`);
  };

  // Warm-up, discarded: one of each side.
  await bareRead();
  await dsr('access', subject);
  const access: { ms: number; bytes: number; found: number }[] = [];
  const bare: { ms: number; items: number; partitions: number; queries: number }[] = [];
  for (let r = 0; r < DSR_ACCESS_ROUNDS; r += 1) {
    // Interleaved, the order alternated every round.
    for (const side of r % 2 === 0 ? ['dsr', 'bare'] : ['bare', 'dsr']) {
      if (side === 'bare') bare.push(await watched(bareRead));
      else {
        const { ms, bytes, body } = await watched(() => dsr('access', subject));
        expectOutcome(`access ${r}`, body, 'records');
        if (body.records?.length !== DSR_PER_ENTITY * DSR_ENTITIES.length)
          problems.push(`access ${r}: ${body.records?.length} records answered`);
        access.push({ ms, bytes, found: body.records?.length ?? 0 });
      }
    }
  }
  const deletes: { person: number; ms: number; redacted: number; bareMs: number }[] = [];
  for (const [i, person] of erased.entries()) {
    const before = await watched(bareRead);
    bare.push(before);
    const { ms, body } = await watched(() => dsr('delete', person));
    expectOutcome(`delete ${i}`, body, 'redacted');
    deletes.push({
      person: i + 1,
      ms,
      redacted: body.outcome.reduce((sum, o) => sum + o.redacted, 0),
      bareMs: before.ms,
    });
  }
  // Erased: an access finds nothing of the first erased person any more.
  const after = await dsr('access', erased[0] ?? '');
  if (after.body.outcome.length !== 0)
    problems.push(`after delete: ${after.body.outcome.length} entities found`);
  doc.destroy();
  return {
    people: people.length,
    perEntity: DSR_PER_ENTITY,
    entities: DSR_ENTITIES,
    subjectRecords: DSR_PER_ENTITY * DSR_ENTITIES.length,
    partitionRecords: DSR_PER_ENTITY * DSR_ENTITIES.length * people.length,
    seedRequests,
    seedMs,
    searchedEntities: searched.length,
    access,
    bare,
    deletes,
    problems,
  };
};

// ---------------------------------------------------------------------------------------------
// The domain in process (information): Compliance.assess on a FileWormStore, records in memory

/** The catalog's record of processing, as the handler reads it (table names: the register's ids). */
const REGISTER = register as ProcessingRegister;
const PERSONAL_DATA = personalDataRegister(
  REGISTER,
  Object.fromEntries(REGISTER.tables.map((table) => [table.envVar, `bench-${table.id}`])),
);
/** A DynamoDB stand-in whose every Query answers no item (the simulation's decision log, budgets, eval runs). */
const EMPTY_TABLES = { send: async () => ({ Items: [] }) } as unknown as Pick<DynamoDBDocumentClient, 'send'>;

interface World {
  readonly compliance: Compliance;
  readonly clock: ManualClock;
  readonly controls: InMemoryTenantRecords<ControlState>;
  readonly published: ConductorEvent[];
  readonly dir: string;
}

const makeWorld = (catalog: Catalog, testMs = 0): World => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-compliance-worm-'));
  const evidence = new FileWormStore(dir);
  const clock = new ManualClock(SIM_START);
  const ids = new SequentialIds();
  const seen = new InMemoryTenantRecords<SeenEventRecord>('SEEN_EVENT');
  // As the handler wires them, with empty tables for the decision log, budgets and eval runs (a
  // Query answers no item): the decision and activity checks then compare an empty log with what
  // this store's archive holds (nothing: no decision is archived here) and pass saying so.
  const base = controlTests({
    evidence,
    seen,
    dsr: new InMemoryTenantRecords('DSR'),
    processing: { tables: PERSONAL_DATA.processing, retained: PERSONAL_DATA.retained },
    personalEvidence: REGISTER.evidence,
    probeId: () => ids.next('probe'),
    decisionLog: { doc: EMPTY_TABLES, tableName: 'bench-policy' },
    tenantActivity: { doc: EMPTY_TABLES, schedulerTable: 'bench-scheduler', evalTable: 'bench-eval' },
  });
  // Timed: a test takes simulated time, as its AWS calls would.
  const tests =
    testMs === 0
      ? base
      : new Map<string, ControlTest>(
          [...base].map(([id, test]) => [
            id,
            {
              id,
              run: async (context) => {
                const outcome = await test.run(context);
                clock.advance(testMs);
                return outcome;
              },
            },
          ]),
        );
  const controls = new InMemoryTenantRecords<ControlState>('CONTROL');
  const published: ConductorEvent[] = [];
  const compliance = new Compliance({
    catalog,
    tests,
    evidence,
    controls,
    findings: new InMemoryTenantRecords<FindingRecord>('FINDING'),
    assessments: new InMemoryTenantRecords<AssessmentRecord>('ASSESSMENT'),
    seen,
    events: { publish: async (events) => void published.push(...events) },
    clock,
    ids,
    environment: 'bench',
  });
  return { compliance, clock, controls, published, dir };
};

interface DomainRound {
  readonly wallMs: number;
  readonly objects: number;
}

/** One full catalog through `Compliance.assess` in process: SOC2 then GDPR, scope all. */
const domainRoundOf = (world: World) => async (): Promise<DomainRound> => {
  const started = performance.now();
  let results = 0;
  for (const framework of FRAMEWORKS)
    results += (await world.compliance.assess(framework, 'all', 'bench', 'bench')).results.length;
  return { wallMs: performance.now() - started, objects: 2 * results };
};

// ---------------------------------------------------------------------------------------------
// 2. Freshness over 7 simulated days

interface SimOptions {
  readonly name: string;
  /** Whether the sweep of hour h (1..HOURS) is skipped. */
  readonly missed: (hour: number) => boolean;
  /** Simulated seconds each test takes. */
  readonly testSeconds: number;
  /** Seconds after the hour the sweep fires (0: on the hour). */
  readonly jitterSeconds: number;
}

interface SimResult {
  readonly name: string;
  readonly sweeps: number;
  readonly missedSweeps: number;
  readonly readings: number;
  readonly criticalFreshShareBefore: number;
  readonly criticalFreshShareAfter: number;
  readonly allFreshShareBefore: number;
  readonly allFreshShareAfter: number;
  readonly hoursCriticalNotFresh: number;
  readonly staleEventsAfterFirst: number;
  readonly firstSweepStaleEvents: number;
  readonly collectionsPerControlPerDay: number;
  readonly collectionsPerDayBySeverity: Record<string, number>;
  readonly longestIntervalHours: number;
  /** The longest time one critical control's evidence was stale (exact, from the collection times). */
  readonly criticalStaleHours: number;
  /** Stale time summed over every control. */
  readonly staleControlHours: number;
  readonly controlFailedEvents: number;
  readonly wallMs: number;
}

const simulate = async (catalog: Catalog, options: SimOptions): Promise<SimResult> => {
  const started = performance.now();
  const world = makeWorld(catalog, options.testSeconds * 1000);
  const { compliance, clock, controls, published } = world;
  const rng = seededRandom(20_261_201);
  const inScope = [...new Set(FRAMEWORKS.flatMap((f) => controlsOf(catalog, f).map((c) => c.id)))];
  const severity = new Map(inScope.map((id) => [id, catalog.controls.get(id)?.severity ?? 'low']));
  const critical = inScope.filter((id) => severity.get(id) === 'critical');
  const collections = new Map<string, number[]>(inScope.map((id) => [id, []]));
  const moveTo = (ms: number) => {
    const now = clock.now().getTime();
    if (ms > now) clock.advance(ms - now);
  };
  /** Every framework's freshness, one row per control (a control mapped twice counts once). */
  const reading = async () => {
    const status = new Map<string, string>();
    for (const framework of FRAMEWORKS)
      for (const row of await compliance.freshness(framework)) status.set(row.controlId, row.status);
    const fresh = (ids: readonly string[]) => ids.filter((id) => status.get(id) === 'fresh').length;
    return { critical: fresh(critical), all: fresh(inScope) };
  };
  const noteCollections = async () => {
    const states = await controls.getMany(PLATFORM, inScope);
    for (const id of inScope) {
      const at = states.get(id)?.lastCollectedAt;
      const times = collections.get(id) ?? [];
      if (at !== undefined && times.at(-1) !== Date.parse(at)) times.push(Date.parse(at));
      collections.set(id, times);
    }
  };
  const sweepAt = async (hour: number) => {
    moveTo(SIM_START + hour * HOUR_MS + Math.floor(rng() * options.jitterSeconds * 1000));
    await compliance.sweep(`bench-sweep-${hour}`);
    await noteCollections();
  };

  await sweepAt(0);
  const firstSweepStaleEvents = published.filter((e) => e.type === 'evidence_stale').length;
  const firstEvents = published.length;
  let sweeps = 1;
  let missedSweeps = 0;
  const before = { critical: 0, all: 0 };
  const after = { critical: 0, all: 0 };
  let hoursCriticalNotFresh = 0;
  for (let hour = 1; hour <= HOURS; hour += 1) {
    // The oldest the evidence gets in this hour: just before its sweep.
    moveTo(SIM_START + hour * HOUR_MS - 1);
    const pre = await reading();
    before.critical += pre.critical;
    before.all += pre.all;
    if (options.missed(hour)) {
      missedSweeps += 1;
      moveTo(SIM_START + hour * HOUR_MS);
    } else {
      await sweepAt(hour);
      sweeps += 1;
    }
    const post = await reading();
    after.critical += post.critical;
    after.all += post.all;
    if (pre.critical < critical.length || post.critical < critical.length) hoursCriticalNotFresh += 1;
  }
  const end = SIM_START + HOURS * HOUR_MS;
  const staleAfter = STALE_AFTER_HOURS * HOUR_MS;
  let longest = 0;
  const staleMs = new Map<string, number>();
  for (const [id, times] of collections) {
    let stale = 0;
    for (const [i, at] of [...times, end].entries()) {
      if (i === 0) continue;
      const gap = at - (times[i - 1] as number);
      if (i < times.length) longest = Math.max(longest, gap);
      stale += Math.max(0, gap - staleAfter);
    }
    staleMs.set(id, stale);
  }
  const total = (ids: readonly string[]) => ids.reduce((sum, id) => sum + (staleMs.get(id) ?? 0), 0);
  const worst = (ids: readonly string[]) => Math.max(0, ...ids.map((id) => staleMs.get(id) ?? 0));
  const perDay = (ids: readonly string[]) =>
    ids.reduce((sum, id) => sum + (collections.get(id)?.length ?? 0), 0) / Math.max(1, ids.length) / DAYS;
  const bySeverity: Record<string, number> = {};
  for (const level of new Set(severity.values()))
    bySeverity[level] = round(perDay(inScope.filter((id) => severity.get(id) === level)), 3);
  const later = published.slice(firstEvents);
  rmSync(world.dir, { recursive: true, force: true });
  return {
    name: options.name,
    sweeps,
    missedSweeps,
    readings: HOURS,
    criticalFreshShareBefore: before.critical / (HOURS * critical.length),
    criticalFreshShareAfter: after.critical / (HOURS * critical.length),
    allFreshShareBefore: before.all / (HOURS * inScope.length),
    allFreshShareAfter: after.all / (HOURS * inScope.length),
    hoursCriticalNotFresh,
    staleEventsAfterFirst: later.filter((e) => e.type === 'evidence_stale').length,
    firstSweepStaleEvents,
    collectionsPerControlPerDay: perDay(inScope),
    collectionsPerDayBySeverity: bySeverity,
    longestIntervalHours: longest / HOUR_MS,
    criticalStaleHours: worst(critical) / HOUR_MS,
    staleControlHours: total(inScope) / HOUR_MS,
    controlFailedEvents: published.filter((e) => e.type === 'control_failed').length,
    wallMs: performance.now() - started,
  };
};

/** `k` consecutive sweeps skipped once a day, from hour-of-day `start` (never the first sweep). */
const gapOf =
  (k: number, start: number) =>
  (hour: number): boolean =>
    (((hour - start) % 24) + 24) % 24 < k;

interface PhaseScan {
  readonly name: string;
  readonly missedPerDay: number;
  readonly timing: Timing;
  readonly phases: SimResult[];
}

/**
 * How a sweep runs in simulated time: `instant` on the hour, its tests taking no time; `on-hour` on
 * the hour, each test `TEST_SECONDS`; `late` 0-`FIRE_JITTER_SECONDS` after the hour, each test
 * `TEST_SECONDS` (the realistic one).
 */
type Timing = 'instant' | 'on-hour' | 'late';
const TIMINGS: Readonly<Record<Timing, { testSeconds: number; jitterSeconds: number; label: string }>> = {
  instant: { testSeconds: 0, jitterSeconds: 0, label: 'on the hour, tests instant' },
  'on-hour': { testSeconds: TEST_SECONDS, jitterSeconds: 0, label: `on the hour, ${TEST_SECONDS} s a test` },
  late: {
    testSeconds: TEST_SECONDS,
    jitterSeconds: FIRE_JITTER_SECONDS,
    label: `0-${FIRE_JITTER_SECONDS} s late, ${TEST_SECONDS} s a test`,
  },
};

const scanPhases = async (catalog: Catalog, k: number, timing: Timing): Promise<PhaseScan> => {
  const phases: SimResult[] = [];
  for (let start = 0; start < 24; start += 1) {
    phases.push(
      await simulate(catalog, {
        name: `${k} missed from ${String(start).padStart(2, '0')}:00, ${timing}`,
        missed: gapOf(k, start),
        testSeconds: TIMINGS[timing].testSeconds,
        jitterSeconds: TIMINGS[timing].jitterSeconds,
      }),
    );
  }
  return { name: `${k} missed a day, ${TIMINGS[timing].label}`, missedPerDay: k, timing, phases };
};

const scanSummary = (scan: PhaseScan) => {
  const hurt = scan.phases.filter((p) => p.criticalStaleHours > 0);
  const worst = scan.phases.reduce((a, b) =>
    b.criticalFreshShareBefore < a.criticalFreshShareBefore ||
    (b.criticalFreshShareBefore === a.criticalFreshShareBefore && b.criticalStaleHours > a.criticalStaleHours)
      ? b
      : a,
  );
  const events = scan.phases.map((p) => p.staleEventsAfterFirst);
  return {
    name: scan.name,
    missedPerDay: scan.missedPerDay,
    timing: scan.timing,
    phases: scan.phases.length,
    phasesWithCriticalStale: hurt.length,
    worstPhase: worst.name,
    worstCriticalFreshShareBefore: round(worst.criticalFreshShareBefore, 4),
    worstHoursCriticalNotFresh: worst.hoursCriticalNotFresh,
    worstCriticalStaleHours: round(worst.criticalStaleHours, 4),
    longestIntervalHours: round(Math.max(...scan.phases.map((p) => p.longestIntervalHours)), 3),
    staleEventsAfterFirst: { min: Math.min(...events), max: Math.max(...events) },
    wallMs: round(
      scan.phases.reduce((sum, p) => sum + p.wallMs, 0),
      0,
    ),
  };
};

// ---------------------------------------------------------------------------------------------

const simJson = (s: SimResult) => ({
  name: s.name,
  sweeps: s.sweeps,
  missedSweeps: s.missedSweeps,
  criticalFreshShareBefore: round(s.criticalFreshShareBefore, 4),
  criticalFreshShareAfter: round(s.criticalFreshShareAfter, 4),
  allFreshShareBefore: round(s.allFreshShareBefore, 4),
  allFreshShareAfter: round(s.allFreshShareAfter, 4),
  hoursCriticalNotFresh: s.hoursCriticalNotFresh,
  firstSweepStaleEvents: s.firstSweepStaleEvents,
  staleEventsAfterFirst: s.staleEventsAfterFirst,
  collectionsPerControlPerDay: round(s.collectionsPerControlPerDay, 3),
  collectionsPerDayBySeverity: s.collectionsPerDayBySeverity,
  longestIntervalHours: round(s.longestIntervalHours, 3),
  criticalStaleHours: round(s.criticalStaleHours, 4),
  staleControlHours: round(s.staleControlHours, 4),
  controlFailedEvents: s.controlFailedEvents,
  wallMs: round(s.wallMs, 0),
});

const main = async () => {
  const startedAt = performance.now();
  log('bench:compliance — the full catalog over HTTP vs bare WORM puts, 7 simulated days of hourly sweeps');
  log(`machine: ${JSON.stringify(machine())}`);
  const busyBefore = await checkQuiet(log);
  const catalog = complianceCatalog(undefined);
  const mapped = new Set(FRAMEWORKS.flatMap((f) => controlsOf(catalog, f).map((c) => c.id)));
  const unmapped = [...catalog.controls.keys()].filter((id) => !mapped.has(id));
  log(
    `catalog: ${catalog.controls.size} controls, ${FRAMEWORKS.map((f) => `${f} ${controlsOf(catalog, f).length} controls / ${testsOf(catalog, f)} tests`).join(', ')}${unmapped.length > 0 ? `; in no framework: ${unmapped.join(', ')}` : ''}`,
  );

  log(`\n(1) The full catalog over HTTP: SOC2 then GDPR, scope all, ${ROUNDS} rounds after one discarded`);
  // For information, interleaved with the rounds: the domain in process on a FileWormStore.
  const domainWorld = makeWorld(catalog);
  const simTests: Record<string, { result: string; summary: string }> = {};
  for (const framework of FRAMEWORKS)
    for (const r of (await domainWorld.compliance.assess(framework, 'all', 'bench', 'bench')).results)
      simTests[r.testId] = { result: r.result, summary: r.summary.slice(0, 240) };
  log("  in process (the simulation's wiring: empty decision log, budgets and eval runs, nothing archived):");
  for (const [testId, { result, summary }] of Object.entries(simTests))
    if (testId.startsWith('platform.')) log(`    ${testId}: ${result}: ${summary}`);
  const http = await runHttp(catalog, domainRoundOf(domainWorld)).finally(() =>
    rmSync(domainWorld.dir, { recursive: true, force: true }),
  );
  const domain = http.domainRounds;

  const perSecond = (r: { objects: number; wallMs: number }) => (r.objects * 1000) / r.wallMs;
  const conductorWall = summarize(http.conductorRounds.map((r) => r.wallMs));
  const bareWall = summarize(http.bareRounds.map((r) => r.wallMs));
  const domainWall = summarize(domain.map((r) => r.wallMs));
  const conductorRate = median(http.conductorRounds.map(perSecond));
  const bareRate = median(http.bareRounds.map(perSecond));
  const domainRate = median(domain.map(perSecond));
  const ratio = conductorRate / bareRate;
  const byFramework = Object.fromEntries(
    FRAMEWORKS.map((f) => [f, summarize(http.conductorRounds.map((r) => r.byFramework[f] ?? Number.NaN))]),
  );
  log(
    `\n${table(
      [
        ['full catalog (SOC2 + GDPR)', 'objects', 'p50 ms', 'p95 ms', 'evidence/s (median)', 'x bare'],
        [
          'POST /compliance/assessments x2 (HTTP)',
          String(http.objectsPerRound),
          fixed(conductorWall.p50, 1),
          fixed(conductorWall.p95, 1),
          thousands(conductorRate),
          `${fixed(ratio, 3)}x`,
        ],
        [
          'Compliance.assess in process (info)',
          String(domain[0]?.objects ?? 0),
          fixed(domainWall.p50, 1),
          fixed(domainWall.p95, 1),
          thousands(domainRate),
          `${fixed(domainRate / bareRate, 3)}x`,
        ],
        [
          'FileWormStore.putOnce, same bodies (baseline)',
          String(http.objectsPerRound),
          fixed(bareWall.p50, 1),
          fixed(bareWall.p95, 1),
          thousands(bareRate),
          '1x',
        ],
      ],
      'lrrrrr',
    )}`,
  );
  for (const f of FRAMEWORKS)
    log(
      `  ${f}: p50 ${fixed(byFramework[f]?.p50 ?? Number.NaN, 1)} ms, p95 ${fixed(byFramework[f]?.p95 ?? Number.NaN, 1)} ms per assessment`,
    );
  log(
    `  results over the measured rounds: ${Object.entries(http.resultCounts)
      .map(([r, n]) => `${r} ${n}`)
      .join(', ')}; problems: ${http.problems.length === 0 ? 'none' : http.problems.slice(0, 3).join('; ')}`,
  );
  log(
    `  fresh after the rounds: ${Object.entries(http.freshAfterRounds)
      .map(([f, c]) => `${f} ${c}`)
      .join(', ')}`,
  );

  const { dsr } = http;
  const accessMs = summarize(dsr.access.map((a) => a.ms));
  const bareReadMs = summarize(dsr.bare.map((b) => b.ms));
  const bareItems = dsr.bare[0]?.items ?? 0;
  const deleteMs = summarize(dsr.deletes.map((d) => d.ms));
  const found = dsr.subjectRecords;
  const accessRatio = accessMs.p50 / bareReadMs.p50;
  const deleteRatio = deleteMs.p50 / bareReadMs.p50;
  log(
    `\n${table(
      [
        [
          'data subject requests',
          'runs',
          'p50 ms',
          'p95 ms',
          'records found/s (p50)',
          'items read/s (p50)',
          'x bare time',
        ],
        [
          `POST /compliance/dsr access (${found} records of ${thousands(dsr.partitionRecords)}, HTTP)`,
          String(dsr.access.length),
          fixed(accessMs.p50, 1),
          fixed(accessMs.p95, 1),
          thousands((found * 1000) / accessMs.p50),
          thousands((bareItems * 1000) / accessMs.p50),
          `${fixed(accessRatio, 2)}x`,
        ],
        [
          `POST /compliance/dsr delete (${found} redacted, HTTP)`,
          String(dsr.deletes.length),
          fixed(deleteMs.p50, 1),
          fixed(deleteMs.max, 1),
          thousands((found * 1000) / deleteMs.p50),
          thousands((bareItems * 1000) / deleteMs.p50),
          `${fixed(deleteRatio, 2)}x`,
        ],
        [
          `the same Queries, bare (${dsr.bare[0]?.partitions} partitions, ${dsr.bare[0]?.queries} queries)`,
          String(dsr.bare.length),
          fixed(bareReadMs.p50, 1),
          fixed(bareReadMs.p95, 1),
          '',
          thousands((bareItems * 1000) / bareReadMs.p50),
          '1x',
        ],
      ],
      'lrrrrrr',
    )}`,
  );
  log(
    `  delete: ${dsr.deletes.map((d) => `${fixed(d.ms, 0)} ms (${d.redacted} redacted; bare read before it ${fixed(d.bareMs, 0)} ms)`).join(', ')}; p95 column for delete is the max of ${dsr.deletes.length}`,
  );
  log(
    `  access answer ${thousands(median(dsr.access.map((a) => a.bytes)))} bytes; ${dsr.searchedEntities} searched entities × 2 partitions (${TENANT}, platform); problems: ${dsr.problems.length === 0 ? 'none' : dsr.problems.slice(0, 3).join('; ')}`,
  );
  log(
    `  one catalog round after the seed (info): ${fixed(http.afterSeed.wallMs, 1)} ms (${Object.entries(
      http.afterSeed.byFramework,
    )
      .map(([f, ms]) => `${f} ${fixed(ms, 1)}`)
      .join(', ')}); ${Object.entries(http.afterSeed.results)
      .map(([r, n]) => `${r} ${n}`)
      .join(', ')}`,
  );
  for (const [testId, line] of Object.entries(http.afterSeed.tests))
    if (/decision|grants|budgets|eval-gates/.test(testId)) log(`    ${testId}: ${line}`);

  log(
    `\n(2) Freshness over ${DAYS} simulated days, a sweep every hour (DUE_MARGIN_HOURS ${DUE_MARGIN_HOURS})`,
  );
  const runs = [] as SimResult[];
  for (const timing of ['instant', 'on-hour', 'late'] as const)
    runs.push(
      await simulate(catalog, {
        name: TIMINGS[timing].label,
        missed: () => false,
        testSeconds: TIMINGS[timing].testSeconds,
        jitterSeconds: TIMINGS[timing].jitterSeconds,
      }),
    );
  const [onTime, , late] = runs as [SimResult, SimResult, SimResult];
  const simRow = (s: SimResult) => [
    s.name,
    pct(s.criticalFreshShareBefore),
    pct(s.allFreshShareBefore),
    pct(s.allFreshShareAfter),
    String(s.hoursCriticalNotFresh),
    fixed(s.criticalStaleHours * 60, 1),
    String(s.staleEventsAfterFirst),
    fixed(s.collectionsPerControlPerDay, 2),
    fixed(s.longestIntervalHours, 2),
    fixed(s.wallMs / 1000, 2),
  ];
  log(
    `\n${table(
      [
        [
          'every sweep runs',
          'critical fresh',
          'all fresh (before)',
          'all fresh (after)',
          'hours crit. not fresh',
          'crit. stale min',
          'stale events',
          'collections/control/day',
          'longest gap h',
          'wall s',
        ],
        ...runs.map(simRow),
      ],
      'lrrrrrrrrr',
    )}`,
  );
  log(
    `  ${onTime.sweeps} sweeps; the first published ${onTime.firstSweepStaleEvents} evidence_stale (every control missing; a control both frameworks map is collected under the first and is fresh for the second); control_failed over the run: ${onTime.controlFailedEvents} (a test failing or in error, at each collection of its control)`,
  );
  log(
    `  collections per control per day by severity (${onTime.name}): ${Object.entries(
      onTime.collectionsPerDayBySeverity,
    )
      .map(([s, n]) => `${s} ${n}`)
      .join(', ')}`,
  );

  log('\n  Missed sweeps: k consecutive sweeps skipped once a day, the gap at each hour of the day in turn');
  const scans: PhaseScan[] = [];
  for (const timing of ['instant', 'late'] as const)
    for (const k of [1, 2, 3]) scans.push(await scanPhases(catalog, k, timing));
  const summaries = scans.map(scanSummary);
  log(
    `\n${table(
      [
        [
          'missed sweeps',
          'phases hurt',
          'worst: critical fresh',
          'hours crit. not fresh',
          'crit. stale min',
          'longest gap h',
          'stale events',
          'wall s',
        ],
        ...summaries.map((s) => [
          s.name,
          `${s.phasesWithCriticalStale}/${s.phases}`,
          pct(s.worstCriticalFreshShareBefore),
          String(s.worstHoursCriticalNotFresh),
          fixed(s.worstCriticalStaleHours * 60, 1),
          fixed(s.longestIntervalHours, 2),
          `${s.staleEventsAfterFirst.min}-${s.staleEventsAfterFirst.max}`,
          fixed(s.wallMs / 1000, 1),
        ]),
      ],
      'lrrrrrrr',
    )}`,
  );
  log(
    '  phases hurt: gap positions after which a critical control was stale for any time at all (exact, from the collection times); "hours crit. not fresh" counts the hourly readings that saw it',
  );

  const onTimeFresh = (s: SimResult) =>
    s.criticalFreshShareBefore >= BARS.criticalFreshShare &&
    s.hoursCriticalNotFresh === 0 &&
    s.criticalStaleHours === 0;
  const checks = {
    everyAssessmentComplete: http.problems.length === 0,
    everyDsrComplete: dsr.problems.length === 0,
    criticalFreshEveryHour: onTimeFresh(onTime),
    criticalFreshEveryHourLate: onTimeFresh(late),
    noStaleEventAfterFirstSweep: runs.every((s) => s.staleEventsAfterFirst === 0),
  };
  log('\nVerdict');
  for (const s of runs)
    log(
      `  ${verdict(onTimeFresh(s))}  100 % of critical controls fresh at every hour, every sweep run (${s.name}): ${pct(s.criticalFreshShareBefore)}, stale ${fixed(s.criticalStaleHours * 60, 1)} min`,
    );
  log(`  ${verdict(checks.noStaleEventAfterFirstSweep)}  no evidence_stale after the first sweep`);
  log(
    `  ${verdict(checks.everyAssessmentComplete)}  every assessment 201, every result's evidence in the WORM store`,
  );
  log(
    `  ${verdict(checks.everyDsrComplete)}  every data subject request 201 with all ${found} records found (access) or redacted (delete), none left after`,
  );
  for (const s of summaries)
    log(
      `  info  ${s.name}: a critical control stale after ${s.phasesWithCriticalStale} of ${s.phases} gap positions (worst ${fixed(s.worstCriticalStaleHours * 60, 1)} min)`,
    );
  log(
    `  info  the full catalog: p50 ${fixed(conductorWall.p50, 0)} ms, ${thousands(conductorRate)} evidence objects/s, ${fixed(ratio, 3)}x bare puts (no bar)`,
  );
  if (otherShare() > 0.1)
    log(
      `\nWARNING: other processes used up to ${fixed(100 * otherShare(), 0)}% of the machine during a timed phase: figures are skewed, run again on a quiet machine`,
    );

  const roundJson = (r: CatalogRound) => round(r.wallMs, 1);
  const file = writeResult('compliance', {
    benchmark: 'compliance',
    measuredAt: new Date().toISOString(),
    machine: machine(),
    machineBusyBefore: round(busyBefore, 3),
    otherCpuShareMax: round(otherShare(), 3),
    wallSeconds: round((performance.now() - startedAt) / 1000, 1),
    config: {
      rounds: ROUNDS,
      frameworks: FRAMEWORKS,
      days: DAYS,
      dueMarginHours: DUE_MARGIN_HOURS,
      dueToleranceHours: DUE_TOLERANCE_HOURS,
      staleAfterHours: STALE_AFTER_HOURS,
      timedTestSeconds: TEST_SECONDS,
      timedFireJitterSeconds: FIRE_JITTER_SECONDS,
    },
    bars: BARS,
    catalog: {
      controls: catalog.controls.size,
      frameworks: Object.fromEntries(
        FRAMEWORKS.map((f) => [f, { controls: controlsOf(catalog, f).length, tests: testsOf(catalog, f) }]),
      ),
      inNoFramework: unmapped,
    },
    fullCatalog: {
      firstScheduledSweepMs: round(http.firstSweepMs, 1),
      freshAfterFirstSweep: http.freshAfterSweep,
      freshAfterRounds: http.freshAfterRounds,
      objectsPerRound: http.objectsPerRound,
      bodyBytes: roundSummary(http.bodyBytes, 1),
      results: http.resultCounts,
      testResults: http.warmResults,
      simulationTestResults: simTests,
      afterSeed: {
        wallMs: round(http.afterSeed.wallMs, 1),
        byFramework: Object.fromEntries(
          Object.entries(http.afterSeed.byFramework).map(([f, ms]) => [f, round(ms, 1)]),
        ),
        results: http.afterSeed.results,
        tests: http.afterSeed.tests,
      },
      conductor: {
        wallMs: roundSummary(conductorWall, 1),
        wallMsPerRound: http.conductorRounds.map(roundJson),
        byFramework: Object.fromEntries(
          FRAMEWORKS.map((f) => [f, roundSummary(byFramework[f] as ReturnType<typeof summarize>, 1)]),
        ),
        evidencePerSecond: round(conductorRate, 1),
      },
      domainInProcess: {
        wallMs: roundSummary(domainWall, 1),
        evidencePerSecond: round(domainRate, 1),
        ratioToBare: round(domainRate / bareRate, 4),
      },
      bare: {
        wallMs: roundSummary(bareWall, 1),
        wallMsPerRound: http.bareRounds.map(roundJson),
        putsPerSecond: round(bareRate, 1),
      },
      ratioToBare: round(ratio, 4),
      problems: http.problems,
    },
    freshness: {
      everySweep: runs.map(simJson),
      missed: summaries,
      missedPhases: scans.map((scan) => ({
        name: scan.name,
        phases: scan.phases.map((p) => ({
          name: p.name,
          criticalFreshShareBefore: round(p.criticalFreshShareBefore, 4),
          hoursCriticalNotFresh: p.hoursCriticalNotFresh,
          criticalStaleHours: round(p.criticalStaleHours, 3),
          longestIntervalHours: round(p.longestIntervalHours, 3),
          staleEventsAfterFirst: p.staleEventsAfterFirst,
        })),
      })),
    },
    dsr: {
      people: dsr.people,
      recordsPerEntityPerPerson: dsr.perEntity,
      entities: dsr.entities,
      subjectRecords: dsr.subjectRecords,
      partitionRecords: dsr.partitionRecords,
      searchedEntities: dsr.searchedEntities,
      seedRequests: dsr.seedRequests,
      seedSeconds: round(dsr.seedMs / 1000, 1),
      access: {
        wallMs: roundSummary(accessMs, 1),
        wallMsPerRun: dsr.access.map((a) => round(a.ms, 1)),
        recordsFoundPerSecond: round((found * 1000) / accessMs.p50, 0),
        answerBytes: median(dsr.access.map((a) => a.bytes)),
        timeToBare: round(accessRatio, 3),
      },
      delete: {
        wallMs: roundSummary(deleteMs, 1),
        runs: dsr.deletes.map((d) => ({ ...d, ms: round(d.ms, 1), bareMs: round(d.bareMs, 1) })),
        recordsRedactedPerSecond: round((found * 1000) / deleteMs.p50, 0),
        timeToBareRead: round(deleteRatio, 3),
      },
      bare: {
        wallMs: roundSummary(bareReadMs, 1),
        items: bareItems,
        partitions: dsr.bare[0]?.partitions,
        queries: dsr.bare[0]?.queries,
        itemsPerSecond: round((bareItems * 1000) / bareReadMs.p50, 0),
      },
      problems: dsr.problems,
    },
    checks,
  });
  log(`\nwrote ${file} (${fixed((performance.now() - startedAt) / 1000, 1)} s)`);
  if (process.env.BENCH_STRICT === '1' && Object.values(checks).some((ok) => !ok)) process.exitCode = 1;
};

await main();
