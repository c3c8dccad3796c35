import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, type Invocation, type OptionSpecs, UsageError } from '../command.js';
import { booleanOption, choiceOption, listOption, numberOption, stringOption } from '../input.js';
import { fields, list, table, usd } from '../output.js';

type Window = Schemas['BudgetLimitsRequest']['window'];
type Mode = NonNullable<Schemas['BudgetPolicy']['mode']>;
type Priority = Schemas['Job']['priority'];
type TraceItem = NonNullable<Schemas['WhatIfRequest']['trace']>[number];
type Report = Schemas['WhatIfReport'];

const WINDOWS: readonly Window[] = ['daily', 'weekly', 'monthly'];
const MODES: readonly Mode[] = ['soft', 'throttle', 'downgrade'];
const PRIORITIES: readonly Priority[] = ['high', 'normal', 'low'];

const duration = (seconds: number): string =>
  seconds < 120
    ? `${Math.round(seconds)} s`
    : seconds < 7_200
      ? `${Math.round(seconds / 60)} min`
      : `${(seconds / 3_600).toFixed(1)} h`;

const windowOption = { type: 'string', placeholder: '<window>', description: WINDOWS.join(', ') } as const;

/** The budget's options `set` and `what-if` share (what-if has no --effective-from: it is not stored). */
const BUDGET_OPTIONS: OptionSpecs = {
  window: windowOption,
  limit: { type: 'string', placeholder: '<usd>', description: `the window's limit in USD (> 0)` },
  'time-zone': {
    type: 'string',
    placeholder: '<iana>',
    description: 'the IANA zone the windows follow, e.g. Europe/Berlin (default UTC)',
  },
  grace: {
    type: 'string',
    placeholder: '<percent>',
    description: 'spend allowed above the limit: cap = limit × (1 + grace/100) (default 0)',
  },
  mode: {
    type: 'string',
    placeholder: '<mode>',
    description: `once breached: ${MODES.join(', ')} (default throttle)`,
  },
  burst: {
    type: 'string',
    placeholder: '<percent>',
    description: 'how far the projection may pass the cap before the budget is breached (default 0)',
  },
  'carry-over-cap': {
    type: 'string',
    placeholder: '<percent>',
    description: `unused budget carried into the next window, at most this % of the limit (default 0)`,
  },
  thresholds: {
    type: 'string',
    placeholder: '<p,p,…>',
    description: 'alert at these percentages of the limit (default 50,80,100; empty: none)',
  },
};

const requiredWindow = (invocation: Invocation): Window => {
  const window = choiceOption(invocation, 'window', WINDOWS);
  if (window === undefined) throw new UsageError(`--window is required (${WINDOWS.join(', ')})`);
  return window;
};

const thresholdsOf = (invocation: Invocation): number[] | undefined => {
  if (stringOption(invocation, 'thresholds') === undefined) return undefined;
  return listOption(invocation, 'thresholds').map((text) => {
    const value = Number(text);
    if (!Number.isFinite(value))
      throw new UsageError(`--thresholds takes percentages separated by commas, got '${text}'`);
    return value;
  });
};

/** The policy the flags name; a flag left out is left to the API's default. */
const policyOf = (invocation: Invocation): Schemas['BudgetPolicy'] | undefined => {
  const policy: Schemas['BudgetPolicy'] = {};
  const grace = numberOption(invocation, 'grace');
  const burst = numberOption(invocation, 'burst');
  const carryOver = numberOption(invocation, 'carry-over-cap');
  const mode = choiceOption(invocation, 'mode', MODES);
  const thresholds = thresholdsOf(invocation);
  if (grace !== undefined) policy.gracePercent = grace;
  if (burst !== undefined) policy.burstPercent = burst;
  if (carryOver !== undefined) policy.carryOverCapPercent = carryOver;
  if (mode !== undefined) policy.mode = mode;
  if (thresholds !== undefined) policy.alertThresholds = thresholds;
  return Object.keys(policy).length === 0 ? undefined : policy;
};

const budgetOf = (invocation: Invocation) => {
  const window = requiredWindow(invocation);
  const limit = numberOption(invocation, 'limit');
  if (limit === undefined) throw new UsageError('--limit <usd> is required');
  const timeZone = stringOption(invocation, 'time-zone');
  const policy = policyOf(invocation);
  return { window, limit, ...(timeZone === undefined ? {} : { timeZone }), ...(policy ? { policy } : {}) };
};

