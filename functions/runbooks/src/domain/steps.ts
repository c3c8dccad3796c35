import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import type { RunbookStep } from './runbook.js';

/**
 * Running one runbook step: placeholders filled in from the execution's parameters and earlier
 * steps' outputs, then the step handed to the runner of its type. Runners are ports: the guarded
 * outbound client for `http`, Lambda Invoke and a signed AWS API call with credentials scoped to
 * what the step declares (`lambda`, `aws-api`), the bus for `notify`; `wait` and `manual` are the
 * executor's own (they need the clock and the execution record).
 */

/** What a step produced: JSON, or nothing (wait, notify, manual). */
export type StepOutput = unknown;

/** A step with every placeholder replaced: what a runner receives. */
export type ResolvedStep = RunbookStep;

export interface StepContext {
  readonly tenantId: string;
  readonly executionId: string;
  readonly runbookId: string;
  /** The step's own deadline in milliseconds (its timeoutSeconds, else the executor's default). */
  readonly timeoutMs: number;
}

/** Runs the steps of one type; throws StepFailedError (or anything) when the step failed. */
export interface StepRunner<S extends ResolvedStep = ResolvedStep> {
  run(step: S, context: StepContext): Promise<StepOutput>;
}

/** The runners an executor uses, by step type (wait and manual are the executor's own). */
export interface StepRunners {
  readonly http: StepRunner<Extract<ResolvedStep, { type: 'http' }>>;
  readonly lambda: StepRunner<Extract<ResolvedStep, { type: 'lambda' }>>;
  readonly 'aws-api': StepRunner<Extract<ResolvedStep, { type: 'aws-api' }>>;
  readonly notify: StepRunner<Extract<ResolvedStep, { type: 'notify' }>>;
}

/** A step that ran and failed: `reason` is safe to record in the trail and show to the tenant. */
export class StepFailedError extends Error {
  override readonly name = 'StepFailedError';
  constructor(
    readonly stepId: string,
    readonly reason: string,
  ) {
    super(`step ${stepId} failed: ${reason}`);
  }
}

/** The digest of a step's output recorded in the trail (SHA-256 of its canonical JSON; `null` for none). */
export const outputDigest = (output: StepOutput): string => sha256Hex(canonicalJson(output ?? null));

const PLACEHOLDER = /\$\$\{|\$\{([^}]*)\}/g;

/** The value at `a.b.c` below `value`, or undefined. */
const pathOf = (value: unknown, path: readonly string[]): unknown => {
  let current = value;
  for (const key of path) {
    // Own members only: `constructor` or `__proto__` name nothing a step answered.
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
};

const textOf = (value: unknown): string =>
  value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);

/**
 * A string with its placeholders filled in: `${params.x}`, `${steps.<id>.output[.a.b]}` (strings as
 * they are, anything else as JSON; a missing value as empty), `$${` as a literal `${`. The runbook
 * was checked at publish: every placeholder names a parameter or an earlier step.
 */
export const interpolate = (
  text: string,
  params: Readonly<Record<string, unknown>>,
  outputs: ReadonlyMap<string, StepOutput>,
): string =>
  text.replace(PLACEHOLDER, (match, inner: string | undefined) => {
    if (match === '$${') return '${';
    const ref = inner ?? '';
    if (ref.startsWith('params.')) return textOf(params[ref.slice('params.'.length)]);
    const step = /^steps\.(.+?)\.output(?:\.(.*))?$/.exec(ref);
    if (step) {
      const output = outputs.get(step[1] ?? '');
      return textOf(step[2] === undefined ? output : pathOf(output, step[2].split('.')));
    }
    return match;
  });

/** Every string inside `value` (keys stay as they are) with its placeholders filled in. */
export const interpolateDeep = <T>(
  value: T,
  params: Readonly<Record<string, unknown>>,
  outputs: ReadonlyMap<string, StepOutput>,
): T => {
  if (typeof value === 'string') return interpolate(value, params, outputs) as T;
  if (Array.isArray(value)) return value.map((item) => interpolateDeep(item, params, outputs)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateDeep(item, params, outputs)]),
    ) as T;
  }
  return value;
};

/** The step as it runs: every string field but its id and type filled in. */
export const resolveStep = (
  step: RunbookStep,
  params: Readonly<Record<string, unknown>>,
  outputs: ReadonlyMap<string, StepOutput>,
): ResolvedStep =>
  ({ ...interpolateDeep(step, params, outputs), id: step.id, type: step.type }) as ResolvedStep;
