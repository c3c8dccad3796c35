/**
 * Flaky-task quarantine: a task whose outcome flips with nothing changed is kept out of the gate
 * until it is stable again. Pure state transitions: the caller keeps the entries (a file in the
 * repository, see `serializeQuarantine`) and logs every change returned.
 *
 * A task of an expert is quarantined when, in this run, its scored trials disagree (some passed,
 * some failed), or when its pass state (rate ≥ 0.5) differs from the previous run's while the suite
 * digest and the expert's fingerprint are the same ("nothing changed"). A quarantined task that is
 * stable in a run (its trials agree and, when the previous run is comparable, its pass state is the
 * same) counts one stable run; at RELEASE_AFTER_STABLE_RUNS in a row it is released; a flip starts
 * the count again. A run with no scored trial for the task leaves its entry as it was.
 */
import * as z from 'zod';
import { AppError } from '#shared/errors.js';
import type { PassRates, QuarantineEntry, TaskResult } from './model.js';

/** Consecutive stable runs after which a quarantined task is released. */
export const RELEASE_AFTER_STABLE_RUNS = 3;

export const QUARANTINE_FILE_VERSION = 'conductor.quarantine/v1';

/** One change to the quarantine, for the caller to log. */
export interface QuarantineChange {
  /** ISO date-time of the run that made it. */
  readonly at: string;
  readonly action: 'quarantined' | 'released' | 'flipped-again';
  readonly suiteId: string;
  readonly taskId: string;
  readonly expertId: string;
  readonly reason: string;
  readonly runId: string;
}

/** What the previous run of the suite left: enough to tell a flip "with nothing changed". */
export interface PreviousRunState {
  readonly runId: string;
  readonly suiteDigest: string;
  readonly expertFingerprints: Readonly<Record<string, string>>;
  readonly passRates: PassRates;
}

