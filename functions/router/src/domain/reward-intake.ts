import * as z from 'zod';
import { ForbiddenError, ValidationError } from '#shared/errors.js';
import type { Clock } from '#shared/ports/system.js';
import { REWARD_SIGNALS, type RewardSignal, rewardValueProblem } from './reward-mapping.js';

/**
 * The API side of rewards (POST /router/reward): validate, stamp and hand the reward to the rewards
 * queue; the reward function learns it (reward-learning.ts). The message is the queue's contract
 * between the two.
 */

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

/**
 * The message as it travels. Its value is only required to be finite here: the consumer checks the
 * signal's range itself (a poison message is rejected and recorded there, not failed until the DLQ).
 */
export const rewardMessageSchema = z.strictObject({
  tenantId: z.string().min(1),
  taskId: z.string().min(1).max(128),
  signal: z.enum(REWARD_SIGNALS),
  value: finite,
  ts: z.iso.datetime(),
  receivedAt: z.iso.datetime(),
  traceId: z.string().min(1),
});
export type RewardMessage = z.output<typeof rewardMessageSchema>;

export interface RewardInput {
  readonly taskId: string;
  readonly signal: RewardSignal;
  readonly value: number;
  readonly ts?: string | undefined;
  readonly tenantId?: string | undefined;
}

/** Port: the rewards queue. `send` resolves once the queue has accepted the message. */
export interface RewardQueue {
  send(message: RewardMessage): Promise<void>;
  /** Several at once (one SQS batch): resolves once every one is accepted. */
  sendMany?(messages: readonly RewardMessage[]): Promise<void>;
}

/** The API side: validate, stamp and hand the reward to the queue (202 once it is accepted). */
export class RewardIntake {
  constructor(private readonly deps: { readonly queue: RewardQueue; readonly clock: Clock }) {}

  async accept(
    tenantId: string,
    input: RewardInput,
    traceId: string,
  ): Promise<{ accepted: true; taskId: string }> {
    await this.deps.queue.send(this.#messageOf(tenantId, input, traceId));
    return { accepted: true, taskId: input.taskId };
  }

  /** Several rewards of one tenant, all validated before any is sent, in one queue batch when it can. */
  async acceptMany(tenantId: string, inputs: readonly RewardInput[], traceId: string): Promise<void> {
    const messages = inputs.map((input) => this.#messageOf(tenantId, input, traceId));
    const { queue } = this.deps;
    if (queue.sendMany) await queue.sendMany(messages);
    else for (const message of messages) await queue.send(message);
  }

  #messageOf(tenantId: string, input: RewardInput, traceId: string): RewardMessage {
    if (input.tenantId !== undefined && input.tenantId !== tenantId) {
      throw new ForbiddenError(
        'The body names another tenant than the one the request acts in.',
        [],
        'tenant_mismatch',
      );
    }
    // The contract's schema refuses these first; this keeps the queue clean for any other caller.
    const problem = rewardValueProblem(input.signal, input.value);
    if (problem) {
      throw new ValidationError(`value ${problem}.`, [{ path: 'value', message: problem }]);
    }
    const receivedAt = this.deps.clock.now().toISOString();
    return rewardMessageSchema.parse({
      tenantId,
      taskId: input.taskId,
      signal: input.signal,
      value: input.value,
      ts: input.ts ?? receivedAt,
      receivedAt,
      traceId,
    });
  }
}
