import * as z from 'zod';
import { ForbiddenError } from '#shared/errors.js';
import type { Clock } from '#shared/ports/system.js';
import { REWARD_SIGNALS, type RewardSignal } from './reward-mapping.js';

/**
 * The API side of rewards (POST /router/reward): validate, stamp and hand the reward to the rewards
 * queue; the reward function learns it (reward-learning.ts). The message is the queue's contract
 * between the two.
 */

const finite = z.number().refine(Number.isFinite, 'must be a finite number');

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
}

/** The API side: validate, stamp and hand the reward to the queue (202 once it is accepted). */
export class RewardIntake {
  constructor(private readonly deps: { readonly queue: RewardQueue; readonly clock: Clock }) {}

  async accept(
    tenantId: string,
    input: RewardInput,
    traceId: string,
  ): Promise<{ accepted: true; taskId: string }> {
    if (input.tenantId !== undefined && input.tenantId !== tenantId) {
      throw new ForbiddenError(
        'The body names another tenant than the one the request acts in.',
        [],
        'tenant_mismatch',
      );
    }
    const receivedAt = this.deps.clock.now().toISOString();
    await this.deps.queue.send(
      rewardMessageSchema.parse({
        tenantId,
        taskId: input.taskId,
        signal: input.signal,
        value: input.value,
        ts: input.ts ?? receivedAt,
        receivedAt,
        traceId,
      }),
    );
    return { accepted: true, taskId: input.taskId };
  }
}
