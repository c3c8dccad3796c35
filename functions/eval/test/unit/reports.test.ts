import { describe, expect, it } from 'vitest';
import type {
  ExpertVerdict,
  RunStatus,
  RunSummary,
  TaskFlip,
  TaskResult,
  TrialErrorKind,
  TrialOutcome,
} from '../../src/domain/model.js';
import {
  COMMENT_MAX_CHARS,
  commentMarker,
  jsonReport,
  junitXml,
  markdownComment,
  REPORT_API_VERSION,
} from '../../src/domain/reports.js';

/** A task id written to break a table, open an element and start a code span. */
const HOSTILE = 'evil|<b>&`tick`\nline';
const HOSTILE_ESCAPED = 'evil\\|&lt;b&gt;&amp;\\`tick\\` line';

const scored = (pass: boolean, detail?: string): TrialOutcome => ({
  kind: 'scored',
  score: pass ? 1 : 0.4,
  pass,
  latencyMs: 200,
  attempts: 1,
  ...(detail ? { detail } : {}),
});
const errored = (error: TrialErrorKind, message = 'no answer within 5000 ms'): TrialOutcome => ({
  kind: 'error',
  error,
  message,
  attempts: 3,
  latencyMs: 5000,
});
const task = (expertId: string, taskId: string, trials: TrialOutcome[]): TaskResult => ({
  taskId,
  expertId,
  weight: 1,
  trials,
});

const REGRESSION_REASON = 'a drop of 30.0 points, at least 12.0 with 99 % confidence';

/**
 * One run of suite `golden-support` against four experts: `exp_ok` passes, `exp_bad` regressed with
 * flips (one on a hostile task id), `exp_maybe` is undecided, `exp_down` had infrastructure errors.
 */
const summaryOf = (overrides: Partial<RunSummary> = {}): RunSummary => ({
  runId: 'r-12',
  suiteId: 'golden-support',
  suiteVersion: '1.4.0',
  suiteDigest: '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
  startedAt: '2026-04-16T09:00:00.000Z',
  finishedAt: '2026-04-16T09:04:00.000Z',
  status: 'regression',
  baselineId: 'bl-7',
  metrics: [
    {
      expertId: 'exp_ok',
      passRate: 0.92,
      meanScore: 0.95,
      tasks: 3,
      scoredTrials: 9,
      errorTrials: 0,
      meanLatencyMs: 200,
    },
    {
      expertId: 'exp_bad',
      passRate: 0.6,
      meanScore: 0.7,
      tasks: 4,
      scoredTrials: 12,
      errorTrials: 0,
      meanLatencyMs: 200,
    },
    {
      expertId: 'exp_maybe',
      passRate: 0.75,
      meanScore: 0.8,
      tasks: 2,
      scoredTrials: 3,
      errorTrials: 0,
      meanLatencyMs: 200,
    },
    {
      expertId: 'exp_down',
      passRate: 1,
      meanScore: 1,
      tasks: 2,
      scoredTrials: 1,
      errorTrials: 4,
      meanLatencyMs: 4000,
    },
  ],
  verdicts: [
    {
      expertId: 'exp_ok',
      verdict: 'pass',
      baselineRate: 0.9,
      currentRate: 0.92,
      delta: 0.02,
      interval: [-0.05, 0.09],
      tasksCompared: 2,
      flips: [],
      reason: 'no drop beyond 5.0 points',
    },
    {
      expertId: 'exp_bad',
      verdict: 'regression',
      baselineRate: 0.9,
      currentRate: 0.6,
      delta: -0.3,
      interval: [-0.45, -0.12],
      tasksCompared: 4,
      flips: [
        { taskId: 't3', baseline: 0, current: 1 },
        { taskId: HOSTILE, baseline: 1, current: 1 / 3 },
        { taskId: 't1', baseline: 1, current: 0 },
      ],
      reason: REGRESSION_REASON,
    },
    {
      expertId: 'exp_maybe',
      verdict: 'undecided',
      baselineRate: 0.75,
      currentRate: 0.75,
      delta: 0,
      interval: [-0.2, 0.2],
      tasksCompared: 2,
      flips: [],
      reason: 'too few tasks to tell a drop of 5.0 points',
    },
    {
      expertId: 'exp_down',
      verdict: 'undecided',
      baselineRate: 0.8,
      currentRate: 1,
      delta: 0.2,
      interval: [-0.3, 0.5],
      tasksCompared: 1,
      flips: [],
      reason: 'one task compared',
    },
  ],
  quarantined: [
    {
      suiteId: 'golden-support',
      taskId: 't3',
      expertId: 'exp_ok',
      reason: 'flipped across 3 trials of run r-12',
      since: '2026-04-15T10:00:00.000Z',
      stableRuns: 0,
    },
    {
      suiteId: 'golden-support',
      taskId: 't9',
      expertId: 'exp_maybe',
      reason: 'passed in r-11 | failed </td><script>x</script> in r-12',
      since: '2026-04-14T10:00:00.000Z',
      stableRuns: 1,
    },
  ],
  results: [
    task('exp_ok', 't1', [scored(true), scored(true), scored(true)]),
    task('exp_ok', 't2', [scored(true), scored(true), scored(false)]),
    task('exp_ok', 't3', [scored(true), scored(false), scored(true)]),
    task('exp_bad', 't1', [
      scored(false, 'expected 42, got 41.2'),
      scored(false, 'expected 42, got 40'),
      scored(false),
    ]),
    task('exp_bad', HOSTILE, [
      scored(false, 'said <img src=x onerror=alert(1)>'),
      scored(false),
      scored(true),
    ]),
    task('exp_bad', 't2', [scored(true), scored(true), scored(true)]),
    task('exp_bad', 't3', [scored(true), scored(true), scored(true)]),
    task('exp_maybe', 't1', [scored(true), scored(false)]),
    task('exp_maybe', 't2', [scored(true)]),
    task('exp_down', 't1', [errored('timeout'), errored('timeout'), errored('unavailable', 'answered 503')]),
    task('exp_down', 't2', [scored(true), errored('unavailable', 'answered 503')]),
  ],
  links: {
    'Run on the dashboard': 'https://conductor.example.com/runs/r-12',
    'CI job': 'https://github.com/acme/app/actions/runs/1 (attempt 2)',
    'Not a link': 'javascript:alert(1)',
  },
  ...overrides,
});

