/**
 * Scoring one output of one task. Every scorer yields a score in [0, 1]; whether the trial passed is
 * the caller's call, with {@link passes}. A scorer that cannot score (a custom module throws, the
 * judge does not answer, the spec is unusable) throws {@link ScorerError}: the runner records that
 * as a trial error of kind `scorer`, never as a wrong answer.
 *
 * - `exact`: deep equality of JSON values; every string (at any depth) is trimmed unless `trim` is
 *   false and compared case-insensitively when `caseSensitive` is false. `4` is not `"4"`.
 * - `contains`: the output as text (strings as they are, anything else as JSON) contains the
 *   expected string; with a list, the score is the share of the list found.
 * - `regex`: the output as text (its first {@link REGEX_TEXT_CAP} characters) matches `pattern`.
 * - `numeric`: a number, or a numeric string, within `tolerance` of `expected` (× |expected| when
 *   `relative`): 1 or 0.
 * - `json-subset`: every leaf of `expected` is found at the same place in the output (objects by
 *   key, arrays by index; the output may have more). The score is the share of expected leaves
 *   found; an empty object or array counts as one leaf, found when the output has one there.
 * - `json-schema`: the output is valid against the schema (draft 2020-12, ajv): 1 or 0.
 * - `custom` / `rubric`: scored through {@link ScorerDeps}, which only some runs have.
 */
import { compileJsonSchema, type ValidateFunction } from '#shared/ports/json-schema.js';
import type { GoldenTask, ScorerSpec } from './model.js';

/** What a custom scorer is handed. */
export interface CustomScoreArgs {
  readonly output: unknown;
  readonly expected: unknown;
  readonly input: unknown;
  readonly task: GoldenTask;
}
export type CustomScoreResult = number | { readonly score: number; readonly detail?: string };
export type CustomScoreFn = (args: CustomScoreArgs) => CustomScoreResult | Promise<CustomScoreResult>;

/** What the judge of a rubric scorer is asked. */
export interface JudgeRequest {
  readonly judgeExpertId: string;
  readonly rubric: string;
  readonly input: unknown;
  readonly output: unknown;
  readonly expected?: unknown;
}

/** The scorers' ports: absent ones make their scorers fail with a ScorerError. */
export interface ScorerDeps {
  /** Loads a custom scorer from the working copy (standalone runs only). */
  readonly custom?: (module: string, exportName: string) => Promise<CustomScoreFn>;
  /** Asks the judge expert for a score in [0, 1]. */
  readonly judge?: (request: JudgeRequest) => Promise<number>;
}

export interface ScoreResult {
  readonly score: number;
  /** Why the score is short of 1, in a line. */
  readonly detail?: string;
}

/** The scorer itself failed: the runner records a trial error of kind `scorer`. */
export class ScorerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ScorerError';
  }
}

/** The regex scorer tests at most this many characters of the output (a bound on backtracking). */
export const REGEX_TEXT_CAP = 100_000;
/** Floating point slack in pass/fail and numeric comparisons. */
const SLACK = 1e-9;
const DETAIL_VALUE_CHARS = 80;

/** A trial passes when its score is at least 1 − tolerance (give or take floating point noise). */
export const passes = (score: number, tolerance: number): boolean => score >= 1 - tolerance - SLACK;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The output in an expert's JSON answer: at `outputPath` (dotted, array indices as numbers:
 * `choices.0.text`), else `answer.output` when the answer is an object that has it, else the whole
 * answer. A path that leads nowhere gives `undefined`.
 */
export const outputOf = (answer: unknown, outputPath?: string): unknown => {
  if (outputPath) {
    let current: unknown = answer;
    for (const segment of outputPath.split('.')) {
      if (Array.isArray(current) && /^\d+$/.test(segment)) current = current[Number(segment)];
      else if (isPlainObject(current) && Object.hasOwn(current, segment)) current = current[segment];
      else return undefined;
    }
    return current;
  }
  return isPlainObject(answer) && Object.hasOwn(answer, 'output') ? answer.output : answer;
};

const textOf = (output: unknown): string =>
  typeof output === 'string' ? output : (JSON.stringify(output) ?? String(output));

/** A value for a detail line: JSON, cut short. */
const shown = (value: unknown): string => {
  const text = value === undefined ? 'nothing' : (JSON.stringify(value) ?? String(value));
  return text.length > DETAIL_VALUE_CHARS ? `${text.slice(0, DETAIL_VALUE_CHARS - 1)}…` : text;
};
const shownNumber = (value: number): string => String(Number(value.toPrecision(12)));

/** Scores one output of a task. Throws ScorerError when the scorer cannot score. */
export const scoreOutput = async (
  task: GoldenTask,
  output: unknown,
  deps: ScorerDeps,
): Promise<ScoreResult> => {
  const spec = task.scorer;
  switch (spec.type) {
    case 'custom':
      return scoreCustom(spec, task, output, deps);
    case 'rubric':
      return scoreRubric(spec, task, output, deps);
    default:
      if (output === undefined) {
        return { score: 0, detail: task.outputPath ? `no output at ${task.outputPath}` : 'no output' };
      }
      return scoreBuiltIn(spec, task.expected, output);
  }
};