export interface QuarantineUpdate {
  readonly current: readonly QuarantineEntry[];
  readonly suite: { readonly id: string; readonly digest: string };
  readonly runId: string;
  /** ISO date-time: `since` of new entries and `at` of the changes. */
  readonly now: string;
  readonly results: readonly TaskResult[];
  /** The suite's previous run; without it only flips across trials count. */
  readonly previous?: PreviousRunState;
  /** expertId → what identifies the expert's version in this run. */
  readonly expertFingerprints: Readonly<Record<string, string>>;
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const byKey = <T extends { suiteId: string; expertId: string; taskId: string }>(a: T, b: T): number =>
  compare(a.suiteId, b.suiteId) || compare(a.expertId, b.expertId) || compare(a.taskId, b.taskId);

const keyOf = (suiteId: string, expertId: string, taskId: string): string =>
  JSON.stringify([suiteId, expertId, taskId]);

/** The scored trials' outcomes of a task: how many there were and how many passed. */
const tallyOf = (result: TaskResult): { scored: number; passed: number } => {
  let scored = 0;
  let passed = 0;
  for (const trial of result.trials) {
    if (trial.kind !== 'scored') continue;
    scored += 1;
    if (trial.pass) passed += 1;
  }
  return { scored, passed };
};

/** Tasks whose scored trials disagree in this run (some passed, some failed), by expertId and taskId. */
export const flakyWithinRun = (
  results: readonly TaskResult[],
): { taskId: string; expertId: string; reason: string }[] =>
  results
    .flatMap((result) => {
      const { scored, passed } = tallyOf(result);
      return passed > 0 && passed < scored
        ? [
            {
              taskId: result.taskId,
              expertId: result.expertId,
              reason: `passed ${passed} of ${scored} trials`,
            },
          ]
        : [];
    })
    .sort((a, b) => compare(a.expertId, b.expertId) || compare(a.taskId, b.taskId));

/** The quarantine after a run, and every change it made. */
export const updateQuarantine = (
  input: QuarantineUpdate,
): { entries: QuarantineEntry[]; changes: QuarantineChange[] } => {
  const { suite, runId, now, previous } = input;
  const entries = new Map(
    input.current.map((entry) => [keyOf(entry.suiteId, entry.expertId, entry.taskId), entry]),
  );
  const changes: QuarantineChange[] = [];
  const change = (action: QuarantineChange['action'], result: TaskResult, reason: string) =>
    changes.push({
      at: now,
      action,
      suiteId: suite.id,
      taskId: result.taskId,
      expertId: result.expertId,
      reason,
      runId,
    });

  for (const result of input.results) {
    const { scored, passed } = tallyOf(result);
    if (scored === 0) continue;
    const reasons: string[] = [];
    if (passed > 0 && passed < scored) {
      reasons.push(`flipped across trials of run ${runId}: passed ${passed} of ${scored}`);
    }
    const fingerprint = input.expertFingerprints[result.expertId];
    const before = previous?.passRates[result.expertId]?.[result.taskId];
    const comparable =
      previous !== undefined &&
      before !== undefined &&
      previous.suiteDigest === suite.digest &&
      fingerprint !== undefined &&
      previous.expertFingerprints[result.expertId] === fingerprint;
    if (comparable && before >= 0.5 !== passed / scored >= 0.5) {
      const [was, is] = before >= 0.5 ? ['passed', 'failed'] : ['failed', 'passed'];
      reasons.push(`${was} in run ${previous.runId}, ${is} in ${runId}, same suite and expert`);
    }

    const key = keyOf(suite.id, result.expertId, result.taskId);
    const entry = entries.get(key);
    if (reasons.length > 0) {
      const reason = reasons.join('; ');
      if (entry === undefined) {
        entries.set(key, {
          suiteId: suite.id,
          taskId: result.taskId,
          expertId: result.expertId,
          reason,
          since: now,
          stableRuns: 0,
        });
        change('quarantined', result, reason);
      } else {
        entries.set(key, { ...entry, stableRuns: 0 });
        change('flipped-again', result, reason);
      }
    } else if (entry !== undefined) {
      const stableRuns = entry.stableRuns + 1;
      if (stableRuns >= RELEASE_AFTER_STABLE_RUNS) {
        entries.delete(key);
        change('released', result, `stable for ${stableRuns} runs in a row (the last ${runId})`);
      } else {
        entries.set(key, { ...entry, stableRuns });
      }
    }
  }
  return { entries: [...entries.values()].sort(byKey), changes: changes.sort(byKey) };
};

/** The tasks of an expert on a suite that the gate leaves out. */
export const excludedTasks = (
  entries: readonly QuarantineEntry[],
  suiteId: string,
  expertId: string,
): Set<string> =>
  new Set(
    entries
      .filter((entry) => entry.suiteId === suiteId && entry.expertId === expertId)
      .map((entry) => entry.taskId),
  );

const entrySchema = z.strictObject({
  suiteId: z.string().min(1),
  expertId: z.string().min(1),
  taskId: z.string().min(1),
  reason: z.string().min(1),
  since: z.iso.datetime({ offset: true }),
  stableRuns: z.number().int().min(0),
});

const fileSchema = z.strictObject({
  apiVersion: z.literal(QUARANTINE_FILE_VERSION),
  entries: z.array(entrySchema),
});

/**
 * The quarantine file's text: pretty JSON, `apiVersion` then `entries` sorted by suite, expert and
 * task, each with its keys in one order, so the same entries always give the same bytes (and a
 * readable diff in review).
 */
export const serializeQuarantine = (entries: readonly QuarantineEntry[]): string => {
  const ordered = [...entries].sort(byKey).map((entry) => ({
    suiteId: entry.suiteId,
    expertId: entry.expertId,
    taskId: entry.taskId,
    reason: entry.reason,
    since: entry.since,
    stableRuns: entry.stableRuns,
  }));
  return `${JSON.stringify({ apiVersion: QUARANTINE_FILE_VERSION, entries: ordered }, null, 2)}\n`;
};

const invalid = (source: string, path: string, reason: string): AppError =>
  new AppError(400, 'invalid_quarantine', `${source}${path === '' ? '' : ` at ${path}`}: ${reason}`, {
    details: { file: source, path, reason },
  });

/**
 * Reads a quarantine file. Throws an AppError 400 `invalid_quarantine` naming the file (`source`),
 * the path in it and the reason: not JSON, another apiVersion, a malformed entry, or one task listed
 * twice.
 */
export const parseQuarantine = (text: string, source: string): QuarantineEntry[] => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw invalid(source, '', `not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  const parsed = fileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(source, issue?.path.join('.') ?? '', issue?.message ?? 'invalid');
  }
  const seen = new Set<string>();
  parsed.data.entries.forEach((entry, index) => {
    const key = keyOf(entry.suiteId, entry.expertId, entry.taskId);
    if (seen.has(key)) {
      throw invalid(
        source,
        `entries.${index}`,
        `task ${entry.taskId} of expert ${entry.expertId} on suite ${entry.suiteId} is listed twice`,
      );
    }
    seen.add(key);
  });
  return parsed.data.entries.sort(byKey);
};
