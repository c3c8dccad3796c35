/**
 * The golden suite file, `conductor.suite/v1` (JSON), and its parser.
 *
 * ```json
 * { "apiVersion": "conductor.suite/v1", "id": "arithmetic", "version": "3", "description": "…",
 *   "expertType": "calculator", "timeoutMs": 5000,
 *   "gate": { "tolerance": 0.05, "confidence": 0.99 },
 *   "defaults": { "scorer": { "type": "exact" }, "tolerance": 0, "weight": 1, "trials": 1, "outputPath": "answer" },
 *   "tasks": [{ "id": "add-1", "input": { "question": "2+2" }, "expected": 4,
 *               "scorer": { "type": "numeric", "tolerance": 0.5 }, "weight": 2, "tolerance": 0.2, "trials": 3 }] }
 * ```
 *
 * - `id`, `version` and task ids: 1-128 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit;
 *   task ids are unique. 1 to 5,000 tasks. An unknown field anywhere is an error.
 * - `timeoutMs` 100-120,000 (default 10,000); `gate.tolerance` in (0, 1) (default 0.05),
 *   `gate.confidence` in [0.8, 0.999] (default 0.99).
 * - Per task, else from `defaults`: `scorer` (one of them is required), `tolerance` in [0, 1]
 *   (default 0), `weight` in (0, 1000] (default 1), `trials` 1-20 (default 1), `outputPath`.
 * - Scorers: see `ScorerSpec` in model.ts. exact, contains, numeric and json-subset need the task's
 *   `expected` (contains: a string or a non-empty list of strings; numeric: a number). A regex must
 *   compile, a json-schema `schema` must compile (draft 2020-12).
 *
 * The parsed `Suite` has the defaults applied (the scorers' own too) and a `digest`: the SHA-256 of
 * its canonical JSON (keys sorted, no whitespace, RFC 8785 style), so the same content in another
 * key order or with defaults spelled out has the same digest.
 */
import * as z from 'zod';
import { AppError, type FieldIssue } from '#shared/errors.js';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import {
  described,
  isRecord,
  issueProblems,
  jsonValue,
  messageOf,
  type Problem,
  parseJsonText,
  reportOf,
  sortProblems,
  toFieldIssues,
} from '#shared/ports/json-document.js';
import { compileJsonSchema } from '#shared/ports/json-schema.js';
import type { GoldenTask, ScorerType, Suite } from './model.js';

export const SUITE_API_VERSION = 'conductor.suite/v1';
export const MAX_SUITE_TASKS = 5000;

/** A suite file that does not parse or validate: one line per problem, `<source>: <path>: <reason>`. */
export class SuiteError extends AppError {
  readonly issues: readonly FieldIssue[];

