import { ValidationError } from '#shared/errors.js';
import type {
  ExpertMetrics,
  ExpertVerdict,
  QuarantineEntry,
  RunStatus,
  RunSummary,
  TaskFlip,
  TaskResult,
  TrialErrorKind,
  TrialOutcome,
  Verdict,
} from './model.js';

/**
 * A run's reports, drawn from its `RunSummary` alone: the sticky PR comment (GitHub Markdown), JUnit
 * XML for CI test tabs, and the JSON document. Every value that came from a suite file or an expert
 * (task ids, reasons, details) is escaped for the format it lands in: it can neither break a table or
 * an element nor inject markup.
 */

/** The longest PR comment rendered: GitHub refuses comments over 65,536 characters. */
export const COMMENT_MAX_CHARS = 60_000;
/** Flips listed per expert and direction unless told otherwise. */
export const DEFAULT_MAX_FLIPS = 20;
/** A task passes in JUnit when at least this share of its scored trials passed. */
export const JUNIT_PASS_THRESHOLD = 0.5;
export const REPORT_API_VERSION = 'conductor.eval-report/v1';

/** The longest single value (a reason, a detail, an error message) shown in the comment. */
const MAX_VALUE_CHARS = 300;

const STATUS_LINE: Record<RunStatus, string> = {
  pass: '✅ PASS',
  regression: '❌ REGRESSION',
  undecided: '❔ UNDECIDED',
  infrastructure_failure: '⛔ INFRASTRUCTURE FAILURE',
};

const VERDICT_WORD: Record<Verdict, string> = {
  pass: '✅ PASS',
  regression: '❌ REGRESSION',
  undecided: '❔ UNDECIDED',
};

/**
 * The hidden first line a workflow looks for to update its own comment. The id is URI-encoded so
 * that a hostile suite id cannot close the HTML comment (`-->`); a slug-like id is left as it is.
 */
