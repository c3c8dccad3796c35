import type { DecisionRecord } from '#shared/ports/policy.js';
import type { InMemoryWormStore } from '#shared/testing/fakes.js';

let batches = 0;

/**
 * Writes `records` as one decision-archive object, in the archiver's layout: dated by the batch's
 * earliest record (or `dated`), named by a hash (here a counter), JSON Lines.
 */
export const archiveObject = async (
  store: InMemoryWormStore,
  records: readonly unknown[],
  dated?: string,
): Promise<string> => {
  batches += 1;
  const earliest =
    dated ??
    records
      .map((record) => (record as DecisionRecord).at)
      .sort()
      .at(0);
  if (earliest === undefined) throw new Error('an empty archive object needs a date');
  const iso = new Date(earliest).toISOString();
  const key = `decisions/${iso.slice(0, 10).replaceAll('-', '/')}/${iso.replaceAll(/[-:.]/g, '')}-${batches.toString(16).padStart(32, '0')}.jsonl`;
  await store.putOnce(key, records.map((record) => `${JSON.stringify(record)}\n`).join(''));
  return key;
};
