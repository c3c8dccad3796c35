import { describe, expect, it } from 'vitest';
import type { AppError } from '#shared/errors.js';
import type { PassRates, QuarantineEntry, TaskResult, TrialOutcome } from '../../src/domain/model.js';
import {
  excludedTasks,
  flakyWithinRun,
  type PreviousRunState,
  parseQuarantine,
  QUARANTINE_FILE_VERSION,
  RELEASE_AFTER_STABLE_RUNS,
  serializeQuarantine,
  updateQuarantine,
} from '../../src/domain/quarantine.js';

const SUITE = { id: 'support-triage', digest: 'digest-1' };
const FINGERPRINTS = { e1: 'e1@v1', e2: 'e2@v1' };

const trial = (pass: boolean): TrialOutcome => ({
  kind: 'scored',
  score: pass ? 1 : 0,
  pass,
  latencyMs: 10,
  attempts: 1,
});
/** A task's trials from a pattern: `P` passed, `F` failed, `x` timed out. */
const result = (expertId: string, taskId: string, pattern: string): TaskResult => ({
  taskId,
  expertId,
  weight: 1,
  trials: [...pattern].map((mark) =>
    mark === 'x'
      ? { kind: 'error', error: 'timeout', message: 'timeout', attempts: 3, latencyMs: 5000 }
      : trial(mark === 'P'),
  ),
});
const previousRun = (passRates: PassRates, overrides: Partial<PreviousRunState> = {}): PreviousRunState => ({
  runId: 'r-11',
  suiteDigest: SUITE.digest,
  expertFingerprints: FINGERPRINTS,
  passRates,
  ...overrides,
});
const entry = (taskId: string, stableRuns = 0, expertId = 'e1'): QuarantineEntry => ({
  suiteId: SUITE.id,
  taskId,
  expertId,
  reason: 'flipped across trials of run r-1: passed 1 of 3',
  since: '2026-05-01T10:00:00.000Z',
  stableRuns,
});
const update = (
  results: TaskResult[],
  current: QuarantineEntry[] = [],
  previous?: PreviousRunState,
  expertFingerprints: Record<string, string> = FINGERPRINTS,
) =>
  updateQuarantine({
    current,
    suite: SUITE,
    runId: 'r-12',
    now: '2026-05-02T10:00:00.000Z',
    results,
    ...(previous ? { previous } : {}),
    expertFingerprints,
  });

describe('flakyWithinRun', () => {
  it('finds the tasks whose scored trials disagree, ignoring errors, by expert and task', () => {
    // Act
    const flaky = flakyWithinRun([
      result('e2', 'b', 'PFP'),
      result('e1', 'c', 'PPx'),
      result('e1', 'b', 'FxP'),
      result('e1', 'a', 'FFF'),
    ]);

    // Assess
    expect(flaky).toEqual([
      { taskId: 'b', expertId: 'e1', reason: 'passed 1 of 2 trials' },
      { taskId: 'b', expertId: 'e2', reason: 'passed 2 of 3 trials' },
    ]);
  });
});