export const commentMarker = (suiteId: string): string =>
  `<!-- conductor-eval:${encodeURIComponent(suiteId)} -->`;

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/** Cuts a value to `max` characters (never inside a surrogate pair), marking the cut with `…`. */
const clip = (value: string, max = MAX_VALUE_CHARS): string => {
  if (value.length <= max) return value;
  let end = max - 1;
  const last = value.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${value.slice(0, end)}…`;
};

/**
 * Escapes a value for GitHub Markdown text and table cells: HTML metacharacters become entities,
 * Markdown punctuation that could format, link or split a cell is backslash-escaped, and line breaks
 * and other control characters become spaces (a newline would end the table row).
 */
export const escapeMarkdown = (value: string): string =>
  clip(value)
    .replace(/\r\n|[\r\n\t\f\v\u2028\u2029]/g, ' ')
    .replace(/\p{Cc}/gu, '')
    .replace(/[\\`*[\]|~]/g, (c) => `\\${c}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');

const percent = (rate: number): string => (Number.isFinite(rate) ? `${(rate * 100).toFixed(1)} %` : '—');

/** A difference of rates in percentage points, always signed: `+3.5`, `-8.0`, `±0.0`. */
export const signedPoints = (delta: number): string => {
  if (!Number.isFinite(delta)) return '—';
  const text = (Math.abs(delta) * 100).toFixed(1);
  if (Number(text) === 0) return '±0.0';
  return `${delta > 0 ? '+' : '-'}${text}`;
};

const wholePercent = (rate: number): string => `${Math.round(rate * 100)} %`;

interface ExpertRow {
  readonly expertId: string;
  readonly verdict?: ExpertVerdict;
  readonly metrics?: ExpertMetrics;
}

/** Experts in the order the gate judged them, then any measured but not judged (no baseline). */
const expertRows = (summary: RunSummary): ExpertRow[] => {
  const rows = new Map<string, { expertId: string; verdict?: ExpertVerdict; metrics?: ExpertMetrics }>();
  for (const verdict of summary.verdicts) rows.set(verdict.expertId, { expertId: verdict.expertId, verdict });
  for (const metrics of summary.metrics) {
    const row = rows.get(metrics.expertId);
    if (row) row.metrics = metrics;
    else rows.set(metrics.expertId, { expertId: metrics.expertId, metrics });
  }
  return [...rows.values()];
};

const expertTable = (rows: readonly ExpertRow[]): string[] => {
  if (rows.length === 0) return ['_No expert was measured._'];
  const lines = [
    '| Expert | Verdict | Baseline | Current | Δ (points) | Interval on Δ | Tasks compared | Trials with errors |',
    '| --- | --- | ---: | ---: | ---: | :---: | ---: | ---: |',
  ];
  for (const { expertId, verdict, metrics } of rows) {
    const trials = metrics ? metrics.scoredTrials + metrics.errorTrials : 0;
    const cells = [
      escapeMarkdown(expertId),
      verdict ? VERDICT_WORD[verdict.verdict] : 'no baseline',
      verdict ? percent(verdict.baselineRate) : '—',
      percent(verdict ? verdict.currentRate : (metrics?.passRate ?? Number.NaN)),
      verdict ? signedPoints(verdict.delta) : '—',
      verdict ? `[${signedPoints(verdict.interval[0])}, ${signedPoints(verdict.interval[1])}]` : '—',
      verdict ? String(verdict.tasksCompared) : '—',
      metrics ? `${metrics.errorTrials} / ${trials}` : '—',
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines;
};

/** Why the task failed in this run, in a line: the detail of its first failed scored trial. */
const failureDetail = (result: TaskResult | undefined): string | undefined => {
  for (const trial of result?.trials ?? []) {
    if (trial.kind === 'scored' && !trial.pass && trial.detail) return trial.detail;
  }
  return undefined;
};

/** Largest change first, then by task id, so a cut list keeps what matters most. */
const byChange = (a: TaskFlip, b: TaskFlip): number =>
  Math.abs(b.current - b.baseline) - Math.abs(a.current - a.baseline) ||
  (a.taskId < b.taskId ? -1 : a.taskId > b.taskId ? 1 : 0);

const flipList = (
  title: string,
  flips: readonly TaskFlip[],
  limit: number,
  detailOf?: (taskId: string) => string | undefined,
): string[] => {
  if (flips.length === 0) return [];
  const lines = [`${title} (${flips.length}):`, ''];
  for (const flip of [...flips].sort(byChange).slice(0, limit)) {
    const detail = detailOf?.(flip.taskId);
    const change = `${wholePercent(flip.baseline)} → ${wholePercent(flip.current)}`;
    lines.push(`- ${escapeMarkdown(flip.taskId)}: ${change}${detail ? ` — ${escapeMarkdown(detail)}` : ''}`);
  }
  if (flips.length > limit) lines.push(`- … and ${flips.length - limit} more`);
  lines.push('');
  return lines;
};

const flipSections = (summary: RunSummary, limit: number): string[] => {
  const results = new Map(summary.results.map((r) => [`${r.expertId}\u0000${r.taskId}`, r]));
  const lines: string[] = [];
  for (const verdict of summary.verdicts) {
    if (verdict.flips.length === 0) continue;
    const detailOf = (taskId: string) => failureDetail(results.get(`${verdict.expertId}\u0000${taskId}`));
    lines.push(`#### ${escapeMarkdown(verdict.expertId)}`, '');
    lines.push(
      ...flipList(
        'Pass → fail',
        verdict.flips.filter((f) => f.current < f.baseline),
        limit,
        detailOf,
      ),
    );
    lines.push(
      ...flipList(
        'Fail → pass',
        verdict.flips.filter((f) => f.current > f.baseline),
        limit,
      ),
    );
  }
  return lines.length === 0 ? [] : ['### Tasks that changed', '', ...lines];
};

const quarantineSection = (entries: readonly QuarantineEntry[], limit: number): string[] => {
  if (entries.length === 0) return [];
  const lines = [
    `### Quarantined tasks (${entries.length}, kept out of the gate)`,
    '',
    '| Task | Expert | Reason | Since |',
    '| --- | --- | --- | --- |',
  ];
  for (const entry of entries.slice(0, limit)) {
    const cells = [entry.taskId, entry.expertId, entry.reason, entry.since].map((v) => escapeMarkdown(v));
    lines.push(`| ${cells.join(' | ')} |`);
  }
  if (entries.length > limit) lines.push('', `… and ${entries.length - limit} more.`);
  lines.push('');
  return lines;
};

interface ErrorTally {
  count: number;
  example: string;
}

/** Error trials per expert and kind, with the first message seen of each. */
const errorTallies = (results: readonly TaskResult[]): Map<string, Map<TrialErrorKind, ErrorTally>> => {
  const tallies = new Map<string, Map<TrialErrorKind, ErrorTally>>();
  for (const result of results) {
    for (const trial of result.trials) {
      if (trial.kind !== 'error') continue;
      let byKind = tallies.get(result.expertId);
      if (!byKind) {
        byKind = new Map();
        tallies.set(result.expertId, byKind);
      }
      const tally = byKind.get(trial.error);
      if (tally) tally.count += 1;
      else byKind.set(trial.error, { count: 1, example: trial.message });
    }
  }
  return tallies;
};