const set: Command = {
  name: 'set',
  summary: `set the tenant's budget for one window kind: limit, time zone and policy (tenant admin)`,
  details: `Replaces the budget the tenant had for that window kind: a policy flag left out takes its
default (grace 0, carry-over 0, burst 0, mode throttle, thresholds 50,80,100), not its earlier value.
Modes, once the projected spend passes the cap: soft alerts only; throttle admits each priority only
under its ceiling (429 budget_throttled otherwise); downgrade demotes jobs one priority class.
A negative value needs the = form: --limit=-5.`,
  options: {
    ...BUDGET_OPTIONS,
    'effective-from': {
      type: 'string',
      placeholder: '<iso-time>',
      description: 'apply from the window containing this instant on (not a past window)',
    },
  },
  examples: [
    'conductor budgets set --as acme-admin --window monthly --limit 1000 --grace 10',
    'conductor budgets set --as acme-admin --window daily --limit 50 --time-zone Europe/Berlin --mode downgrade --thresholds 80,100',
  ],
  run: async (invocation) => {
    const effectiveFrom = stringOption(invocation, 'effective-from');
    const body: Schemas['BudgetLimitsRequest'] = {
      ...budgetOf(invocation),
      ...(effectiveFrom === undefined ? {} : { effectiveFrom }),
    };
    const answer = await unwrap(
      invocation.context.client().PUT('/api/conductor/v1/budgets/limits', { body }),
    );
    const { budget } = answer;
    const { policy } = budget;
    invocation.context.print(answer, () =>
      fields([
        ['window', budget.window],
        ['limit', usd(budget.limitUsd)],
        ['time zone', budget.timeZone],
        ['effective from', budget.effectiveFrom],
        ['mode', policy.mode],
        ['grace', `${policy.gracePercent} %`],
        ['burst', `${policy.burstPercent} %`],
        ['carry-over cap', `${policy.carryOverCapPercent} %`],
        ['thresholds', list(policy.alertThresholds.map((threshold) => `${threshold} %`))],
        [
          'ceilings',
          PRIORITIES.map((priority) => `${priority} ${policy.priorityCeilingsPercent[priority]} %`).join(
            ', ',
          ),
        ],
        ['version', String(budget.version)],
        ['changed by', `${budget.changedBy} at ${budget.updatedAt}`],
      ]),
    );
  },
};

const stateRows = (budgets: readonly Schemas['BudgetStatus'][]) =>
  table(
    ['window', 'window id', 'state', 'spent', 'reserved', 'projected', 'cap', 'remaining'],
    budgets.map((budget) => [
      budget.window,
      budget.windowId,
      budget.state,
      usd(budget.spentUsd),
      usd(budget.reservedUsd),
      usd(budget.projectedUsd),
      usd(budget.capUsd),
      usd(budget.remainingUsd),
    ]),
  );

const state: Command = {
  name: 'state',
  summary: `the tenant's budgets now: spent, reserved, projected, cap, remaining and state per window`,
  details: `projected is the finished spend extrapolated to the window's end at its mean rate, plus
what the admitted jobs still reserve; the budget is breached once it reaches the cap (plus burst).`,
  options: { window: { ...windowOption, description: `only this window kind (${WINDOWS.join(', ')})` } },
  examples: ['conductor budgets state --as acme-viewer', 'conductor budgets state --window monthly --json'],
  run: async (invocation) => {
    const window = choiceOption(invocation, 'window', WINDOWS);
    const answer = await unwrap(
      invocation.context.client().GET('/api/conductor/v1/budgets/state', {
        params: { query: window === undefined ? {} : { window } },
      }),
    );
    invocation.context.print(answer, () =>
      answer.budgets.length === 0
        ? `${window ? `no ${window} budget` : 'no budget'} for ${answer.tenantId} (set one with 'conductor budgets set')`
        : stateRows(answer.budgets),
    );
  },
};

const TRACE_SHAPE = 'a JSON array of {at, priority?, estimatedCostUsd, actualCostUsd?, durationSeconds?}';

/** What is wrong with one item of a trace file, as far as its shape goes (the API checks the values). */
const traceItemProblem = (item: unknown): string | undefined => {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return 'is not an object';
  const { at, priority, estimatedCostUsd, actualCostUsd, durationSeconds } = item as Record<string, unknown>;
  if (typeof at !== 'string') return 'has no "at" (an ISO time)';
  if (typeof estimatedCostUsd !== 'number') return 'has no numeric "estimatedCostUsd"';
  if (priority !== undefined && !PRIORITIES.includes(priority as Priority))
    return `has "priority" ${JSON.stringify(priority)}, not one of ${PRIORITIES.join(', ')}`;
  if (actualCostUsd !== undefined && typeof actualCostUsd !== 'number')
    return 'has an "actualCostUsd" that is not a number';
  if (durationSeconds !== undefined && typeof durationSeconds !== 'number')
    return 'has a "durationSeconds" that is not a number';
  return undefined;
};