describe('updateQuarantine', () => {
  it('quarantines a task whose trials flip within the run, with the reason and date, and reports the change', () => {
    // Act
    const { entries, changes } = update([result('e1', 'a', 'PFP'), result('e1', 'b', 'PPP')]);

    // Assess
    const reason = 'flipped across trials of run r-12: passed 2 of 3';
    expect(entries).toEqual([
      {
        suiteId: SUITE.id,
        taskId: 'a',
        expertId: 'e1',
        reason,
        since: '2026-05-02T10:00:00.000Z',
        stableRuns: 0,
      },
    ]);
    expect(changes).toEqual([
      {
        at: '2026-05-02T10:00:00.000Z',
        action: 'quarantined',
        suiteId: SUITE.id,
        taskId: 'a',
        expertId: 'e1',
        reason,
        runId: 'r-12',
      },
    ]);
  });

  it('quarantines a task whose pass state changed since the previous run when the suite and the expert did not', () => {
    // Prepare: a passed in r-11, fails now; b failed and fails.
    const previous = previousRun({ e1: { a: 1, b: 0 } });

    // Act
    const { entries, changes } = update([result('e1', 'a', 'F'), result('e1', 'b', 'F')], [], previous);

    // Assess
    expect(entries.map((item) => item.taskId)).toEqual(['a']);
    expect(changes).toMatchObject([
      {
        action: 'quarantined',
        taskId: 'a',
        reason: 'passed in run r-11, failed in r-12, same suite and expert',
      },
    ]);
  });

  it('does not quarantine a change across runs when the suite digest or the expert’s fingerprint changed', () => {
    // Prepare
    const results = [result('e1', 'a', 'F'), result('e2', 'a', 'P')];
    const rates = { e1: { a: 1 }, e2: { a: 0 } };

    // Act
    const newSuite = update(results, [], previousRun(rates, { suiteDigest: 'digest-0' }));
    const newExperts = update(
      results,
      [],
      previousRun(rates, { expertFingerprints: { e1: 'e1@v0', e2: 'e2@v0' } }),
    );
    const unknownExpert = update(results, [], previousRun(rates), {});

    // Assess
    for (const outcome of [newSuite, newExperts, unknownExpert]) {
      expect(outcome).toEqual({ entries: [], changes: [] });
    }
  });

  it('counts stable runs and releases the task after three in a row, reporting the release', () => {
    // Prepare: a quarantined task that now passes every trial, run after run.
    let entries = [entry('a')];
    const releases = [];

    // Act
    for (let run = 0; run < RELEASE_AFTER_STABLE_RUNS; run += 1) {
      const outcome = update([result('e1', 'a', 'PPP')], entries);
      entries = outcome.entries;
      releases.push(outcome.changes);
      if (run < RELEASE_AFTER_STABLE_RUNS - 1) expect(entries).toEqual([entry('a', run + 1)]);
    }

    // Assess
    expect(RELEASE_AFTER_STABLE_RUNS).toBe(3);
    expect(entries).toEqual([]);
    expect(releases.slice(0, -1)).toEqual([[], []]);
    expect(releases.at(-1)).toMatchObject([
      { action: 'released', taskId: 'a', reason: 'stable for 3 runs in a row (the last r-12)' },
    ]);
  });

  it('counts a run as stable only when it also agrees with a comparable previous run', () => {
    // Prepare: every trial passes now, but the task failed in the previous run with nothing changed.
    const previous = previousRun({ e1: { a: 0 } });

    // Act
    const { entries, changes } = update([result('e1', 'a', 'PP')], [entry('a', 2)], previous);

    // Assess
    expect(entries).toEqual([entry('a', 0)]);
    expect(changes).toMatchObject([
      { action: 'flipped-again', reason: expect.stringContaining('failed in run r-11') },
    ]);
  });

  it('resets the stable count on a new flip, keeping the original reason and date, and reports it', () => {
    // Act
    const { entries, changes } = update([result('e1', 'a', 'FP')], [entry('a', 2)]);

    // Assess
    expect(entries).toEqual([entry('a', 0)]);
    expect(changes).toMatchObject([
      { action: 'flipped-again', taskId: 'a', reason: 'flipped across trials of run r-12: passed 1 of 2' },
    ]);
  });

  it('leaves an entry as it was when the run scored none of its trials, and keeps other suites’ entries', () => {
    // Prepare
    const elsewhere: QuarantineEntry = { ...entry('a', 1), suiteId: 'another-suite' };

    // Act
    const { entries, changes } = update([result('e1', 'a', 'xx')], [entry('a', 1), elsewhere]);

    // Assess
    expect(entries).toEqual([elsewhere, entry('a', 1)]);
    expect(changes).toEqual([]);
  });

  it('returns entries and changes in a deterministic order (suite, expert, task), whatever the order of results', () => {
    // Prepare
    const results = [
      result('e2', 'b', 'PF'),
      result('e1', 'c', 'PF'),
      result('e2', 'a', 'PF'),
      result('e1', 'a', 'PF'),
    ];

    // Act
    const forward = update(results);
    const backward = update([...results].reverse());

    // Assess
    const order = forward.changes.map((change) => `${change.expertId}/${change.taskId}`);
    expect(order).toEqual(['e1/a', 'e1/c', 'e2/a', 'e2/b']);
    expect(forward.entries.map((item) => `${item.expertId}/${item.taskId}`)).toEqual(order);
    expect(backward).toEqual(forward);
  });
});