type BuiltInSpec = Exclude<ScorerSpec, { type: 'custom' | 'rubric' }>;

const scoreBuiltIn = (spec: BuiltInSpec, expected: unknown, output: unknown): ScoreResult => {
  switch (spec.type) {
    case 'exact':
      return scoreExact(spec, expected, output);
    case 'contains':
      return scoreContains(spec, expected, output);
    case 'regex':
      return scoreRegex(spec, output);
    case 'numeric':
      return scoreNumeric(spec, expected, output);
    case 'json-subset':
      return scoreSubset(expected, output);
    case 'json-schema':
      return scoreSchema(spec, output);
  }
};

const scoreExact = (
  spec: Extract<ScorerSpec, { type: 'exact' }>,
  expected: unknown,
  output: unknown,
): ScoreResult => {
  const trim = spec.trim ?? true;
  const caseSensitive = spec.caseSensitive ?? true;
  const normalise = (text: string): string => {
    const trimmed = trim ? text.trim() : text;
    return caseSensitive ? trimmed : trimmed.toLowerCase();
  };
  return jsonEqual(expected, output, normalise)
    ? { score: 1 }
    : { score: 0, detail: `expected ${shown(expected)}, got ${shown(output)}` };
};

const jsonEqual = (a: unknown, b: unknown, normalise: (text: string) => string): boolean => {
  if (typeof a === 'string' && typeof b === 'string') return normalise(a) === normalise(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    return (
      Array.isArray(a) &&
      Array.isArray(b) &&
      a.length === b.length &&
      a.every((item, i) => jsonEqual(item, b[i], normalise))
    );
  }
  if (isPlainObject(a) || isPlainObject(b)) {
    if (!isPlainObject(a) || !isPlainObject(b)) return false;
    // A key holding undefined is absent in JSON.
    const keysA = Object.keys(a).filter((k) => a[k] !== undefined);
    const keysB = Object.keys(b).filter((k) => b[k] !== undefined);
    return (
      keysA.length === keysB.length &&
      keysA.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k], normalise))
    );
  }
  return a === b;
};

const scoreContains = (
  spec: Extract<ScorerSpec, { type: 'contains' }>,
  expected: unknown,
  output: unknown,
): ScoreResult => {
  const wanted = typeof expected === 'string' ? [expected] : expected;
  if (!Array.isArray(wanted) || wanted.length === 0 || !wanted.every((w) => typeof w === 'string')) {
    throw new ScorerError('the contains scorer needs `expected` as a string or a non-empty list of strings');
  }
  const caseSensitive = spec.caseSensitive ?? true;
  const fold = (text: string): string => (caseSensitive ? text : text.toLowerCase());
  const text = fold(textOf(output));
  const missing = wanted.filter((w) => !text.includes(fold(w)));
  if (missing.length === 0) return { score: 1 };
  return {
    score: (wanted.length - missing.length) / wanted.length,
    detail: `missing ${missing.map(shown).join(', ')} in ${shown(textOf(output))}`,
  };
};

