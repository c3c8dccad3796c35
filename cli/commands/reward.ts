import { type Schemas, unwrap } from '../../clients/typescript/index.js';
import { type Command, UsageError } from '../command.js';
import { numberOption, requiredString, stringOption } from '../input.js';

type Signal = Schemas['RewardRequest']['signal'];
const SIGNALS: readonly Signal[] = ['success_at_k', 'human_thumbs', 'incident_free', 'latency_ms', 'cost'];

export const rewardCommand: Command = {
  name: 'reward',
  summary: 'report how a routed task went (learnt asynchronously, once per task and signal)',
  details: `The tenant's reward mapping turns the signal into a reward for the expert the task was routed to.`,
  options: {
    'task-id': { type: 'string', placeholder: '<id>', description: 'the routed task' },
    signal: { type: 'string', placeholder: '<signal>', description: `one of ${SIGNALS.join(', ')}` },
    value: { type: 'string', placeholder: '<number>', description: `the signal's value, e.g. 1 for success` },
    ts: { type: 'string', placeholder: '<iso-time>', description: 'when it was observed (default: now)' },
  },
  examples: ['conductor reward --as acme-operator --task-id task-1 --signal success_at_k --value 1'],
  run: async (invocation) => {
    const taskId = requiredString(invocation, 'task-id');
    const signal = requiredString(invocation, 'signal') as Signal;
    if (!SIGNALS.includes(signal))
      throw new UsageError(`--signal must be one of ${SIGNALS.join(', ')}, got '${signal}'`);
    const value = numberOption(invocation, 'value');
    if (value === undefined) throw new UsageError('--value is required');
    const ts = stringOption(invocation, 'ts');
    const accepted = await unwrap(
      invocation.context.client().POST('/api/conductor/v1/router/reward', {
        body: { taskId, signal, value, ...(ts ? { ts } : {}) },
      }),
    );
    invocation.context.print(accepted, () => `accepted ${signal}=${value} for task ${accepted.taskId}`);
  },
};