/** The comment's line that starts a table row for this (escaped) expert id. */
const rowOf = (markdown: string, expertId: string): string[] => {
  const line = markdown.split('\n').find((l) => l.startsWith(`| ${expertId} |`));
  if (!line) throw new Error(`no row for ${expertId}`);
  return line
    .slice(2, -2)
    .split(' | ')
    .map((cell) => cell.trim());
};

/** Cell separators of a table row: pipes not escaped by a backslash. */
const separators = (row: string): number => row.replace(/\\./g, '').split('|').length - 1;

const withFlips = (count: number): RunSummary => {
  const flips: TaskFlip[] = Array.from({ length: count }, (_, i) => ({
    taskId: `task-${String(i).padStart(5, '0')}-${'x'.repeat(40)}`,
    baseline: i % 2 === 0 ? 1 : 0,
    current: i % 2 === 0 ? 0 : 1,
  }));
  const base = summaryOf();
  const verdicts: ExpertVerdict[] = base.verdicts.map((v) =>
    v.expertId === 'exp_bad' ? { ...v, flips } : v,
  );
  return { ...base, verdicts };
};

describe('markdownComment', () => {
  it('starts with the hidden marker of its suite, so the workflow finds and updates its own comment', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(markdown.split('\n')[0]).toBe('<!-- conductor-eval:golden-support -->');
    expect(markdown.startsWith(commentMarker('golden-support'))).toBe(true);
  });

  it('keeps a hostile suite id from closing the marker comment', () => {
    // Prepare
    const summary = summaryOf({ suiteId: 'x --> <img src=x>' });

    // Act
    const firstLine = markdownComment(summary).split('\n')[0] ?? '';

    // Assess
    expect(firstLine.match(/-->/g)).toHaveLength(1);
    expect(firstLine.endsWith(' -->')).toBe(true);
    expect(firstLine).not.toContain('<img');
  });

  it.each<[RunStatus, string]>([
    ['pass', '✅ PASS'],
    ['regression', '❌ REGRESSION'],
    ['undecided', 'UNDECIDED'],
    ['infrastructure_failure', 'INFRASTRUCTURE FAILURE'],
  ])('says the run status %s in words in its heading', (status, word) => {
    // Prepare
    const summary = summaryOf({ status });

    // Act
    const heading = markdownComment(summary).split('\n')[1] ?? '';

    // Assess
    expect(heading.startsWith('## ')).toBe(true);
    expect(heading).toContain(word);
    expect(heading).toContain('golden-support');
  });

  it('names the suite version, the first 12 hex of the digest and the baseline', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(markdown).toContain('**version** 1.4.0');
    expect(markdown).toContain('`0123456789ab`');
    expect(markdown).not.toContain('0123456789abc');
    expect(markdown).toContain('**baseline** bl-7');
  });

  it('tabulates each expert: rates, the signed delta and its interval in points, verdict, tasks and error trials', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(rowOf(markdown, 'exp_bad')).toEqual([
      'exp_bad',
      '❌ REGRESSION',
      '90.0 %',
      '60.0 %',
      '-30.0',
      '[-45.0, -12.0]',
      '4',
      '0 / 12',
    ]);
    expect(rowOf(markdown, 'exp_ok')).toEqual([
      'exp_ok',
      '✅ PASS',
      '90.0 %',
      '92.0 %',
      '+2.0',
      '[-5.0, +9.0]',
      '2',
      '0 / 9',
    ]);
    expect(rowOf(markdown, 'exp_maybe').slice(1, 5)).toEqual(['❔ UNDECIDED', '75.0 %', '75.0 %', '±0.0']);
    expect(rowOf(markdown, 'exp_down').slice(4)).toEqual(['+20.0', '[-30.0, +50.0]', '1', '4 / 5']);
  });

  it('shows an expert with no verdict (no baseline) with its current rate only', () => {
    // Prepare
    const summary = summaryOf({ verdicts: [], baselineId: undefined });

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(markdown).toContain('**baseline** none');
    expect(rowOf(markdown, 'exp_ok')).toEqual([
      'exp_ok',
      'no baseline',
      '—',
      '92.0 %',
      '—',
      '—',
      '—',
      '0 / 9',
    ]);
  });

  it('gives the reason of every verdict that is not a pass', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(markdown).toContain(`- exp_bad: ${REGRESSION_REASON}`);
    expect(markdown).toContain('- exp_maybe: too few tasks to tell a drop of 5.0 points');
    expect(markdown).not.toContain('no drop beyond 5.0 points');
  });

  it('lists pass → fail flips before fail → pass ones, the largest change first, with why the task failed', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const markdown = markdownComment(summary);

    // Assess
    const section = markdown.slice(markdown.indexOf('#### exp_bad'));
    const lines = section.split('\n');
    const order = [
      'Pass → fail (2):',
      '- t1: 100 % → 0 %',
      `- ${HOSTILE_ESCAPED}: 100 % → 33 %`,
      'Fail → pass (1):',
      '- t3: 0 % → 100 %',
    ];
    const positions = order.map((text) => lines.findIndex((l) => l.startsWith(text)));
    expect(positions.every((p) => p >= 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(section).toContain('- t1: 100 % → 0 % — expected 42, got 41.2');
  });

  it('lists at most maxFlips flips per direction and says how many more there are', () => {
    // Prepare
    const summary = withFlips(50);

    // Act
    const byDefault = markdownComment(summary);
    const capped = markdownComment(summary, { maxFlips: 3 });

    // Assess
    expect(byDefault.match(/^- … and 5 more$/gm)).toHaveLength(2);
    expect(capped.match(/^- … and 22 more$/gm)).toHaveLength(2);
    expect(capped.match(/^- task-/gm)).toHaveLength(6);
  });

  it('refuses a maxFlips that is not a non-negative integer', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const act = () => markdownComment(summary, { maxFlips: -1 });

    // Assess
    expect(act).toThrow(/maxFlips must be a non-negative integer, got -1/);
  });

  it('lists quarantined tasks with their expert, reason and date', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(markdown).toContain('### Quarantined tasks (2, kept out of the gate)');
    expect(markdown).toContain(
      '| t3 | exp_ok | flipped across 3 trials of run r-12 | 2026-04-15T10:00:00.000Z |',
    );
  });

  it('counts error trials by kind per expert when there are any, and only then', () => {
    // Prepare
    const summary = summaryOf();
    const clean = summaryOf({ results: summary.results.filter((r) => r.expertId !== 'exp_down') });

    // Act
    const markdown = markdownComment(summary);
    const cleanMarkdown = markdownComment(clean);

    // Assess
    expect(markdown).toContain('| exp_down | timeout | 2 | no answer within 5000 ms |');
    expect(markdown).toContain('| exp_down | unavailable | 2 | answered 503 |');
    expect(cleanMarkdown).not.toContain('Trials with errors\n');
  });

  it('lists the summary links, and shows a non-http one as text rather than a link', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(markdown).toContain('- [Run on the dashboard](https://conductor.example.com/runs/r-12)');
    expect(markdown).toContain('- [CI job](https://github.com/acme/app/actions/runs/1%20%28attempt%202%29)');
    expect(markdown).toContain('- Not a link: javascript:alert(1)');
    expect(markdown).not.toContain('](javascript:');
  });

  it('escapes ids, reasons and details so they neither break a table nor inject HTML', () => {
    // Prepare
    const summary = summaryOf({
      quarantined: [
        ...summaryOf().quarantined,
        {
          suiteId: 'golden-support',
          taskId: HOSTILE,
          expertId: 'exp_bad',
          reason: 'a | b\nc',
          since: '2026-04-16T00:00:00.000Z',
          stableRuns: 0,
        },
      ],
    });

    // Act
    const markdown = markdownComment(summary);

    // Assess
    expect(markdown).not.toContain(HOSTILE);
    expect(markdown).not.toMatch(/<(b|td|script|img)\b/);
    expect(markdown).toContain(`| ${HOSTILE_ESCAPED} | exp_bad | a \\| b c |`);
    expect(markdown).toContain('said &lt;img src=x onerror=alert(1)&gt;');
    const tables = markdown.match(/^\|.*(?:\n\|.*)*/gm) ?? [];
    expect(tables).toHaveLength(3);
    for (const table of tables) {
      const rows = table.split('\n');
      const columns = separators(rows[0] ?? '');
      expect(rows.map(separators)).toEqual(rows.map(() => columns));
    }
  });

  it('stays under the size limit with 5,000 flips, cutting the flip lists first and saying so', () => {
    // Prepare
    const summary = withFlips(5_000);

    // Act
    const markdown = markdownComment(summary, { maxFlips: 10_000 });

    // Assess
    expect(markdown.length).toBeLessThanOrEqual(COMMENT_MAX_CHARS);
    expect(markdown).toMatch(/^> Lists of changed tasks cut to \d+ per expert and direction/m);
    expect(markdown).toMatch(/^- … and \d+ more$/m);
    expect(markdown).toContain('### Quarantined tasks (2, kept out of the gate)');
    expect(markdown).toContain('### Links');
  });

  it('stays under the size limit even when the flip lists alone cannot make it fit', () => {
    // Prepare
    const base = summaryOf();
    const quarantined = Array.from({ length: 2_000 }, (_, i) => ({
      ...base.quarantined[0],
      taskId: `t-${i}`,
      reason: 'r'.repeat(200),
    })) as RunSummary['quarantined'];

    // Act
    const markdown = markdownComment({ ...withFlips(100), quarantined });

    // Assess
    expect(markdown.length).toBeLessThanOrEqual(COMMENT_MAX_CHARS);
    expect(markdown).toMatch(/quarantined tasks cut to \d+/);
    expect(markdown).toContain('### Quarantined tasks (2000, kept out of the gate)');
  });
});

