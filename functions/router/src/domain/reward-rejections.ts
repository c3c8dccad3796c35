import type { Page, TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { RewardSignal } from './reward-mapping.js';

/**
 * Rewards the consumer could not learn from, kept per tenant (`T#<tenant>#REWARD_REJECTED`, 30-day
 * TTL) and listed by GET router/rewards/rejected: a reward is rejected, never silently dropped.
 * The consumer (reward-learning.ts) writes them; the API only reads them, so this module is all the
 * router function needs of them.
 */
export const REJECTION_REASONS = ['unknown_task', 'value_out_of_range'] as const;
/**
 * `unknown_task`: no decision for the task in the tenant (never routed, another tenant's, past its
 * TTL, or sent before its decision). `value_out_of_range`: the value is outside its signal's range
 * (SIGNAL_RANGES; refused at intake, so only a message that got in another way).
 */
export type RejectionReason = (typeof REJECTION_REASONS)[number];

/** One rejected reward as stored (sk `<taskId>#<signal>`: one record per reward, however often sent). */
export interface RewardRejection extends TenantRecord {
  readonly taskId: string;
  readonly signal: RewardSignal;
  /** The value as a number (`unknown_task`: a value the table can hold). */
  readonly value?: number;
  /** The value as its text (`value_out_of_range`: it may be a number the table cannot hold, e.g. 1e-200). */
  readonly valueText?: string;
  readonly reason: RejectionReason;
  /** What was wrong, in words (`value_out_of_range`). */
  readonly detail?: string;
  readonly ts: string;
  readonly receivedAt: string;
  readonly traceId: string;
}

/** A rejected reward as the API lists it. */
export interface RejectedReward {
  readonly taskId: string;
  readonly signal: RewardSignal;
  readonly value?: number;
  readonly valueText?: string;
  readonly reason: RejectionReason;
  readonly detail?: string;
  readonly ts: string;
  readonly receivedAt: string;
  readonly rejectedAt: string;
  readonly traceId: string;
}

/** Port: the stored rejections, listed a page at a time (TenantRecordStore). */
export type RejectionReader = Pick<TenantRecords<RewardRejection>, 'list'>;

const publicOf = (record: RewardRejection): RejectedReward => ({
  taskId: record.taskId,
  signal: record.signal,
  ...(record.value === undefined ? {} : { value: record.value }),
  ...(record.valueText === undefined ? {} : { valueText: record.valueText }),
  reason: record.reason,
  ...(record.detail === undefined ? {} : { detail: record.detail }),
  ts: record.ts,
  receivedAt: record.receivedAt,
  rejectedAt: record.createdAt,
  traceId: record.traceId,
});

/** GET router/rewards/rejected: the tenant's rejected rewards, in task id order, a page at a time. */
export class RejectedRewards {
  constructor(private readonly rejections: RejectionReader) {}

  async list(
    tenantId: string,
    options: { readonly limit: number; readonly cursor?: string | undefined },
  ): Promise<Page<RejectedReward>> {
    const page = await this.rejections.list(tenantId, options);
    return {
      items: page.items.map(publicOf),
      ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
    };
  }
}