const errorSection = (results: readonly TaskResult[]): string[] => {
  const tallies = errorTallies(results);
  if (tallies.size === 0) return [];
  const lines = [
    '### Trials with errors',
    '',
    '| Expert | Kind | Trials | First message |',
    '| --- | --- | ---: | --- |',
  ];
  for (const [expertId, byKind] of tallies) {
    for (const [kind, { count, example }] of byKind) {
      lines.push(`| ${escapeMarkdown(expertId)} | ${kind} | ${count} | ${escapeMarkdown(example)} |`);
    }
  }
  lines.push('');
  return lines;
};

/** A link target as Markdown will take it: http(s) only, with no character that would end it. */
const safeHref = (value: string): string | undefined => {
  if (!URL.canParse(value)) return undefined;
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return url.href.replace(/\(/g, '%28').replace(/\)/g, '%29');
};

const linkSection = (links: Readonly<Record<string, string>> | undefined): string[] => {
  const entries = Object.entries(links ?? {});
  if (entries.length === 0) return [];
  const lines = ['### Links', ''];
  for (const [label, target] of entries) {
    const href = safeHref(target);
    lines.push(
      href
        ? `- [${escapeMarkdown(label)}](${href})`
        : `- ${escapeMarkdown(label)}: ${escapeMarkdown(target)}`,
    );
  }
  lines.push('');
  return lines;
};

interface CommentLimits {
  readonly flips: number;
  readonly quarantined: number;
  /** Why lists were cut, when they were (shown under the heading). */
  readonly note?: string;
}

const renderComment = (summary: RunSummary, limits: CommentLimits): string => {
  const facts = [
    `**suite** ${escapeMarkdown(summary.suiteId)}`,
    `**version** ${escapeMarkdown(summary.suiteVersion)}`,
    `**digest** \`${summary.suiteDigest.slice(0, 12).replace(/[^0-9a-fA-F]/g, '')}\``,
    `**baseline** ${summary.baselineId === undefined ? 'none' : escapeMarkdown(summary.baselineId)}`,
    `**run** ${escapeMarkdown(summary.runId)}`,
  ];
  const lines = [
    commentMarker(summary.suiteId),
    `## ${STATUS_LINE[summary.status]}: evaluation of ${escapeMarkdown(summary.suiteId)}`,
    '',
    facts.join(' · '),
    '',
  ];
  if (limits.note) lines.push(`> ${limits.note}`, '');
  lines.push(...expertTable(expertRows(summary)), '');
  const regressions = summary.verdicts.filter((v) => v.verdict !== 'pass');
  for (const verdict of regressions) {
    lines.push(`- ${escapeMarkdown(verdict.expertId)}: ${escapeMarkdown(verdict.reason)}`);
  }
  if (regressions.length > 0) lines.push('');
  lines.push(...flipSections(summary, limits.flips));
  lines.push(...quarantineSection(summary.quarantined, limits.quarantined));
  lines.push(...errorSection(summary.results));
  lines.push(...linkSection(summary.links));
  return `${lines.join('\n').trimEnd()}\n`;
};

/** The last resort when even bare lists are too long: cut at a line and say so. */
const hardCut = (text: string): string => {
  const tail = '\n\n_… cut here to fit GitHub’s comment size limit: the JSON report has everything._\n';
  const room = COMMENT_MAX_CHARS - tail.length;
  const cut = text.lastIndexOf('\n', room);
  return `${text.slice(0, cut > 0 ? cut : room)}${tail}`;
};

/**
 * The sticky PR comment. It starts with `commentMarker(suiteId)`; flip lists hold at most `maxFlips`
 * per expert and direction. Under COMMENT_MAX_CHARS whatever the run: flip lists are shortened
 * first, then the quarantine table, and the comment says so.
 */
export const markdownComment = (summary: RunSummary, options: { maxFlips?: number } = {}): string => {
  const maxFlips = options.maxFlips ?? DEFAULT_MAX_FLIPS;
  if (!Number.isInteger(maxFlips) || maxFlips < 0) {
    throw new ValidationError(`maxFlips must be a non-negative integer, got ${maxFlips}.`, [
      { path: 'maxFlips', message: 'must be a non-negative integer' },
    ]);
  }
  let flips = maxFlips;
  let quarantined = summary.quarantined.length;
  let note: string | undefined;
  for (;;) {
    const text = renderComment(summary, { flips, quarantined, ...(note ? { note } : {}) });
    if (text.length <= COMMENT_MAX_CHARS) return text;
    if (flips > 0) {
      flips = Math.floor(flips / 2);
      note = `Lists of changed tasks cut to ${flips} per expert and direction to fit GitHub’s comment size limit.`;
    } else if (quarantined > 0) {
      quarantined = Math.floor(quarantined / 2);
      note = `Lists of changed tasks left out and quarantined tasks cut to ${quarantined} to fit GitHub’s comment size limit.`;
    } else {
      return hardCut(text);
    }
  }
};

