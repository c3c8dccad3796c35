import type {
  DeadLetter,
  DeadLetterQueues,
  HeldDeadLetter,
  QueueDepth,
  RedriveTask,
} from '../../src/domain/dead-letters.js';

/** In-memory dead-letter queues: one DLQ and its source queue per id; holds and sends can be made to fail. */
export class FakeDeadLetterQueues implements DeadLetterQueues {
  readonly dlqs = new Map<string, DeadLetter[]>();
  readonly resent = new Map<string, string[]>();
  readonly held = new Set<string>();
  failResend = false;
  #redrives = new Map<string, RedriveTask>();

  constructor(ids: readonly string[]) {
    for (const id of ids) {
      this.dlqs.set(id, []);
      this.resent.set(id, []);
    }
  }

  put(queueId: string, message: Partial<DeadLetter> & Pick<DeadLetter, 'messageId' | 'body'>): void {
    this.dlqs.get(queueId)?.push({ receiveCount: 5, sentTimestamp: 0, messageAttributes: {}, ...message });
  }

  ids(): readonly string[] {
    return [...this.dlqs.keys()];
  }
  maxReceiveCount(): number {
    return 5;
  }
  async depth(queueId: string): Promise<QueueDepth> {
    const all = this.dlqs.get(queueId) ?? [];
    const inFlight = all.filter((m) => this.held.has(m.messageId)).length;
    return { visible: all.length - inFlight, inFlight, delayed: 0 };
  }
  async peek(queueId: string, limit: number): Promise<DeadLetter[]> {
    return (this.dlqs.get(queueId) ?? []).filter((m) => !this.held.has(m.messageId)).slice(0, limit);
  }
  async hold(queueId: string, messageId: string): Promise<HeldDeadLetter | undefined> {
    const found = (this.dlqs.get(queueId) ?? []).find(
      (m) => m.messageId === messageId && !this.held.has(m.messageId),
    );
    if (!found) return undefined;
    this.held.add(messageId);
    return { ...found, receipt: `r-${messageId}` };
  }
  async release(_queueId: string, message: HeldDeadLetter): Promise<void> {
    this.held.delete(message.messageId);
  }
  async remove(queueId: string, message: HeldDeadLetter): Promise<void> {
    this.held.delete(message.messageId);
    this.dlqs.set(
      queueId,
      (this.dlqs.get(queueId) ?? []).filter((m) => m.messageId !== message.messageId),
    );
  }
  async resend(queueId: string, message: HeldDeadLetter): Promise<void> {
    if (this.failResend) throw new Error('SQS refused the send');
    this.resent.get(queueId)?.push(message.body);
  }
  async startRedrive(queueId: string): Promise<void> {
    const all = this.dlqs.get(queueId) ?? [];
    this.resent.get(queueId)?.push(...all.map((m) => m.body));
    this.dlqs.set(queueId, []);
    this.#redrives.set(queueId, { status: 'COMPLETED', moved: all.length, toMove: all.length });
  }
  async lastRedrive(queueId: string): Promise<RedriveTask | undefined> {
    return this.#redrives.get(queueId);
  }
}
