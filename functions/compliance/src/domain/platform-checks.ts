import { ConflictError } from '#shared/errors.js';
import type { TenantRecords } from '#shared/ports/records.js';
import { type WormStore, WormViolationError } from '#shared/ports/worm.js';
import { type ControlTest, PLATFORM, type SeenEventRecord, STALE_AFTER_HOURS } from './assess.js';

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

/** The runbooks pillar's trail mirror in the evidence store (its README): one JSON object per entry. */
const trailKey = (tenantId: string, executionId: string, seq: number): string =>
  `runbooks/${tenantId}/${executionId}/${String(seq).padStart(6, '0')}.json`;
/** Entries read per execution at most (a trail is a handful; the mirror would hold up to a million). */
const MAX_TRAIL_READ = 500;
/** Executions checked per run at most: the newest, the rest named as not checked. */
const MAX_EXECUTIONS = 200;
const RAN = new Set(['succeeded', 'failed']);

/**
 * `platform.runbooks-signed-approved`: every runbook execution that ran steps in the observation
 * period (a `runbook_executed` event with status succeeded or failed, seen by the subscription) has,
 * in its WORM trail mirror, its signature verified and its approvals before its first step, and an
 * unbroken hash chain (each entry's prevHash the hash before it). The `unsigned_runbook` events of
 * the period (refusals: the control at work) are reported. No execution in the period is a pass,
 * said so.
 *
 * An execution found sound is marked so on its seen event (`trailVerified`): its trail, written to
 * the WORM store before the event, can no longer change, so later runs (one per `runbook_executed`,
 * every assessment) read only the trails of executions not yet found sound. A trail with a problem is
 * read again by every run, until the event leaves the period.
 */
export const runbooksSignedApproved = (
  seen: Pick<TenantRecords<SeenEventRecord>, 'list' | 'replace'>,
  trails: Pick<WormStore, 'get'>,
): ControlTest => ({
  id: 'platform.runbooks-signed-approved',
  run: async ({ now }) => {
    const since = new Date(now.getTime() - (STALE_AFTER_HOURS + 1) * 3_600_000).toISOString();
    const events = async (type: string) => {
      const found: SeenEventRecord[] = [];
      let cursor: string | undefined;
      do {
        const page = await seen.list(PLATFORM, { limit: 100, cursor, prefix: `${type}#` });
        found.push(...page.items.filter((record) => record.createdAt >= since));
        cursor = page.nextCursor;
      } while (cursor !== undefined);
      return found;
    };
    const executed = (await events('runbook_executed'))
      .filter((record) => RAN.has(String(record.detail.status)))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const refused = await events('unsigned_runbook');
    const checked = [];
    for (const record of executed.slice(0, MAX_EXECUTIONS)) {
      const tenantId = record.sourceTenant ?? '';
      const executionId = String(record.detail.executionId ?? '');
      const identity = {
        tenantId,
        executionId,
        runbookId: String(record.detail.runbookId ?? ''),
        status: String(record.detail.status),
      };
      if (record.trailVerified) {
        checked.push({
          ...identity,
          entries: record.trailVerified.entries,
          problems: [],
          verifiedAt: record.trailVerified.at,
        });
        continue;
      }
      const kinds: string[] = [];
      let chained = true;
      let previous: string | undefined;
      for (let seq = 0; seq < MAX_TRAIL_READ; seq += 1) {
        const text = await trails.get(trailKey(tenantId, executionId, seq));
        if (text === undefined) break;
        const entry = JSON.parse(text) as { kind?: string; hash?: string; prevHash?: string };
        kinds.push(String(entry.kind));
        if (previous !== undefined && entry.prevHash !== previous) chained = false;
        previous = entry.hash;
      }
      const firstStep = kinds.indexOf('step_started');
      const before = firstStep === -1 ? kinds : kinds.slice(0, firstStep);
      const problems = [
        ...(kinds.length === 0 ? ['no trail in the evidence store'] : []),
        ...(kinds.length > 0 && !before.includes('verified')
          ? ['no verified signature before its steps']
          : []),
        ...(kinds.length > 0 && !before.includes('approved') ? ['no approval before its steps'] : []),
        ...(chained ? [] : ['a broken hash chain']),
      ];
      checked.push({ ...identity, entries: kinds.length, problems });
      if (problems.length === 0) {
        const trailVerified = { entries: kinds.length, at: now.toISOString() };
        // Another run may have marked it first (each runbook_executed runs the control): either is right.
        await seen
          .replace(
            { ...record, trailVerified, version: record.version + 1, updatedAt: now.toISOString() },
            record.version,
          )
          .catch((error: unknown) => {
            if (!(error instanceof ConflictError)) throw error;
          });
      }
    }
    const failing = checked.filter((execution) => execution.problems.length > 0);
    const unchecked = Math.max(0, executed.length - MAX_EXECUTIONS);
    const observations = {
      since,
      executions: checked,
      notChecked: unchecked,
      refusedUnsigned: refused.map((record) => ({ tenantId: record.sourceTenant, ...record.detail })),
    };
    if (failing.length > 0) {
      return {
        status: 'fail',
        summary: `runbooks: ${failing.length} of ${checked.length} executions since ${since} ran without ${failing
          .map((f) => `${f.executionId} (${f.problems.join(', ')})`)
          .join('; ')}`,
        observations,
      };
    }
    return {
      status: 'pass',
      summary:
        checked.length === 0
          ? `runbooks: no execution ran steps since ${since}; ${refused.length} unsigned runbooks refused`
          : `runbooks: all ${checked.length} executions since ${since} were verified and approved before their steps${unchecked > 0 ? ` (${unchecked} older not checked)` : ''}; ${refused.length} unsigned runbooks refused`,
      observations,
    };
  },
});