// ---------------------------------------------------------------------------------------------
// JUnit XML
// ---------------------------------------------------------------------------------------------

/**
 * Characters XML 1.0 allows nowhere, not even as references: C0 controls other than tab, LF and CR,
 * lone surrogates, U+FFFE and U+FFFF.
 */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

const XML_ENTITIES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // In an attribute a parser turns raw whitespace into spaces: references keep it.
  '\t': '&#9;',
  '\n': '&#10;',
  '\r': '&#13;',
};

export const escapeXmlText = (value: string): string =>
  value.replace(NOT_XML, '').replace(/[&<>"']/g, (c) => XML_ENTITIES[c] ?? c);

export const escapeXmlAttribute = (value: string): string =>
  value.replace(NOT_XML, '').replace(/[&<>"'\t\n\r]/g, (c) => XML_ENTITIES[c] ?? c);

const seconds = (ms: number): number => (Number.isFinite(ms) && ms > 0 ? Math.round(ms) / 1000 : 0);

const attributes = (values: Record<string, string | number>): string =>
  Object.entries(values)
    .map(([name, value]) => ` ${name}="${escapeXmlAttribute(String(value))}"`)
    .join('');

type CaseOutcome =
  | { readonly kind: 'passed'; readonly out?: string }
  | { readonly kind: 'failure'; readonly message: string; readonly body: string }
  | { readonly kind: 'error'; readonly type: string; readonly message: string; readonly body: string }
  | { readonly kind: 'skipped'; readonly message: string };

interface TestCase {
  readonly name: string;
  readonly time: number;
  readonly outcome: CaseOutcome;
}

const trialLine = (trial: TrialOutcome, index: number): string =>
  trial.kind === 'scored'
    ? `trial ${index + 1}: ${trial.pass ? 'passed' : 'failed'}, score ${trial.score.toFixed(2)}${trial.detail ? `: ${trial.detail}` : ''}`
    : `trial ${index + 1}: error ${trial.error}: ${trial.message}`;

/** The most frequent error kind (the first seen on a tie). */
const dominantKind = (trials: readonly TrialOutcome[]): TrialErrorKind => {
  const counts = new Map<TrialErrorKind, number>();
  for (const trial of trials)
    if (trial.kind === 'error') counts.set(trial.error, (counts.get(trial.error) ?? 0) + 1);
  let best: TrialErrorKind = 'unavailable';
  let bestCount = 0;
  for (const [kind, count] of counts) {
    if (count > bestCount) [best, bestCount] = [kind, count];
  }
  return best;
};

/**
 * One task as a test case: skipped when quarantined (or no trial ran), an error when every trial
 * errored, a failure when under JUNIT_PASS_THRESHOLD of its scored trials passed.
 */
const taskCase = (result: TaskResult, quarantine: QuarantineEntry | undefined): TestCase => {
  const { trials } = result;
  const time =
    trials.length === 0 ? 0 : seconds(trials.reduce((sum, t) => sum + t.latencyMs, 0) / trials.length);
  const name = result.taskId;
  if (quarantine)
    return { name, time, outcome: { kind: 'skipped', message: `quarantined: ${quarantine.reason}` } };
  if (trials.length === 0) return { name, time, outcome: { kind: 'skipped', message: 'no trial ran' } };
  const scored = trials.filter((t) => t.kind === 'scored');
  const body = trials.map(trialLine);
  if (scored.length === 0) {
    const type = dominantKind(trials);
    const message = `all ${trials.length} trials errored (${type}): ${trials[0]?.kind === 'error' ? trials[0].message : ''}`;
    return { name, time, outcome: { kind: 'error', type, message, body: body.join('\n') } };
  }
  const passed = scored.filter((t) => t.pass).length;
  const rate = passed / scored.length;
  if (rate < JUNIT_PASS_THRESHOLD) {
    const message = `${passed} of ${scored.length} scored trials passed (${wholePercent(rate)})`;
    const failed = trials.map(trialLine).filter((_, i) => {
      const trial = trials[i];
      return trial !== undefined && !(trial.kind === 'scored' && trial.pass);
    });
    return { name, time, outcome: { kind: 'failure', message, body: failed.join('\n') } };
  }
  return { name, time, outcome: { kind: 'passed' } };
};

const gateCase = (verdict: ExpertVerdict | undefined): TestCase => {
  if (!verdict) {
    return {
      name: 'gate',
      time: 0,
      outcome: { kind: 'skipped', message: 'no verdict: no baseline to compare with' },
    };
  }
  const summary = `${verdict.verdict}: ${verdict.reason}`;
  if (verdict.verdict === 'regression') {
    return { name: 'gate', time: 0, outcome: { kind: 'failure', message: verdict.reason, body: summary } };
  }
  return { name: 'gate', time: 0, outcome: { kind: 'passed', out: summary } };
};

const caseXml = (classname: string, test: TestCase): string => {
  const open = `    <testcase${attributes({ classname, name: test.name, time: test.time.toFixed(3) })}`;
  const { outcome } = test;
  switch (outcome.kind) {
    case 'passed':
      return outcome.out === undefined
        ? `${open}/>`
        : `${open}>\n      <system-out>${escapeXmlText(outcome.out)}</system-out>\n    </testcase>`;
    case 'skipped':
      return `${open}>\n      <skipped${attributes({ message: outcome.message })}/>\n    </testcase>`;
    case 'failure':
      return `${open}>\n      <failure${attributes({ message: outcome.message, type: 'failure' })}>${escapeXmlText(outcome.body)}</failure>\n    </testcase>`;
    case 'error':
      return `${open}>\n      <error${attributes({ type: outcome.type, message: outcome.message })}>${escapeXmlText(outcome.body)}</error>\n    </testcase>`;
  }
};

interface SuiteCounts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  /** In ms, summed from the cases' rounded times so the totals add up. */
  timeMs: number;
}

const countsOf = (cases: readonly TestCase[]): SuiteCounts => ({
  tests: cases.length,
  failures: cases.filter((c) => c.outcome.kind === 'failure').length,
  errors: cases.filter((c) => c.outcome.kind === 'error').length,
  skipped: cases.filter((c) => c.outcome.kind === 'skipped').length,
  timeMs: cases.reduce((sum, c) => sum + Math.round(c.time * 1000), 0),
});

const countAttributes = (counts: SuiteCounts) => ({
  tests: counts.tests,
  failures: counts.failures,
  errors: counts.errors,
  skipped: counts.skipped,
  time: (counts.timeMs / 1000).toFixed(3),
});

/**
 * JUnit XML: a `<testsuite>` per expert (`suiteId:expertId`), a `<testcase>` per task (see
 * `taskCase`) and one named `gate` that fails on a regression verdict.
 */
export const junitXml = (summary: RunSummary): string => {
  const experts = [
    ...new Set([
      ...summary.verdicts.map((v) => v.expertId),
      ...summary.metrics.map((m) => m.expertId),
      ...summary.results.map((r) => r.expertId),
    ]),
  ];
  const quarantine = new Map(summary.quarantined.map((q) => [`${q.expertId}\u0000${q.taskId}`, q]));
  const total: SuiteCounts = { tests: 0, failures: 0, errors: 0, skipped: 0, timeMs: 0 };
  const suites: string[] = [];
  for (const expertId of experts) {
    const cases = [
      ...summary.results
        .filter((r) => r.expertId === expertId)
        .map((r) => taskCase(r, quarantine.get(`${expertId}\u0000${r.taskId}`))),
      gateCase(summary.verdicts.find((v) => v.expertId === expertId)),
    ];
    const counts = countsOf(cases);
    for (const key of ['tests', 'failures', 'errors', 'skipped', 'timeMs'] as const)
      total[key] += counts[key];
    const classname = `${summary.suiteId}.${expertId}`;
    const properties = {
      runId: summary.runId,
      suiteVersion: summary.suiteVersion,
      suiteDigest: summary.suiteDigest,
    };
    suites.push(
      [
        `  <testsuite${attributes({ name: `${summary.suiteId}:${expertId}`, ...countAttributes(counts), timestamp: summary.startedAt })}>`,
        '    <properties>',
        ...Object.entries(properties).map(
          ([name, value]) => `      <property${attributes({ name, value })}/>`,
        ),
        '    </properties>',
        ...cases.map((c) => caseXml(classname, c)),
        '  </testsuite>',
      ].join('\n'),
    );
  }
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites${attributes({ name: `conductor-eval:${summary.suiteId}`, ...countAttributes(total) })}>`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
};

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/** The run summary as a versioned JSON document (2-space indent, the summary's own key order). */
export const jsonReport = (summary: RunSummary): string =>
  JSON.stringify({ apiVersion: REPORT_API_VERSION, ...summary }, null, 2);
