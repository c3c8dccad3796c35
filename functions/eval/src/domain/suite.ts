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
import type { GoldenTask, ScorerType, Suite } from './model.js';
import { compileJsonSchema } from './scorers.js';

export const SUITE_API_VERSION = 'conductor.suite/v1';
export const MAX_SUITE_TASKS = 5000;
/** A suite error lists at most this many problems (the rest are counted). */
const MAX_REPORTED_ISSUES = 20;
/** Inputs and expected values deeper than this are refused (and the digest never recurses further). */
const MAX_JSON_DEPTH = 64;

/** A suite file that does not parse or validate: one line per problem, `<source>: <path>: <reason>`. */
export class SuiteError extends AppError {
  readonly issues: readonly FieldIssue[];

  constructor(source: string, issues: readonly FieldIssue[]) {
    const reported = issues.slice(0, MAX_REPORTED_ISSUES);
    const lines = reported.map(
      (issue) => `${source}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`,
    );
    const more = issues.length - reported.length;
    if (more > 0) lines.push(`${source}: …and ${more} more problem${more === 1 ? '' : 's'}`);
    super(400, 'invalid_suite', lines.join('\n'), { details: { issues: reported } });
    this.issues = reported;
  }
}

type Path = readonly PropertyKey[];
interface Problem {
  readonly path: Path;
  readonly message: string;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The first thing in a value that JSON cannot hold, with its path inside the value. */
const nonJson = (value: unknown, path: PropertyKey[] = [], depth = 0): Problem | undefined => {
  if (depth > MAX_JSON_DEPTH) return { path, message: `nested deeper than ${MAX_JSON_DEPTH} levels` };
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : { path, message: `${value} is not a JSON number` };
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = nonJson(item, [...path, i], depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  const prototype = isRecord(value) ? Object.getPrototypeOf(value) : undefined;
  if (prototype === Object.prototype || prototype === null) {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      const found = item === undefined ? undefined : nonJson(item, [...path, key], depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  return { path, message: `${value === undefined ? 'undefined' : `a ${typeof value}`} is not a JSON value` };
};

/** Any JSON value, kept as it is (not copied). */
const jsonValue = z.unknown().superRefine((value, ctx) => {
  const found = value === undefined ? { path: [], message: 'is required' } : nonJson(value);
  if (found) ctx.addIssue({ code: 'custom', path: [...found.path], message: found.message });
});

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
const SCORER_TYPES: readonly ScorerType[] = scorerSchema.options.map((option) => option.shape.type.value);
/** Scorers that compare with the task's `expected`. */
const NEEDS_EXPECTED: ReadonlySet<unknown> = new Set<ScorerType>([
  'exact',
  'contains',
  'numeric',
  'json-subset',
]);

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
export const parseSuite = (text: string, source: string): Suite =>
  parseSuiteValue(parseJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, source), source);

/** Validates an already-parsed suite (an API body). Throws SuiteError naming `source`. */
export const parseSuiteValue = (value: unknown, source: string): Suite => {
  const result = suiteFileSchema.safeParse(value, { reportInput: true });
  const problems = [
    ...(result.success ? [] : result.error.issues.flatMap(problemsOf)),
    ...crossChecks(value),
  ];
  if (!result.success || problems.length > 0) {
    // Stable: zod's order within a task, tasks in order, the suite's own fields first.
    const byTask = (problem: Problem) => (problem.path[0] === 'tasks' ? Number(problem.path[1] ?? -1) : -1);
    const sorted = problems.map((p, i) => ({ p, i })).sort((a, b) => byTask(a.p) - byTask(b.p) || a.i - b.i);
    throw new SuiteError(
      source,
      sorted.map(({ p }) => ({ path: formatPath(p.path), message: p.message })),
    );
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

// --- Messages ---------------------------------------------------------------------------------

/** `tasks[3].scorer.pattern`. */
const formatPath = (path: Path): string =>
  path
    .map((key, i) => {
      if (typeof key === 'number') return `[${key}]`;
      const name = String(key);
      if (!/^[A-Za-z_$][\w$]*$/.test(name)) return `[${JSON.stringify(name)}]`;
      return i === 0 ? name : `.${name}`;
    })
    .join('');

const described = (value: unknown): string => {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const text = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return text.length > 40 ? `${text.slice(0, 39)}…` : text;
};

const EXPECTED_NAMES: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  record: 'an object',
  array: 'a list',
};

const problemsOf = (issue: z.core.$ZodIssue): Problem[] => {
  const path = issue.path;
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: [...path, key], message: 'unknown field' }));
    case 'invalid_type':
      if (issue.input === undefined) return [{ path, message: 'is required' }];
      return [
        {
          path,
          message: `expected ${EXPECTED_NAMES[issue.expected] ?? issue.expected}, got ${described(issue.input)}`,
        },
      ];
    case 'too_small':
    case 'too_big':
      return [{ path, message: sizeReason(issue) }];
    case 'invalid_value': {
      const allowed = issue.values.map((v) => JSON.stringify(v)).join(' or ');
      if (issue.input === undefined) return [{ path, message: `is required (${allowed})` }];
      return [{ path, message: `must be ${allowed}, got ${described(issue.input)}` }];
    }
    case 'invalid_union':
      // zod 4 marks an unknown discriminator with a note that its issue type does not declare.
      if ((issue as { note?: unknown }).note === 'No matching discriminator') {
        const type = isRecord(issue.input) ? issue.input.type : undefined;
        const known = `one of ${SCORER_TYPES.join(', ')}`;
        const message =
          type === undefined ? `is required (${known})` : `unknown scorer type ${described(type)} (${known})`;
        return [{ path, message }];
      }
      return [{ path, message: issue.message }];
    default:
      return [{ path, message: issue.message }];
  }
};

