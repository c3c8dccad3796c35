import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { ConflictError, NotFoundError } from '#shared/errors.js';
import { InMemoryTenantRecords, InMemoryWormStore } from '#shared/testing/fakes.js';
import { PLATFORM } from '../../src/domain/assess.js';
import {
  DataSubjectRequests,
  type DsrRecord,
  OTHER_PERSON,
  type PersonalDataEntry,
  type PersonalRecords,
  redactionMarker,
  rewriteAt,
  type StoredItem,
  valuesAt,
} from '../../src/domain/dsr.js';

/** The pillars' tables in memory: items by table, then `pk|sk`; writes conditional on the version read. */
class MemoryPersonalRecords implements PersonalRecords {
  readonly tables = new Map<string, Map<string, StoredItem>>();
  readonly reads: string[] = [];
  /** Makes the next write of this sk fail as if the item changed meanwhile. */
  changeBeforeWrite: string | undefined;

  put(
    table: string,
    tenantId: string,
    entity: string,
    sk: string,
    attributes: Record<string, unknown>,
  ): void {
    const items = this.tables.get(table) ?? new Map<string, StoredItem>();
    this.tables.set(table, items);
    const pk = partitionKey(tenantId, entity);
    items.set(`${pk}|${sk}`, { pk, sk, ...attributes });
  }

  item(table: string, tenantId: string, entity: string, sk: string): StoredItem | undefined {
    return this.tables.get(table)?.get(`${partitionKey(tenantId, entity)}|${sk}`);
  }

  async page(table: string, tenantId: string, entity: string, cursor?: string) {
    this.reads.push(`${table}/${tenantId}/${entity}`);
    const pk = partitionKey(tenantId, entity);
    const all = [...(this.tables.get(table)?.values() ?? [])].filter((item) => item.pk === pk);
    const start = cursor === undefined ? 0 : Number(cursor);
    const items = all.slice(start, start + 2);
    return { items, ...(start + 2 < all.length ? { cursor: String(start + 2) } : {}) };
  }

  #check(table: string, item: StoredItem): void {
    const stored = this.tables.get(table)?.get(`${item.pk}|${item.sk}`);
    if (!stored || stored.version !== item.version || this.changeBeforeWrite === item.sk) {
      this.changeBeforeWrite = undefined;
      throw new ConflictError('changed meanwhile', 'changed_meanwhile');
    }
  }

  async delete(table: string, item: StoredItem): Promise<void> {
    this.#check(table, item);
    this.tables.get(table)?.delete(`${item.pk}|${item.sk}`);
  }

  async replace(table: string, before: StoredItem, after: StoredItem): Promise<void> {
    this.#check(table, before);
    this.tables.get(table)?.set(`${after.pk}|${after.sk}`, after);
  }
}

const hashOf = (subject: string) =>
  `hmac-sha256:${createHash('sha256').update(`key:${subject}`).digest('hex')}`;
const hasher = { hash: async (subject: string) => hashOf(subject) };

const entry = (
  table: string,
  entity: string,
  subjectFields: string[],
  onErasure: PersonalDataEntry['onErasure'],
  extra: Partial<PersonalDataEntry> = {},
): PersonalDataEntry => ({
  pillar: table,
  table,
  entity,
  subjectFields,
  purpose: `${entity} purpose`,
  retention: 'kept',
  onErasure,
  ...(onErasure === 'keep' ? { keepReason: 'audit' } : {}),
  ...extra,
});

const REGISTER: PersonalDataEntry[] = [
  entry('eval', 'EVAL_RUN', ['requestedBy'], 'delete'),
  entry('runbooks', 'RUNBOOK_EXECUTION', ['requestedBy', 'stages[].decisions[].actor'], 'redact'),
  entry('runbooks', 'TRAIL', ['actor'], 'keep'),
  entry('compliance', 'FINDING', ['history[].by'], 'redact'),
  entry('policy', 'DECISION', ['input.principal.subject'], 'keep', { notSearched: 'compressed' }),
];

const setup = () => {
  const records = new MemoryPersonalRecords();
  const log = new InMemoryTenantRecords<DsrRecord>();
  const evidence = new InMemoryWormStore();
  let ticks = 0;
  let ids = 0;
  const dsr = new DataSubjectRequests({
    register: REGISTER,
    retained: [
      {
        pillar: 'authorize',
        where: 'evidence:decisions/',
        purpose: 'audit',
        retention: '13 months',
        reason: 'WORM',
      },
    ],
    records,
    hasher,
    log,
    evidence,
    clock: { now: () => new Date(Date.UTC(2026, 11, 7, 12, 0, ticks++)) },
    ids: { next: (prefix?: string) => `${prefix ?? 'id'}${++ids}` },
  });
  // Jane and Bob in tenant acme; Jane in tenant globex too; a finding Jane moved (platform).
  records.put('eval', 'acme', 'EVAL_RUN', 'run-1', { requestedBy: 'jane', version: 1 });
  records.put('eval', 'acme', 'EVAL_RUN', 'run-2', { requestedBy: 'bob', version: 1 });
  records.put('eval', 'acme', 'EVAL_RUN', 'run-3', { requestedBy: 'jane', version: 1 });
  records.put('runbooks', 'acme', 'RUNBOOK_EXECUTION', 'rbx-1', {
    requestedBy: 'bob',
    version: 4,
    stages: [
      { decisions: [{ actor: 'jane', decision: 'approve' }] },
      { decisions: [{ actor: 'carol', decision: 'approve' }] },
    ],
  });
  records.put('runbooks', 'acme', 'TRAIL', 'rbx-1#000001', { actor: 'jane', version: 1 });
  // A trail entry mirrored to WORM names Jane by her keyed hash: found too.
  records.put('runbooks', 'acme', 'TRAIL', 'rbx-1#000002', { actor: hashOf('jane'), version: 1 });
  records.put('eval', 'globex', 'EVAL_RUN', 'run-9', { requestedBy: 'jane', version: 1 });
  records.put('compliance', PLATFORM, 'FINDING', 'fnd-1', {
    version: 2,
    history: [
      { by: 'conductor', to: 'open' },
      { by: 'jane', to: 'risk_accepted' },
    ],
  });
  return { records, log, evidence, dsr };
};

