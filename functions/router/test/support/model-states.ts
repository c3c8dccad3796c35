import {
  createContextEncoder,
  createLinUcb,
  emptyLinUcbState,
  type LinUcbState,
  toStoredModelState,
} from '../../src/domain/bandits/index.js';
import { type ModelRecord, storableNumbers } from '../../src/domain/routing.js';

const NOW = '2026-01-01T00:00:00.000Z';

/**
 * A LinUCB state at dimension d with `updates` rewards learnt per expert (and `extra` more for the
 * first), from contexts of a dozen hashed numeric features: A fills up with non-round numbers, as a
 * state that has learnt for a while does.
 */
export const linUcbState = (d: number, experts: readonly string[], extra = 0, updates = 3): LinUcbState => {
  const encoder = createContextEncoder({ dimension: d });
  const strategy = createLinUcb({ dimension: d, alpha: 0.5, lambda: 1 });
  let state = emptyLinUcbState(d, 1);
  experts.forEach((expertId, i) => {
    for (let k = 0; k < updates + (i === 0 ? extra : 0); k += 1) {
      const context = Object.fromEntries(
        Array.from({ length: 16 }, (_, j) => [
          `f${(i * 7 + k * 5 + j * 3) % 97}`,
          1 + ((i + j * k) % 13) / 7,
        ]),
      );
      state = strategy.update(state, expertId, encoder.encode(context), (i + k) % 2);
    }
  });
  return state;
};

/** The model record of tenant acme for a LinUCB state (key `ridge:d<d>`). */
export const modelRecord = (
  state: LinUcbState,
  version: number,
  applied: readonly string[] = [],
): ModelRecord =>
  storableNumbers({
    tenantId: 'acme',
    id: `ridge:d${state.dimension}`,
    version,
    createdAt: NOW,
    updatedAt: NOW,
    state: toStoredModelState(state),
    appliedRewardIds: [...applied],
  });

export const DYNAMODB_ITEM_LIMIT = 400 * 1024;
/** DynamoDB's item size rules: the kernel's own count (call accounting uses it too). */
export { dynamoItemBytes } from '#shared/adapters/dynamodb-units.js';