// ---------------------------------------------------------------------------------------------
// A tiny XML reader for the tests: no XML parser is installed, so well-formedness is checked by
// tokenizing (declaration, tags with quoted attributes, text) and matching open and close tags.
// ---------------------------------------------------------------------------------------------

interface XmlElement {
  readonly name: string;
  readonly attributes: Record<string, string>;
  readonly children: XmlElement[];
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g;

const decode = (raw: string): string => {
  const bare = raw.replace(ENTITY, '');
  if (/[<&]/.test(bare)) throw new Error(`unescaped markup in ${JSON.stringify(raw)}`);
  return raw.replace(ENTITY, (entity) => {
    const named: Record<string, string> = {
      '&amp;': '&',
      '&lt;': '<',
      '&gt;': '>',
      '&quot;': '"',
      '&apos;': "'",
    };
    if (named[entity]) return named[entity];
    const code = entity.startsWith('&#x')
      ? Number.parseInt(entity.slice(3, -1), 16)
      : Number(entity.slice(2, -1));
    return String.fromCodePoint(code);
  });
};

const parseXml = (xml: string): XmlElement => {
  if (!xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')) throw new Error('no XML declaration');
  if (/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u.test(xml))
    throw new Error('a character XML 1.0 forbids');
  const token = /<(\/?)([A-Za-z][\w.:-]*)((?:\s+[\w.:-]+="[^"]*")*)\s*(\/?)>|([^<]+)/gy;
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack = [root];
  token.lastIndex = xml.indexOf('\n') + 1;
  while (token.lastIndex < xml.length) {
    const at = token.lastIndex;
    const match = token.exec(xml);
    if (!match) throw new Error(`not XML at ${at}: ${xml.slice(at, at + 40)}`);
    const [, closing, name, attributeText, selfClosing, text] = match;
    const current = stack[stack.length - 1] as XmlElement;
    if (text !== undefined) {
      current.text += decode(text);
    } else if (closing) {
      if (current.name !== name) throw new Error(`</${name}> closes <${current.name}>`);
      stack.pop();
    } else {
      const attributes: Record<string, string> = {};
      for (const [, key, value] of (attributeText ?? '').matchAll(/([\w.:-]+)="([^"]*)"/g)) {
        if (key === undefined || key in attributes) throw new Error(`attribute ${key} twice`);
        attributes[key] = decode(value ?? '');
      }
      const element: XmlElement = { name: name ?? '', attributes, children: [], text: '' };
      current.children.push(element);
      if (!selfClosing) stack.push(element);
    }
  }
  if (stack.length !== 1) throw new Error(`<${stack[stack.length - 1]?.name}> is never closed`);
  const elements = root.children;
  if (elements.length !== 1 || root.text.trim() !== '') throw new Error('not exactly one root element');
  return elements[0] as XmlElement;
};

const child = (element: XmlElement, name: string): XmlElement | undefined =>
  element.children.find((c) => c.name === name);

const testcase = (suites: XmlElement, suiteName: string, caseName: string): XmlElement => {
  const suite = suites.children.find((s) => s.attributes.name === suiteName);
  const found = suite?.children.find((c) => c.name === 'testcase' && c.attributes.name === caseName);
  if (!found) throw new Error(`no testcase ${caseName} in ${suiteName}`);
  return found;
};

describe('junitXml', () => {
  it('is well-formed XML: one <testsuites>, one <testsuite> per expert, a test case per task and a gate', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const root = parseXml(junitXml(summary));

    // Assess
    expect(root.name).toBe('testsuites');
    expect(root.children.map((s) => s.attributes.name)).toEqual([
      'golden-support:exp_ok',
      'golden-support:exp_bad',
      'golden-support:exp_maybe',
      'golden-support:exp_down',
    ]);
    const bad = root.children[1] as XmlElement;
    const cases = bad.children.filter((c) => c.name === 'testcase');
    expect(cases.map((c) => c.attributes.name)).toEqual(['t1', HOSTILE, 't2', 't3', 'gate']);
    expect(cases.every((c) => c.attributes.classname === 'golden-support.exp_bad')).toBe(true);
  });

  it('has counts that match its test cases, failures, errors, skips and times, per suite and in all', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const root = parseXml(junitXml(summary));

    // Assess
    const countOf = (suite: XmlElement) => {
      const cases = suite.children.filter((c) => c.name === 'testcase');
      const withChild = (name: string) => cases.filter((c) => child(c, name)).length;
      const time = cases.reduce((sum, c) => sum + Math.round(Number(c.attributes.time) * 1000), 0);
      return {
        tests: cases.length,
        failures: withChild('failure'),
        errors: withChild('error'),
        skipped: withChild('skipped'),
        time,
      };
    };
    const declared = (e: XmlElement) => ({
      tests: Number(e.attributes.tests),
      failures: Number(e.attributes.failures),
      errors: Number(e.attributes.errors),
      skipped: Number(e.attributes.skipped),
      time: Math.round(Number(e.attributes.time) * 1000),
    });
    const suites = root.children.filter((c) => c.name === 'testsuite');
    for (const suite of suites) expect(declared(suite)).toEqual(countOf(suite));
    const totals = suites.map(countOf).reduce((a, b) => ({
      tests: a.tests + b.tests,
      failures: a.failures + b.failures,
      errors: a.errors + b.errors,
      skipped: a.skipped + b.skipped,
      time: a.time + b.time,
    }));
    expect(declared(root)).toEqual(totals);
    expect(totals).toEqual({ tests: 15, failures: 3, errors: 1, skipped: 1, time: totals.time });
  });

  it('fails a task under half of whose scored trials passed, with the failed trials as details', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const root = parseXml(junitXml(summary));

    // Assess
    const failure = child(testcase(root, 'golden-support:exp_bad', 't1'), 'failure');
    expect(failure?.attributes.message).toBe('0 of 3 scored trials passed (0 %)');
    expect(failure?.text).toContain('trial 1: failed, score 0.40: expected 42, got 41.2');
    expect(failure?.text).toContain('trial 2: failed, score 0.40: expected 42, got 40');
    expect(child(testcase(root, 'golden-support:exp_maybe', 't1'), 'failure')).toBeUndefined();
    expect(testcase(root, 'golden-support:exp_bad', 't1').attributes.time).toBe('0.200');
  });