describe('data subject requests', () => {
  it('access returns the person’s records of the named tenants and the platform, masking other people', async () => {
    const { dsr, records } = setup();
    const { dsr: record, records: found } = await dsr.run({
      type: 'access',
      subject: 'jane',
      tenantIds: ['acme'],
      requestedBy: 'admin-1',
    });
    expect(record.status).toBe('completed');
    expect(record.tenantIds).toEqual(['acme', PLATFORM]);
    expect(found?.map((r) => `${r.tenantId}/${r.entity}/${r.key}`).sort()).toEqual([
      'acme/EVAL_RUN/run-1',
      'acme/EVAL_RUN/run-3',
      'acme/RUNBOOK_EXECUTION/rbx-1',
      'acme/TRAIL/rbx-1#000001',
      'acme/TRAIL/rbx-1#000002',
      `${PLATFORM}/FINDING/fnd-1`,
    ]);
    const execution = found?.find((r) => r.key === 'rbx-1')?.record;
    // Bob asked for it and Carol approved a stage: neither is Jane's to see.
    expect(execution).toMatchObject({
      requestedBy: OTHER_PERSON,
      stages: [{ decisions: [{ actor: 'jane' }] }, { decisions: [{ actor: OTHER_PERSON }] }],
    });
    expect(found?.find((r) => r.key === 'fnd-1')?.record).toMatchObject({
      history: [{ by: OTHER_PERSON }, { by: 'jane' }],
    });
    expect(record.outcome.map((o) => [o.entity, o.records])).toEqual([
      ['EVAL_RUN', 2],
      ['RUNBOOK_EXECUTION', 1],
      ['TRAIL', 2],
      ['FINDING', 1],
    ]);
    // Nothing erased by an access; the compressed decision log is never read, and is reported.
    expect(records.item('eval', 'acme', 'EVAL_RUN', 'run-1')).toMatchObject({ requestedBy: 'jane' });
    expect(records.reads.some((read) => read.includes('DECISION'))).toBe(false);
    expect(records.reads.some((read) => read.includes('globex'))).toBe(false);
    expect(record.retained.map((r) => r.where)).toEqual(['table:policy/DECISION', 'evidence:decisions/']);
  });

  it('delete erases by each entity’s rule and leaves other people’s values and other tenants alone', async () => {
    const { dsr, records } = setup();
    const { dsr: record, records: found } = await dsr.run({
      type: 'delete',
      subject: 'jane',
      tenantIds: ['acme'],
      requestedBy: 'admin-1',
    });
    expect(found).toBeUndefined();
    const marker = redactionMarker(record.id);
    expect(records.item('eval', 'acme', 'EVAL_RUN', 'run-1')).toBeUndefined();
    expect(records.item('eval', 'acme', 'EVAL_RUN', 'run-3')).toBeUndefined();
    expect(records.item('eval', 'acme', 'EVAL_RUN', 'run-2')).toMatchObject({ requestedBy: 'bob' });
    expect(records.item('eval', 'globex', 'EVAL_RUN', 'run-9')).toMatchObject({ requestedBy: 'jane' });
    expect(records.item('runbooks', 'acme', 'RUNBOOK_EXECUTION', 'rbx-1')).toMatchObject({
      requestedBy: 'bob',
      version: 5,
      stages: [{ decisions: [{ actor: marker, decision: 'approve' }] }, { decisions: [{ actor: 'carol' }] }],
    });
    expect(records.item('runbooks', 'acme', 'TRAIL', 'rbx-1#000001')).toMatchObject({ actor: 'jane' });
    expect(records.item('compliance', PLATFORM, 'FINDING', 'fnd-1')).toMatchObject({
      history: [{ by: 'conductor' }, { by: marker }],
    });
    expect(record.outcome.map((o) => [o.entity, o.deleted, o.redacted, o.kept])).toEqual([
      ['EVAL_RUN', 2, 0, 0],
      ['RUNBOOK_EXECUTION', 0, 1, 0],
      ['TRAIL', 0, 0, 2],
      ['FINDING', 0, 1, 0],
    ]);
    // Run again: only what is kept by rule is found again.
    const again = await dsr.run({
      type: 'delete',
      subject: 'jane',
      tenantIds: ['acme'],
      requestedBy: 'admin-1',
    });
    expect(again.dsr.outcome.map((o) => [o.entity, o.records])).toEqual([['TRAIL', 2]]);
  });

  it('logs the request to WORM and the table with no person’s id in clear, the entry’s hash on the record', async () => {
    const { dsr, log, evidence } = setup();
    const { dsr: record } = await dsr.run({
      type: 'export',
      subject: 'jane',
      tenantIds: ['acme'],
      requestedBy: 'admin-1',
    });
    const stored = await log.get(PLATFORM, record.id);
    expect(stored).toEqual(record);
    expect(JSON.stringify(stored)).not.toContain('jane');
    expect(record.subjectHash).toBe(await hasher.hash('jane'));
    expect(record.evidenceKey).toBe(`compliance/dsr/2026-12-07/${record.id}.json`);
    const text = await evidence.get(record.evidenceKey ?? '');
    expect(text).toBeDefined();
    expect(text).not.toContain('jane');
    expect(text).not.toContain('admin-1');
    expect(JSON.parse(text ?? '{}')).toMatchObject({
      requestedBy: await hasher.hash('admin-1'),
      status: 'completed',
    });
    expect(
      createHash('sha256')
        .update(text ?? '')
        .digest('hex'),
    ).toBe(record.evidenceSha256);
    await expect(dsr.get(record.id)).resolves.toEqual(record);
    await expect(dsr.get('dsr_missing')).rejects.toBeInstanceOf(NotFoundError);
    expect((await dsr.list({ limit: 10 })).items.map((r) => r.id)).toEqual([record.id]);
  });

  it('records a request that fails half way as failed, and a second run finishes the erasure', async () => {
    const { dsr, records, log } = setup();
    records.changeBeforeWrite = 'rbx-1';
    await expect(
      dsr.run({ type: 'delete', subject: 'jane', tenantIds: ['acme'], requestedBy: 'admin-1' }),
    ).rejects.toBeInstanceOf(ConflictError);
    const [failed] = (await log.list(PLATFORM, { limit: 10 })).items;
    expect(failed).toMatchObject({ status: 'failed', error: 'changed meanwhile' });
    expect(failed?.evidenceKey).toBeUndefined();
    // The runs it deleted before the conflict stay deleted; the retry redacts the rest.
    expect(records.item('eval', 'acme', 'EVAL_RUN', 'run-1')).toBeUndefined();
    const retry = await dsr.run({
      type: 'delete',
      subject: 'jane',
      tenantIds: ['acme'],
      requestedBy: 'admin-1',
    });
    expect(retry.dsr.status).toBe('completed');
    expect(records.item('runbooks', 'acme', 'RUNBOOK_EXECUTION', 'rbx-1')).toMatchObject({
      stages: [{ decisions: [{ actor: redactionMarker(retry.dsr.id) }] }, {}],
    });
  });

  it('refuses a blank subject before anything is recorded', async () => {
    const { dsr, log } = setup();
    await expect(
      dsr.run({ type: 'access', subject: '  ', tenantIds: ['acme'], requestedBy: 'a' }),
    ).rejects.toThrow(/blank/);
    expect((await log.list(PLATFORM, { limit: 10 })).items).toEqual([]);
  });
});