describe('excludedTasks', () => {
  it('gives the quarantined tasks of one expert on one suite', () => {
    // Prepare
    const entries = [entry('a'), entry('b'), entry('c', 0, 'e2'), { ...entry('d'), suiteId: 'other' }];

    // Act / Assess
    expect(excludedTasks(entries, SUITE.id, 'e1')).toEqual(new Set(['a', 'b']));
    expect(excludedTasks(entries, SUITE.id, 'e3')).toEqual(new Set());
  });
});

describe('the quarantine file', () => {
  it('round-trips: serialized entries parse back to the same entries, in order', () => {
    // Prepare
    const entries = [entry('b', 1), entry('a', 0, 'e2'), entry('a')];

    // Act
    const text = serializeQuarantine(entries);
    const parsed = parseQuarantine(text, 'eval/quarantine.json');

    // Assess
    expect(parsed).toEqual([entry('a'), entry('b', 1), entry('a', 0, 'e2')]);
    expect(serializeQuarantine(parsed)).toBe(text);
  });

  it('is stable, pretty JSON with apiVersion first and each entry’s keys in one order', () => {
    // Act
    const text = serializeQuarantine([
      { stableRuns: 1, since: 's', reason: 'r', taskId: 't', expertId: 'e', suiteId: 'x' },
    ]);

    // Assess
    expect(text).toBe(
      `{
  "apiVersion": "${QUARANTINE_FILE_VERSION}",
  "entries": [
    {
      "suiteId": "x",
      "expertId": "e",
      "taskId": "t",
      "reason": "r",
      "since": "s",
      "stableRuns": 1
    }
  ]
}
`,
    );
  });

  it('refuses a file that is not JSON, of another version, with a malformed entry or a task listed twice, naming file, path and reason', () => {
    // Prepare
    const source = 'eval/quarantine.json';
    const file = (entries: unknown[], apiVersion = QUARANTINE_FILE_VERSION) =>
      JSON.stringify({ apiVersion, entries });
    const failure = (text: string): AppError => {
      try {
        parseQuarantine(text, source);
      } catch (error) {
        return error as AppError;
      }
      throw new Error('expected parseQuarantine to throw');
    };

    // Act
    const notJson = failure('{');
    const otherVersion = failure(file([], 'conductor.quarantine/v0'));
    const badDate = failure(file([{ ...entry('a'), since: 'yesterday' }]));
    const unknownKey = failure(file([{ ...entry('a'), note: 'x' }]));
    const twice = failure(file([entry('a'), entry('a', 1)]));

    // Assess
    for (const error of [notJson, otherVersion, badDate, unknownKey, twice]) {
      expect(error).toMatchObject({ statusCode: 400, code: 'invalid_quarantine' });
      expect(error.message).toContain(source);
      expect(error.details).toMatchObject({ file: source });
    }
    expect(notJson.message).toMatch(/^eval\/quarantine\.json: not JSON/);
    expect(otherVersion.details).toMatchObject({ path: 'apiVersion' });
    expect(badDate.details).toMatchObject({ path: 'entries.0.since' });
    expect(badDate.message).toMatch(/^eval\/quarantine\.json at entries\.0\.since: /);
    expect(unknownKey.details).toMatchObject({ path: 'entries.0', reason: expect.stringContaining('note') });
    expect(twice.details).toMatchObject({
      path: 'entries.1',
      reason: 'task a of expert e1 on suite support-triage is listed twice',
    });
  });
});
