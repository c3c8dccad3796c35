import { NotFoundError, ValidationError } from '#shared/errors.js';
import { sha256Hex } from '#shared/ports/canonical-json.js';
import type { Page, TenantRecord, TenantRecords } from '#shared/ports/records.js';
import type { SubjectHasher } from '#shared/ports/subject-hash.js';
import type { Clock, IdGenerator } from '#shared/ports/system.js';
import type { WormStore } from '#shared/ports/worm.js';
import { PLATFORM } from './assess.js';

/**
 * Data subject requests (GDPR Art. 15-20): find every record that names a person across the
 * pillars' tables, as the pillars declare them (their manifests' `personalData`: entity, the fields
 * holding a person's id, purpose, retention, and what an erasure does), and answer, export or erase
 * them. Only the tenants' partitions of the declared entities are read (a Query each, no Scan).
 *
 * Nothing here keeps the person's id in clear: the request's record and its WORM log entry hold a
 * keyed hash of it (`SubjectHasher`: KMS HMAC on AWS, a local key on the embedded runtime), so the
 * log is evidence for the GDPR controls without being personal data itself.
 */

export type DsrType = 'access' | 'export' | 'delete';
export type ErasureRule = 'delete' | 'redact' | 'keep';

/** One entity of a pillar's table whose records name a person (the catalog's register). */
export interface PersonalDataEntry {
  readonly pillar: string;
  /** The table's id in the catalog (`router`, `policy`, ...). */
  readonly table: string;
  /** The entity as stored: the records of a tenant are the partition `T#<tenant>#<entity>`. */
  readonly entity: string;
  /** Attribute paths that hold a person's id: `requestedBy`, `principal.subject`, `history[].by`. */
  readonly subjectFields: readonly string[];
  readonly purpose: string;
  readonly retention: string;
  readonly onErasure: ErasureRule;
  readonly keepReason?: string | undefined;
  /** Not read by a request (compressed records, an id in the key only): reported as retained. */
  readonly notSearched?: string | undefined;
}

/**
 * Where a person's id may remain that a request does not search: WORM evidence (Object Lock keeps
 * it unchanged until its retention ends) and the entities declared `notSearched`.
 */
export interface RetainedData {
  readonly pillar: string;
  /** `evidence:decisions/`, `table:policy/DECISION`. */
  readonly where: string;
  readonly purpose: string;
  readonly retention: string;
  readonly reason: string;
}

/** A stored item as the table returns it: its keys (`pk`, `sk`) and attributes. */
export type StoredItem = Readonly<Record<string, unknown>> & { readonly pk: string; readonly sk: string };

/** The pillars' tables, as far as a DSR needs them: read a partition, delete or rewrite one item. */
export interface PersonalRecords {
  /** One page of the partition `T#<tenant>#<entity>` of the table with this id. */
  page(
    table: string,
    tenantId: string,
    entity: string,
    cursor?: string,
  ): Promise<{ readonly items: readonly StoredItem[]; readonly cursor?: string | undefined }>;
  /** Deletes the item if it is unchanged since read (same `version`, when it has one). */
  delete(table: string, item: StoredItem): Promise<void>;
  /** Replaces the item if it is unchanged since read (same `version`, when it has one). */
  replace(table: string, before: StoredItem, after: StoredItem): Promise<void>;
}

export type { SubjectHasher };

/** What a DSR found and did in one entity. */
export interface DsrEntityOutcome {
  readonly pillar: string;
  readonly table: string;
  readonly entity: string;
  readonly purpose: string;
  readonly retention: string;
  readonly onErasure: ErasureRule;
  readonly keepReason?: string | undefined;
  /** Records that name the person. */
  readonly records: number;
  readonly deleted: number;
  readonly redacted: number;
  readonly kept: number;
}

/** The request's record (compliance table, platform partition) and its WORM log entry: no id in clear. */
export interface DsrRecord extends TenantRecord {
  readonly type: DsrType;
  readonly subjectHash: string;
  readonly tenantIds: readonly string[];
  readonly status: 'running' | 'completed' | 'failed';
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly completedAt?: string;
  readonly error?: string;
  readonly outcome: readonly DsrEntityOutcome[];
  readonly retained: readonly RetainedData[];
  /** The WORM log entry (`compliance/dsr/<day>/<id>.json`), once completed. */
  readonly evidenceKey?: string;
  /** SHA-256 of the log entry's text, so the record and the entry can be checked against each other. */
  readonly evidenceSha256?: string;
}

/** One record of the person, as access and export return it. */
export interface FoundRecord {
  readonly pillar: string;
  readonly table: string;
  readonly entity: string;
  readonly tenantId: string;
  readonly key: string;
  readonly record: Readonly<Record<string, unknown>>;
}

export interface DsrResult {
  readonly dsr: DsrRecord;
  /** access and export: the person's records (other people's ids in them masked). */
  readonly records?: readonly FoundRecord[];
}