const scoreRegex = (spec: Extract<ScorerSpec, { type: 'regex' }>, output: unknown): ScoreResult => {
  let pattern: RegExp;
  try {
    // A fresh RegExp per call: the g and y flags make test() stateful.
    pattern = new RegExp(spec.pattern, spec.flags);
  } catch (error) {
    throw new ScorerError(`the regex scorer's pattern does not compile: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const text = textOf(output);
  const capped = text.length > REGEX_TEXT_CAP;
  if (pattern.test(capped ? text.slice(0, REGEX_TEXT_CAP) : text)) return { score: 1 };
  const where = capped ? ` in the first ${REGEX_TEXT_CAP} characters` : '';
  return { score: 0, detail: `no match for ${pattern}${where} of ${shown(text)}` };
};

const NUMERIC_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A number, or the number a numeric string spells (not `""`, `0x10` or `Infinity`). */
const numberOf = (output: unknown): number | undefined => {
  if (typeof output === 'number') return Number.isFinite(output) ? output : undefined;
  if (typeof output !== 'string' || !NUMERIC_TEXT.test(output.trim())) return undefined;
  const value = Number(output.trim());
  return Number.isFinite(value) ? value : undefined;
};

const scoreNumeric = (
  spec: Extract<ScorerSpec, { type: 'numeric' }>,
  expected: unknown,
  output: unknown,
): ScoreResult => {
  if (typeof expected !== 'number' || !Number.isFinite(expected)) {
    throw new ScorerError('the numeric scorer needs `expected` as a finite number');
  }
  if (!Number.isFinite(spec.tolerance) || spec.tolerance < 0) {
    throw new ScorerError('the numeric scorer needs a tolerance ≥ 0');
  }
  const bound = spec.relative ? spec.tolerance * Math.abs(expected) : spec.tolerance;
  const range = `expected ${shownNumber(expected)} ± ${shownNumber(bound)}${spec.relative ? ` (${shownNumber(spec.tolerance * 100)} %)` : ''}`;
  const actual = numberOf(output);
  if (actual === undefined) return { score: 0, detail: `${range}, got ${shown(output)}, not a number` };
  const withinBound = Math.abs(actual - expected) <= bound + SLACK * Math.max(1, Math.abs(expected));
  return withinBound ? { score: 1 } : { score: 0, detail: `${range}, got ${shownNumber(actual)}` };
};

interface SubsetTally {
  matched: number;
  total: number;
  firstMiss?: string;
}

const scoreSubset = (expected: unknown, output: unknown): ScoreResult => {
  const tally: SubsetTally = { matched: 0, total: 0 };
  tallySubset(expected, output, '', tally);
  if (tally.matched === tally.total) return { score: 1 };
  return {
    score: tally.matched / tally.total,
    detail: `${tally.matched} of ${tally.total} expected values found; first missing: ${tally.firstMiss}`,
  };
};

/** Counts expected leaves, and those found in the output at the same place. */
const tallySubset = (expected: unknown, output: unknown, path: string, tally: SubsetTally): void => {
  const miss = (reason: string): void => {
    tally.firstMiss ??= `${path || '(root)'}: ${reason}`;
  };
  if (Array.isArray(expected) && expected.length > 0) {
    expected.forEach((item, i) => {
      tallySubset(item, Array.isArray(output) ? output[i] : undefined, `${path}[${i}]`, tally);
    });
    return;
  }
  if (isPlainObject(expected) && Object.keys(expected).length > 0) {
    for (const [key, item] of Object.entries(expected)) {
      const found = isPlainObject(output) && Object.hasOwn(output, key) ? output[key] : undefined;
      tallySubset(item, found, path ? `${path}.${key}` : key, tally);
    }
    return;
  }
  tally.total += 1;
  const found = Array.isArray(expected)
    ? Array.isArray(output)
    : isPlainObject(expected)
      ? isPlainObject(output)
      : expected === output;
  if (found) tally.matched += 1;
  else miss(`expected ${shown(expected)}, got ${shown(output)}`);
};

const scoreSchema = (spec: Extract<ScorerSpec, { type: 'json-schema' }>, output: unknown): ScoreResult => {
  let validate: ValidateFunction;
  try {
    validate = compileJsonSchema(spec.schema);
  } catch (error) {
    throw new ScorerError(`the json-schema scorer's schema does not compile: ${messageOf(error)}`, {
      cause: error,
    });
  }
  if (validate(output)) return { score: 1 };
  const first = validate.errors?.[0];
  return {
    score: 0,
    detail: first ? `${first.instancePath || '/'} ${first.message ?? 'is invalid'}` : 'invalid',
  };
};

const scoreCustom = async (
  spec: Extract<ScorerSpec, { type: 'custom' }>,
  task: GoldenTask,
  output: unknown,
  deps: ScorerDeps,
): Promise<ScoreResult> => {
  const load = deps.custom;
  if (!load) throw new ScorerError('custom scorers run only in standalone mode (conductor-eval run)');
  const exportName = spec.export ?? 'score';
  const name = `custom scorer ${spec.module}#${exportName}`;
  const result: unknown = await wrapped(name, async () => {
    const score = await load(spec.module, exportName);
    if (typeof score !== 'function') throw new ScorerError(`${name} is not a function`);
    return score({ output, expected: task.expected, input: task.input, task });
  });
  const score = typeof result === 'number' ? result : isPlainObject(result) ? result.score : undefined;
  if (!isUnitScore(score)) {
    throw new ScorerError(`${name} returned ${shown(result)}; a score is a number in [0, 1]`);
  }
  const detail = isPlainObject(result) && typeof result.detail === 'string' ? result.detail : undefined;
  return detail === undefined ? { score } : { score, detail };
};

const scoreRubric = async (
  spec: Extract<ScorerSpec, { type: 'rubric' }>,
  task: GoldenTask,
  output: unknown,
  deps: ScorerDeps,
): Promise<ScoreResult> => {
  const judge = deps.judge;
  if (!judge) throw new ScorerError('rubric scorers need a judge, and this run has none');
  const name = `judge ${spec.judgeExpertId}`;
  const score = await wrapped(name, () =>
    judge({
      judgeExpertId: spec.judgeExpertId,
      rubric: spec.rubric,
      input: task.input,
      output,
      ...(task.expected === undefined ? {} : { expected: task.expected }),
    }),
  );
  if (!isUnitScore(score))
    throw new ScorerError(`${name} answered ${shown(score)}; a score is a number in [0, 1]`);
  return { score };
};

const isUnitScore = (score: unknown): score is number =>
  typeof score === 'number' && Number.isFinite(score) && score >= 0 && score <= 1;

/** Runs a scorer's dependency, turning whatever it throws into a ScorerError. */
const wrapped = async <T>(name: string, run: () => Promise<T> | T): Promise<T> => {
  try {
    return await run();
  } catch (error) {
    if (error instanceof ScorerError) throw error;
    throw new ScorerError(`${name} failed: ${messageOf(error)}`, { cause: error });
  }
};

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