describe('attribute paths', () => {
  it('reads nested fields and every element of arrays, ignoring what is not there', () => {
    const record = { a: { b: 'x' }, list: [{ by: 'p' }, { by: 'q' }, { other: 1 }], n: 3 };
    expect(valuesAt(record, 'a.b')).toEqual(['x']);
    expect(valuesAt(record, 'list[].by')).toEqual(['p', 'q']);
    expect(valuesAt(record, 'n.x')).toEqual([]);
    expect(valuesAt(record, 'missing[].by')).toEqual([]);
    expect(valuesAt({ constructor: 'c' }, 'toString')).toEqual([]);
  });

  const person = fc.constantFrom('jane', 'bob', 'carol');
  const recordArb = fc.record({
    requestedBy: person,
    stages: fc.array(fc.record({ decisions: fc.array(fc.record({ actor: person, note: fc.string() })) })),
  });
  const paths = ['requestedBy', 'stages[].decisions[].actor'];

  it('after a redaction no path holds the person, and everyone else’s values are as they were', () => {
    fc.assert(
      fc.property(recordArb, (record) => {
        const after = rewriteAt(record, paths, (value) => (value === 'jane' ? '[erased]' : value));
        for (const path of paths) {
          const before = valuesAt(record, path);
          const now = valuesAt(after, path);
          expect(now).not.toContain('jane');
          expect(now.length).toBe(before.length);
          before.forEach((value, i) => {
            expect(now[i]).toBe(value === 'jane' ? '[erased]' : value);
          });
        }
        // Identity rewrites change nothing.
        expect(rewriteAt(record, paths, (value) => value)).toEqual(record);
      }),
    );
  });
});
