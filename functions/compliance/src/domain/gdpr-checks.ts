import { sha256Hex } from '#shared/ports/canonical-json.js';
import type { TenantRecords } from '#shared/ports/records.js';
import type { WormStore } from '#shared/ports/worm.js';
import { type ControlTest, PLATFORM } from './assess.js';
import { DSR_STALLED_AFTER_MS, type DsrRecord, type PersonalDataEntry, type RetainedData } from './dsr.js';

/** Requests read per run at most (the newest are named when more exist). */
const MAX_REQUESTS = 1000;
const HASHED = /^hmac-sha256:[0-9a-f]{64}$/;

/**
 * `platform.dsr-log`: every data subject request is logged as evidence and none is left unanswered,
 * and the catalog's WORM evidence names people only by their keyed hash (what cannot be erased must
 * not identify anyone without the key).
 * Each completed request's WORM log entry exists, is byte for byte the entry its record names
 * (SHA-256), and holds the subject and the handler only as keyed hashes; no request is still
 * running after DSR_STALLED_AFTER_MS; a failed request counts as answered only once a later request
 * of the same type for the same person completed. No request yet is a pass, said so.
 */
export const dsrLog = (
  log: Pick<TenantRecords<DsrRecord>, 'list'>,
  evidence: Pick<WormStore, 'get'>,
  /** The WORM evidence of the catalog that names people: each must hold them as keyed hashes. */
  personalEvidence: readonly {
    readonly pillar: string;
    readonly prefix: string;
    readonly subjectFields: readonly string[];
    readonly storedAs: 'keyed-hash' | 'clear';
  }[],
): ControlTest => ({
  id: 'platform.dsr-log',
  run: async ({ now }) => {
    const requests: DsrRecord[] = [];
    let cursor: string | undefined;
    do {
      const page = await log.list(PLATFORM, { limit: 100, cursor });
      requests.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor !== undefined && requests.length < MAX_REQUESTS);
    const problems: string[] = [];
    // Evidence cannot be erased: a person may stand in it only as a keyed hash.
    for (const spec of personalEvidence.filter((entry) => entry.storedAs !== 'keyed-hash')) {
      problems.push(
        `evidence ${spec.prefix} (${spec.pillar}) holds people's ids in clear (${spec.subjectFields.join(', ')}), not as keyed hashes`,
      );
    }
    for (const request of requests) {
      if (!HASHED.test(request.subjectHash))
        problems.push(`${request.id}: the subject is not stored as a keyed hash`);
      if (request.status === 'running') {
        if (now.getTime() - Date.parse(request.requestedAt) > DSR_STALLED_AFTER_MS)
          problems.push(`${request.id}: still running since ${request.requestedAt}`);
        continue;
      }
      if (request.status === 'failed') {
        const answered = requests.some(
          (later) =>
            later.status === 'completed' &&
            later.type === request.type &&
            later.subjectHash === request.subjectHash &&
            later.requestedAt > request.requestedAt,
        );
        if (!answered)
          problems.push(`${request.id}: failed (${request.error ?? 'no reason'}) and not run again`);
        continue;
      }
      const text = request.evidenceKey === undefined ? undefined : await evidence.get(request.evidenceKey);
      if (text === undefined) {
        problems.push(`${request.id}: no log entry in the evidence store`);
        continue;
      }
      if (sha256Hex(text) !== request.evidenceSha256)
        problems.push(`${request.id}: the log entry differs from the one recorded`);
      let entry: { subjectHash?: unknown; requestedBy?: unknown } = {};
      try {
        entry = JSON.parse(text) as typeof entry;
      } catch {
        problems.push(`${request.id}: the log entry is not JSON`);
        continue;
      }
      if (typeof entry.subjectHash !== 'string' || !HASHED.test(entry.subjectHash))
        problems.push(`${request.id}: the log entry’s subject is not a keyed hash`);
      if (typeof entry.requestedBy !== 'string' || !HASHED.test(entry.requestedBy))
        problems.push(`${request.id}: the log entry names its handler in clear`);
    }
    const counts = { access: 0, export: 0, delete: 0 };
    for (const request of requests) if (request.status === 'completed') counts[request.type] += 1;
    const observations = {
      requests: requests.length,
      completed: counts,
      notChecked: cursor === undefined ? 0 : 'more than the newest 1000',
      problems,
    };
    if (problems.length > 0) {
      return {
        status: 'fail',
        summary: `data subject requests: ${problems.length} problem(s): ${problems.slice(0, 5).join('; ')}`,
        observations,
      };
    }
    return {
      status: 'pass',
      summary:
        requests.length === 0
          ? 'data subject requests: none received yet'
          : `data subject requests: all ${requests.length} answered and logged (access ${counts.access}, export ${counts.export}, delete ${counts.delete}), no person’s id in clear`,
      observations,
    };
  },
});

/** A table of the catalog as the record of processing sees it. */
export interface ProcessingTable {
  readonly pillar: string;
  readonly table: string;
  readonly description: string;
  /** Undefined: the pillar never said whether its records name people. */
  readonly personalData: readonly PersonalDataEntry[] | undefined;
}

/**
 * `platform.processing-records` (GDPR Art. 30): every table of the deployment says whether its
 * records name people, and each that does says which, why and for how long, and what an erasure
 * does. The record itself (tables, entities, purposes, retention, erasure rules, the WORM evidence
 * that names people) is the evidence. Fails naming each table that declares nothing.
 */
export const processingRecords = (
  tables: readonly ProcessingTable[],
  retained: readonly RetainedData[],
): ControlTest => ({
  id: 'platform.processing-records',
  run: async () => {
    const undeclared = tables.filter((table) => table.personalData === undefined);
    const incomplete = tables.flatMap((table) =>
      (table.personalData ?? [])
        .filter((entry) => entry.purpose.trim() === '' || entry.retention.trim() === '')
        .map((entry) => `${table.table}/${entry.entity}`),
    );
    const observations = {
      tables: tables.map((table) => ({
        pillar: table.pillar,
        table: table.table,
        description: table.description,
        personalData:
          table.personalData === undefined
            ? 'undeclared'
            : table.personalData.map(
                ({ entity, subjectFields, purpose, retention, onErasure, keepReason }) => ({
                  entity,
                  subjectFields,
                  purpose,
                  retention,
                  onErasure,
                  ...(keepReason === undefined ? {} : { keepReason }),
                }),
              ),
      })),
      evidence: retained,
    };
    if (undeclared.length > 0 || incomplete.length > 0) {
      return {
        status: 'fail',
        summary: `records of processing: ${[
          ...undeclared.map(
            (table) => `table ${table.table} (${table.pillar}) does not say whether it holds personal data`,
          ),
          ...incomplete.map((where) => `${where} has no purpose or retention`),
        ].join('; ')}`,
        observations,
      };
    }
    const personal = tables.filter((table) => (table.personalData ?? []).length > 0);
    return {
      status: 'pass',
      summary: `records of processing: ${tables.length} tables declared, ${personal.length} hold personal data in ${personal.reduce((n, table) => n + (table.personalData ?? []).length, 0)} record types; ${retained.length} evidence folders name people`,
      observations,
    };
  },
});
