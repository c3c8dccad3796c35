import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sha256Hex } from '#shared/ports/canonical-json.js';
import { InMemoryTenantRecords, InMemoryWormStore } from '#shared/testing/fakes.js';
import {
  PROCESSING_REGISTER_FILE,
  processingRegisterOf,
  renderProcessingRegister,
} from '../../../../scripts/processing-register.js';
import { PILLARS } from '../../../catalog.js';
import { PLATFORM } from '../../src/domain/assess.js';
import type { DsrRecord } from '../../src/domain/dsr.js';
import { dsrLog, processingRecords } from '../../src/domain/gdpr-checks.js';
import { personalDataRegister } from '../../src/wiring.js';

const now = new Date('2026-12-07T12:00:00Z');
const hash = (c: string) => `hmac-sha256:${c.repeat(64)}`;

const request = (id: string, fields: Partial<DsrRecord> = {}): DsrRecord => ({
  tenantId: PLATFORM,
  id,
  version: 2,
  createdAt: '2026-12-07T10:00:00.000Z',
  updatedAt: '2026-12-07T10:00:01.000Z',
  type: 'delete',
  subjectHash: hash('a'),
  tenantIds: ['acme', PLATFORM],
  status: 'completed',
  requestedBy: 'admin',
  requestedAt: '2026-12-07T10:00:00.000Z',
  outcome: [],
  retained: [],
  ...fields,
});

const logged = async (evidence: InMemoryWormStore, record: DsrRecord, entry: Record<string, unknown>) => {
  const key = `compliance/dsr/2026-12-07/${record.id}.json`;
  const text = JSON.stringify(entry);
  await evidence.putOnce(key, text);
  return { ...record, evidenceKey: key, evidenceSha256: sha256Hex(text) };
};

const HASHED_EVIDENCE = [
  {
    pillar: 'authorize',
    prefix: 'decisions/',
    subjectFields: ['input.principal.subject'],
    storedAs: 'keyed-hash',
  },
] as const;

describe('platform.dsr-log', () => {
  it('fails while evidence of the catalog holds people’s ids in clear, naming it', async () => {
    const outcome = await dsrLog(new InMemoryTenantRecords('DSR'), new InMemoryWormStore(), [
      ...HASHED_EVIDENCE,
      { pillar: 'runbooks', prefix: 'runbooks/', subjectFields: ['actor'], storedAs: 'clear' },
    ]).run({ now });
    expect(outcome.status).toBe('fail');
    expect((outcome.observations as { problems: string[] }).problems).toEqual([
      "evidence runbooks/ (runbooks) holds people's ids in clear (actor), not as keyed hashes",
    ]);
  });

  it('passes with no request, saying so', async () => {
    const outcome = await dsrLog(
      new InMemoryTenantRecords('DSR'),
      new InMemoryWormStore(),
      HASHED_EVIDENCE,
    ).run({ now });
    expect(outcome).toMatchObject({ status: 'pass', summary: 'data subject requests: none received yet' });
  });

  it('passes a logged request, and fails one whose entry was altered, is missing or names its handler', async () => {
    const log = new InMemoryTenantRecords<DsrRecord>('DSR');
    const evidence = new InMemoryWormStore();
    const good = await logged(evidence, request('dsr_1'), { subjectHash: hash('a'), requestedBy: hash('b') });
    await log.create(good);
    expect(await dsrLog(log, evidence, HASHED_EVIDENCE).run({ now })).toMatchObject({ status: 'pass' });

    const clear = await logged(evidence, request('dsr_2'), { subjectHash: hash('a'), requestedBy: 'admin' });
    await log.create(clear);
    await log.create({
      ...request('dsr_3'),
      evidenceKey: 'compliance/dsr/2026-12-07/dsr_3.json',
      evidenceSha256: 'x',
    });
    const altered = await logged(evidence, request('dsr_4'), {
      subjectHash: hash('a'),
      requestedBy: hash('b'),
    });
    await log.create({ ...altered, evidenceSha256: sha256Hex('something else') });
    const outcome = await dsrLog(log, evidence, HASHED_EVIDENCE).run({ now });
    expect(outcome.status).toBe('fail');
    expect((outcome.observations as { problems: string[] }).problems).toEqual([
      'dsr_2: the log entry names its handler in clear',
      'dsr_3: no log entry in the evidence store',
      'dsr_4: the log entry differs from the one recorded',
    ]);
  });

  it('fails a stalled or failed request until a later one for the same person completes', async () => {
    const log = new InMemoryTenantRecords<DsrRecord>('DSR');
    const evidence = new InMemoryWormStore();
    await log.create(request('dsr_1', { status: 'failed', error: 'changed meanwhile' }));
    await log.create(request('dsr_2', { status: 'running', requestedAt: '2026-12-07T11:00:00.000Z' }));
    const first = await dsrLog(log, evidence, HASHED_EVIDENCE).run({ now });
    expect((first.observations as { problems: string[] }).problems).toEqual([
      'dsr_1: failed (changed meanwhile) and not run again',
      'dsr_2: still running since 2026-12-07T11:00:00.000Z',
    ]);
    // A running request of a minute ago is not stalled; the retry answers the failed one.
    await log.delete(PLATFORM, 'dsr_2');
    await log.create(request('dsr_2', { status: 'running', requestedAt: '2026-12-07T11:59:00.000Z' }));
    const retry = await logged(evidence, request('dsr_3', { requestedAt: '2026-12-07T11:30:00.000Z' }), {
      subjectHash: hash('a'),
      requestedBy: hash('b'),
    });
    await log.create(retry);
    expect(await dsrLog(log, evidence, HASHED_EVIDENCE).run({ now })).toMatchObject({ status: 'pass' });
  });
});

describe('platform.processing-records', () => {
  it('bundles the register the catalog declares (run `npm run openapi` after changing a manifest)', () => {
    expect(readFileSync(PROCESSING_REGISTER_FILE, 'utf8')).toBe(renderProcessingRegister());
  });

  it('passes on the catalog: every table declares its personal data, with purpose and retention', async () => {
    const env = Object.fromEntries(
      PILLARS.flatMap((p) => p.tables ?? []).map((t) => [t.envVar, `local-${t.id}`]),
    );
    const { processing, retained } = personalDataRegister(processingRegisterOf(PILLARS), env);
    const outcome = await processingRecords(processing, retained).run({ now });
    expect(outcome.status, outcome.summary).toBe('pass');
    const tables = (outcome.observations as { tables: { table: string }[] }).tables.map((t) => t.table);
    expect(tables).toEqual(PILLARS.flatMap((p) => p.tables ?? []).map((t) => t.id));
    expect(retained.map((r) => r.where)).toEqual(['evidence:decisions/', 'evidence:runbooks/']);
  });

  it('fails naming a table that never says whether it holds personal data', async () => {
    const outcome = await processingRecords(
      [
        { pillar: 'ledger', table: 'ledger', description: 'entries', personalData: undefined },
        { pillar: 'ops', table: 'ops', description: 'discards', personalData: [] },
      ],
      [],
    ).run({ now });
    expect(outcome).toMatchObject({
      status: 'fail',
      summary: 'records of processing: table ledger (ledger) does not say whether it holds personal data',
    });
  });

  it('refuses to start without the name of a table it must search', () => {
    expect(() => personalDataRegister(processingRegisterOf(PILLARS), {})).toThrow(
      /Invalid environment: ROUTER_TABLE_NAME: required/,
    );
  });
});
