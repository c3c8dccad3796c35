import * as z from 'zod';
import { AppError, type FieldIssue } from '#shared/errors.js';
import {
  isRecord,
  MAX_REPORTED_ISSUES,
  type Problem,
  parseJsonText,
  problemsOf,
  toFieldIssues,
} from '#shared/ports/json-document.js';

/**
 * The control catalog as code: controls (`conductor.controls/v1`: what is tested, by which tests,
 * how often, who owns it, how bad a failure is) and frameworks (`conductor.framework/v1`: a
 * framework's criteria, each mapped to controls). The built-in files are `functions/compliance/
 * catalog/` (SOC2, GDPR); a custom framework is one more file of either kind. Parsed here, with every
 * problem named `<file>: <path>: <reason>`; the files are read by the composition root.
 */

export const CONTROLS_API_VERSION = 'conductor.controls/v1';
export const FRAMEWORK_API_VERSION = 'conductor.framework/v1';

export const FREQUENCIES = ['hourly', 'daily', 'weekly'] as const;
export type Frequency = (typeof FREQUENCIES)[number];
export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** How often a control is tested, in hours. */
export const FREQUENCY_HOURS: Readonly<Record<Frequency, number>> = { hourly: 1, daily: 24, weekly: 168 };

const CONTROL_ID = /^[a-z][a-z0-9-]{1,63}$/;
const TEST_ID = /^(aws|platform)\.[a-z0-9-]{2,64}$/;
const FRAMEWORK_ID = /^[A-Za-z][A-Za-z0-9_-]{1,31}$/;
const CRITERION_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const score = z.number().int().min(1).max(5);

export const controlSchema = z.strictObject({
  id: z.string().regex(CONTROL_ID, 'a control id: 2 to 64 of a-z 0-9 -, starting with a letter'),
  title: z.string().min(1).max(200),
  description: z.string().min(1).max(2000),
  owner: z.string().min(1).max(100),
  tests: z.array(z.string().regex(TEST_ID, 'a test id: aws.<name> or platform.<name>')).min(1).max(10),
  frequency: z.enum(FREQUENCIES),
  severity: z.enum(SEVERITIES),
  likelihood: score,
  impact: score,
  /** Event types of the bus that re-run the control at once (a change it must see), e.g. `runbook_executed`. */
  onEvents: z
    .array(z.string().regex(/^[a-z][a-z0-9_]{1,63}$/, 'an event type, e.g. runbook_executed'))
    .max(20)
    .optional(),
});
export type Control = z.output<typeof controlSchema>;

const controlsFileSchema = z.strictObject({
  apiVersion: z.literal(CONTROLS_API_VERSION),
  controls: z.array(controlSchema).min(1).max(500),
});

const frameworkFileSchema = z.strictObject({
  apiVersion: z.literal(FRAMEWORK_API_VERSION),
  id: z.string().regex(FRAMEWORK_ID, 'a framework id: 2 to 32 of A-Z a-z 0-9 _ -, starting with a letter'),
  name: z.string().min(1).max(300),
  criteria: z
    .array(
      z.strictObject({
        id: z.string().regex(CRITERION_ID, 'a criterion id: 1 to 32 of A-Z a-z 0-9 . _ -'),
        title: z.string().min(1).max(300),
        controls: z.array(z.string().regex(CONTROL_ID, 'a control id')).min(1).max(50),
      }),
    )
    .min(1)
    .max(500),
});
export type Framework = z.output<typeof frameworkFileSchema>;

export interface Catalog {
  readonly controls: ReadonlyMap<string, Control>;
  readonly frameworks: ReadonlyMap<string, Framework>;
}

/** A catalog file that cannot be used: every problem, each `<file>: <path>: <reason>` (400 `invalid_catalog`). */
export class CatalogError extends AppError {
  readonly issues: readonly FieldIssue[];
  constructor(issues: readonly FieldIssue[]) {
    const shown = issues.slice(0, MAX_REPORTED_ISSUES);
    const lines = shown.map((issue) => `${issue.path}: ${issue.message}`);
    if (issues.length > shown.length) lines.push(`…and ${issues.length - shown.length} more`);
    super(400, 'invalid_catalog', `The control catalog is not valid:\n${lines.join('\n')}`, {
      details: { issues: shown },
    });
    this.issues = issues;
  }
}

export interface CatalogFile {
  /** Where the text came from, for messages (a file name). */
  readonly source: string;
  readonly text: string;
}

/**
 * Builds the catalog from its files (controls and frameworks, in any order). Refuses, naming every
 * problem: a file that is not JSON or not one of the two kinds, a duplicate control or framework, a
 * criterion naming no known control, a control's test no collector knows (`knownTests`), a control
 * no framework maps (it would never be assessed).
 */