/** What replaces a person's id in a redacted record: the request that erased it, nothing of the person. */
export const redactionMarker = (dsrId: string): string => `[erased by ${dsrId}]`;
/** What replaces another person's id in an exported record (Art. 15(4): others' rights). */
export const OTHER_PERSON = '[another person]';
/** Records read per entity and tenant at most: past it the request fails rather than answer in part. */
export const MAX_RECORDS_PER_PARTITION = 50_000;
/** A running request older than this failed without saying so (the function died): the dsr-log check reports it. */
export const DSR_STALLED_AFTER_MS = 15 * 60_000;

const KEY_ATTRIBUTES = new Set(['pk', 'sk', 'entity']);

/** Every value at `path` (`a.b`, `list[].by`) of a record. */
export const valuesAt = (record: unknown, path: string): unknown[] => {
  let current: unknown[] = [record];
  for (const segment of path.split('.')) {
    const many = segment.endsWith('[]');
    const name = many ? segment.slice(0, -2) : segment;
    const next: unknown[] = [];
    for (const value of current) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) continue;
      if (!Object.hasOwn(value, name)) continue;
      const child = (value as Record<string, unknown>)[name];
      if (many) {
        if (Array.isArray(child)) next.push(...child);
      } else next.push(child);
    }
    current = next;
  }
  return current;
};

/**
 * A copy of `record` where each string value at one of `paths` is replaced by `replace(value)`
 * (or kept, when it returns the value unchanged).
 */
export const rewriteAt = (
  record: Readonly<Record<string, unknown>>,
  paths: readonly string[],
  replace: (value: string) => string,
): Record<string, unknown> => {
  const rewrite = (value: unknown, segments: readonly string[]): unknown => {
    if (segments.length === 0) return typeof value === 'string' ? replace(value) : value;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const [segment = '', ...rest] = segments;
    const many = segment.endsWith('[]');
    const name = many ? segment.slice(0, -2) : segment;
    if (!Object.hasOwn(value, name)) return value;
    const child = (value as Record<string, unknown>)[name];
    const updated = many
      ? Array.isArray(child)
        ? child.map((element) => rewrite(element, rest))
        : child
      : rewrite(child, rest);
    return { ...(value as Record<string, unknown>), [name]: updated };
  };
  let copy: unknown = { ...record };
  for (const path of paths) copy = rewrite(copy, path.split('.'));
  return copy as Record<string, unknown>;
};

/**
 * Whether a declared field holds the person: their id, or their keyed hash (what records mirrored
 * to WORM evidence hold, e.g. the runbook trail's actors).
 */
const namesSubject = (item: StoredItem, entry: PersonalDataEntry, person: Person): boolean =>
  entry.subjectFields.some((path) => valuesAt(item, path).some((value) => isPerson(person, value)));

interface Person {
  readonly subject: string;
  readonly subjectHash: string;
}
const isPerson = (person: Person, value: unknown): boolean =>
  value === person.subject || value === person.subjectHash;

const attributesOf = (item: StoredItem): Record<string, unknown> =>
  Object.fromEntries(Object.entries(item).filter(([name]) => !KEY_ATTRIBUTES.has(name)));

/** `dsr_<compact time>_<id>`: ids sort by time, like assessments'. */
const dsrIdOf = (at: string, ids: IdGenerator): string => `dsr_${at.replace(/[-:.]/g, '')}_${ids.next()}`;

export const dsrEvidenceKey = (record: Pick<DsrRecord, 'id' | 'requestedAt'>): string =>
  `compliance/dsr/${record.requestedAt.slice(0, 10)}/${record.id}.json`;

export interface DataSubjectRequestsDeps {
  readonly register: readonly PersonalDataEntry[];
  readonly retained: readonly RetainedData[];
  readonly records: PersonalRecords;
  readonly hasher: SubjectHasher;
  readonly log: TenantRecords<DsrRecord>;
  readonly evidence: Pick<WormStore, 'putOnce' | 'get'>;
  readonly clock: Clock;
  readonly ids: IdGenerator;
}

export interface DsrRequest {
  readonly type: DsrType;
  readonly subject: string;
  readonly tenantIds: readonly string[];
  readonly requestedBy: string;
}

export class DataSubjectRequests {
  constructor(private readonly deps: DataSubjectRequestsDeps) {}