const sizeReason = (issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string => {
  const small = issue.code === 'too_small';
  const limit = Number(small ? issue.minimum : issue.maximum);
  if (issue.origin === 'array') {
    const count = Array.isArray(issue.input) ? issue.input.length : undefined;
    const counted = count === undefined ? '' : `, got ${count}`;
    return `must have ${small ? 'at least' : 'at most'} ${limit} item${limit === 1 ? '' : 's'}${counted}`;
  }
  if (issue.origin === 'string') {
    return small && limit === 1
      ? 'must not be empty'
      : `must be ${small ? 'at least' : 'at most'} ${limit} characters`;
  }
  const bound = small
    ? issue.inclusive === false
      ? 'greater than'
      : 'at least'
    : issue.inclusive === false
      ? 'less than'
      : 'at most';
  return `must be ${bound} ${limit}, got ${described(issue.input)}`;
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

// --- JSON text ---------------------------------------------------------------------------------

const parseJson = (text: string, source: string): unknown => {
  try {
    return JSON.parse(text);
  } catch (error) {
    const raw = messageOf(error);
    // V8 states the position for most errors, not for "Unexpected token" nor the end of input.
    const stated = / at position (\d+)/.exec(raw);
    const position = stated
      ? Number(stated[1])
      : raw.includes('end of JSON input')
        ? text.length
        : jsonErrorOffset(text);
    let reason: string;
    if (stated) reason = raw.replace(/ in JSON at position \d+.*$/s, '');
    else if (position !== undefined && position < text.length)
      reason = `Unexpected ${JSON.stringify(text[position])}`;
    else if (position === text.length) reason = 'Unexpected end of input';
    else reason = raw.split('\n')[0] ?? raw;
    const where = position === undefined ? '' : ` at ${lineAndColumn(text, position)}`;
    throw new SuiteError(source, [{ path: '', message: `invalid JSON${where}: ${reason}` }]);
  }
};

const lineAndColumn = (text: string, position: number): string => {
  const before = text.slice(0, position);
  const line = before.split('\n').length;
  return `line ${line}, column ${position - before.lastIndexOf('\n')}`;
};

const JSON_LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
const JSON_ESCAPE = /["\\/bfnrt]|u[0-9a-fA-F]{4}/y;

/** Where JSON.parse would stop on `text`, for the messages that do not say; undefined if unsure. */
const jsonErrorOffset = (text: string): number | undefined => {
  let at = 0;
  const stopUnless = (ok: boolean): void => {
    if (!ok) throw at;
  };
  const skipSpace = (): void => {
    while (at < text.length && ' \t\n\r'.includes(text.charAt(at))) at += 1;
  };
  const token = (pattern: RegExp): void => {
    pattern.lastIndex = at;
    stopUnless(pattern.test(text));
    at = pattern.lastIndex;
  };
  const string = (): void => {
    stopUnless(text.charAt(at) === '"');
    at += 1;
    for (;;) {
      const code = text.charCodeAt(at);
      stopUnless(at < text.length && code >= 0x20);
      at += 1;
      if (code === 0x22) return;
      if (code === 0x5c) token(JSON_ESCAPE);
    }
  };
  const value = (): void => {
    skipSpace();
    const open = text.charAt(at);
    if (open !== '{' && open !== '[') {
      if (open === '"') string();
      else token(JSON_LITERAL);
      return;
    }
    const close = open === '{' ? '}' : ']';
    at += 1;
    skipSpace();
    if (text.charAt(at) === close) {
      at += 1;
      return;
    }
    for (;;) {
      if (open === '{') {
        skipSpace();
        string();
        skipSpace();
        stopUnless(text.charAt(at) === ':');
        at += 1;
      }
      value();
      skipSpace();
      const next = text.charAt(at);
      stopUnless(next === ',' || next === close);
      at += 1;
      if (next === close) return;
    }
  };
  try {
    value();
    skipSpace();
    return at < text.length ? at : undefined;
  } catch (stop) {
    return typeof stop === 'number' ? stop : undefined;
  }
};
