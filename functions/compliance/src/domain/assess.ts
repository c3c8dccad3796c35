import { ConflictError, NotFoundError, ValidationError } from '#shared/errors.js';
import { sha256Hex } from '#shared/ports/canonical-json.js';
import { type EventPublisher, eventOf } from '#shared/ports/events.js';
import type { TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import type { WormStore } from '#shared/ports/worm.js';
import { controlFailed, evidenceStale } from '../../events.js';
import {
  type Catalog,
  type Control,
  controlsOf,
  criteriaOf,
  FREQUENCY_HOURS,
  type Severity,
} from './catalog.js';

/**
 * Assessments: run a framework's controls' tests, write each result as evidence (the artifact and
 * its record, write-once), keep each control's latest state (freshness), open or update a finding
 * when a test fails, and publish `control_failed` / `evidence_stale`. Compliance is the platform's,
 * not a tenant's: its records live under one partition, `platform`.
 */

export const PLATFORM = 'platform';
/** Evidence older than this is stale (requirements: audit-ready every day). */
export const STALE_AFTER_HOURS = 24;
/** Days a finding of each severity may stay open before it is overdue. */
export const SLA_DAYS: Readonly<Record<Severity, number>> = { critical: 3, high: 14, medium: 30, low: 90 };

/**
 * A test's result. `not_applicable`: the test cannot run in this deployment (an AWS check on the
 * embedded runtime); its evidence says so and why, and it neither passes nor fails the control.
 */
export type TestStatus = 'pass' | 'fail' | 'error' | 'not_applicable';

/** A control's result: fail or error when one of its tests did; not_applicable when none could run. */
export const controlResultOf = (results: readonly TestStatus[]): TestStatus =>
  results.includes('fail')
    ? 'fail'
    : results.includes('error')
      ? 'error'
      : results.every((result) => result === 'not_applicable')
        ? 'not_applicable'
        : 'pass';

/** How long before its evidence would go stale a control is collected again (the sweep runs hourly). */
export const DUE_MARGIN_HOURS = 2;
/**
 * A control collected a few minutes into one hour's sweep is due at the same sweep 22 h later, not an
 * hour after: its age is compared with this much slack (a sweep's own run time, EventBridge's delay).
 */
export const DUE_TOLERANCE_HOURS = 0.25;

export interface TestOutcome {
  readonly status: TestStatus;
  /** One line: what was found. */
  readonly summary: string;
  /** What the test looked at (the evidence's artifact): plain JSON. */
  readonly observations: unknown;
}

/** A collector: one test of the catalog, against AWS (`aws.*`) or the platform's records (`platform.*`). */
export interface ControlTest {
  readonly id: string;
  run(context: { readonly now: Date }): Promise<TestOutcome>;
}

export interface EvidenceRecord {
  readonly evidenceId: string;
  readonly controlId: string;
  readonly testId: string;
  /** Who collected it: the test and where it ran. */
  readonly collector: string;
  readonly observationPeriod: { readonly from: string; readonly to: string };
  readonly effectiveDate: string;
  readonly result: TestStatus;
  readonly summary: string;
  /** The criteria the control answers (`SOC2 CC6.1`). */
  readonly criteria: readonly string[];
  readonly artifact: { readonly key: string; readonly sha256: string; readonly bytes: number };
  readonly assessmentId: string;
}

/** An evidence record and its artifact, as the WORM store holds them. */
export interface StoredEvidence {
  readonly key: string;
  readonly record: EvidenceRecord;
  readonly recordText: string;
  readonly artifactText: string;
}

export interface ControlState extends TenantRecord {
  readonly controlId: string;
  readonly lastCollectedAt?: string;
  readonly lastResult?: TestStatus;
  readonly lastEvidenceKey?: string;
  /** The evidence of each of its tests in the latest assessment. */
  readonly lastEvidenceKeys?: readonly string[];
  readonly openFindingId?: string;
  readonly findings: number;
}

export const FINDING_STATUSES = ['open', 'in_remediation', 'resolved', 'risk_accepted'] as const;
export type FindingStatus = (typeof FINDING_STATUSES)[number];

export interface FindingRecord extends TenantRecord {
  readonly controlId: string;
  readonly severity: Severity;
  readonly owner: string;
  readonly status: FindingStatus;
  readonly reason: string;
  readonly failures: number;
  readonly openedAt: string;
  readonly lastFailedAt: string;
  readonly lastPassedAt?: string;
  readonly slaDueAt: string;
  readonly runbookId?: string;
  readonly acceptedUntil?: string;
  /** Every change, newest last: who, when, from what to what, why. */
  readonly history: readonly {
    readonly at: string;
    readonly by: string;
    readonly to: FindingStatus;
    readonly note?: string;
  }[];
}

export interface AssessmentRecord extends TenantRecord {
  readonly framework: string;
  readonly scope: readonly string[];
  readonly status: 'completed';
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly requestedBy: string;
  readonly results: readonly {
    readonly controlId: string;
    readonly testId: string;
    readonly result: TestStatus;
    readonly summary: string;
    readonly evidenceKey: string;
    readonly findingId?: string;
  }[];
}

/** A change event already handled (its EventBridge id): at-least-once delivery re-runs nothing. */
export interface SeenEventRecord extends TenantRecord {
  readonly type: string;
  readonly sourceTenant?: string;
  /** The event's own fields (its detail without the envelope), for the checks that read them. */
  readonly detail: Readonly<Record<string, unknown>>;
  readonly expiresAt: number;
  /**
   * A `runbook_executed`'s trail, once `platform.runbooks-signed-approved` found it sound: an ended
   * execution's trail is in the WORM store and can no longer change, so it is read once, not by every
   * later run of the control.
   */
  readonly trailVerified?: { readonly entries: number; readonly at: string };
}

/** A seen event's record id: by type first, so a check lists one type's events (`<type>#`). */
export const seenEventId = (type: string, eventId: string): string => `${type}#${eventId}`;

export const SEEN_EVENT_TTL_SECONDS = 7 * 86_400;

export interface ComplianceDeps {
  readonly seen: TenantRecords<SeenEventRecord>;
  readonly catalog: Catalog;
  readonly tests: ReadonlyMap<string, ControlTest>;
  readonly evidence: WormStore;
  readonly controls: TenantRecords<ControlState>;
  readonly findings: TenantRecords<FindingRecord>;
  readonly assessments: TenantRecords<AssessmentRecord>;
  readonly events: EventPublisher;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Where the collectors run, for the evidence's `collector` (`aws:eu-west-1:prod`, `local`). */
  readonly environment: string;
  readonly onEventError?: (error: unknown) => void;
}

const day = (iso: string): string => iso.slice(0, 10);

export class Compliance {
  constructor(private readonly deps: ComplianceDeps) {}

  get catalog(): Catalog {
    return this.deps.catalog;
  }

  /**
   * The latest evidence of each of the framework's controls, as the WORM store holds it (the record
   * and its artifact, texts unchanged), and every finding of those controls.
   */
  async evidenceOf(framework: string) {
    const controls = this.scopeOf(framework, 'all');
    const states = await this.deps.controls.getMany(
      PLATFORM,
      controls.map((control) => control.id),
    );
    const evidence = new Map<string, StoredEvidence[]>();
    for (const control of controls) {
      const state = states.get(control.id);
      const keys =
        state?.lastEvidenceKeys ?? (state?.lastEvidenceKey === undefined ? [] : [state.lastEvidenceKey]);
      const stored: StoredEvidence[] = [];
      for (const key of keys) {
        const recordText = await this.deps.evidence.get(key);
        if (recordText === undefined) throw new Error(`evidence ${key} is missing from the store`);
        const record = JSON.parse(recordText) as EvidenceRecord;
        const artifactText = await this.deps.evidence.get(record.artifact.key);
        if (artifactText === undefined)
          throw new Error(`artifact ${record.artifact.key} is missing from the store`);
        stored.push({ key, record, recordText, artifactText });
      }
      if (stored.length > 0) evidence.set(control.id, stored);
    }
    const findings: FindingRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.findings.list(PLATFORM, { limit: 100, cursor });
      findings.push(...page.items.filter((f) => controls.some((control) => control.id === f.controlId)));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return { evidence, findings };
  }

  /** The controls of `framework` in `scope` (all of them, or the named ones): 400 on an unknown one. */
  scopeOf(framework: string, scope: 'all' | readonly string[]): Control[] {
    if (!this.deps.catalog.frameworks.has(framework)) {
      throw new ValidationError(
        `Unknown framework ${framework}: one of ${[...this.deps.catalog.frameworks.keys()].join(', ')}.`,
        [{ path: 'body.framework', message: 'unknown framework' }],
        'unknown_framework',
      );
    }
    const all = controlsOf(this.deps.catalog, framework);
    if (scope === 'all') return all;
    const unknown = scope.filter((id) => !all.some((control) => control.id === id));
    if (unknown.length > 0) {
      throw new ValidationError(
        `Not controls of ${framework}: ${unknown.join(', ')}.`,
        unknown.map((id) => ({ path: 'body.scope', message: `"${id}" is not a control of ${framework}` })),
        'unknown_scope',
      );
    }
    return all.filter((control) => scope.includes(control.id));
  }

  /**
   * Runs every test of the scope's controls, one after the other, and records the outcome of each
   * as evidence. A test that throws is an `error` result (recorded too): nothing is skipped silently.
   */
  async assess(
    framework: string,
    scope: 'all' | readonly string[],
    requestedBy: string,
    traceId: string,
  ): Promise<AssessmentRecord> {
    const controls = this.scopeOf(framework, scope);
    const startedAt = this.deps.clock.now().toISOString();
    // Sorted by time: the listing pages through them oldest first.
    const assessmentId = `asm_${startedAt.replace(/[-:.]/g, '')}_${this.deps.ids.next()}`;
    const results: AssessmentRecord['results'][number][] = [];
    for (const control of controls) {
      const collected: AssessmentRecord['results'][number][] = [];
      // Read once: collecting writes evidence, not the control's state.
      const state = await this.#state(control.id);
      for (const testId of control.tests)
        collected.push(await this.#collect(control, state, testId, assessmentId));
      // The control passes when every one of its tests passed; one failure or error is one failure
      // of the control, on its finding.
      const failed = collected.filter((c) => c.result === 'fail' || c.result === 'error');
      const at = this.deps.clock.now().toISOString();
      const findingId =
        failed.length === 0
          ? await this.#passed(state, at)
          : await this.#failed(
              control,
              state,
              failed.map((c) => c.summary).join('; '),
              at,
              framework,
              traceId,
            );
      const lastResult = controlResultOf(collected.map((c) => c.result));
      await this.#recordState(control.id, (current) => ({
        ...current,
        lastCollectedAt: at,
        lastResult,
        lastEvidenceKey: (collected.at(-1) as (typeof collected)[number]).evidenceKey,
        lastEvidenceKeys: collected.map((c) => c.evidenceKey),
        ...(findingId === undefined ? {} : { openFindingId: findingId }),
      }));
      results.push(
        ...collected.map((c) =>
          (c.result === 'fail' || c.result === 'error') && findingId !== undefined ? { ...c, findingId } : c,
        ),
      );
    }
    const finishedAt = this.deps.clock.now().toISOString();
    const record: AssessmentRecord = {
      tenantId: PLATFORM,
      id: assessmentId,
      version: 1,
      createdAt: startedAt,
      updatedAt: finishedAt,
      framework,
      scope: controls.map((control) => control.id),
      status: 'completed',
      startedAt,
      finishedAt,
      requestedBy,
      results,
    };
    await this.deps.assessments.create(record);
    return record;
  }

  /** Runs one test and writes its evidence: the artifact, then the record naming its hash. */
  async #collect(control: Control, state: ControlState, testId: string, assessmentId: string) {
    const test = this.deps.tests.get(testId);
    const now = this.deps.clock.now();
    let outcome: TestOutcome;
    try {
      if (!test) throw new Error(`no collector for ${testId}`);
      outcome = await test.run({ now });
    } catch (error) {
      outcome = {
        status: 'error',
        summary: `${testId}: the test failed to run: ${(error as Error).message}`,
        observations: null,
      };
    }
    const effectiveDate = now.toISOString();
    const evidenceId = this.deps.ids.next('evd');
    const artifactText = JSON.stringify({
      controlId: control.id,
      testId,
      collectedAt: effectiveDate,
      observations: outcome.observations,
    });
    const artifactKey = `compliance/artifacts/${control.id}/${day(effectiveDate)}/${evidenceId}.json`;
    await this.deps.evidence.putOnce(artifactKey, artifactText, 'application/json');
    const from =
      state.lastCollectedAt ??
      new Date(now.getTime() - FREQUENCY_HOURS[control.frequency] * 3_600_000).toISOString();
    const evidence: EvidenceRecord = {
      evidenceId,
      controlId: control.id,
      testId,
      collector: `conductor/${testId}@${this.deps.environment}`,
      observationPeriod: { from, to: effectiveDate },
      effectiveDate,
      result: outcome.status,
      summary: outcome.summary,
      criteria: criteriaOf(this.deps.catalog, control.id),
      artifact: { key: artifactKey, sha256: sha256Hex(artifactText), bytes: Buffer.byteLength(artifactText) },
      assessmentId,
    };
    const evidenceKey = `compliance/evidence/${control.id}/${day(effectiveDate)}/${evidenceId}.json`;
    await this.deps.evidence.putOnce(evidenceKey, JSON.stringify(evidence), 'application/json');
    return { controlId: control.id, testId, result: outcome.status, summary: outcome.summary, evidenceKey };
  }

  /** A passing test notes itself on the open finding, if any; it never closes it (a person does). */
  async #passed(state: ControlState, at: string): Promise<string | undefined> {
    if (!state.openFindingId) return undefined;
    // Re-read on a concurrent change (another assessment, a transition): the pass is noted on the latest.
    for (let attempt = 0; ; attempt += 1) {
      const finding = await this.deps.findings.get(PLATFORM, state.openFindingId);
      if (!finding) return undefined;
      try {
        await this.deps.findings.replace(
          { ...finding, lastPassedAt: at, version: finding.version + 1, updatedAt: at },
          finding.version,
        );
        return finding.id;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 4) throw error;
      }
    }
  }

  /** A failing (or erroring) test opens a finding, or counts one more failure on the open one. */
  async #failed(
    control: Control,
    state: ControlState,
    reason: string,
    at: string,
    framework: string,
    traceId: string,
  ): Promise<string> {
    // Two assessments of one control at once (a change event's and an on-demand one) both fail it:
    // the second finds the first's finding on its retry, and counts its failure there.
    let findingId: string | undefined;
    for (let attempt = 0; findingId === undefined; attempt += 1) {
      try {
        findingId = await this.#openOrCount(
          control,
          attempt === 0 ? state : await this.#state(control.id),
          reason,
          at,
        );
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 4) throw error;
      }
    }
    await this.deps.events
      .publish([
        eventOf(controlFailed, {
          tenantId: PLATFORM,
          traceId,
          occurredAt: at,
          framework,
          controlId: control.id,
          findingId,
          reason,
        }),
      ])
      .catch((error: unknown) => this.deps.onEventError?.(error));
    return findingId;
  }

  /**
   * Counts the failure on the control's open finding, or opens the next one. The next one may exist
   * already, opened by a concurrent assessment that has not yet counted it in the control's state:
   * it is the open finding then. A concurrent write is a ConflictError (the caller tries again).
   */
  async #openOrCount(control: Control, state: ControlState, reason: string, at: string): Promise<string> {
    const isOpen = (finding: FindingRecord | undefined): finding is FindingRecord =>
      finding !== undefined &&
      finding.status !== 'resolved' &&
      !(
        finding.status === 'risk_accepted' &&
        finding.acceptedUntil !== undefined &&
        finding.acceptedUntil <= at
      );
    const nextId = `fnd_${control.id}_${state.findings + 1}`;
    // The state's open finding; else one a concurrent assessment opened (counted in the state or not yet).
    const candidates = [
      state.openFindingId,
      nextId,
      ...(state.findings > 0 ? [`fnd_${control.id}_${state.findings}`] : []),
    ];
    let open: FindingRecord | undefined;
    for (const id of new Set(candidates)) {
      if (id === undefined) continue;
      const finding = await this.deps.findings.get(PLATFORM, id);
      if (isOpen(finding)) {
        open = finding;
        break;
      }
    }
    const stillOpen = isOpen(open);
    let findingId: string;
    if (open && stillOpen) {
      findingId = open.id;
      await this.deps.findings.replace(
        {
          ...open,
          failures: open.failures + 1,
          lastFailedAt: at,
          reason,
          version: open.version + 1,
          updatedAt: at,
        },
        open.version,
      );
    } else {
      findingId = nextId;
      const slaDueAt = new Date(Date.parse(at) + SLA_DAYS[control.severity] * 86_400_000).toISOString();
      await this.deps.findings.create({
        tenantId: PLATFORM,
        id: findingId,
        version: 1,
        createdAt: at,
        updatedAt: at,
        controlId: control.id,
        severity: control.severity,
        owner: control.owner,
        status: 'open',
        reason,
        failures: 1,
        openedAt: at,
        lastFailedAt: at,
        slaDueAt,
        history: [{ at, by: 'conductor', to: 'open', note: reason }],
      });
      await this.#recordState(control.id, (current) => ({ ...current, findings: current.findings + 1 }));
    }
    return findingId;
  }

  async #state(controlId: string): Promise<ControlState> {
    const existing = await this.deps.controls.get(PLATFORM, controlId);
    if (existing) return existing;
    const now = this.deps.clock.now().toISOString();
    return {
      tenantId: PLATFORM,
      id: controlId,
      version: 0,
      createdAt: now,
      updatedAt: now,
      controlId,
      findings: 0,
    };
  }

  async #recordState(controlId: string, change: (current: ControlState) => ControlState): Promise<void> {
    for (let attempt = 0; ; attempt += 1) {
      const current = await this.#state(controlId);
      const next = {
        ...change(current),
        version: current.version + 1,
        updatedAt: this.deps.clock.now().toISOString(),
      };
      try {
        if (current.version === 0) await this.deps.controls.create(next);
        else await this.deps.controls.replace(next, current.version);
        return;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= 4) throw error;
      }
    }
  }

  // Freshness -------------------------------------------------------------------------------------

  /**
   * Each control's evidence age: `fresh` (collected in the last 24 h), `stale`, or `missing`.
   * `publishStale` also publishes `evidence_stale` for each stale or missing one.
   */
  async freshness(
    framework: string,
    options: { readonly publishStale?: boolean; readonly traceId?: string } = {},
  ) {
    const controls = this.scopeOf(framework, 'all');
    const now = this.deps.clock.now();
    const states = await this.deps.controls.getMany(
      PLATFORM,
      controls.map((control) => control.id),
    );
    const rows = controls.map((control) => {
      const state = states.get(control.id);
      const ageHours =
        state?.lastCollectedAt === undefined
          ? undefined
          : (now.getTime() - Date.parse(state.lastCollectedAt)) / 3_600_000;
      const status = ageHours === undefined ? 'missing' : ageHours > STALE_AFTER_HOURS ? 'stale' : 'fresh';
      return {
        controlId: control.id,
        severity: control.severity,
        status,
        ...(ageHours === undefined ? {} : { ageHours: Math.round(ageHours * 100) / 100 }),
        ...(state?.lastResult === undefined ? {} : { lastResult: state.lastResult }),
        ...(state?.lastEvidenceKey === undefined ? {} : { lastEvidenceKey: state.lastEvidenceKey }),
      } as const;
    });
    if (options.publishStale) {
      const stale = rows.filter((row) => row.status !== 'fresh');
      if (stale.length > 0) {
        await this.deps.events
          .publish(
            stale.map((row) =>
              eventOf(evidenceStale, {
                tenantId: PLATFORM,
                traceId: options.traceId ?? this.deps.ids.next('trace'),
                occurredAt: now.toISOString(),
                framework,
                controlId: row.controlId,
                ageHours: row.ageHours ?? -1,
              }),
            ),
          )
          .catch((error: unknown) => this.deps.onEventError?.(error));
      }
    }
    return rows;
  }

  /**
   * Freshness per framework, as the sweep exports it (metrics): the share of controls fresh, of the
   * critical ones fresh, and the oldest evidence's age (hours; the staleness threshold when one is
   * missing, so a missing control never looks fresh).
   */
  async freshnessSummary(): Promise<
    readonly {
      readonly framework: string;
      readonly freshPercent: number;
      readonly criticalFreshPercent: number;
      readonly maxAgeHours: number;
    }[]
  > {
    const summary = [];
    for (const framework of this.deps.catalog.frameworks.keys()) {
      const rows = await this.freshness(framework);
      const share = (of: readonly (typeof rows)[number][]) =>
        of.length === 0 ? 100 : (100 * of.filter((row) => row.status === 'fresh').length) / of.length;
      summary.push({
        framework,
        freshPercent: share(rows),
        criticalFreshPercent: share(rows.filter((row) => row.severity === 'critical')),
        maxAgeHours: Math.max(0, ...rows.map((row) => row.ageHours ?? STALE_AFTER_HOURS)),
      });
    }
    return summary;
  }

  /**
   * The controls whose evidence is due: missing, or within DUE_MARGIN_HOURS of their frequency or of
   * going stale (whichever comes first), so an hourly sweep collects them before they are stale.
   */
  async due(framework: string): Promise<string[]> {
    const controls = this.scopeOf(framework, 'all');
    const now = this.deps.clock.now().getTime();
    const states = await this.deps.controls.getMany(
      PLATFORM,
      controls.map((control) => control.id),
    );
    return controls
      .filter((control) => {
        const last = states.get(control.id)?.lastCollectedAt;
        if (last === undefined) return true;
        const age = (now - Date.parse(last)) / 3_600_000;
        return (
          age + DUE_TOLERANCE_HOURS >=
          Math.min(FREQUENCY_HOURS[control.frequency], STALE_AFTER_HOURS) - DUE_MARGIN_HOURS
        );
      })
      .map((control) => control.id);
  }

  /**
   * The scheduled run (hourly): for every framework, publish `evidence_stale` for each control whose
   * evidence is stale or missing, then collect every control that is due, each once even when
   * several frameworks map it (under the first framework that names it). Returns what it ran.
   */
  async sweep(traceId: string): Promise<{
    readonly stale: readonly string[];
    readonly assessments: readonly {
      readonly assessmentId: string;
      readonly framework: string;
      readonly controls: readonly string[];
    }[];
  }> {
    const stale = new Set<string>();
    const collected = new Set<string>();
    const assessments: { assessmentId: string; framework: string; controls: string[] }[] = [];
    for (const framework of this.deps.catalog.frameworks.keys()) {
      const rows = await this.freshness(framework, { publishStale: true, traceId });
      for (const row of rows) if (row.status !== 'fresh') stale.add(row.controlId);
      const due = (await this.due(framework)).filter((id) => !collected.has(id));
      if (due.length === 0) continue;
      for (const id of due) collected.add(id);
      const record = await this.assess(framework, due, 'conductor:schedule', traceId);
      assessments.push({ assessmentId: record.id, framework, controls: due });
    }
    return { stale: [...stale], assessments };
  }

  /**
   * A change event from the bus (a subscription): the controls whose `onEvents` name its type are
   * assessed again at once, each under the first framework that maps it. Delivery is at least once:
   * an event already seen (by its id) re-runs nothing. Returns the assessments run.
   */
  async onEvent(event: {
    readonly id: string;
    readonly type: string;
    readonly tenantId?: string | undefined;
    readonly traceId?: string | undefined;
    readonly detail?: Readonly<Record<string, unknown>> | undefined;
  }): Promise<
    readonly {
      readonly assessmentId: string;
      readonly framework: string;
      readonly controls: readonly string[];
    }[]
  > {
    const affected = [...this.deps.catalog.controls.values()].filter((control) =>
      (control.onEvents ?? []).includes(event.type),
    );
    if (affected.length === 0) return [];
    const now = this.deps.clock.now().toISOString();
    try {
      await this.deps.seen.create({
        tenantId: PLATFORM,
        id: seenEventId(event.type, event.id),
        version: 1,
        createdAt: now,
        updatedAt: now,
        type: event.type,
        detail: event.detail ?? {},
        ...(event.tenantId === undefined ? {} : { sourceTenant: event.tenantId }),
        // Kept long enough to outlive EventBridge's and Lambda's retries (a day), then expired.
        expiresAt: Math.floor(Date.parse(now) / 1000) + SEEN_EVENT_TTL_SECONDS,
      });
    } catch (error) {
      if (error instanceof ConflictError) return [];
      throw error;
    }
    const runs: { assessmentId: string; framework: string; controls: string[] }[] = [];
    const left = new Set(affected.map((control) => control.id));
    for (const framework of this.deps.catalog.frameworks.keys()) {
      const scope = this.scopeOf(framework, 'all')
        .map((control) => control.id)
        .filter((id) => left.has(id));
      if (scope.length === 0) continue;
      for (const id of scope) left.delete(id);
      const record = await this.assess(
        framework,
        scope,
        `conductor:event:${event.type}`,
        event.traceId ?? this.deps.ids.next('trace'),
      );
      runs.push({ assessmentId: record.id, framework, controls: scope });
    }
    return runs;
  }

  // Reading ---------------------------------------------------------------------------------------

  async assessment(assessmentId: string): Promise<AssessmentRecord> {
    const record = await this.deps.assessments.get(PLATFORM, assessmentId);
    if (!record) throw new NotFoundError(`No assessment ${assessmentId}.`, 'assessment_not_found');
    return record;
  }

  assessments(options: { readonly limit: number; readonly cursor?: string | undefined }) {
    return this.deps.assessments.list(PLATFORM, options);
  }

  async finding(findingId: string): Promise<FindingRecord> {
    const finding = await this.deps.findings.get(PLATFORM, findingId);
    if (!finding) throw new NotFoundError(`No finding ${findingId}.`, 'finding_not_found');
    return finding;
  }

  /**
   * A page of findings, of one control (their ids start with it) and in one status when asked:
   * reads on until the page is full or the findings end, so a filtered page is never short early.
   */
  async findingsPage(options: {
    readonly limit: number;
    readonly cursor?: string | undefined;
    readonly status?: FindingStatus | undefined;
    readonly controlId?: string | undefined;
  }): Promise<{ readonly items: FindingRecord[]; readonly nextCursor?: string }> {
    const items: FindingRecord[] = [];
    let cursor = options.cursor;
    const prefix = options.controlId === undefined ? undefined : `fnd_${options.controlId}_`;
    for (;;) {
      const page = await this.deps.findings.list(PLATFORM, {
        limit: options.limit - items.length,
        cursor,
        prefix,
      });
      items.push(
        ...page.items.filter(
          (f) =>
            (options.status === undefined || f.status === options.status) &&
            (options.controlId === undefined || f.controlId === options.controlId),
        ),
      );
      cursor = page.nextCursor;
      if (cursor === undefined) return { items };
      if (items.length >= options.limit) return { items, nextCursor: cursor };
    }
  }

  // Findings --------------------------------------------------------------------------------------

  /**
   * A person moves a finding along its lifecycle: open -> in_remediation -> resolved, or
   * risk_accepted (with an expiry) from open or in_remediation; a resolved finding stays resolved
   * (a new failure opens a new one). Resolving needs a passing test since the last failure.
   */
  async transition(
    findingId: string,
    to: FindingStatus,
    by: string,
    options: { readonly note?: string; readonly acceptedUntil?: string; readonly runbookId?: string } = {},
  ): Promise<FindingRecord> {
    const finding = await this.deps.findings.get(PLATFORM, findingId);
    if (!finding) throw new NotFoundError(`No finding ${findingId}.`, 'finding_not_found');
    const allowed: Readonly<Record<FindingStatus, readonly FindingStatus[]>> = {
      open: ['in_remediation', 'risk_accepted', 'resolved'],
      in_remediation: ['resolved', 'risk_accepted'],
      risk_accepted: ['in_remediation', 'resolved'],
      resolved: [],
    };
    if (!allowed[finding.status].includes(to)) {
      throw new ConflictError(
        `Finding ${findingId} is ${finding.status}: it cannot become ${to}.`,
        'invalid_transition',
      );
    }
    const now = this.deps.clock.now().toISOString();
    if (
      to === 'resolved' &&
      !(finding.lastPassedAt !== undefined && finding.lastPassedAt > finding.lastFailedAt)
    ) {
      throw new ConflictError(
        `Finding ${findingId} cannot be resolved before its control's test passes again (last failed ${finding.lastFailedAt}): run an assessment.`,
        'control_still_failing',
      );
    }
    if (to === 'risk_accepted' && !(options.acceptedUntil !== undefined && options.acceptedUntil > now)) {
      throw new ValidationError(
        'Accepting a risk needs acceptedUntil, a time in the future.',
        [{ path: 'body.acceptedUntil', message: 'required, in the future' }],
        'acceptance_expiry_required',
      );
    }
    const next: FindingRecord = {
      ...finding,
      status: to,
      ...(to === 'risk_accepted' ? { acceptedUntil: options.acceptedUntil } : {}),
      ...(options.runbookId === undefined ? {} : { runbookId: options.runbookId }),
      history: [
        ...finding.history,
        { at: now, by, to, ...(options.note === undefined ? {} : { note: options.note }) },
      ],
      version: finding.version + 1,
      updatedAt: now,
    };
    await this.deps.findings.replace(next, finding.version);
    if (to === 'resolved' || to === 'risk_accepted') {
      await this.#recordState(finding.controlId, (current) => {
        const { openFindingId: _closed, ...rest } = current;
        return current.openFindingId === findingId && to === 'resolved' ? { ...rest } : current;
      });
    }
    return next;
  }

  // Risk ------------------------------------------------------------------------------------------

  /**
   * The risk register: each control scored likelihood x impact, with its current state, and a 5x5
   * heatmap (likelihood by impact) counting the controls and those failing.
   */
  async risk(framework: string) {
    const controls = this.scopeOf(framework, 'all');
    const states = await this.deps.controls.getMany(
      PLATFORM,
      controls.map((control) => control.id),
    );
    const register = controls
      .map((control) => {
        const state = states.get(control.id);
        const score = control.likelihood * control.impact;
        return {
          controlId: control.id,
          owner: control.owner,
          likelihood: control.likelihood,
          impact: control.impact,
          score,
          level: score >= 20 ? 'critical' : score >= 10 ? 'high' : score >= 5 ? 'medium' : 'low',
          failing: state?.lastResult === 'fail' || state?.lastResult === 'error',
          ...(state?.openFindingId === undefined ? {} : { openFindingId: state.openFindingId }),
        } as const;
      })
      .sort((a, b) => b.score - a.score || a.controlId.localeCompare(b.controlId));
    const heatmap = Array.from({ length: 5 }, (_, l) =>
      Array.from({ length: 5 }, (_, i) => {
        const cell = register.filter((row) => row.likelihood === l + 1 && row.impact === i + 1);
        return { controls: cell.length, failing: cell.filter((row) => row.failing).length };
      }),
    );
    return { framework, register, heatmap };
  }
}