  it('reports a task whose trials all errored as an error of the commonest kind', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const root = parseXml(junitXml(summary));

    // Assess
    const error = child(testcase(root, 'golden-support:exp_down', 't1'), 'error');
    expect(error?.attributes.type).toBe('timeout');
    expect(error?.attributes.message).toContain('all 3 trials errored (timeout)');
    expect(error?.text).toContain('trial 3: error unavailable: answered 503');
    expect(child(testcase(root, 'golden-support:exp_down', 't2'), 'error')).toBeUndefined();
  });

  it('skips a quarantined task and says why', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const root = parseXml(junitXml(summary));

    // Assess
    const skipped = child(testcase(root, 'golden-support:exp_ok', 't3'), 'skipped');
    expect(skipped?.attributes.message).toBe('quarantined: flipped across 3 trials of run r-12');
  });

  it('adds a gate test case per expert that fails on a regression with the verdict’s reason', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const root = parseXml(junitXml(summary));

    // Assess
    expect(child(testcase(root, 'golden-support:exp_bad', 'gate'), 'failure')?.attributes.message).toBe(
      REGRESSION_REASON,
    );
    for (const expert of ['exp_ok', 'exp_maybe', 'exp_down']) {
      const gate = testcase(root, `golden-support:${expert}`, 'gate');
      expect(gate.children.map((c) => c.name)).toEqual(['system-out']);
    }
  });

  it('skips the gate when there is no verdict to judge by', () => {
    // Prepare
    const summary = summaryOf({ verdicts: [], baselineId: undefined });

    // Act
    const root = parseXml(junitXml(summary));

    // Assess
    expect(child(testcase(root, 'golden-support:exp_ok', 'gate'), 'skipped')?.attributes.message).toMatch(
      /no baseline/,
    );
  });

  it('escapes hostile ids and messages, and drops characters XML 1.0 does not allow', () => {
    // Prepare
    const base = summaryOf();
    const summary = summaryOf({
      suiteId: `suite"'<&>`,
      results: [
        ...base.results,
        task('exp_ok', 'ctl\u0000\u0007\uFFFEid', [scored(false, 'bad \u001b[31mred\u001b[0m "x" ]]>')]),
      ],
    });

    // Act
    const xml = junitXml(summary);
    const root = parseXml(xml);

    // Assess
    expect(xml).not.toContain('<b>');
    expect(xml).not.toContain('\u0000');
    expect(xml).not.toContain('\u001b');
    const suite = root.children[0] as XmlElement;
    expect(suite.attributes.name).toBe(`suite"'<&>:exp_ok`);
    expect(testcase(root, `suite"'<&>:exp_bad`, HOSTILE).attributes.classname).toBe(`suite"'<&>.exp_bad`);
    const failure = child(testcase(root, `suite"'<&>:exp_ok`, 'ctlid'), 'failure');
    expect(failure?.text).toContain('bad [31mred[0m "x" ]]>');
  });
});

describe('jsonReport', () => {
  it('is the summary with its API version first, indented by two spaces', () => {
    // Prepare
    const summary = summaryOf();

    // Act
    const json = jsonReport(summary);

    // Assess
    expect(json.startsWith(`{\n  "apiVersion": "${REPORT_API_VERSION}",\n  "runId": "r-12",`)).toBe(true);
    expect(JSON.parse(json)).toEqual({ apiVersion: 'conductor.eval-report/v1', ...summary });
    expect(Object.keys(JSON.parse(json))).toEqual(['apiVersion', ...Object.keys(summary)]);
  });
});
