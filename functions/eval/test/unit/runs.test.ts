import { describe, expect, it } from 'vitest';
import { ValidationError } from '#shared/errors.js';
import { refusal } from '#shared/testing/refusal.js';
import { MAX_EVAL_PRIOR_WEIGHT } from '../../src/domain/evaluation.js';
import type { RunSummary } from '../../src/domain/model.js';
import { MAX_RUN_CALLS, MAX_STORED_FLIPS, RUN_CLAIM_SECONDS, type RunRecord } from '../../src/domain/runs.js';
import { parseSuiteValue, SUITE_API_VERSION } from '../../src/domain/suite.js';
import {
  calculator,
  crashing,
  type InMemoryEval,
  inMemoryEval,
  judge,
  unreachable,
} from '../support/fakes.js';
import { rubricSuite, sumsSuite } from '../support/suites.js';

const T0 = '2026-03-01T09:00:00.000Z';
const MINUTE = 60_000;

const digestOf = (document: unknown): string => parseSuiteValue(document, 'test').digest;

const messageOf = (run: RunRecord) => ({ tenantId: run.tenantId, runId: run.id, traceId: run.traceId });

/** A calculator that gets the sums of 1 to 31 wrong: 31 of the 200, a drop of 15.5 points. */
const gets31Wrong = calculator((a) => a <= 31);
/** Calculators that get the sums of the first operands they name wrong. */
const getsTwoWrong = calculator((a) => a === 2);
const getsSevenWrong = calculator((a) => a === 7);
const getsHalfWrong = calculator((a) => a <= 30);
const gets150Wrong = calculator((a) => a <= 150);
const getsAllWrong = calculator(() => true);

/** Registers the suite `sums` of `count` sums and deploys calc v1, every sum right. */
const sumsAndCalc = async (e: InMemoryEval, count = 20) => {
  await e.service.registerSuite('acme', 'sums', sumsSuite({ count }), 'operator-1');
  return e.experts.deploy('calc', 'v1', calculator());
};

/** A run request of calc on `sums` under an idempotencyKey. */
const keyed = (idempotencyKey: string, expertIds = ['calc']) => ({
  suiteId: 'sums',
  expertIds,
  concurrency: 2,
  retries: 0,
  idempotencyKey,
});

/** Runs calc, as it is deployed now, against the baseline `sums-main`. */
const runAgainstBaseline = (e: InMemoryEval) =>
  e.run('acme', { suiteId: 'sums', expertIds: ['calc'], baselineId: 'sums-main' });

/** A registered suite of `count` sums, and a completed run of calc v1 (every sum right) as baseline `sums-main`. */
const withBaseline = async (e: InMemoryEval, count = 200) => {
  const v1 = await sumsAndCalc(e, count);
  const first = await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });
  const baseline = await e.service.snapshotBaseline('acme', first.id, 'sums-main', 'operator-1');
  return { v1, first, baseline };
};

