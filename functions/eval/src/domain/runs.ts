import { createHash } from 'node:crypto';
import {
  AppError,
  ConflictError,
  NotFoundError,
  ServiceUnavailableError,
  UnprocessableError,
  ValidationError,
} from '#shared/errors.js';
import { type ConductorEvent, type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import type { WormStore } from '#shared/ports/worm.js';
import { evalRegression } from '../../events.js';
import { baselineOf, type Evaluation, evaluate, type PreviousRun, priorsOf } from './evaluation.js';
import { passRatesOf, severityOf } from './gate.js';
import type {
  Baseline,
  ExpertMetrics,
  ExpertVerdict,
  PassRates,
  QuarantineEntry,
  RunStatus,
  RunSummary,
  Suite,
} from './model.js';
import { type QuarantineChange, updateQuarantine } from './quarantine.js';
import type { ExpertPort, RunOptions } from './runner.js';
import type { ScorerDeps } from './scorers.js';
import { canonicalJson, parseSuiteValue, SUITE_API_VERSION } from './suite.js';

/**
 * The evaluation pillar as a service (the API and the eval worker): suites registered per tenant,
 * runs submitted through the eval queue and executed by the worker, baselines snapshot from runs and
 * promoted, and the priors a passed gate gives the router. Every record is the tenant's (keys start
 * with it); documents too large for a record (suites, baselines' pass rates, reports) are written
 * once to the artifacts store under `eval/<tenant>/`, named by their digest.
 */

/** Runs are kept 30 days (DESIGN §8); their reports stay in the artifacts bucket (13 months). */
export const RUN_TTL_SECONDS = 30 * 24 * 3600;
/** The most calls one run may make (tasks × trials × experts): a run must end within the worker's 15 minutes. */
export const MAX_RUN_CALLS = 20_000;
/** Flips per expert and quarantined tasks a run's record keeps (its report keeps every one). */
export const MAX_STORED_FLIPS = 100;
/**
 * How long a worker's claim on a run holds: the eval worker's timeout (pillar.ts). A run found running
 * for less is another delivery's, whose message comes back if its worker dies; for longer, that
 * worker is gone and the run starts again.
 */
export const RUN_CLAIM_SECONDS = 15 * 60;
/** Writes of a suite's quarantine tried before a run gives up (other runs of the suite write it too). */
const QUARANTINE_WRITE_ATTEMPTS = 20;

export type RunPhase = 'queued' | 'running' | 'completed' | 'failed';

export interface SuiteRecord extends TenantRecord {
  readonly suiteVersion: string;
  readonly digest: string;
  readonly description?: string;
  readonly expertType?: string;
  readonly tasks: number;
  readonly calls: number;
  readonly tolerance: number;
  readonly confidence: number;
  readonly judges: readonly string[];
  readonly documentKey: string;
  readonly registeredBy: string;
}

/** One version of a suite (`<suiteId>@<version>`): a version never changes. */
export interface SuiteVersionRecord extends TenantRecord {
  readonly digest: string;
  readonly documentKey: string;
  readonly registeredBy: string;
}

export interface ResolvedExpert {
  readonly endpoint: string;
  /** What identifies the expert's version: a changed fingerprint is "something changed" for quarantine. */
  readonly fingerprint: string;
}

export interface RunRecord extends TenantRecord {
  readonly suiteId: string;
  readonly suiteVersion: string;
  readonly suiteDigest: string;
  readonly documentKey: string;
  readonly expertIds: readonly string[];
  readonly experts: Readonly<Record<string, ResolvedExpert>>;
  readonly judges: Readonly<Record<string, string>>;
  readonly baselineId?: string;
  readonly concurrency: number;
  readonly retries: number;
  readonly phase: RunPhase;
  readonly verdict?: RunStatus;
  readonly metrics?: readonly ExpertMetrics[];
  /** The gate's verdicts; a regression with its severity (as its eval_regression event has it). */
  readonly verdicts?: readonly RunVerdict[];
  readonly quarantined?: readonly QuarantineEntry[];
  readonly reportKey?: string;
  readonly error?: string;
  /** Set when its message failed its last delivery: a redrive from the DLQ runs it again. */
  readonly deadLetteredAt?: string;
  readonly startedAt?: string;
  readonly finishedAt?: string;
  readonly requestedBy: string;
  readonly traceId: string;
  /** SHA-256 of the request, for an idempotencyKey's replay. */
  readonly requestHash: string;
}

export type RunVerdict = ExpertVerdict & {
  readonly severity?: ReturnType<typeof severityOf>;
  /** How many tasks flipped, when more than the record keeps. */
  readonly flipCount?: number;
};

export interface BaselineRecord extends TenantRecord {
  readonly suiteId: string;
  readonly suiteDigest: string;
  readonly sourceRunId: string;
  readonly promoted: boolean;
  readonly promotedAt?: string;
  readonly promotedBy?: string;
  readonly experts: readonly { expertId: string; passRate: number; tasks: number }[];
  readonly ratesKey: string;
  readonly createdBy: string;
}

/** Per suite: its quarantined tasks, and what the last run left for the next to compare with. */
export interface QuarantineRecord extends TenantRecord {
  readonly entries: readonly QuarantineEntry[];
  readonly previous?: Omit<PreviousRun, 'passRates'> & { readonly reportKey: string };
  /** The last changes (at most 100), newest last: each is also logged. */
  readonly changes: readonly QuarantineChange[];
}

export interface EvalRunMessage {
  readonly tenantId: string;
  readonly runId: string;
  readonly traceId: string;
}

export interface EvalServiceDeps {
  readonly suites: TenantRecords<SuiteRecord>;
  readonly suiteVersions: TenantRecords<SuiteVersionRecord>;
  readonly runs: TenantRecords<RunRecord>;
  readonly baselines: TenantRecords<BaselineRecord>;
  readonly quarantines: TenantRecords<QuarantineRecord>;
  readonly artifacts: WormStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Told when the eval queue refused a run (the request answers 503). */
  readonly onQueueError?: (error: unknown, runId: string) => void;
}

export interface SubmitDeps {
  /** Resolves experts with the caller's rights (unknown or unreadable: 422 unknown_expert). */
  readonly resolve: (expertIds: readonly string[]) => Promise<Map<string, ResolvedExpert>>;
  readonly queue: { send(message: EvalRunMessage): Promise<void> };
}

export interface ExecuteDeps {
  /** The expert port over the endpoints a run resolved (and its judges, for rubric scorers). */
  readonly port: (endpoints: ReadonlyMap<string, string>) => { port: ExpertPort; scorerDeps: ScorerDeps };
  readonly events: EventPublisher;
  readonly onQuarantineChange?: (change: QuarantineChange, tenantId: string) => void;
  readonly onPublishError?: (error: unknown, runId: string) => void;
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const versionExists = (suiteId: string, version: string) =>
  new ConflictError(
    `Suite ${suiteId} version ${version} is registered with other content; a version never changes: give this one a new version.`,
    'suite_version_exists',
  );

const judgesOf = (suite: Suite): string[] =>
  [
    ...new Set(
      suite.tasks.flatMap((task) => (task.scorer.type === 'rubric' ? [task.scorer.judgeExpertId] : [])),
    ),
  ].sort();

const callsOf = (suite: Suite): number => suite.tasks.reduce((sum, task) => sum + task.trials, 0);

/**
 * The suite as the artifacts store keeps it: a `conductor.suite/v1` document with every default
 * spelled out, so the worker parses it back to the same suite, digest included.
 */
const storedDocumentOf = ({ digest: _digest, ...suite }: Suite) =>
  canonicalJson({ apiVersion: SUITE_API_VERSION, ...suite });

export class EvalService {
  constructor(private readonly deps: EvalServiceDeps) {}

  /**
   * PUT eval/suites/{suiteId}: a new version, or the same document again (no change). A version
   * registered before the suite's latest is answered as it was registered; the suite stays at its
   * latest version.
   */
  async registerSuite(tenantId: string, suiteId: string, document: unknown, actor: string) {
    const suite = parseSuiteValue(document, `suite ${suiteId}`);
    if (suite.id !== suiteId) {
      throw new ValidationError(
        `The document's id '${suite.id}' is not the path's suiteId '${suiteId}'.`,
        [{ path: 'id', message: `must be '${suiteId}'` }],
        'invalid_suite',
      );
    }
    const custom = suite.tasks.find((task) => task.scorer.type === 'custom');
    if (custom) {
      throw new ValidationError(
        `Task ${custom.id} uses a custom scorer: custom scorers run only in standalone mode (conductor-eval run), never on the service.`,
        [
          {
            path: `tasks[${suite.tasks.indexOf(custom)}].scorer`,
            message: 'custom scorers run only in standalone mode',
          },
        ],
        'invalid_suite',
      );
    }
    const now = this.deps.clock.now().toISOString();
    const versionId = `${suiteId}@${suite.version}`;
    const existing = await this.deps.suiteVersions.get(tenantId, versionId);
    if (existing && existing.digest !== suite.digest) throw versionExists(suiteId, suite.version);
    const documentKey = `eval/${tenantId}/suites/${suiteId}/${suite.digest}.json`;
    await this.deps.artifacts.putOnce(documentKey, storedDocumentOf(suite), 'application/json');
    const version =
      existing ??
      (await this.#createVersion(suiteId, suite.version, {
        tenantId,
        id: versionId,
        version: 1,
        createdAt: now,
        updatedAt: now,
        digest: suite.digest,
        documentKey,
        registeredBy: actor,
      }));
    const latest = await this.deps.suites.get(tenantId, suiteId);
    if (latest?.digest === suite.digest) return latest;
    const record: SuiteRecord = {
      tenantId,
      id: suiteId,
      version: (latest?.version ?? 0) + 1,
      createdAt: latest?.createdAt ?? now,
      updatedAt: now,
      suiteVersion: suite.version,
      digest: suite.digest,
      ...(suite.description === undefined ? {} : { description: suite.description }),
      ...(suite.expertType === undefined ? {} : { expertType: suite.expertType }),
      tasks: suite.tasks.length,
      calls: callsOf(suite),
      tolerance: suite.gate.tolerance,
      confidence: suite.gate.confidence,
      judges: judgesOf(suite),
      documentKey,
      registeredBy: actor,
    };
    // A version that was registered already, no later than the latest: an older one, answered as
    // registered (one created after the latest is a registration that was cut short: it completes).
    if (latest && existing && version.createdAt <= latest.updatedAt) {
      return { ...record, updatedAt: version.createdAt, registeredBy: version.registeredBy };
    }
    if (latest) await this.deps.suites.replace(record, latest.version);
    else await this.deps.suites.create(record);
    return record;
  }

  /** Writes a suite version; a concurrent registration of the same version is fine if it holds the same document. */
  async #createVersion(
    suiteId: string,
    label: string,
    record: SuiteVersionRecord,
  ): Promise<SuiteVersionRecord> {
    try {
      await this.deps.suiteVersions.create(record);
      return record;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
    const raced = await this.deps.suiteVersions.get(record.tenantId, record.id);
    if (!raced) throw new Error(`suite version ${record.id} was created and then is missing`);
    if (raced.digest !== record.digest) throw versionExists(suiteId, label);
    return raced;
  }

  /** POST eval/run: resolves the experts (and judges) now, with the caller's rights, then queues the run. */
  async submitRun(
    tenantId: string,
    request: {
      suiteId: string;
      expertIds: readonly string[];
      baselineId?: string | undefined;
      concurrency: number;
      retries: number;
      idempotencyKey?: string | undefined;
    },
    actor: string,
    traceId: string,
    submit: SubmitDeps,
  ): Promise<{ run: RunRecord; replayed: boolean }> {
    const requestHash = sha256(canonicalJson({ ...request, idempotencyKey: undefined }));
    const runId = request.idempotencyKey
      ? `run_${sha256(`${tenantId}\u0000${request.idempotencyKey}`).slice(0, 32)}`
      : this.deps.ids.next('run');
    if (request.idempotencyKey) {
      const prior = await this.deps.runs.get(tenantId, runId);
      if (prior) return this.#replay(prior, requestHash, submit);
    }
    const suite = await this.deps.suites.get(tenantId, request.suiteId);
    if (!suite) throw new NotFoundError(`No suite ${request.suiteId} in this tenant.`, 'suite_not_found');
    if (suite.calls * request.expertIds.length > MAX_RUN_CALLS) {
      throw new UnprocessableError(
        `This run would make ${suite.calls * request.expertIds.length} calls (tasks × trials × experts); at most ${MAX_RUN_CALLS} fit in one run: run fewer experts at once.`,
        'run_too_large',
      );
    }
    if (request.baselineId !== undefined) {
      const baseline = await this.deps.baselines.get(tenantId, request.baselineId);
      if (!baseline)
        throw new NotFoundError(`No baseline ${request.baselineId} in this tenant.`, 'baseline_not_found');
      if (baseline.suiteId !== request.suiteId) {
        throw new UnprocessableError(
          `Baseline ${request.baselineId} is of suite ${baseline.suiteId}, not ${request.suiteId}.`,
          'baseline_suite_mismatch',
        );
      }
    }
    const resolved = await submit.resolve([...new Set([...request.expertIds, ...suite.judges])]);
    const now = this.deps.clock.now().toISOString();
    const run: RunRecord = {
      tenantId,
      id: runId,
      version: 1,
      createdAt: now,
      updatedAt: now,
      suiteId: suite.id,
      suiteVersion: suite.suiteVersion,
      suiteDigest: suite.digest,
      documentKey: suite.documentKey,
      expertIds: [...request.expertIds],
      experts: Object.fromEntries(request.expertIds.map((id) => [id, resolved.get(id) as ResolvedExpert])),
      judges: Object.fromEntries(
        suite.judges.map((id) => [id, (resolved.get(id) as ResolvedExpert).endpoint]),
      ),
      ...(request.baselineId === undefined ? {} : { baselineId: request.baselineId }),
      concurrency: request.concurrency,
      retries: request.retries,
      phase: 'queued',
      requestedBy: actor,
      traceId,
      requestHash,
    };
    try {
      await this.deps.runs.create(run);
    } catch (error) {
      if (!(error instanceof ConflictError) || !request.idempotencyKey) throw error;
      const prior = await this.deps.runs.get(tenantId, runId);
      if (prior) return this.#replay(prior, requestHash, submit);
      throw error;
    }
    try {
      await this.#handOff(run, submit);
    } catch (error) {
      // Without a key nobody can ask for this run again: it is not left queued for ever.
      if (!request.idempotencyKey) {
        await this.#save(run, {
          phase: 'failed',
          error: 'The eval queue refused the run.',
          finishedAt: this.deps.clock.now().toISOString(),
        }).catch(() => undefined);
      }
      throw error;
    }
    return { run, replayed: false };
  }

  /** Hands a run to the eval queue: a refusal is a 503 (retry with the same idempotencyKey). */
  async #handOff(run: RunRecord, submit: SubmitDeps): Promise<void> {
    try {
      await submit.queue.send({ tenantId: run.tenantId, runId: run.id, traceId: run.traceId });
    } catch (error) {
      this.deps.onQueueError?.(error, run.id);
      throw new ServiceUnavailableError(
        'The run could not be queued; retry with the same idempotencyKey.',
        'run_not_queued',
      );
    }
  }

  async #replay(prior: RunRecord, requestHash: string, submit: SubmitDeps) {
    if (prior.requestHash !== requestHash) {
      throw new ConflictError(
        'This idempotencyKey was used for another run request; use a new key.',
        'idempotency_key_reused',
      );
    }
    // The first attempt may have died between the record and the queue: hand it over again (the
    // worker runs a run once: a completed run is not run again).
    if (prior.phase === 'queued') await this.#handOff(prior, submit);
    return { run: prior, replayed: true };
  }

  async getRun(tenantId: string, runId: string): Promise<RunRecord> {
    const run = await this.deps.runs.get(tenantId, runId);
    if (!run) throw new NotFoundError(`No run ${runId} in this tenant.`, 'run_not_found');
    return run;
  }

  /** A completed run's full report (every task and trial). */
  async report(tenantId: string, runId: string): Promise<RunSummary> {
    const run = await this.getRun(tenantId, runId);
    if (run.phase !== 'completed' || !run.reportKey) {
      throw new ConflictError(
        `Run ${runId} is ${run.phase}: its report exists once it has completed.`,
        'run_not_completed',
      );
    }
    const text = await this.deps.artifacts.get(run.reportKey);
    if (text === undefined) throw new Error(`report ${run.reportKey} of run ${runId} is missing`);
    return JSON.parse(text) as RunSummary;
  }

  async priors(tenantId: string, runId: string) {
    const run = await this.getRun(tenantId, runId);
    if (run.phase !== 'completed' || !run.metrics || !run.verdict) {
      throw new ConflictError(
        `Run ${runId} is ${run.phase}: priors come from a completed run.`,
        'run_not_completed',
      );
    }
    if (run.verdict !== 'pass') {
      throw new ConflictError(
        `Run ${runId}'s gate is ${run.verdict}: only a run whose gate passed gives the router priors.`,
        'gate_not_passed',
      );
    }
    const priors = priorsOf({ runId, suiteId: run.suiteId, status: run.verdict, metrics: run.metrics });
    if (priors.experts.length === 0) {
      throw new ConflictError(
        `Run ${runId} scored no trial of any expert: it gives no priors.`,
        'no_scored_trials',
      );
    }
    return priors;
  }

  /** POST eval/baselines: a completed run's pass rates under an id; a promoted baseline never changes. */
  async snapshotBaseline(
    tenantId: string,
    runId: string,
    baselineId: string,
    actor: string,
  ): Promise<BaselineRecord> {
    const summary = await this.report(tenantId, runId);
    if (summary.status === 'infrastructure_failure') {
      throw new ConflictError(
        `Run ${runId} failed on the infrastructure (experts unreachable, timing out or refused): its pass rates are no baseline.`,
        'run_not_baseline',
      );
    }
    const existing = await this.deps.baselines.get(tenantId, baselineId);
    if (existing?.promoted) {
      throw new ConflictError(
        `Baseline ${baselineId} is promoted: it never changes. Snapshot under a new id.`,
        'baseline_promoted',
      );
    }
    if (existing && existing.suiteId !== summary.suiteId) {
      throw new ConflictError(
        `Baseline ${baselineId} is of suite ${existing.suiteId}; run ${runId} is of ${summary.suiteId}.`,
        'baseline_suite_mismatch',
      );
    }
    const now = this.deps.clock.now().toISOString();
    const baseline = baselineOf(summary, baselineId, now);
    const rates = canonicalJson({ passRates: baseline.passRates, weights: baseline.weights });
    const ratesKey = `eval/${tenantId}/baselines/${baselineId}/${sha256(rates)}.json`;
    await this.deps.artifacts.putOnce(ratesKey, rates, 'application/json');
    const record: BaselineRecord = {
      tenantId,
      id: baselineId,
      version: (existing?.version ?? 0) + 1,
      createdAt: now,
      updatedAt: now,
      suiteId: summary.suiteId,
      suiteDigest: summary.suiteDigest,
      sourceRunId: runId,
      promoted: false,
      experts: summary.metrics.map((m) => ({ expertId: m.expertId, passRate: m.passRate, tasks: m.tasks })),
      ratesKey,
      createdBy: actor,
    };
    if (existing) await this.deps.baselines.replace(record, existing.version);
    else await this.deps.baselines.create(record);
    return record;
  }

  async promoteBaseline(tenantId: string, baselineId: string, actor: string): Promise<BaselineRecord> {
    const existing = await this.deps.baselines.get(tenantId, baselineId);
    if (!existing) throw new NotFoundError(`No baseline ${baselineId} in this tenant.`, 'baseline_not_found');
    if (existing.promoted) return existing;
    const now = this.deps.clock.now().toISOString();
    const record: BaselineRecord = {
      ...existing,
      version: existing.version + 1,
      updatedAt: now,
      promoted: true,
      promotedAt: now,
      promotedBy: actor,
    };
    await this.deps.baselines.replace(record, existing.version);
    return record;
  }

  async #baseline(tenantId: string, baselineId: string): Promise<Baseline> {
    const record = await this.deps.baselines.get(tenantId, baselineId);
    if (!record) throw new NotFoundError(`No baseline ${baselineId} in this tenant.`, 'baseline_not_found');
    const text = await this.deps.artifacts.get(record.ratesKey);
    if (text === undefined) {
      throw new AppError(
        422,
        'baseline_missing',
        `The pass rates of baseline ${baselineId} (${record.ratesKey}) are missing.`,
      );
    }
    const { passRates, weights } = JSON.parse(text) as {
      passRates: PassRates;
      weights: Record<string, number>;
    };
    return {
      id: record.id,
      suiteId: record.suiteId,
      suiteDigest: record.suiteDigest,
      createdAt: record.createdAt,
      sourceRunId: record.sourceRunId,
      promoted: record.promoted,
      ...(record.promotedAt === undefined ? {} : { promotedAt: record.promotedAt }),
      passRates,
      weights,
    };
  }

  /**
   * A run whose message failed its last delivery (it goes to the DLQ): marked failed with why, so
   * GET eval/results does not show it running for ever. A redrive from the DLQ runs it again.
   */
  async markFailed(message: EvalRunMessage, error: unknown): Promise<void> {
    const run = await this.deps.runs.get(message.tenantId, message.runId);
    if (!run || run.phase === 'completed' || run.phase === 'failed') return;
    await this.#save(run, {
      phase: 'failed',
      error:
        `The run failed on its last delivery and waits in the eval queue's DLQ (conductor dlq redrive runs it again): ${error instanceof Error ? error.message : String(error)}`.slice(
          0,
          1000,
        ),
      deadLetteredAt: this.deps.clock.now().toISOString(),
      finishedAt: this.deps.clock.now().toISOString(),
    });
  }

  /**
   * The eval worker's step: runs a queued run once, and answers it, or undefined when this delivery
   * had nothing to do. A run found completed or failed is done (a redelivered message changes
   * nothing); one found running is another delivery's while its claim holds (RUN_CLAIM_SECONDS),
   * else that worker died and it runs again from the start: its report is written under a name of
   * its content, so nothing half written is ever read. Of two deliveries claiming a run at once, the
   * one whose claim is written runs it. What cannot succeed on a retry (the suite or baseline gone)
   * fails the run.
   */
  async execute(message: EvalRunMessage, execute: ExecuteDeps): Promise<RunRecord | undefined> {
    const { tenantId, runId } = message;
    const found = await this.deps.runs.get(tenantId, runId);
    if (!found || found.phase === 'completed') return undefined;
    if (found.phase === 'failed' && found.deadLetteredAt === undefined) return undefined;
    const now = this.deps.clock.now();
    const claimedFor =
      found.phase === 'running' && found.startedAt !== undefined
        ? now.getTime() - Date.parse(found.startedAt)
        : Number.POSITIVE_INFINITY;
    if (claimedFor < RUN_CLAIM_SECONDS * 1000) return undefined;
    let run: RunRecord;
    try {
      const { deadLetteredAt: _redriven, error: _lastError, finishedAt: _ended, ...claimed } = found;
      run = await this.#save(claimed, { phase: 'running', startedAt: now.toISOString() });
    } catch (error) {
      if (error instanceof ConflictError) return undefined;
      throw error;
    }

    let suite: Suite;
    let baseline: Baseline | undefined;
    try {
      const text = await this.deps.artifacts.get(run.documentKey);
      if (text === undefined)
        throw new AppError(422, 'suite_missing', `The suite document ${run.documentKey} is missing.`);
      suite = parseSuiteValue(JSON.parse(text), run.documentKey);
      if (suite.digest !== run.suiteDigest) {
        throw new AppError(
          422,
          'suite_changed',
          `The suite document ${run.documentKey} is not the suite the run was submitted with.`,
        );
      }
      baseline = run.baselineId === undefined ? undefined : await this.#baseline(tenantId, run.baselineId);
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      return this.#save(run, {
        phase: 'failed',
        error: error.message,
        finishedAt: this.deps.clock.now().toISOString(),
      });
    }

    const quarantine = await this.deps.quarantines.get(tenantId, suite.id);
    const previous = await this.#previousRun(quarantine);
    const endpoints = new Map<string, string>([
      ...Object.entries(run.experts).map(([id, expert]) => [id, expert.endpoint] as const),
      ...Object.entries(run.judges),
    ]);
    const { port, scorerDeps } = execute.port(endpoints);
    const options: RunOptions = { concurrency: run.concurrency, retries: run.retries, scorerDeps };
    const evaluation = await evaluate({
      runId,
      suite,
      experts: run.expertIds.map((expertId) => ({
        expertId,
        fingerprint: run.experts[expertId]?.fingerprint ?? expertId,
      })),
      port,
      options,
      baseline,
      quarantine: quarantine?.entries ?? [],
      previous,
      clock: () => this.deps.clock.now(),
    });
    const { summary } = evaluation;
    const reportText = JSON.stringify({ apiVersion: 'conductor.eval-report/v1', ...summary });
    const reportKey = `eval/${tenantId}/runs/${runId}/report-${sha256(reportText).slice(0, 16)}.json`;
    await this.deps.artifacts.putOnce(reportKey, reportText, 'application/json');
    await this.#saveQuarantine(tenantId, suite, quarantine, evaluation, reportKey, execute);

    const done = await this.#save(run, {
      phase: 'completed',
      verdict: summary.status,
      metrics: summary.metrics,
      // The record keeps the first MAX_STORED_FLIPS flips of each expert and as many quarantined
      // tasks (a DynamoDB item holds 400 KB); the report keeps them all.
      verdicts: summary.verdicts.map((verdict) => ({
        ...verdict,
        flips: verdict.flips.slice(0, MAX_STORED_FLIPS),
        ...(verdict.flips.length > MAX_STORED_FLIPS ? { flipCount: verdict.flips.length } : {}),
        ...(verdict.verdict === 'regression' ? { severity: severityOf(verdict, suite.gate.tolerance) } : {}),
      })),
      quarantined: summary.quarantined.slice(0, MAX_STORED_FLIPS),
      reportKey,
      finishedAt: summary.finishedAt,
    });
    await this.#publishRegressions(done, summary, suite, execute);
    return done;
  }

  async #previousRun(record: QuarantineRecord | undefined): Promise<PreviousRun | undefined> {
    if (!record?.previous) return undefined;
    const text = await this.deps.artifacts.get(record.previous.reportKey);
    if (text === undefined) return undefined;
    const { runId, suiteDigest, expertFingerprints } = record.previous;
    const report = JSON.parse(text) as RunSummary;
    return { runId, suiteDigest, expertFingerprints, passRates: passRatesOf(report.results) };
  }

  /**
   * Writes the suite's quarantine after a run. Another run of the suite may write it first (runs
   * execute in parallel): this run's results are then applied again to what that run left.
   */
  async #saveQuarantine(
    tenantId: string,
    suite: Suite,
    existing: QuarantineRecord | undefined,
    evaluation: Evaluation,
    reportKey: string,
    execute: ExecuteDeps,
  ): Promise<void> {
    const { summary, previous } = evaluation;
    let current = existing;
    let update = { entries: evaluation.quarantine, changes: evaluation.quarantineChanges };
    for (let attempt = 1; ; attempt += 1) {
      const now = this.deps.clock.now().toISOString();
      const record: QuarantineRecord = {
        tenantId,
        id: suite.id,
        version: (current?.version ?? 0) + 1,
        createdAt: current?.createdAt ?? now,
        updatedAt: now,
        entries: update.entries,
        previous: {
          runId: previous.runId,
          suiteDigest: previous.suiteDigest,
          expertFingerprints: previous.expertFingerprints,
          reportKey,
        },
        changes: [...(current?.changes ?? []), ...update.changes].slice(-100),
      };
      try {
        if (current) await this.deps.quarantines.replace(record, current.version);
        else await this.deps.quarantines.create(record);
        break;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= QUARANTINE_WRITE_ATTEMPTS) throw error;
      }
      current = await this.deps.quarantines.get(tenantId, suite.id);
      const before = await this.#previousRun(current);
      update = updateQuarantine({
        current: current?.entries ?? [],
        suite: { id: suite.id, digest: suite.digest },
        runId: summary.runId,
        now: summary.finishedAt,
        results: summary.results,
        ...(before ? { previous: before } : {}),
        expertFingerprints: previous.expertFingerprints,
      });
    }
    for (const change of update.changes) execute.onQuarantineChange?.(change, tenantId);
  }

  async #publishRegressions(run: RunRecord, summary: RunSummary, suite: Suite, execute: ExecuteDeps) {
    const events: ConductorEvent[] = summary.verdicts
      .filter((verdict) => verdict.verdict === 'regression')
      .map((verdict) =>
        eventOf(evalRegression, {
          tenantId: run.tenantId,
          traceId: run.traceId,
          occurredAt: summary.finishedAt,
          runId: run.id,
          suiteId: suite.id,
          expertId: verdict.expertId,
          baselineId: run.baselineId ?? '',
          metric: 'pass_rate',
          baseline: verdict.baselineRate,
          observed: verdict.currentRate,
          delta: verdict.delta,
          tolerance: suite.gate.tolerance,
          severity: severityOf(verdict, suite.gate.tolerance),
        }),
      );
    if (events.length === 0) return;
    // After the write, as every event (DESIGN §8): a failed publish leaves the verdict standing.
    await execute.events.publish(events).catch((error: unknown) => execute.onPublishError?.(error, run.id));
  }

  async #save(run: RunRecord, change: Partial<RunRecord>): Promise<RunRecord> {
    const next: RunRecord = {
      ...run,
      ...change,
      version: run.version + 1,
      updatedAt: this.deps.clock.now().toISOString(),
    };
    await this.deps.runs.replace(next, run.version);
    return next;
  }
}