  /**
   * Runs a request to its end: reads every declared entity of every named tenant, then answers
   * (access, export) or erases by each entity's rule (delete). The request is recorded before
   * anything is read, and its log entry written to WORM once done; a request that fails half way is
   * recorded `failed` (an erasure run again finishes the work: what was erased is not found again).
   */
  async run(request: DsrRequest): Promise<DsrResult> {
    const { deps } = this;
    if (request.subject.trim() === '') throw new ValidationError('subject must not be blank');
    const requestedAt = deps.clock.now().toISOString();
    const base: DsrRecord = {
      tenantId: PLATFORM,
      id: dsrIdOf(requestedAt, deps.ids),
      version: 1,
      createdAt: requestedAt,
      updatedAt: requestedAt,
      type: request.type,
      subjectHash: await deps.hasher.hash(request.subject),
      // The platform's own records (compliance findings, assessments) are searched with the tenants'.
      tenantIds: [...new Set([...request.tenantIds, PLATFORM])].sort(),
      status: 'running',
      requestedBy: request.requestedBy,
      requestedAt,
      outcome: [],
      retained: [
        ...deps.register
          .filter((entry) => entry.notSearched !== undefined)
          .map((entry) => ({
            pillar: entry.pillar,
            where: `table:${entry.table}/${entry.entity}`,
            purpose: entry.purpose,
            retention: entry.retention,
            reason: `${entry.notSearched}; ${entry.keepReason ?? ''}`.replace(/; $/, ''),
          })),
        ...deps.retained,
      ],
    };
    await deps.log.create(base);
    try {
      const { outcome, records } = await this.#work(base, request.subject);
      const completedAt = deps.clock.now().toISOString();
      const key = dsrEvidenceKey(base);
      const entry: Omit<DsrRecord, 'evidenceKey' | 'evidenceSha256'> = {
        ...base,
        status: 'completed',
        completedAt,
        updatedAt: completedAt,
        version: 2,
        outcome,
      };
      // Evidence holds no person's id in clear: the handler's is hashed like the subject's.
      const text = JSON.stringify({ ...entry, requestedBy: await deps.hasher.hash(entry.requestedBy) });
      await deps.evidence.putOnce(key, text, 'application/json');
      const done: DsrRecord = { ...entry, evidenceKey: key, evidenceSha256: sha256Hex(text) };
      await deps.log.replace(done, 1);
      return request.type === 'delete' ? { dsr: done } : { dsr: done, records };
    } catch (error) {
      const failedAt = deps.clock.now().toISOString();
      await deps.log
        .replace(
          {
            ...base,
            status: 'failed',
            updatedAt: failedAt,
            completedAt: failedAt,
            version: 2,
            error: error instanceof Error ? error.message.slice(0, 500) : 'failed',
          },
          1,
        )
        .catch(() => undefined);
      throw error;
    }
  }

  async #work(
    dsr: DsrRecord,
    subject: string,
  ): Promise<{ outcome: DsrEntityOutcome[]; records: FoundRecord[] }> {
    const { register, records } = this.deps;
    const person: Person = { subject, subjectHash: dsr.subjectHash };
    const outcome: DsrEntityOutcome[] = [];
    const found: FoundRecord[] = [];
    for (const entry of register.filter((candidate) => candidate.notSearched === undefined)) {
      let matched = 0;
      let deleted = 0;
      let redacted = 0;
      let kept = 0;
      for (const tenantId of dsr.tenantIds) {
        const items = await this.#partition(entry, tenantId);
        for (const item of items.filter((candidate) => namesSubject(candidate, entry, person))) {
          matched += 1;
          if (dsr.type !== 'delete') {
            const others = rewriteAt(attributesOf(item), entry.subjectFields, (value) =>
              isPerson(person, value) ? value : OTHER_PERSON,
            );
            found.push({
              pillar: entry.pillar,
              table: entry.table,
              entity: entry.entity,
              tenantId,
              key: item.sk,
              record: others,
            });
          } else if (entry.onErasure === 'delete') {
            await records.delete(entry.table, item);
            deleted += 1;
          } else if (entry.onErasure === 'redact') {
            const marker = redactionMarker(dsr.id);
            const rewritten = rewriteAt(item, entry.subjectFields, (value) =>
              isPerson(person, value) ? marker : value,
            );
            // A new version, so a writer holding the old one cannot put the id back.
            const after = (
              typeof item.version === 'number' ? { ...rewritten, version: item.version + 1 } : rewritten
            ) as StoredItem;
            await records.replace(entry.table, item, after);
            redacted += 1;
          } else kept += 1;
        }
      }
      if (matched === 0) continue;
      outcome.push({
        pillar: entry.pillar,
        table: entry.table,
        entity: entry.entity,
        purpose: entry.purpose,
        retention: entry.retention,
        onErasure: entry.onErasure,
        ...(entry.keepReason === undefined ? {} : { keepReason: entry.keepReason }),
        records: matched,
        deleted,
        redacted,
        kept,
      });
    }
    return { outcome, records: found };
  }

  async #partition(entry: PersonalDataEntry, tenantId: string): Promise<StoredItem[]> {
    const items: StoredItem[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.deps.records.page(entry.table, tenantId, entry.entity, cursor);
      items.push(...page.items);
      if (items.length > MAX_RECORDS_PER_PARTITION) {
        throw new Error(
          `${entry.table}/${entry.entity} of ${tenantId} holds more than ${MAX_RECORDS_PER_PARTITION} records: too many for one request`,
        );
      }
      cursor = page.cursor;
    } while (cursor !== undefined);
    return items;
  }

  /** The requests, oldest first (no person's id in them). */
  async list(options: {
    readonly limit: number;
    readonly cursor?: string | undefined;
  }): Promise<Page<DsrRecord>> {
    return this.deps.log.list(PLATFORM, { limit: options.limit, cursor: options.cursor });
  }

  async get(id: string): Promise<DsrRecord> {
    const record = await this.deps.log.get(PLATFORM, id);
    if (!record) throw new NotFoundError(`Data subject request ${id} not found.`);
    return record;
  }
}
