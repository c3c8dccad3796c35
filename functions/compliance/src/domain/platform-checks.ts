import { type WormStore, WormViolationError } from '#shared/ports/worm.js';
import type { ControlTest } from './assess.js';

/**
 * `platform.evidence-store-worm`: the evidence store itself refuses what WORM storage must refuse.
 * A probe object is written once under `compliance/probes/`; overwriting it with other content and
 * deleting it must both be refused, and it must read back unchanged. Runs against whatever store the
 * deployment has: S3 Object Lock on AWS, the write-once file store locally. The probes stay (they
 * are locked like any evidence, and tiny).
 */
export const evidenceStoreWorm = (store: WormStore, probeId: () => string): ControlTest => ({
  id: 'platform.evidence-store-worm',
  run: async ({ now }) => {
    const key = `compliance/probes/${now.toISOString().slice(0, 10)}/${probeId()}.json`;
    const body = JSON.stringify({ probe: key, writtenAt: now.toISOString() });
    await store.putOnce(key, body, 'application/json');
    const refused = async (attempt: () => Promise<unknown>): Promise<boolean> => {
      try {
        await attempt();
        return false;
      } catch (error) {
        if (error instanceof WormViolationError) return true;
        throw error;
      }
    };
    const overwriteRefused = await refused(() => store.putOnce(key, `${body} `, 'application/json'));
    const deleteRefused = await refused(() => store.delete(key));
    const unchanged = (await store.get(key)) === body;
    const checks = [
      { name: 'an overwrite with other content is refused', ok: overwriteRefused },
      { name: 'a delete before the retention ends is refused', ok: deleteRefused },
      { name: 'the object reads back unchanged', ok: unchanged },
    ];
    const failed = checks.filter((check) => !check.ok).map((check) => check.name);
    return {
      status: failed.length === 0 ? 'pass' : 'fail',
      summary:
        failed.length === 0
          ? `evidence store: ${key} is write-once`
          : `evidence store: NOT ${failed.join('; ')}`,
      observations: { probe: key, overwriteRefused, deleteRefused, unchanged },
    };
  },
});