export const parseCatalog = (files: readonly CatalogFile[], knownTests: ReadonlySet<string>): Catalog => {
  const issues: FieldIssue[] = [];
  const report = (source: string, problems: readonly Problem[]) =>
    issues.push(
      ...toFieldIssues(problems).map((issue) => ({
        ...issue,
        path: issue.path ? `${source}: ${issue.path}` : source,
      })),
    );
  const controls = new Map<string, { control: Control; source: string }>();
  const frameworks = new Map<string, { framework: Framework; source: string }>();
  for (const file of files) {
    const parsed = parseJsonText(file.text);
    if (!parsed.ok) {
      report(file.source, [{ path: [], message: parsed.message }]);
      continue;
    }
    const kind = isRecord(parsed.value) ? parsed.value.apiVersion : undefined;
    if (kind === CONTROLS_API_VERSION) {
      const result = controlsFileSchema.safeParse(parsed.value, { reportInput: true });
      if (!result.success) {
        report(file.source, result.error.issues.flatMap(problemsOf));
        continue;
      }
      for (const [i, control] of result.data.controls.entries()) {
        for (const [t, test] of control.tests.entries()) {
          if (!knownTests.has(test)) {
            report(file.source, [
              { path: ['controls', i, 'tests', t], message: `no collector runs test "${test}"` },
            ]);
          }
        }
        const first = controls.get(control.id);
        if (first) {
          report(file.source, [
            {
              path: ['controls', i, 'id'],
              message: `duplicate control "${control.id}", also in ${first.source}`,
            },
          ]);
          continue;
        }
        controls.set(control.id, { control, source: file.source });
      }
    } else if (kind === FRAMEWORK_API_VERSION) {
      const result = frameworkFileSchema.safeParse(parsed.value, { reportInput: true });
      if (!result.success) {
        report(file.source, result.error.issues.flatMap(problemsOf));
        continue;
      }
      const first = frameworks.get(result.data.id);
      if (first) {
        report(file.source, [
          { path: ['id'], message: `duplicate framework "${result.data.id}", also in ${first.source}` },
        ]);
        continue;
      }
      frameworks.set(result.data.id, { framework: result.data, source: file.source });
    } else {
      report(file.source, [
        {
          path: ['apiVersion'],
          message: `must be "${CONTROLS_API_VERSION}" or "${FRAMEWORK_API_VERSION}", got ${JSON.stringify(kind)}`,
        },
      ]);
    }
  }
  // Criteria name controls of any file: checked once every file is read.
  for (const { framework, source } of frameworks.values()) {
    for (const [i, criterion] of framework.criteria.entries()) {
      for (const [c, controlId] of criterion.controls.entries()) {
        if (!controls.has(controlId)) {
          report(source, [
            { path: ['criteria', i, 'controls', c], message: `no control "${controlId}" in the catalog` },
          ]);
        }
      }
    }
  }
  // A control no framework maps would never be assessed (the sweep and the routes go by framework).
  const mapped = new Set(
    [...frameworks.values()].flatMap(({ framework }) => framework.criteria.flatMap((c) => c.controls)),
  );
  if (issues.length === 0) {
    for (const [id, { source }] of controls) {
      if (!mapped.has(id)) {
        report(source, [
          {
            path: ['controls', id],
            message: `control "${id}" is in no framework's criteria: it would never be assessed`,
          },
        ]);
      }
    }
  }
  if (issues.length > 0) throw new CatalogError(issues);
  return {
    controls: new Map([...controls].map(([id, { control }]) => [id, control])),
    frameworks: new Map([...frameworks].map(([id, { framework }]) => [id, framework])),
  };
};

/** The controls a framework maps (every criterion's, once each, in catalog order). */
export const controlsOf = (catalog: Catalog, frameworkId: string): Control[] => {
  const framework = catalog.frameworks.get(frameworkId);
  if (!framework) return [];
  const ids = new Set(framework.criteria.flatMap((criterion) => criterion.controls));
  return [...catalog.controls.values()].filter((control) => ids.has(control.id));
};

/** The framework criteria a control answers, as `<framework> <criterion>` (e.g. `SOC2 CC6.1`). */
export const criteriaOf = (catalog: Catalog, controlId: string): string[] =>
  [...catalog.frameworks.values()].flatMap((framework) =>
    framework.criteria
      .filter((criterion) => criterion.controls.includes(controlId))
      .map((criterion) => `${framework.id} ${criterion.id}`),
  );
