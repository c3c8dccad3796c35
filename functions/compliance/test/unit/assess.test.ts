import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ConductorEvent } from '#shared/ports/events.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords, InMemoryWormStore } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import {
  type AssessmentRecord,
  Compliance,
  type ControlState,
  type ControlTest,
  controlResultOf,
  DUE_MARGIN_HOURS,
  type FindingRecord,
  PLATFORM,
  type TestStatus,
} from '../../src/domain/assess.js';
import { parseCatalog } from '../../src/domain/catalog.js';
import { CATALOG_FILES, CATALOG_TEST_IDS } from '../support/catalog-files.js';

const FILES = CATALOG_FILES;
const TEST_IDS = CATALOG_TEST_IDS;

/** The service with scripted tests: `outcomes.set(testId, 'fail')` makes that test fail next time. */
const makeCompliance = () => {
  const outcomes = new Map<string, TestStatus | 'throw'>();
  const tests = new Map<string, ControlTest>(
    TEST_IDS.map((id) => [
      id,
      {
        id,
        run: async () => {
          const status = outcomes.get(id) ?? 'pass';
          if (status === 'throw') throw new Error('AccessDenied');
          return { status, summary: `${id}: ${status}`, observations: { checked: id } };
        },
      },
    ]),
  );
  const clock = new ManualClock(new Date('2026-12-01T06:00:00Z'));
  const evidence = new InMemoryWormStore();
  const published: ConductorEvent[] = [];
  const controls = new InMemoryTenantRecords<ControlState>('CONTROL');
  const findings = new InMemoryTenantRecords<FindingRecord>('FINDING');
  const assessments = new InMemoryTenantRecords<AssessmentRecord>('ASSESSMENT');
  const compliance = new Compliance({
    catalog: parseCatalog(FILES, new Set(TEST_IDS)),
    tests,
    evidence,
    controls,
    findings,
    assessments,
    seen: new InMemoryTenantRecords('SEEN_EVENT'),
    events: { publish: async (events) => void published.push(...events) },
    clock,
    ids: new SequentialIds(),
    environment: 'test',
  });
  return { compliance, outcomes, clock, evidence, published, findings };
};

