import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, UsageError } from '../command.js';
import { booleanOption, keyValues, listOption, numberOption, requiredString } from '../input.js';
import { fields, table } from '../output.js';
import { listAllExperts } from './experts.js';

const MAX_CANDIDATES = 32;

/** The values of a repeatable flag as given (no comma splitting: a JSON value may hold commas). */
const rawValues = (value: string | boolean | string[] | undefined): string[] =>
  Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];

/** `--context` takes a JSON object or key=value pairs, repeatable and merged. */
const contextOf = (values: readonly string[]): Schemas['RouteContext'] => {
  const context: Record<string, unknown> = {};
  for (const value of values) {
    if (value.trim().startsWith('{')) {
      try {
        Object.assign(context, JSON.parse(value));
      } catch (error) {
        throw new UsageError(
          `--context is not JSON: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    } else Object.assign(context, keyValues([value], 'context'));
  }
  return context as Schemas['RouteContext'];
};

/** The cost-aware objective's terms of the pick and the runner-up. */
const objectiveText = (objective: NonNullable<Schemas['Rationale']['objective']>): string => {
  const rows = [objective.chosen, ...(objective.runnerUp ? [objective.runnerUp] : [])].map((score) => [
    score.expertId,
    score.quality.toFixed(3),
    `$${score.costUsd}`,
    score.latencyMs === undefined ? '-' : `${Math.round(score.latencyMs)} ms`,
    score.costTerm.toFixed(4),
    score.latencyTerm.toFixed(4),
    score.score.toFixed(4),
  ]);
  return `objective (λ ${objective.lambda} per $, μ ${objective.latencyWeight} per s):\n${table(
    ['expert', 'quality', 'cost', 'latency', 'cost term', 'latency term', 'score'],
    rows,
  )}`;
};

/** The options route and invoke share: the task's context and its candidates. */
const TASK_OPTIONS = {
  context: {
    type: 'string',
    multiple: true,
    placeholder: '<key=value|json>',
    description: 'task features, e.g. lang=en tokens=900',
  },
  candidates: {
    type: 'string',
    multiple: true,
    placeholder: '<id,id>',
    description: 'expert ids to choose among',
  },
} as const;

export const routeCommand: Command = {
  name: 'route',
  summary: 'pick the expert for a task (idempotent per task id)',
  details: `Without --candidates it routes among your tenant's enabled experts (at most ${MAX_CANDIDATES}).
--explain also reads the rationale: each candidate's estimate and uncertainty, the cost-aware
objective's terms (when the tenant set one), and for a linear strategy each feature's part in the
pick's estimate and in its margin over the runner-up.`,
  options: {
    'task-id': {
      type: 'string',
      placeholder: '<id>',
      description: 'the task (a retry gets the same decision)',
    },
    ...TASK_OPTIONS,
    explain: { type: 'boolean', description: 'print the rationale too' },
  },
  examples: [
    'conductor route --as acme-operator --task-id task-1 --context lang=en --context tokens=900',
    `conductor route --as acme-operator --task-id task-2 --context '{"lang":"de"}' --candidates exp_a,exp_b --json`,
  ],
  run: async (invocation) => {
    const { context } = invocation;
    const taskId = requiredString(invocation, 'task-id');
    let candidates = listOption(invocation, 'candidates');
    if (candidates.length === 0) {
      context.progress('no --candidates: routing among your enabled experts');
      candidates = (await listAllExperts(invocation))
        .filter((expert) => expert.enabled)
        .slice(0, MAX_CANDIDATES)
        .map((expert) => expert.id);
      if (candidates.length === 0) throw new UsageError('your tenant has no enabled expert to route to');
    }
    const client = context.client();
    const answer = await unwrap(
      client.POST('/api/conductor/v1/router/route', {
        body: { taskId, context: contextOf(rawValues(invocation.options.context)), candidates },
      }),
    );
    const rationale = booleanOption(invocation, 'explain')
      ? await unwrap(
          client.GET('/api/conductor/v1/router/rationale/{rationaleId}', {
            params: { path: { rationaleId: answer.rationaleId } },
          }),
        )
      : undefined;
    context.print(rationale ? { ...answer, rationale } : answer, () => {
      const summary = fields([
        ['expert', answer.expertId],
        ['confidence', answer.confidence.toFixed(3)],
        ['strategy', answer.strategy],
        ['decision', answer.decisionId],
        ['rationale', answer.rationaleId],
      ]);
      if (!rationale) return summary;
      const rows = (rationale.candidates ?? []).map((candidate) => [
        candidate.expertId,
        candidate.estimate.toFixed(3),
        candidate.uncertainty.toFixed(3),
        candidate.probability.toFixed(3),
      ]);
      const candidates = table(['candidate', 'estimate', 'uncertainty', 'probability'], rows);
      const objective = rationale.objective ? `\n\n${objectiveText(rationale.objective)}` : '';
      const attribution = rationale.attribution;
      if (!attribution) return `${summary}\n\n${candidates}${objective}`;
      const features = table(
        ['feature', 'value', 'weight', 'runner-up weight', 'contribution', 'margin'],
        attribution.features.map((feature) => [
          feature.names.join(' ') || `#${feature.index}`,
          feature.value.toFixed(3),
          feature.weight.toFixed(3),
          feature.runnerUpWeight.toFixed(3),
          feature.contribution.toFixed(3),
          feature.marginContribution.toFixed(3),
        ]),
      );
      return `${summary}\n\n${candidates}${objective}\n\nagainst ${attribution.runnerUpExpertId} (estimate margin ${attribution.estimateMargin.toFixed(3)}):\n${features}`;
    });
  },
};

export const invokeCommand: Command = {
  name: 'invoke',
  summary: 'route a task and call the chosen expert; prints its answer (fallback on infrastructure errors)',
  details: `The router calls the expert's endpoint with --input as JSON, falls back to another candidate
when the call fails on infrastructure (timeout, unreachable, 5xx, an unusable answer), and records the
outcome and the signals incident_free, latency_ms and cost itself. Report quality with
\`conductor reward --task-id <answeredTaskId>\`.`,
  options: {
    'task-id': { type: 'string', placeholder: '<id>', description: 'the task' },
    ...TASK_OPTIONS,
    input: {
      type: 'string',
      placeholder: '<json>',
      description: 'what the expert receives (JSON; a bare word is a string)',
    },
    'timeout-ms': { type: 'string', placeholder: '<ms>', description: 'per expert call (default 8000)' },
    'max-fallbacks': {
      type: 'string',
      placeholder: '<n>',
      description: 'other candidates that may answer (0-2, default 1)',
    },
  },
  examples: [
    `conductor invoke --as acme-operator --task-id ask-1 --context lang=en --candidates exp_a,exp_b --input '{"question":"why?"}'`,
  ],
  run: async (invocation) => {
    const { context } = invocation;
    const taskId = requiredString(invocation, 'task-id');
    const candidates = listOption(invocation, 'candidates');
    if (candidates.length === 0) throw new UsageError('--candidates is required');
    const raw = requiredString(invocation, 'input');
    let input: unknown;
    try {
      input = JSON.parse(raw);
    } catch {
      input = raw;
    }
    const timeoutMs = numberOption(invocation, 'timeout-ms');
    const maxFallbacks = numberOption(invocation, 'max-fallbacks');
    const body: Schemas['InvokeRequest'] = {
      taskId,
      context: contextOf(rawValues(invocation.options.context)),
      candidates,
      input: input as Schemas['InvokeRequest']['input'],
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(maxFallbacks === undefined ? {} : { maxFallbacks }),
    };
    // openapi-fetch mistypes a body with a field of any JSON value (`input`): the body is checked above.
    const answer = await unwrap(
      context.client().POST('/api/conductor/v1/router/invoke', { body: body as never }),
    );
    context.print(answer, () => {
      const summary = fields([
        ['expert', answer.expertId],
        ['answered as task', answer.answeredTaskId],
        ['fallback used', String(answer.fallbackUsed)],
        ['latency', `${Math.round(answer.latencyMs)} ms`],
        ['cost', answer.costUsd === undefined ? '-' : `$${answer.costUsd}`],
      ]);
      const attempts = table(
        ['task', 'expert', 'outcome', 'status', 'latency'],
        answer.attempts.map((a) => [
          a.taskId,
          a.expertId,
          a.outcome,
          a.httpStatus === undefined ? '-' : String(a.httpStatus),
          `${Math.round(a.latencyMs)} ms`,
        ]),
      );
      return `${summary}\n\n${attempts}\n\n${JSON.stringify(answer.output, null, 2)}`;
    });
  },
};