  constructor(source: string, issues: readonly FieldIssue[]) {
    const { message, reported } = reportOf(source, issues);
    super(400, 'invalid_suite', message, { details: { issues: reported } });
    this.issues = reported;
  }
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const idSchema = z.string().regex(ID_PATTERN, {
  error: 'must be 1-128 letters, digits, ".", "_" or "-", starting with a letter or digit',
});
const toleranceSchema = z
  .number()
  .min(0)
  .max(1)
  .describe('How much of the score may be missing for a pass: passes when score ≥ 1 − tolerance.');
const weightSchema = z.number().gt(0).max(1000).describe("The task's weight in the pass rate.");
const trialsSchema = z.int().min(1).max(20).describe('Independent tries per expert.');
const outputPathSchema = z
  .string()
  .regex(/^[^.]+(?:\.[^.]+)*$/, { error: 'must be a dotted path such as answer.text or choices.0.text' })
  .describe('Where the output is in the JSON answer (default: `output` if the answer has it, else all).');

const REGEX_FLAGS = /^(?!.*(.).*\1)[dgimsuvy]*$/;

const scorerSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('exact'),
    caseSensitive: z.boolean().default(true),
    trim: z.boolean().default(true),
  }),
  z.strictObject({ type: z.literal('contains'), caseSensitive: z.boolean().default(true) }),
  z
    .strictObject({
      type: z.literal('regex'),
      pattern: z.string().min(1),
      flags: z
        .string()
        .regex(REGEX_FLAGS, { error: 'must be distinct letters among d g i m s u v y' })
        .default(''),
    })
    .superRefine((spec, ctx) => {
      if (!REGEX_FLAGS.test(spec.flags)) return; // reported on its own
      try {
        new RegExp(spec.pattern, spec.flags);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['pattern'], message: `does not compile: ${messageOf(error)}` });
      }
    }),
  z.strictObject({
    type: z.literal('numeric'),
    tolerance: z.number().min(0).default(0),
    relative: z.boolean().default(false),
  }),
  z.strictObject({ type: z.literal('json-subset') }),
  z.strictObject({
    type: z.literal('json-schema'),
    schema: z.record(z.string(), jsonValue).superRefine((schema, ctx) => {
      try {
        compileJsonSchema(schema);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: `is not a valid JSON Schema: ${messageOf(error)}` });
      }
    }),
  }),
  z.strictObject({
    type: z.literal('custom'),
    module: z.string().min(1),
    export: z.string().min(1).default('score'),
  }),
  z.strictObject({
    type: z.literal('rubric'),
    judgeExpertId: z.string().min(1),
    rubric: z.string().refine((text) => text.trim() !== '', { error: 'must not be empty' }),
  }),
]);
/** Scorers that compare with the task's `expected`. */
const NEEDS_EXPECTED: ReadonlySet<unknown> = new Set<ScorerType>([
  'exact',
  'contains',
  'numeric',
  'json-subset',
]);
/** Zod's issues as problems; a scorer's unknown `type` is called an unknown scorer type. */
const problemsOf = issueProblems({ variant: 'scorer type' });

const taskSchema = z.strictObject({
  id: idSchema,
  input: jsonValue.describe('What the expert is sent (its request body).'),
  expected: jsonValue.optional().describe('What a right answer is, as the scorer reads it.'),
  scorer: scorerSchema.optional(),
  tolerance: toleranceSchema.optional(),
  weight: weightSchema.optional(),
  trials: trialsSchema.optional(),
  outputPath: outputPathSchema.optional(),
});

const suiteFileSchema = z
  .strictObject({
    $schema: z.string().optional().describe('For editors; ignored.'),
    apiVersion: z.literal(SUITE_API_VERSION),
    id: idSchema,
    version: idSchema.describe("The suite's own version label."),
    description: z.string().max(2000).optional(),
    expertType: z.string().min(1).max(128).optional().describe('The kind of expert the suite is for.'),
    timeoutMs: z.int().min(100).max(120_000).default(10_000).describe('The bound on one call to an expert.'),
    gate: z
      .strictObject({
        tolerance: z
          .number()
          .gt(0)
          .lt(1)
          .default(0.05)
          .describe('The largest drop in pass rate that is no regression.'),
        confidence: z.number().min(0.8).max(0.999).default(0.99),
      })
      .prefault({}),
    defaults: z
      .strictObject({
        scorer: scorerSchema.optional(),
        tolerance: toleranceSchema.default(0),
        weight: weightSchema.default(1),
        trials: trialsSchema.default(1),
        outputPath: outputPathSchema.optional(),
      })
      .prefault({}),
    tasks: z.array(taskSchema).min(1).max(MAX_SUITE_TASKS),
  })
  .meta({ title: `Conductor golden suite (${SUITE_API_VERSION})` });
type SuiteFile = z.output<typeof suiteFileSchema>;

/** The top-level fields of a suite document (what the API's body may hold; their checks are parseSuiteValue's). */
export const SUITE_FIELDS = Object.keys(suiteFileSchema.shape) as readonly string[];

/** The file format as a JSON Schema (draft 2020-12), for editors. */
export const suiteJsonSchema = z.toJSONSchema(suiteFileSchema, { io: 'input', unrepresentable: 'any' });