describe('Compliance', () => {
  it('the daily job leaves CC6.1’s log-retention evidence fresh, written once with its artifact’s hash', async () => {
    // Prepare
    const { compliance, evidence } = makeCompliance();

    // Act
    const assessment = await compliance.assess('SOC2', 'all', 'schedule', 'trace-1');
    const freshness = await compliance.freshness('SOC2');

    // Assess
    const retention = freshness.find((row) => row.controlId === 'log-retention');
    expect(retention).toMatchObject({ status: 'fresh', lastResult: 'pass' });
    expect(retention?.ageHours).toBeLessThan(24);
    const result = assessment.results.find((r) => r.testId === 'aws.log-retention');
    const record = JSON.parse(evidence.objects.get(result?.evidenceKey as string)?.body as string);
    expect(record).toMatchObject({
      controlId: 'log-retention',
      result: 'pass',
      criteria: expect.arrayContaining(['SOC2 CC6.1']),
    });
    const artifact = evidence.objects.get(record.artifact.key)?.body as string;
    const { createHash } = await import('node:crypto');
    expect(createHash('sha256').update(artifact).digest('hex')).toBe(record.artifact.sha256);
    await expect(evidence.putOnce(result?.evidenceKey as string, '{}')).rejects.toThrow(/already holds/);
  });

  it('two assessments failing one control at once open one finding and count both failures', async () => {
    // Prepare: a change event's assessment and an on-demand one, interleaved at every await
    const { compliance, outcomes, findings, published } = makeCompliance();
    outcomes.set('aws.kms-rotation', 'fail');

    // Act
    const runs = await Promise.all([
      compliance.assess('SOC2', ['key-management'], 'conductor:event:x', 't1'),
      compliance.assess('SOC2', ['key-management'], 'grc-lead', 't2'),
      compliance.assess('SOC2', ['key-management'], 'grc-lead', 't3'),
    ]);

    // Assess
    const all = (await findings.list(PLATFORM, { limit: 10 })).items;
    expect(all.map((f) => [f.id, f.failures])).toEqual([['fnd_key-management_1', 3]]);
    expect(runs.map((run) => run.results[0]?.findingId)).toEqual([
      'fnd_key-management_1',
      'fnd_key-management_1',
      'fnd_key-management_1',
    ]);
    expect(published.filter((e) => e.type === 'control_failed')).toHaveLength(3);
  });

  it('opens one finding on a failure, counts repeats on it, notes a pass, and publishes control_failed', async () => {
    // Prepare
    const { compliance, outcomes, clock, published, findings } = makeCompliance();
    outcomes.set('aws.kms-rotation', 'fail');

    // Act
    await compliance.assess('SOC2', ['key-management'], 'ops', 't1');
    clock.advance(3_600_000);
    outcomes.set('aws.kms-rotation', 'throw');
    await compliance.assess('SOC2', ['key-management'], 'ops', 't2');
    clock.advance(3_600_000);
    outcomes.set('aws.kms-rotation', 'pass');
    await compliance.assess('SOC2', ['key-management'], 'ops', 't3');

    // Assess
    const all = (await findings.list(PLATFORM, { limit: 10 })).items;
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      controlId: 'key-management',
      severity: 'high',
      owner: 'security',
      status: 'open',
      failures: 2,
      reason: 'aws.kms-rotation: the test failed to run: AccessDenied',
      lastPassedAt: '2026-12-01T08:00:00.000Z',
      slaDueAt: '2026-12-15T06:00:00.000Z',
    });
    expect(published.filter((e) => e.type === 'control_failed').map((e) => e.detail.controlId)).toEqual([
      'key-management',
      'key-management',
    ]);
  });

  it('moves a finding along its lifecycle, and refuses what the lifecycle does not allow', async () => {
    // Prepare
    const { compliance, outcomes, clock } = makeCompliance();
    outcomes.set('platform.grants-reviewed', 'fail');
    const { results } = await compliance.assess('SOC2', ['access-review'], 'ops', 't');
    const findingId = results[0]?.findingId as string;

    // Act
    const early = await refusal(compliance.transition(findingId, 'resolved', 'alice'));
    const noExpiry = await refusal(compliance.transition(findingId, 'risk_accepted', 'alice'));
    const remediating = await compliance.transition(findingId, 'in_remediation', 'alice', {
      runbookId: 'revoke-grants',
    });
    outcomes.set('platform.grants-reviewed', 'pass');
    clock.advance(60_000);
    await compliance.assess('SOC2', ['access-review'], 'ops', 't');
    const resolved = await compliance.transition(findingId, 'resolved', 'alice', { note: 'grants expired' });
    const again = await refusal(compliance.transition(findingId, 'open', 'alice'));

    // Assess
    expect([early.code, noExpiry.code, again.code]).toEqual([
      'control_still_failing',
      'acceptance_expiry_required',
      'invalid_transition',
    ]);
    expect(remediating).toMatchObject({ status: 'in_remediation', runbookId: 'revoke-grants' });
    expect(resolved.history.map((h) => h.to)).toEqual(['open', 'in_remediation', 'resolved']);
  });

  it('says evidence older than 24 h is stale, publishes evidence_stale, and lists what is due', async () => {
    // Prepare
    const { compliance, clock, published } = makeCompliance();
    await compliance.assess('GDPR', 'all', 'schedule', 't');

    // Act
    clock.advance(25 * 3_600_000);
    const rows = await compliance.freshness('GDPR', { publishStale: true });
    const due = await compliance.due('GDPR');

    // Assess
    expect(rows.every((row) => row.status === 'stale')).toBe(true);
    expect(published.filter((e) => e.type === 'evidence_stale')).toHaveLength(rows.length);
    expect(due.sort()).toEqual(rows.map((row) => row.controlId).sort());
  });

  it('summarises freshness per framework for the metrics: fresh shares and the oldest age', async () => {
    const { compliance, clock } = makeCompliance();
    const before = await compliance.freshnessSummary();
    await compliance.assess('SOC2', ['evidence-worm'], 'x', 't');
    clock.advance(2 * 3_600_000);
    const after = await compliance.freshnessSummary();
    expect(before.map((row) => row.framework).sort()).toEqual(['GDPR', 'SOC2']);
    expect(before.find((row) => row.framework === 'SOC2')).toEqual({
      framework: 'SOC2',
      freshPercent: 0,
      criticalFreshPercent: 0,
      maxAgeHours: 24,
    });
    const soc2 = after.find((row) => row.framework === 'SOC2');
    expect(soc2?.criticalFreshPercent).toBe(50);
    expect(soc2?.freshPercent).toBeCloseTo(100 / 9, 5);
    expect(soc2?.maxAgeHours).toBe(24);
  });

  it('collects a control again before its evidence goes stale, not long before', async () => {
    const { compliance, clock } = makeCompliance();
    await compliance.assess('GDPR', 'all', 'schedule', 't');
    clock.advance((24 - DUE_MARGIN_HOURS - 0.5) * 3_600_000);
    expect(await compliance.due('GDPR')).toEqual([]);
    clock.advance(3_600_000);
    const due = await compliance.due('GDPR');
    expect(due.length).toBeGreaterThan(0);
    expect((await compliance.freshness('GDPR')).every((row) => row.status === 'fresh')).toBe(true);
  });

  it('a test that cannot run here is evidence of that, and neither passes nor fails its control', async () => {
    // Prepare: the AWS checks cannot run (the embedded runtime has no AWS)
    const { compliance, outcomes, findings } = makeCompliance();
    for (const id of TEST_IDS.filter((t) => t.startsWith('aws.'))) outcomes.set(id, 'not_applicable');
    outcomes.set('platform.evidence-store-worm', 'fail');

    // Act
    const record = await compliance.assess('SOC2', ['key-management', 'evidence-worm'], 'x', 't');
    const rows = await compliance.freshness('SOC2');

    // Assess: key-management (AWS only) is not_applicable, with no finding; evidence-worm fails on its platform test
    expect(record.results.find((r) => r.controlId === 'key-management')).toMatchObject({
      result: 'not_applicable',
    });
    expect(record.results.find((r) => r.controlId === 'key-management')?.findingId).toBeUndefined();
    expect(rows.find((r) => r.controlId === 'key-management')).toMatchObject({
      lastResult: 'not_applicable',
    });
    expect(rows.find((r) => r.controlId === 'evidence-worm')).toMatchObject({ lastResult: 'fail' });
    const open = (await findings.list(PLATFORM, { limit: 100 })).items;
    expect(open.map((f) => f.controlId)).toEqual(['evidence-worm']);
    expect(controlResultOf(['not_applicable', 'pass'])).toBe('pass');
    expect(controlResultOf(['not_applicable', 'error'])).toBe('error');
  });

  it('the hourly sweep keeps every control fresh over a week, each collected once per run, stale ones announced', async () => {
    // Prepare
    const { compliance, clock, published, evidence } = makeCompliance();
    // Every control some framework maps (a control no framework names is never assessed).
    const controls = new Set(
      [...compliance.catalog.frameworks.keys()].flatMap((f) => compliance.scopeOf(f, 'all').map((c) => c.id)),
    );

    // Act: the first sweep finds nothing (all missing), then a week of hourly sweeps
    const first = await compliance.sweep('t0');
    const counts = new Map<string, number>();
    for (const run of first.assessments)
      for (const id of run.controls) counts.set(id, (counts.get(id) ?? 0) + 1);
    let staleSeen = 0;
    for (let hour = 1; hour <= 7 * 24; hour += 1) {
      clock.advance(3_600_000);
      const run = await compliance.sweep(`t${hour}`);
      staleSeen += run.stale.length;
      for (const framework of compliance.catalog.frameworks.keys()) {
        expect((await compliance.freshness(framework)).every((row) => row.status === 'fresh')).toBe(true);
      }
    }

    // Assess
    expect(first.stale.length).toBe(controls.size);
    expect([...counts.keys()].sort()).toEqual([...controls].sort());
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(staleSeen).toBe(0);
    expect(published.filter((e) => e.type === 'evidence_stale')).toHaveLength(controls.size);
    expect([...evidence.objects.keys()].some((k) => k.startsWith('compliance/evidence/'))).toBe(true);
  });

  it('a change event re-runs the controls that listen for it, once per event id', async () => {
    const { compliance } = makeCompliance();
    const runs = await compliance.onEvent({ id: 'evt-1', type: 'runbook_executed', tenantId: 'acme' });
    const again = await compliance.onEvent({ id: 'evt-1', type: 'runbook_executed', tenantId: 'acme' });
    const other = await compliance.onEvent({ id: 'evt-2', type: 'route_decision' });
    expect(runs).toEqual([
      { assessmentId: expect.stringMatching(/^asm_/), framework: 'SOC2', controls: ['change-management'] },
    ]);
    expect((await compliance.assessment(runs[0]?.assessmentId ?? '')).requestedBy).toBe(
      'conductor:event:runbook_executed',
    );
    expect(again).toEqual([]);
    expect(other).toEqual([]);
  });

  it('refuses an unknown framework and a scope outside the framework, writing nothing', async () => {
    const { compliance, evidence } = makeCompliance();
    expect((await refusal(compliance.assess('PCI', 'all', 'x', 't'))).code).toBe('unknown_framework');
    expect((await refusal(compliance.assess('GDPR', ['monitoring'], 'x', 't'))).code).toBe('unknown_scope');
    expect(evidence.objects.size).toBe(0);
  });

  it('scores the risk register and its heatmap from the controls', async () => {
    const { compliance, outcomes } = makeCompliance();
    outcomes.set('aws.evidence-bucket-lock', 'fail');
    await compliance.assess('SOC2', 'all', 'x', 't');
    const { register, heatmap } = await compliance.risk('SOC2');
    expect(register[0]).toMatchObject({ controlId: 'api-authorization', score: 10, level: 'high' });
    expect(register.find((row) => row.controlId === 'evidence-worm')).toMatchObject({
      failing: true,
      score: 5,
    });
    expect(heatmap[0]?.[4]).toEqual({ controls: 1, failing: 1 });
    expect(heatmap.flat().reduce((sum, cell) => sum + cell.controls, 0)).toBe(register.length);
  });

  it('property: whatever the outcomes, one open finding per control at most, every failure counted once, one evidence per run', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            test: fc.constantFrom('aws.kms-rotation', 'aws.dlq-alarmed'),
            status: fc.constantFrom<TestStatus>('pass', 'fail', 'error', 'not_applicable'),
          }),
          {
            maxLength: 20,
          },
        ),
        async (runs) => {
          const { compliance, outcomes, clock, evidence, findings } = makeCompliance();
          let failures = 0;
          for (const run of runs) {
            outcomes.set(run.test, run.status);
            if (run.status === 'fail' || run.status === 'error') failures += 1;
            clock.advance(60_000);
            await compliance.assess(
              'SOC2',
              [run.test === 'aws.kms-rotation' ? 'key-management' : 'monitoring'],
              'x',
              't',
            );
          }
          const all = (await findings.list(PLATFORM, { limit: 100 })).items;
          for (const controlId of ['key-management', 'monitoring']) {
            expect(
              all.filter((f) => f.controlId === controlId && f.status !== 'resolved').length,
            ).toBeLessThanOrEqual(1);
          }
          expect(all.reduce((sum, f) => sum + f.failures, 0)).toBe(failures);
          expect(
            [...evidence.objects.keys()].filter((k) => k.startsWith('compliance/evidence/')),
          ).toHaveLength(runs.length);
        },
      ),
      { numRuns: 60 },
    );
  });
});
