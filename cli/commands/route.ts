import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, UsageError } from '../command.js';
import { booleanOption, keyValues, listOption, requiredString } from '../input.js';
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

export const routeCommand: Command = {
  name: 'route',
  summary: 'pick the expert for a task (idempotent per task id)',
  details: `Without --candidates it routes among your tenant's enabled experts (at most ${MAX_CANDIDATES}).
--explain also reads the rationale: each candidate's estimate and uncertainty, and for a linear
strategy each feature's part in the pick's estimate and in its margin over the runner-up.`,
  options: {
    'task-id': {
      type: 'string',
      placeholder: '<id>',
      description: 'the task (a retry gets the same decision)',
    },
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
      const attribution = rationale.attribution;
      if (!attribution) return `${summary}\n\n${candidates}`;
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
      return `${summary}\n\n${candidates}\n\nagainst ${attribution.runnerUpExpertId} (estimate margin ${attribution.estimateMargin.toFixed(3)}):\n${features}`;
    });
  },
};
