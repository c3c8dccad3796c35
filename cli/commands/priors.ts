import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, UsageError } from '../command.js';
import { table } from '../output.js';

const exportPriors: Command = {
  name: 'export',
  summary: "your tenant's model summarised per expert as a priors document (conductor.priors/v1)",
  details:
    'Prints JSON whatever the output mode: save it to hand to another tenant, which maps the expert ids and puts it.',
  examples: ['conductor priors export --as acme-admin > acme-priors.json'],
  run: async (invocation) => {
    const exported = await unwrap(invocation.context.client().GET('/api/conductor/v1/router/priors/export'));
    invocation.context.print(exported, () => JSON.stringify(exported, null, 2));
  },
};

const putPriors: Command = {
  name: 'put',
  summary:
    'warm-start the experts your model has no evidence of, from a priors document (file or - for stdin)',
  arguments: '<file|->',
  examples: ['conductor priors put --as globex-admin priors.json'],
  run: async (invocation) => {
    const path = invocation.positionals[0];
    if (!path) throw new UsageError('name the priors file (or - for stdin)');
    const { io } = invocation.context;
    let text: string;
    try {
      text = path === '-' ? await io.readStdin() : readFileSync(resolve(io.cwd, path), 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
    let document: Schemas['PriorsDocument'];
    try {
      document = JSON.parse(text) as Schemas['PriorsDocument'];
    } catch (error) {
      throw new UsageError(`${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
    const { modelKey: _drop, ...body } = document as Schemas['PriorsDocument'] & { modelKey?: string };
    const result = await unwrap(invocation.context.client().PUT('/api/conductor/v1/router/priors', { body }));
    invocation.context.print(result, () =>
      [
        `model ${result.modelKey} now at version ${result.modelVersion}`,
        table(
          ['expert', 'applied', 'mean reward', 'weight'],
          [
            ...result.applied.map((a) => [a.expertId, 'yes', String(a.meanReward), String(a.weight)]),
            ...result.skipped.map((s) => [s.expertId, `no: ${s.reason}`, '-', '-']),
          ],
        ),
      ].join('\n'),
    );
  },
};

export const priorsCommand: Command = {
  name: 'priors',
  summary: 'warm start: export your model as priors, or put priors for experts it knows nothing of',
  subcommands: [exportPriors, putPriors],
};