describe('EvalService', () => {
  describe('registerSuite', () => {
    it('stores the first version as the suite, its version, and its document under its digest', async () => {
      // Prepare
      const e = inMemoryEval();
      const document = sumsSuite({ count: 20, trials: 2 });
      const digest = digestOf(document);

      // Act
      const record = await e.service.registerSuite('acme', 'sums', document, 'operator-1');

      // Assess
      expect(record).toEqual({
        tenantId: 'acme',
        id: 'sums',
        version: 1,
        createdAt: T0,
        updatedAt: T0,
        suiteVersion: '1',
        digest,
        description: 'Sums of whole numbers',
        expertType: 'calculator',
        tasks: 20,
        calls: 40,
        tolerance: 0.05,
        confidence: 0.99,
        judges: [],
        documentKey: `eval/acme/suites/sums/${digest}.json`,
        registeredBy: 'operator-1',
      });
      expect(e.suites.all()).toEqual([record]);
      expect(e.suiteVersions.all()).toEqual([
        {
          tenantId: 'acme',
          id: 'sums@1',
          version: 1,
          createdAt: T0,
          updatedAt: T0,
          digest,
          documentKey: record.documentKey,
          registeredBy: 'operator-1',
        },
      ]);
      expect([...e.artifacts.objects.keys()]).toEqual([record.documentKey]);
    });

    it('answers the same document again with the same record, its version not bumped', async () => {
      // Prepare
      const e = inMemoryEval();
      const first = await e.service.registerSuite('acme', 'sums', sumsSuite(), 'operator-1');
      e.clock.advance(MINUTE);

      // Act
      const again = await e.service.registerSuite('acme', 'sums', sumsSuite(), 'operator-2');

      // Assess
      expect(again).toEqual(first);
      expect(e.suites.all()).toEqual([first]);
      expect(e.suiteVersions.all()).toHaveLength(1);
      expect(e.artifacts.objects.size).toBe(1);
    });

    it('refuses the same version with other content with 409 suite_version_exists, changing nothing', async () => {
      // Prepare
      const e = inMemoryEval();
      const first = await e.service.registerSuite('acme', 'sums', sumsSuite({ count: 20 }), 'operator-1');
      e.clock.advance(MINUTE);

      // Act
      const error = await refusal(
        e.service.registerSuite('acme', 'sums', sumsSuite({ count: 21 }), 'operator-1'),
      );

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('suite_version_exists');
      expect(e.suites.all()).toEqual([first]);
      expect(e.suiteVersions.all()).toHaveLength(1);
      expect(e.artifacts.objects.size).toBe(1);
    });

    it('makes a new version the latest, keeping when the suite was created', async () => {
      // Prepare
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ count: 20 }), 'operator-1');
      e.clock.advance(MINUTE);
      const document = sumsSuite({ version: '2', count: 30 });

      // Act
      const second = await e.service.registerSuite('acme', 'sums', document, 'operator-2');

      // Assess
      expect(second).toMatchObject({
        version: 2,
        createdAt: T0,
        updatedAt: '2026-03-01T09:01:00.000Z',
        suiteVersion: '2',
        digest: digestOf(document),
        tasks: 30,
        registeredBy: 'operator-2',
      });
      expect(e.suites.all()).toEqual([second]);
      expect(e.suiteVersions.all().map((version) => version.id)).toEqual(['sums@1', 'sums@2']);
    });

    it('answers an older version registered again as it was registered, the suite staying at its latest', async () => {
      // Prepare
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ version: '1' }), 'operator-1');
      e.clock.advance(MINUTE);
      const latest = await e.service.registerSuite('acme', 'sums', sumsSuite({ version: '2' }), 'operator-2');
      e.clock.advance(MINUTE);

      // Act
      const older = await e.service.registerSuite('acme', 'sums', sumsSuite({ version: '1' }), 'operator-3');

      // Assess
      expect(older).toMatchObject({
        suiteVersion: '1',
        digest: digestOf(sumsSuite({ version: '1' })),
        updatedAt: T0,
        registeredBy: 'operator-1',
      });
      expect(e.suites.all()).toEqual([latest]);
    });

    // Two versions registered in the same millisecond: the older one registered again is still older.
    it('keeps the latest when an older version registered in the same millisecond is registered again', async () => {
      // Prepare
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ version: '1' }), 'operator-1');
      await e.service.registerSuite('acme', 'sums', sumsSuite({ version: '2' }), 'operator-2');

      // Act
      await e.service.registerSuite('acme', 'sums', sumsSuite({ version: '1' }), 'operator-3');

      // Assess
      expect((await e.suites.get('acme', 'sums'))?.suiteVersion).toBe('2');
    });

    it("refuses a document whose id is not the path's suiteId with 400 invalid_suite, storing nothing", async () => {
      // Prepare
      const e = inMemoryEval();

      // Act
      const error = await refusal(e.service.registerSuite('acme', 'other', sumsSuite(), 'operator-1'));

      // Assess
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.statusCode).toBe(400);
      expect(error.code).toBe('invalid_suite');
      expect(error.details).toEqual({ issues: [{ path: 'id', message: "must be 'other'" }] });
      expect(e.suites.all()).toEqual([]);
      expect(e.artifacts.objects.size).toBe(0);
    });

    it('refuses custom scorers with 400 invalid_suite: they run only standalone', async () => {
      // Prepare
      const e = inMemoryEval();
      const document = sumsSuite({ count: 3 });
      const tasks = document.tasks.map((task, index) =>
        index === 1 ? { ...task, scorer: { type: 'custom', module: './score.js' } } : task,
      );

      // Act
      const error = await refusal(
        e.service.registerSuite('acme', 'sums', { ...document, tasks }, 'operator-1'),
      );

      // Assess
      expect(error).toBeInstanceOf(ValidationError);
      expect(error.code).toBe('invalid_suite');
      expect(error.details).toEqual({
        issues: [{ path: 'tasks[1].scorer', message: 'custom scorers run only in standalone mode' }],
      });
      expect(e.suites.all()).toEqual([]);
      expect(e.suiteVersions.all()).toEqual([]);
      expect(e.artifacts.objects.size).toBe(0);
    });

    it('stores a document that parses back to the same suite and digest, every default spelled out', async () => {
      // Prepare
      const e = inMemoryEval();
      const document = {
        apiVersion: SUITE_API_VERSION,
        id: 'every-scorer',
        version: '7',
        defaults: { tolerance: 0.1, weight: 2 },
        tasks: [
          {
            id: 'exact',
            input: { question: '1+1', nested: { b: 1, a: [{ d: 1, c: 2 }] } },
            expected: 2,
            scorer: { type: 'exact' },
            outputPath: 'answer',
          },
          {
            id: 'contains',
            input: 'hello',
            expected: ['he', 'lo'],
            scorer: { type: 'contains', caseSensitive: false },
          },
          { id: 'regex', input: {}, scorer: { type: 'regex', pattern: '^\\d+$' } },
          {
            id: 'numeric',
            input: { q: 1 },
            expected: 3.14,
            scorer: { type: 'numeric', tolerance: 0.01, relative: true },
            trials: 3,
            weight: 0.5,
          },
          { id: 'subset', input: null, expected: { a: { b: [1] } }, scorer: { type: 'json-subset' } },
          {
            id: 'schema',
            input: [1, 2],
            scorer: { type: 'json-schema', schema: { type: 'object', required: ['x'] } },
          },
          {
            id: 'judged',
            input: { q: 'why' },
            scorer: { type: 'rubric', judgeExpertId: 'judge-1', rubric: 'Kind?' },
          },
        ],
      };

      // Act
      const record = await e.service.registerSuite('acme', 'every-scorer', document, 'operator-1');

      // Assess
      const stored = await e.artifacts.get(record.documentKey);
      const parsed = parseSuiteValue(JSON.parse(stored ?? 'null'), record.documentKey);
      expect(parsed).toEqual(parseSuiteValue(document, 'document'));
      expect(parsed.digest).toBe(record.digest);
      expect(record).toMatchObject({ calls: 9, judges: ['judge-1'], tolerance: 0.05, confidence: 0.99 });
    });
  });

  describe('submitRun', () => {
    it('resolves the experts and the judges of rubric tasks now, writes the run queued and queues it', async () => {
      // Prepare
      const e = inMemoryEval();
      const suite = await e.service.registerSuite(
        'acme',
        'explained-sums',
        rubricSuite('judge-1'),
        'operator-1',
      );
      const calc = e.experts.deploy('calc', 'v1', calculator());
      const judgeOne = e.experts.deploy('judge-1', 'v3', judge(1));

      // Act
      const result = await e.submitRun('acme', {
        suiteId: 'explained-sums',
        expertIds: ['calc'],
        concurrency: 4,
        retries: 1,
      });

      // Assess
      expect(result.replayed).toBe(false);
      expect(result.run).toMatchObject({
        tenantId: 'acme',
        id: 'run_000001',
        version: 1,
        createdAt: T0,
        suiteId: 'explained-sums',
        suiteVersion: '1',
        suiteDigest: suite.digest,
        documentKey: suite.documentKey,
        expertIds: ['calc'],
        experts: { calc },
        judges: { 'judge-1': judgeOne.endpoint },
        concurrency: 4,
        retries: 1,
        phase: 'queued',
        requestedBy: 'operator-1',
        traceId: 'trace-acme',
      });
      expect(e.experts.resolutions).toEqual([['calc', 'judge-1']]);
      expect(e.runs.all()).toEqual([result.run]);
      expect(e.queue.sent).toEqual([{ tenantId: 'acme', runId: 'run_000001', traceId: 'trace-acme' }]);
    });

    it('refuses an unknown suite with 404 suite_not_found, resolving and queuing nothing', async () => {
      // Prepare
      const e = inMemoryEval();
      e.experts.deploy('calc', 'v1', calculator());

      // Act
      const error = await refusal(e.submitRun('acme', { suiteId: 'nope', expertIds: ['calc'] }));

      // Assess
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe('suite_not_found');
      expect(e.experts.resolutions).toEqual([]);
      expect(e.runs.all()).toEqual([]);
      expect(e.queue.sent).toEqual([]);
    });

    it('refuses an unknown baseline with 404 baseline_not_found', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);

      // Act
      const error = await refusal(
        e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'], baselineId: 'nope' }),
      );

      // Assess
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe('baseline_not_found');
      expect(e.runs.all()).toEqual([]);
    });

    it('refuses a baseline of another suite with 422 baseline_suite_mismatch', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e, 20);
      await e.service.registerSuite('acme', 'other-sums', sumsSuite({ id: 'other-sums' }), 'operator-1');
      const runsBefore = e.runs.all();

      // Act
      const error = await refusal(
        e.submitRun('acme', { suiteId: 'other-sums', expertIds: ['calc'], baselineId: 'sums-main' }),
      );

      // Assess
      expect(error.statusCode).toBe(422);
      expect(error.code).toBe('baseline_suite_mismatch');
      expect(e.runs.all()).toEqual(runsBefore);
    });

    it('accepts a run of MAX_RUN_CALLS calls and refuses one beyond with 422 run_too_large', async () => {
      // Prepare: 1,000 tasks × 20 trials is MAX_RUN_CALLS for one expert.
      const e = inMemoryEval();
      const suite = await e.service.registerSuite(
        'acme',
        'sums',
        sumsSuite({ count: 1000, trials: 20 }),
        'operator-1',
      );
      e.experts.deploy('calc', 'v1', calculator());
      e.experts.deploy('calc-2', 'v1', calculator());
      const request = { suiteId: 'sums' };

      // Act
      const one = await e.submitRun('acme', { ...request, expertIds: ['calc'] });
      const two = await refusal(e.submitRun('acme', { ...request, expertIds: ['calc', 'calc-2'] }));

      // Assess
      expect(suite.calls).toBe(MAX_RUN_CALLS);
      expect(one.run.phase).toBe('queued');
      expect(two.statusCode).toBe(422);
      expect(two.code).toBe('run_too_large');
      expect(two.message).toContain('40000 calls');
      expect(e.runs.all()).toHaveLength(1);
      expect(e.queue.sent).toHaveLength(1);
    });

    it("passes on the resolver's 422 unknown_expert, storing and queuing nothing", async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);

      // Act
      const error = await refusal(e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc', 'ghost'] }));

      // Assess
      expect(error.statusCode).toBe(422);
      expect(error.code).toBe('unknown_expert');
      expect(e.runs.all()).toEqual([]);
      expect(e.queue.sent).toEqual([]);
    });

    it('answers a replayed idempotencyKey with the same run, replayed, handing it over again only while queued', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      const request = keyed('ci-42');
      const first = await e.service.submitRun('acme', request, 'operator-1', 'trace-1', e.submit);

      // Act
      const queuedReplay = await e.service.submitRun('acme', request, 'operator-2', 'trace-2', e.submit);
      const done = await e.service.execute(messageOf(first.run), e.execute);
      const completedReplay = await e.service.submitRun('acme', request, 'operator-2', 'trace-3', e.submit);

      // Assess
      expect(first.run.id).toMatch(/^run_[0-9a-f]{32}$/);
      expect(queuedReplay).toEqual({ run: first.run, replayed: true });
      expect(completedReplay).toEqual({ run: done, replayed: true });
      expect(e.runs.all()).toHaveLength(1);
      expect(e.experts.resolutions).toHaveLength(1);
      // Handed over again while queued (the first hand-off may have been lost), not once completed.
      expect(e.queue.sent).toEqual([messageOf(first.run), messageOf(first.run)]);
    });

    it('answers two submissions of one idempotencyKey at once with one run', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      const request = keyed('ci-7');

      // Act
      const [a, b] = await Promise.all([
        e.service.submitRun('acme', request, 'operator-1', 'trace-a', e.submit),
        e.service.submitRun('acme', request, 'operator-1', 'trace-b', e.submit),
      ]);

      // Assess
      expect(a.run).toEqual(b.run);
      expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
      expect(e.runs.all()).toHaveLength(1);
      expect(new Set(e.queue.sent.map((message) => message.runId))).toEqual(new Set([a.run.id]));
    });

    it("keeps a tenant's suites, baselines and runs to itself", async () => {
      // Prepare
      const e = inMemoryEval();
      const { first } = await withBaseline(e, 20);
      const request = { suiteId: 'sums', expertIds: ['calc'] };

      // Act
      const suite = await refusal(e.submitRun('globex', request));
      await e.service.registerSuite('globex', 'sums', sumsSuite({ count: 20 }), 'op');
      const baseline = await refusal(e.submitRun('globex', { ...request, baselineId: 'sums-main' }));
      const run = await refusal(e.service.getRun('globex', first.id));
      const executed = await e.service.execute({ ...messageOf(first), tenantId: 'globex' }, e.execute);

      // Assess
      expect(suite.code).toBe('suite_not_found');
      expect(baseline.code).toBe('baseline_not_found');
      expect(run.code).toBe('run_not_found');
      expect(executed).toBeUndefined();
    });

    it('refuses an idempotencyKey reused for another request with 409 idempotency_key_reused', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      e.experts.deploy('calc-2', 'v1', calculator());
      await e.service.submitRun('acme', keyed('ci-42'), 'operator-1', 'trace-1', e.submit);
      const before = e.runs.all();

      // Act
      const error = await refusal(
        e.service.submitRun('acme', keyed('ci-42', ['calc-2']), 'operator-1', 'trace-2', e.submit),
      );

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('idempotency_key_reused');
      expect(e.runs.all()).toEqual(before);
      expect(e.queue.sent).toHaveLength(1);
    });

    it('answers 503 run_not_queued when the queue refuses, and fails a run no key can bring back', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      e.queue.failing = true;

      // Act
      const error = await refusal(e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'] }));

      // Assess
      expect(error.statusCode).toBe(503);
      expect(error.code).toBe('run_not_queued');
      expect(e.queueErrors).toEqual(['run_000001']);
      expect(e.runs.all()).toEqual([
        expect.objectContaining({
          id: 'run_000001',
          version: 2,
          phase: 'failed',
          error: 'The eval queue refused the run.',
        }),
      ]);
      // A stray delivery of it would not run it: it failed without reaching the queue.
      expect(
        await e.service.execute({ tenantId: 'acme', runId: 'run_000001', traceId: 't' }, e.execute),
      ).toBe(undefined);
    });

    it('leaves a keyed run queued when the queue refuses, so a retry with its key queues it', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      const request = keyed('k-1');
      e.queue.failing = true;
      const error = await refusal(e.service.submitRun('acme', request, 'operator-1', 'trace-1', e.submit));
      const [stored] = e.runs.all();

      // Act
      e.queue.failing = false;
      const retried = await e.service.submitRun('acme', request, 'operator-1', 'trace-2', e.submit);

      // Assess
      expect(error.code).toBe('run_not_queued');
      expect(stored).toMatchObject({ phase: 'queued', version: 1 });
      expect(retried).toEqual({ run: stored, replayed: true });
      expect(e.queue.sent).toEqual([{ tenantId: 'acme', runId: stored?.id, traceId: 'trace-1' }]);
      expect((await e.service.execute(messageOf(retried.run), e.execute))?.phase).toBe('completed');
    });
  });

  describe('execute', () => {
    it('completes a queued run with its metrics and a report the artifacts store keeps', async () => {
      // Prepare
      const e = inMemoryEval();
      const calc = await sumsAndCalc(e, 20);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'], concurrency: 4 });
      e.clock.advance(1_000);

      // Act
      const done = await e.service.execute(messageOf(run), e.execute);

      // Assess
      expect(done).toMatchObject({
        phase: 'completed',
        verdict: 'pass',
        metrics: [
          {
            expertId: 'calc',
            passRate: 1,
            meanScore: 1,
            tasks: 20,
            scoredTrials: 20,
            errorTrials: 0,
            meanLatencyMs: 5,
          },
        ],
        verdicts: [],
        quarantined: [],
        startedAt: '2026-03-01T09:00:01.000Z',
        finishedAt: '2026-03-01T09:00:01.000Z',
      });
      expect(done?.reportKey).toMatch(/^eval\/acme\/runs\/run_000001\/report-[0-9a-f]{16}\.json$/);
      expect(await e.runs.get('acme', run.id)).toEqual(done);
      const report = await e.service.report('acme', run.id);
      expect(report).toMatchObject({
        apiVersion: 'conductor.eval-report/v1',
        runId: run.id,
        suiteId: 'sums',
        status: 'pass',
        metrics: done?.metrics,
      });
      expect(report.results).toHaveLength(20);
      expect(e.experts.calls).toHaveLength(20);
      expect(new Set(e.experts.calls.map((call) => call.endpoint))).toEqual(new Set([calc.endpoint]));
      expect(e.events.published).toEqual([]);
    });

    it('declares a regression of an expert that got 31 of 200 sums wrong, and publishes eval_regression', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e);
      e.experts.deploy('calc', 'v2', gets31Wrong);

      // Act
      const run = await runAgainstBaseline(e);

      // Assess
      expect(run.verdict).toBe('regression');
      const [verdict] = run.verdicts ?? [];
      expect(verdict).toMatchObject({
        expertId: 'calc',
        verdict: 'regression',
        baselineRate: 1,
        currentRate: 0.845,
        tasksCompared: 200,
        severity: 'major',
      });
      expect(verdict?.delta).toBeCloseTo(-0.155, 10);
      expect(verdict?.flips).toHaveLength(31);
      expect(verdict?.flips[0]).toEqual({ taskId: 'sum-001', baseline: 1, current: 0 });
      expect(verdict).not.toHaveProperty('flipCount');
      expect(e.events.published).toEqual([
        {
          type: 'eval_regression',
          detail: {
            tenantId: 'acme',
            traceId: 'trace-acme',
            occurredAt: run.finishedAt,
            runId: run.id,
            suiteId: 'sums',
            expertId: 'calc',
            baselineId: 'sums-main',
            metric: 'pass_rate',
            baseline: 1,
            observed: 0.845,
            delta: verdict?.delta,
            tolerance: 0.05,
            severity: 'major',
          },
        },
      ]);
      expect(verdict?.delta).toBeLessThan(0);
      expect((await e.service.report('acme', run.id)).verdicts[0]?.verdict).toBe('regression');
      expect(e.publishErrors).toEqual([]);
    });

    it('passes an expert whose answers did not change, publishing nothing', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e);
      e.experts.deploy('calc', 'v2', calculator());

      // Act
      const run = await runAgainstBaseline(e);

      // Assess
      expect(run.verdict).toBe('pass');
      expect(run.verdicts).toEqual([
        expect.objectContaining({ verdict: 'pass', delta: 0, tasksCompared: 200, flips: [] }),
      ]);
      expect(e.events.published).toEqual([]);
    });

    it('calls the endpoints resolved at submission, even after the expert is redeployed', async () => {
      // Prepare
      const e = inMemoryEval();
      const v1 = await sumsAndCalc(e, 5);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'] });
      e.experts.deploy('calc', 'v2', getsAllWrong);

      // Act
      const done = await e.service.execute(messageOf(run), e.execute);

      // Assess
      expect(done?.metrics?.[0]?.passRate).toBe(1);
      expect(e.experts.calls.map((call) => call.endpoint)).toEqual(Array(5).fill(v1.endpoint));
    });

    it("does nothing on a second delivery of a completed run's message", async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      const done = await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });
      const calls = e.experts.calls.length;
      e.clock.advance(RUN_CLAIM_SECONDS * 1000 * 2);

      // Act
      const again = await e.service.execute(messageOf(done), e.execute);

      // Assess
      expect(again).toBeUndefined();
      expect(await e.runs.get('acme', done.id)).toEqual(done);
      expect(e.experts.calls).toHaveLength(calls);
    });

    it('runs a run once when two deliveries claim it at once', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e, 20);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'], concurrency: 4 });

      // Act
      const outcomes = await Promise.all([
        e.service.execute(messageOf(run), e.execute),
        e.service.execute(messageOf(run), e.execute),
      ]);

      // Assess
      expect(outcomes.filter((outcome) => outcome === undefined)).toHaveLength(1);
      expect(outcomes.find((outcome) => outcome !== undefined)).toMatchObject({ phase: 'completed' });
      expect(e.experts.calls).toHaveLength(20);
    });

    it('scores rubric tasks through the judge resolved at submission', async () => {
      // Prepare
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'explained-sums', rubricSuite('judge-1'), 'operator-1');
      e.experts.deploy('calc', 'v1', calculator());
      const judgeOne = e.experts.deploy('judge-1', 'v1', judge(0.5));
      const { run } = await e.submitRun('acme', { suiteId: 'explained-sums', expertIds: ['calc'] });
      e.experts.deploy('judge-1', 'v2', judge(1));

      // Act
      const done = await e.service.execute(messageOf(run), e.execute);

      // Assess: two sums pass, the explained one scores 0.5 in each of its two trials.
      expect(done?.metrics).toEqual([
        expect.objectContaining({ expertId: 'calc', passRate: 2 / 3, meanScore: 2.5 / 3, scoredTrials: 4 }),
      ]);
      expect(e.experts.calls.filter((call) => call.expertId === 'judge-1')).toEqual([
        { expertId: 'judge-1', endpoint: judgeOne.endpoint, taskId: 'judge' },
        { expertId: 'judge-1', endpoint: judgeOne.endpoint, taskId: 'judge' },
      ]);
    });

    it('leaves a run running within its claim window alone, and runs it again once the claim has lapsed', async () => {
      // Prepare: a worker dies mid-run, leaving the run running.
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ count: 5 }), 'operator-1');
      const calc = e.experts.deploy('calc', 'v1', crashing);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'] });
      await expect(e.service.execute(messageOf(run), e.execute)).rejects.toThrow('the worker died');
      const claimed = await e.runs.get('acme', run.id);
      e.experts.behave(calc.endpoint, calculator());

      // Act
      e.clock.advance(RUN_CLAIM_SECONDS * 1000 - 1);
      const withinClaim = await e.service.execute(messageOf(run), e.execute);
      const untouched = await e.runs.get('acme', run.id);
      e.clock.advance(1);
      const afterClaim = await e.service.execute(messageOf(run), e.execute);

      // Assess
      expect(claimed).toMatchObject({ phase: 'running', startedAt: T0 });
      expect(withinClaim).toBeUndefined();
      expect(untouched).toEqual(claimed);
      expect(afterClaim).toMatchObject({
        phase: 'completed',
        verdict: 'pass',
        startedAt: '2026-03-01T09:15:00.000Z',
      });
    });

    it('fails the run with a reason when its suite document is gone, and does not run it again', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'] });
      e.artifacts.objects.delete(run.documentKey);

      // Act
      const failed = await e.service.execute(messageOf(run), e.execute);
      const redelivered = await e.service.execute(messageOf(run), e.execute);

      // Assess
      expect(failed).toMatchObject({
        phase: 'failed',
        error: `The suite document ${run.documentKey} is missing.`,
        finishedAt: T0,
      });
      expect(failed).not.toHaveProperty('deadLetteredAt');
      expect(redelivered).toBeUndefined();
      expect(e.experts.calls).toEqual([]);
    });

    it('fails the run with a reason when its baseline is gone', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e, 20);
      const { run } = await e.submitRun('acme', {
        suiteId: 'sums',
        expertIds: ['calc'],
        baselineId: 'sums-main',
      });
      await e.baselines.delete('acme', 'sums-main');

      // Act
      const failed = await e.service.execute(messageOf(run), e.execute);

      // Assess
      expect(failed).toMatchObject({ phase: 'failed', error: 'No baseline sums-main in this tenant.' });
    });

    // Not retriable: the run fails with why (a redrive could not succeed either).
    it('fails the run with a reason when its baseline pass rates are gone', async () => {
      // Prepare
      const e = inMemoryEval();
      const { baseline } = await withBaseline(e, 20);
      const { run } = await e.submitRun('acme', {
        suiteId: 'sums',
        expertIds: ['calc'],
        baselineId: 'sums-main',
      });
      e.artifacts.objects.delete(baseline.ratesKey);

      // Act
      const outcome = await e.service.execute(messageOf(run), e.execute).catch((error: unknown) => error);

      // Assess
      expect(outcome).toMatchObject({ phase: 'failed', error: expect.stringContaining(baseline.ratesKey) });
      expect(await e.runs.get('acme', run.id)).toMatchObject({ phase: 'failed' });
    });

    it('keeps the verdict when the bus refuses eval_regression, telling onPublishError', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e);
      e.experts.deploy('calc', 'v2', gets31Wrong);
      e.events.failing = true;

      // Act
      const run = await runAgainstBaseline(e);

      // Assess
      expect(run).toMatchObject({ phase: 'completed', verdict: 'regression' });
      expect(await e.runs.get('acme', run.id)).toEqual(run);
      expect(e.events.published).toEqual([]);
      expect(e.publishErrors).toEqual([run.id]);
    });

    it('marks a run failed on its last delivery, and runs it to completion on a redrive', async () => {
      // Prepare
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ count: 5 }), 'operator-1');
      const calc = e.experts.deploy('calc', 'v1', crashing);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'] });
      const error = await e.service.execute(messageOf(run), e.execute).catch((thrown: unknown) => thrown);
      e.clock.advance(MINUTE);

      // Act
      await e.service.markFailed(messageOf(run), error);
      const deadLettered = await e.runs.get('acme', run.id);
      e.experts.behave(calc.endpoint, calculator());
      e.clock.advance(MINUTE);
      const redriven = await e.service.execute(messageOf(run), e.execute);

      // Assess
      expect(deadLettered).toMatchObject({
        phase: 'failed',
        deadLetteredAt: '2026-03-01T09:01:00.000Z',
        finishedAt: '2026-03-01T09:01:00.000Z',
        error: expect.stringContaining('the worker died'),
      });
      expect(deadLettered?.error).toContain('DLQ');
      // Two minutes after the dead delivery claimed it: a redrive is not held back by that claim.
      expect(redriven).toMatchObject({
        phase: 'completed',
        verdict: 'pass',
        startedAt: '2026-03-01T09:02:00.000Z',
      });
      expect(redriven).not.toHaveProperty('deadLetteredAt');
      expect(redriven).not.toHaveProperty('error');
    });

    it('leaves a completed run, and an unknown one, as they are when marked failed', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e, 5);
      const done = await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });

      // Act
      await e.service.markFailed(messageOf(done), new Error('late'));
      await e.service.markFailed({ tenantId: 'acme', runId: 'run_unknown', traceId: 't' }, new Error('late'));

      // Assess
      expect(e.runs.all()).toEqual([done]);
    });
  });

  describe('quarantine through execute', () => {
    it('quarantines a task the same expert flipped between two runs, and leaves it out of the gate', async () => {
      // Prepare: the same endpoint and fingerprint now gets sum 7 wrong ("nothing changed").
      const e = inMemoryEval();
      const { v1, first } = await withBaseline(e);
      e.experts.behave(v1.endpoint, getsSevenWrong);

      // Act
      const flipped = await runAgainstBaseline(e);
      const next = await runAgainstBaseline(e);

      // Assess
      const entry = {
        suiteId: 'sums',
        taskId: 'sum-007',
        expertId: 'calc',
        reason: `passed in run ${first.id}, failed in ${flipped.id}, same suite and expert`,
        since: flipped.finishedAt,
        stableRuns: 0,
      };
      expect(flipped.quarantined).toEqual([entry]);
      expect(e.quarantineChanges).toEqual([
        {
          tenantId: 'acme',
          change: {
            at: flipped.finishedAt,
            action: 'quarantined',
            suiteId: 'sums',
            taskId: 'sum-007',
            expertId: 'calc',
            reason: entry.reason,
            runId: flipped.id,
          },
        },
      ]);
      expect(flipped.verdicts).toEqual([
        expect.objectContaining({ verdict: 'pass', tasksCompared: 199, flips: [] }),
      ]);
      expect(next.verdicts).toEqual([
        expect.objectContaining({ verdict: 'pass', tasksCompared: 199, flips: [] }),
      ]);
      const quarantine = await e.quarantines.get('acme', 'sums');
      expect(quarantine?.entries).toEqual([{ ...entry, stableRuns: 1 }]);
      expect(quarantine?.previous).toMatchObject({
        runId: next.id,
        expertFingerprints: { calc: 'calc@v1' },
        reportKey: next.reportKey,
      });
    });

    it('does not quarantine a flip after the expert changed (another fingerprint)', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e);
      e.experts.deploy('calc', 'v2', getsSevenWrong);

      // Act
      const run = await runAgainstBaseline(e);

      // Assess
      expect(run.quarantined).toEqual([]);
      expect(e.quarantineChanges).toEqual([]);
      expect((await e.quarantines.get('acme', 'sums'))?.entries).toEqual([]);
      expect(run.verdicts).toEqual([
        expect.objectContaining({
          tasksCompared: 200,
          flips: [{ taskId: 'sum-007', baseline: 1, current: 0 }],
        }),
      ]);
    });
  });

  describe('snapshotBaseline and promoteBaseline', () => {
    it("snapshots a completed run's pass rates under an id, the rates written once", async () => {
      // Prepare
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ count: 3 }), 'operator-1');
      e.experts.deploy('calc', 'v1', getsTwoWrong);
      const run = await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });

      // Act
      const baseline = await e.service.snapshotBaseline('acme', run.id, 'sums-main', 'operator-1');

      // Assess
      expect(baseline).toEqual({
        tenantId: 'acme',
        id: 'sums-main',
        version: 1,
        createdAt: T0,
        updatedAt: T0,
        suiteId: 'sums',
        suiteDigest: run.suiteDigest,
        sourceRunId: run.id,
        promoted: false,
        experts: [{ expertId: 'calc', passRate: 2 / 3, tasks: 3 }],
        ratesKey: expect.stringMatching(/^eval\/acme\/baselines\/sums-main\/[0-9a-f]{64}\.json$/),
        createdBy: 'operator-1',
      });
      expect(JSON.parse((await e.artifacts.get(baseline.ratesKey)) ?? 'null')).toEqual({
        passRates: { calc: { 'sum-001': 1, 'sum-002': 0, 'sum-003': 1 } },
        weights: { 'sum-001': 1, 'sum-002': 1, 'sum-003': 1 },
      });
    });

    it('replaces an unpromoted baseline, and refuses to change a promoted one with 409 baseline_promoted', async () => {
      // Prepare
      const e = inMemoryEval();
      const { first } = await withBaseline(e, 20);
      const second = await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });

      // Act
      const replaced = await e.service.snapshotBaseline('acme', second.id, 'sums-main', 'operator-2');
      const promoted = await e.service.promoteBaseline('acme', 'sums-main', 'admin-1');
      const error = await refusal(e.service.snapshotBaseline('acme', first.id, 'sums-main', 'operator-1'));

      // Assess
      expect(replaced).toMatchObject({ version: 2, sourceRunId: second.id, promoted: false });
      expect(promoted).toMatchObject({
        version: 3,
        sourceRunId: second.id,
        promoted: true,
        promotedAt: T0,
        promotedBy: 'admin-1',
      });
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('baseline_promoted');
      expect(e.baselines.all()).toEqual([promoted]);
    });

    it('promotes once: promoting again changes nothing', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e, 20);
      const promoted = await e.service.promoteBaseline('acme', 'sums-main', 'admin-1');
      e.clock.advance(MINUTE);

      // Act
      const again = await e.service.promoteBaseline('acme', 'sums-main', 'admin-2');

      // Assess
      expect(again).toEqual(promoted);
      expect(e.baselines.all()).toEqual([promoted]);
    });

    it('refuses to promote an unknown baseline with 404 baseline_not_found', async () => {
      // Prepare
      const e = inMemoryEval();

      // Act
      const error = await refusal(e.service.promoteBaseline('acme', 'nope', 'admin-1'));

      // Assess
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe('baseline_not_found');
    });

    it('refuses a run that failed on the infrastructure with 409 run_not_baseline', async () => {
      // Prepare
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ count: 5 }), 'operator-1');
      e.experts.deploy('calc', 'v1', unreachable);
      const run = await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });

      // Act
      const error = await refusal(e.service.snapshotBaseline('acme', run.id, 'sums-main', 'operator-1'));

      // Assess
      expect(run).toMatchObject({ phase: 'completed', verdict: 'infrastructure_failure' });
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('run_not_baseline');
      expect(e.baselines.all()).toEqual([]);
    });

    it('refuses a run not completed with 409 run_not_completed', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'] });

      // Act
      const error = await refusal(e.service.snapshotBaseline('acme', run.id, 'sums-main', 'operator-1'));

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('run_not_completed');
      expect(e.baselines.all()).toEqual([]);
    });

    it('refuses to replace a baseline of another suite with 409 baseline_suite_mismatch', async () => {
      // Prepare
      const e = inMemoryEval();
      const { baseline } = await withBaseline(e, 20);
      await e.service.registerSuite('acme', 'other-sums', sumsSuite({ id: 'other-sums' }), 'operator-1');
      const other = await e.run('acme', { suiteId: 'other-sums', expertIds: ['calc'] });

      // Act
      const error = await refusal(e.service.snapshotBaseline('acme', other.id, 'sums-main', 'operator-1'));

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('baseline_suite_mismatch');
      expect(e.baselines.all()).toEqual([baseline]);
    });
  });

  describe('priors', () => {
    it("gives a passed run's pass rates as priors, each weighing at most 1,000 graded trials", async () => {
      // Prepare: 60 tasks × 20 trials grade 1,200 trials per expert.
      const e = inMemoryEval();
      await e.service.registerSuite('acme', 'sums', sumsSuite({ count: 60, trials: 20 }), 'operator-1');
      e.experts.deploy('calc', 'v1', calculator());
      e.experts.deploy('calc-half', 'v1', getsHalfWrong);
      const run = await e.run('acme', { suiteId: 'sums', expertIds: ['calc', 'calc-half'] });

      // Act
      const priors = await e.service.priors('acme', run.id);

      // Assess
      expect(run.metrics?.map((metric) => metric.scoredTrials)).toEqual([1200, 1200]);
      expect(priors).toEqual({
        format: 'conductor.priors/v1',
        source: `eval:sums:${run.id}`,
        experts: [
          { expertId: 'calc', meanReward: 1, weight: MAX_EVAL_PRIOR_WEIGHT },
          { expertId: 'calc-half', meanReward: 0.5, weight: MAX_EVAL_PRIOR_WEIGHT },
        ],
      });
      expect(MAX_EVAL_PRIOR_WEIGHT).toBe(1000);
    });

    it('refuses a run whose gate did not pass with 409 gate_not_passed', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e);
      e.experts.deploy('calc', 'v2', gets31Wrong);
      const run = await runAgainstBaseline(e);

      // Act
      const error = await refusal(e.service.priors('acme', run.id));

      // Assess
      expect(run.verdict).toBe('regression');
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('gate_not_passed');
    });

    it('refuses a run that scored no trial with 409 no_scored_trials', async () => {
      // Prepare: every task is judged, and the judge answers no usable score.
      const e = inMemoryEval();
      const document = {
        apiVersion: SUITE_API_VERSION,
        id: 'judged',
        version: '1',
        tasks: [
          {
            id: 'kind',
            input: { question: '1+2' },
            scorer: { type: 'rubric', judgeExpertId: 'judge-1', rubric: 'Is the answer kind?' },
          },
        ],
      };
      await e.service.registerSuite('acme', 'judged', document, 'operator-1');
      e.experts.deploy('calc', 'v1', calculator());
      e.experts.deploy('judge-1', 'v1', judge('very kind'));
      const run = await e.run('acme', { suiteId: 'judged', expertIds: ['calc'] });

      // Act
      const error = await refusal(e.service.priors('acme', run.id));

      // Assess
      expect(run).toMatchObject({
        verdict: 'pass',
        metrics: [expect.objectContaining({ scoredTrials: 0, errorTrials: 1 })],
      });
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('no_scored_trials');
    });

    it('refuses a run not completed with 409 run_not_completed', async () => {
      // Prepare
      const e = inMemoryEval();
      await sumsAndCalc(e);
      const { run } = await e.submitRun('acme', { suiteId: 'sums', expertIds: ['calc'] });

      // Act
      const error = await refusal(e.service.priors('acme', run.id));

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('run_not_completed');
    });
  });

  describe('the run record caps', () => {
    it('keeps MAX_STORED_FLIPS flips of an expert on the record with flipCount, and every flip in the report', async () => {
      // Prepare
      const e = inMemoryEval();
      await withBaseline(e);
      e.experts.deploy('calc', 'v2', gets150Wrong);

      // Act
      const run = await runAgainstBaseline(e);

      // Assess
      const [verdict] = run.verdicts ?? [];
      expect(verdict).toMatchObject({ verdict: 'regression', severity: 'critical', flipCount: 150 });
      expect(verdict?.flips).toHaveLength(MAX_STORED_FLIPS);
      expect(verdict?.flips.at(-1)?.taskId).toBe('sum-100');
      const report: RunSummary = await e.service.report('acme', run.id);
      expect(report.verdicts[0]?.flips).toHaveLength(150);
      expect(report.verdicts[0]).not.toHaveProperty('flipCount');
    });

    it('keeps MAX_STORED_FLIPS quarantined tasks on the record, and every one in the report and the quarantine', async () => {
      // Prepare: the same fingerprint gets 150 sums wrong that it got right in the run before.
      const e = inMemoryEval();
      const v1 = await sumsAndCalc(e, 200);
      await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });
      e.experts.behave(v1.endpoint, gets150Wrong);

      // Act
      const run = await e.run('acme', { suiteId: 'sums', expertIds: ['calc'] });

      // Assess
      expect(run.quarantined).toHaveLength(MAX_STORED_FLIPS);
      expect((await e.service.report('acme', run.id)).quarantined).toHaveLength(150);
      const quarantine = await e.quarantines.get('acme', 'sums');
      expect(quarantine?.entries).toHaveLength(150);
      // Every change is told; the record keeps the last 100.
      expect(e.quarantineChanges).toHaveLength(150);
      expect(quarantine?.changes).toHaveLength(100);
    });
  });
});