/** Parses a suite file's text. Throws SuiteError naming `source` (the file) on every problem found. */
export const parseSuite = (text: string, source: string): Suite => {
  const parsed = parseJsonText(text);
  if (!parsed.ok) throw new SuiteError(source, [{ path: '', message: parsed.message }]);
  return parseSuiteValue(parsed.value, source);
};

/** Validates an already-parsed suite (an API body). Throws SuiteError naming `source`. */
export const parseSuiteValue = (value: unknown, source: string): Suite => {
  const result = suiteFileSchema.safeParse(value, { reportInput: true });
  const problems = [
    ...(result.success ? [] : result.error.issues.flatMap(problemsOf)),
    ...crossChecks(value),
  ];
  if (!result.success || problems.length > 0) {
    // The suite's own fields (`tasks` itself among them) as found, then task by task.
    throw new SuiteError(source, toFieldIssues(sortProblems(problems, ['tasks'], { listsAsFields: true })));
  }
  return build(result.data);
};

/** What the schema alone cannot see: duplicate ids, a missing scorer, `expected` for the scorer. */
const crossChecks = (value: unknown): Problem[] => {
  if (!isRecord(value) || !Array.isArray(value.tasks)) return [];
  const defaultScorer = isRecord(value.defaults) ? value.defaults.scorer : undefined;
  const firstIndex = new Map<string, number>();
  const problems: Problem[] = [];
  for (const [i, task] of value.tasks.entries()) {
    if (!isRecord(task)) continue;
    if (typeof task.id === 'string') {
      const first = firstIndex.get(task.id);
      if (first === undefined) firstIndex.set(task.id, i);
      else
        problems.push({
          path: ['tasks', i, 'id'],
          message: `duplicate id "${task.id}", also tasks[${first}].id`,
        });
    }
    const scorer = task.scorer ?? defaultScorer;
    if (scorer === undefined) {
      problems.push({
        path: ['tasks', i],
        message: 'no scorer: give the task a "scorer" or the suite "defaults.scorer"',
      });
      continue;
    }
    const type = isRecord(scorer) ? scorer.type : undefined;
    if (!NEEDS_EXPECTED.has(type)) continue;
    const expected = task.expected;
    if (expected === undefined) {
      problems.push({ path: ['tasks', i], message: `the ${type} scorer needs "expected"` });
    } else if (type === 'contains' && !isTextOrTextList(expected)) {
      problems.push({
        path: ['tasks', i, 'expected'],
        message: 'the contains scorer needs a string or a non-empty list of strings',
      });
    } else if (type === 'numeric' && !(typeof expected === 'number' && Number.isFinite(expected))) {
      problems.push({
        path: ['tasks', i, 'expected'],
        message: `the numeric scorer needs a number, got ${described(expected)}`,
      });
    }
  }
  return problems;
};

const isTextOrTextList = (value: unknown): boolean =>
  typeof value === 'string' ||
  (Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string'));

const build = (file: SuiteFile): Suite => {
  const { defaults } = file;
  const tasks = file.tasks.map((task): GoldenTask => {
    const scorer = task.scorer ?? defaults.scorer;
    if (!scorer) throw new Error(`task ${task.id} has no scorer after validation`);
    const outputPath = task.outputPath ?? defaults.outputPath;
    return {
      id: task.id,
      input: task.input,
      ...(task.expected === undefined ? {} : { expected: task.expected }),
      scorer,
      ...(outputPath === undefined ? {} : { outputPath }),
      tolerance: task.tolerance ?? defaults.tolerance,
      weight: task.weight ?? defaults.weight,
      trials: task.trials ?? defaults.trials,
    };
  });
  const suite: Omit<Suite, 'digest'> = {
    id: file.id,
    version: file.version,
    ...(file.description === undefined ? {} : { description: file.description }),
    ...(file.expertType === undefined ? {} : { expertType: file.expertType }),
    timeoutMs: file.timeoutMs,
    gate: file.gate,
    tasks,
  };
  return { ...suite, digest: sha256Hex(canonicalJson(suite)) };
};

/** The kernel's RFC 8785 canonical JSON: what a suite's digest is taken over. */
export { canonicalJson };