const readTrace = (invocation: Invocation, file: string): TraceItem[] => {
  let text: string;
  try {
    text = readFileSync(resolve(invocation.context.io.cwd, file), 'utf8');
  } catch (error) {
    const reason = (error as { code?: string }).code ?? String(error);
    throw new UsageError(`--trace: cannot read ${file} (${reason})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new UsageError(
      `--trace: ${file} is not JSON (${error instanceof Error ? error.message : String(error)}); it holds ${TRACE_SHAPE}`,
    );
  }
  if (!Array.isArray(value)) throw new UsageError(`--trace: ${file} must hold ${TRACE_SHAPE}`);
  value.forEach((item, index) => {
    const problem = traceItemProblem(item);
    if (problem) throw new UsageError(`--trace: item ${index} of ${file} ${problem}`);
  });
  return value as TraceItem[];
};

/** Where the demand comes from: a trace file, or the tenant's jobs recorded in a range. */
const demandOf = (invocation: Invocation): Pick<Schemas['WhatIfRequest'], 'trace' | 'recorded'> => {
  const file = stringOption(invocation, 'trace');
  const from = stringOption(invocation, 'recorded-from');
  const to = stringOption(invocation, 'recorded-to');
  if (file !== undefined && from !== undefined)
    throw new UsageError('give --trace <file> or --recorded-from <iso-time>, not both');
  if (file !== undefined) {
    if (to !== undefined) throw new UsageError('--recorded-to goes with --recorded-from, not --trace');
    return { trace: readTrace(invocation, file) };
  }
  if (from === undefined)
    throw new UsageError('give the demand: --trace <file> or --recorded-from <iso-time> [--recorded-to]');
  return { recorded: { from, to: to ?? new Date().toISOString() } };
};

const reportText = (report: Report): string =>
  [
    fields([
      ['jobs', String(report.jobs)],
      ['admitted', String(report.admitted)],
      ['demoted', `${report.demoted} (admitted one priority class lower)`],
      [
        'delayed',
        `${report.delayed} (admitted after a 429; mean delay ${duration(report.meanDelaySeconds)})`,
      ],
      ['throttled', `${report.throttled} (refused for good)`],
      ['spent', usd(report.spentUsd)],
    ]),
    '',
    table(
      ['priority', 'admitted', 'delayed', 'throttled'],
      PRIORITIES.map((priority) => {
        const counts = report.byPriority[priority];
        return [priority, String(counts.admitted), String(counts.delayed), String(counts.throttled)];
      }),
    ),
    '',
    table(
      ['window id', 'admitted', 'refused', 'spent', 'breached at'],
      report.windows.map((window) => [
        window.windowId,
        String(window.admitted),
        String(window.refused),
        usd(window.spentUsd),
        window.breachedAt ?? '-',
      ]),
    ),
  ].join('\n');

const whatIf: Command = {
  name: 'what-if',
  summary: 'replay a demand trace against a budget policy: admitted, demoted, delayed, throttled, spent',
  details: `Runs in memory: the tenant's own budgets are neither read nor changed. The demand is a trace
file, a JSON array of {at, priority?, estimatedCostUsd, actualCostUsd?, durationSeconds?} (priority
defaults to normal), or the tenant's jobs recorded in [--recorded-from, --recorded-to). --retry plays
a client that retries after Retry-After: its refused jobs count as delayed instead of throttled.`,
  options: {
    ...BUDGET_OPTIONS,
    trace: { type: 'string', placeholder: '<file.json>', description: 'a synthetic demand trace' },
    'recorded-from': {
      type: 'string',
      placeholder: '<iso-time>',
      description: `replay the tenant's jobs created from here`,
    },
    'recorded-to': { type: 'string', placeholder: '<iso-time>', description: '… until here (default now)' },
    retry: { type: 'boolean', description: 'a throttled client retries after Retry-After' },
  },
  examples: [
    'conductor budgets what-if --as acme-viewer --window daily --limit 5 --grace 10 --trace demand.json',
    'conductor budgets what-if --as acme-viewer --window monthly --limit 800 --mode downgrade --recorded-from 2026-11-01T00:00:00Z --retry',
  ],
  run: async (invocation) => {
    const body: Schemas['WhatIfRequest'] = {
      budget: budgetOf(invocation),
      ...demandOf(invocation),
      ...(booleanOption(invocation, 'retry') ? { retryThrottled: true } : {}),
    };
    const report = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/budgets/what-if', { body }),
    );
    invocation.context.print(report, () => reportText(report));
  },
};

export const budgetsCommand: Command = {
  name: 'budgets',
  summary: `the tenant's spending budgets: set, state, what-if`,
  subcommands: [set, state, whatIf],
};
