import { partitionKey } from '#shared/adapters/tenant-store.js';
import type { LedgerAddition, LedgerRecord, LedgerStore, LedgerWrite } from '../domain/budget-ledger.js';

/** Every operation is asynchronous, as the table's are (callers interleave at each await). */
const settle = (): Promise<void> => Promise.resolve();

/**
 * Ledger items in memory, with the DynamoDB adapter's semantics (`ledger-dynamodb.ts`): each
 * addition is applied whole or not at all, between two awaits, as the table applies an
 * `UpdateItem`. The store of the what-if simulation and of the domain's tests.
 */
export class InMemoryLedgerStore implements LedgerStore {
  readonly #items = new Map<string, LedgerRecord>();

  #key(tenantId: string, windowId: string): string {
    return `${partitionKey(tenantId, 'BUDGET_LEDGER')}\n${windowId}`;
  }

  async get(tenantId: string, windowId: string): Promise<LedgerRecord | undefined> {
    await settle();
    const found = this.#items.get(this.#key(tenantId, windowId));
    return found === undefined ? undefined : structuredClone(found);
  }

  async open(record: LedgerRecord): Promise<void> {
    await settle();
    const key = this.#key(record.tenantId, record.windowId);
    if (!this.#items.has(key)) this.#items.set(key, structuredClone(record));
  }

  async add(tenantId: string, windowId: string, addition: LedgerAddition, at: string): Promise<LedgerWrite> {
    await settle();
    const key = this.#key(tenantId, windowId);
    const current = this.#items.get(key);
    if (!current) return { outcome: 'absent' };
    if (addition.op !== undefined && addition.op in current.ops) {
      return { outcome: 'duplicate', ledger: structuredClone(current) };
    }
    if (addition.maxUsedBefore !== undefined && !(current.used <= addition.maxUsedBefore)) {
      return { outcome: 'refused', ledger: structuredClone(current) };
    }
    const ops = { ...current.ops };
    for (const marker of addition.forget ?? []) delete ops[marker];
    if (addition.op !== undefined) ops[addition.op] = Math.floor(Date.parse(at) / 1000);
    const next: LedgerRecord = {
      ...current,
      ...(addition.limit ?? {}),
      reserved: current.reserved + addition.reserved,
      committed: current.committed + addition.committed,
      used: current.used + addition.reserved + addition.committed,
      ops,
      version: current.version + 1,
      updatedAt: at,
    };
    this.#items.set(key, next);
    return { outcome: 'applied', ledger: structuredClone(next) };
  }

  async mark(tenantId: string, windowId: string, markers: readonly string[], at: string): Promise<string[]> {
    await settle();
    const key = this.#key(tenantId, windowId);
    const current = this.#items.get(key);
    if (!current) return [];
    const known = new Set(current.alerted ?? []);
    const added = [...new Set(markers)].filter((marker) => !known.has(marker));
    if (added.length > 0) {
      this.#items.set(key, {
        ...current,
        alerted: [...(current.alerted ?? []), ...added],
        version: current.version + 1,
        updatedAt: at,
      });
    }
    return added;
  }

  /** Every item, for assertions. */
  all(): LedgerRecord[] {
    return [...this.#items.values()].map((item) => structuredClone(item));
  }
}
