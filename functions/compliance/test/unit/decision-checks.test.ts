import { describe, expect, it } from 'vitest';
import { PolicyEnforcer } from '#shared/policy/enforcer.js';
import type { Principal } from '#shared/ports/identity.js';
import type { DecisionRecord } from '#shared/ports/policy.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryWormStore, testSubjectHasher } from '#shared/testing/fakes.js';
import { DecisionArchiver } from '../../../authorize/src/domain/archive.js';
import {
  ARCHIVE_LAG_MINUTES,
  auditGapsOf,
  BATCH_SPAN_MINUTES,
  decisionArchive,
  decisionsLogged,
  type LoggedDecisions,
  MAX_ARCHIVE_OBJECTS,
  MAX_ARCHIVED_DECISIONS,
  MAX_LOGGED_DECISIONS,
} from '../../src/domain/decision-checks.js';
import { archiveObject } from '../support/decision-archive.js';

const now = new Date('2026-12-07T06:00:00.000Z');
const MINUTE = 60_000;
/** An instant `minutes` before the run. */
const ago = (minutes: number): string => new Date(now.getTime() - minutes * MINUTE).toISOString();

let ids = 0;
const decision = (tenantId: string, at: string, overrides: Partial<DecisionRecord> = {}): DecisionRecord => {
  ids += 1;
  return {
    decisionId: `dec_${ids}`,
    tenantId,
    at,
    traceId: `trace-${ids}`,
    engine: 'cedar',
    policyVersion: 'cedar-2026-12-01',
    input: {
      principal: { subject: 'alice', tenantId, roles: ['member'] },
      action: 'experts:get',
      resource: { tenantId, kind: 'experts', id: 'exp_1' },
      context: { mfa: false, grantedTenants: [] },
    },
    allow: true,
    obligations: [],
    masks: [],
    reasons: ['member-reads'],
    latencyMs: 0.4,
    source: 'route',
    ...overrides,
  };
};

/** The hot log in memory, filtered by time as the DynamoDB reader is; counts what it hands out. */
class InMemoryLog implements LoggedDecisions {
  readonly records: DecisionRecord[] = [];
  handedOut = 0;
  add(...records: DecisionRecord[]): this {
    this.records.push(...records);
    return this;
  }
  async *inWindow(tenantId: string, from: string, to: string): AsyncGenerator<DecisionRecord> {
    for (const record of this.records) {
      if (record.tenantId !== tenantId || record.at < from || record.at >= to) continue;
      this.handedOut += 1;
      yield record;
    }
  }
}

const setup = () => ({ archive: new InMemoryWormStore(), log: new InMemoryLog() });

describe('platform.decision-archive', () => {
  it('passes when every decision logged in the window is archived, copies and cross-tenant records included', async () => {
    // Prepare
    const { archive, log } = setup();
    const a = decision('acme', ago(600));
    const b = decision('acme', ago(120));
    const crossTenant = decision('globex', ago(120));
    const callerCopy = { ...crossTenant, tenantId: 'acme' };
    // A batch dated by a retried message just before the window holds a decision of the window.
    const early = decision('acme', ago(24 * 60 + ARCHIVE_LAG_MINUTES - 1));
    log.add(a, b, crossTenant, callerCopy, early);
    await archiveObject(archive, [a]);
    await archiveObject(archive, [a]); // at least once: a redelivered message in another batch
    await archiveObject(archive, [b, crossTenant, callerCopy]);
    await archiveObject(archive, [early], ago(24 * 60 + ARCHIVE_LAG_MINUTES + BATCH_SPAN_MINUTES - 1));

    // Act
    const outcome = await decisionArchive({ archive, log }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('all 5 decisions logged by 2 tenants');
    expect(outcome.observations).toMatchObject({
      archiveObjectsRead: 4,
      archivedDecisions: 5,
      loggedDecisions: 5,
      tenantsRead: ['acme', 'globex'],
      notArchived: { count: 0 },
    });
  });

  it('fails naming the logged decisions the archive lacks, and counting them', async () => {
    // Prepare
    const { archive, log } = setup();
    const kept = decision('acme', ago(300));
    const lost = [decision('acme', ago(200)), decision('acme', ago(100))];
    log.add(kept, ...lost);
    await archiveObject(archive, [kept]);

    // Act
    const outcome = await decisionArchive({ archive, log }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain(
      `2 logged decisions not archived (acme/${lost[0]?.decisionId}, acme/${lost[1]?.decisionId})`,
    );
    expect(outcome.observations).toMatchObject({
      notArchived: { count: 2, named: lost.map((r) => ({ tenantId: 'acme', decisionId: r.decisionId })) },
    });
  });

  it('fails for a named tenant none of whose decisions reached the archive', async () => {
    // Prepare
    const { archive, log } = setup();
    const lost = decision('initech', ago(90));
    log.add(lost);

    // Act
    const unnamed = await decisionArchive({ archive, log }).run({ now });
    const named = await decisionArchive({ archive, log, tenants: ['initech'] }).run({ now });

    // Assess
    expect(unnamed.status).toBe('pass');
    expect(named.status).toBe('fail');
    expect(named.summary).toContain(`initech/${lost.decisionId}`);
  });

  it('does not count decisions still on their way to the archive, nor those before the window', async () => {
    // Prepare
    const { archive, log } = setup();
    const archived = decision('acme', ago(30));
    log.add(
      archived,
      decision('acme', ago(ARCHIVE_LAG_MINUTES - 5)),
      decision('acme', ago(24 * 60 + ARCHIVE_LAG_MINUTES + 1)),
    );
    await archiveObject(archive, [archived]);

    // Act
    const outcome = await decisionArchive({ archive, log }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.observations).toMatchObject({ loggedDecisions: 1, notArchived: { count: 0 } });
  });

  it('passes saying so when nothing was logged or archived in the window', async () => {
    // Prepare
    const { archive, log } = setup();

    // Act
    const outcome = await decisionArchive({ archive, log, tenants: ['acme'] }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('no decision logged or archived');
    expect(outcome.summary).toContain('logs read: acme');
  });

  it('fails naming the archive lines that are not decision records', async () => {
    // Prepare
    const { archive, log } = setup();
    const good = decision('acme', ago(60));
    log.add(good);
    const key = await archiveObject(archive, [good, 'not a record', { decisionId: 'dec_x' }]);

    // Act
    const outcome = await decisionArchive({ archive, log }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain(`2 archive lines are not decision records (${key}:2, ${key}:3)`);
  });

  it('compares a contiguous part of the window when it holds more objects than a run reads, naming the rest', async () => {
    // Prepare: one object a minute over the last MAX_ARCHIVE_OBJECTS + 200 minutes of the window.
    const { archive, log } = setup();
    const count = MAX_ARCHIVE_OBJECTS + 200;
    const records: DecisionRecord[] = [];
    for (let i = 0; i < count; i += 1) {
      const record = decision('acme', ago(ARCHIVE_LAG_MINUTES + count - i));
      records.push(record);
      await archiveObject(archive, [record]);
    }
    log.add(...records);
    // Lost: one in the part a run starting at the first object compares, one after it.
    const inside = decision('acme', records[10]?.at ?? '');
    const outside = decision('acme', records[MAX_ARCHIVE_OBJECTS + 100]?.at ?? '');
    log.add(inside, outside);

    // Act
    const outcome = await decisionArchive({ archive, log, random: () => 0 }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain(`1 logged decisions not archived (acme/${inside.decisionId})`);
    expect(outcome.summary).toContain('not checked: the rest of');
    expect(outcome.observations).toMatchObject({
      archiveObjectsRead: MAX_ARCHIVE_OBJECTS,
      compared: { until: records[MAX_ARCHIVE_OBJECTS]?.at },
    });
  });

  it('starts a sampled part a batch span after its first object, so no record of it is in an object not read', async () => {
    // Prepare
    const { archive } = setup();
    const log = new InMemoryLog();
    const count = MAX_ARCHIVE_OBJECTS + 10;
    for (let i = 0; i < count; i += 1) {
      const record = decision('acme', ago(ARCHIVE_LAG_MINUTES + count - i));
      log.add(record);
      await archiveObject(archive, [record]);
    }

    // Act
    const outcome = await decisionArchive({ archive, log, random: () => 0.999 }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    const first = log.records[10]?.at ?? '';
    expect(outcome.observations).toMatchObject({
      compared: { from: new Date(Date.parse(first) + BATCH_SPAN_MINUTES * MINUTE + 1).toISOString() },
    });
  });
  it('cuts the compared part at the first object not read once a run has read its bound of records', async () => {
    // Prepare: a first object of MAX_ARCHIVED_DECISIONS records, then one a minute.
    const { archive, log } = setup();
    const bulk = Array.from({ length: MAX_ARCHIVED_DECISIONS }, (_, i) => ({
      decisionId: `bulk_${i}`,
      tenantId: 'bulk',
      at: ago(300),
    }));
    await archiveObject(archive, bulk);
    const later = Array.from({ length: 10 }, (_, i) => decision('acme', ago(200 - i)));
    for (const one of later) await archiveObject(archive, [one]);
    const lostAfterCut = decision('acme', ago(100));
    log.add(...later, lostAfterCut);

    // Act
    const outcome = await decisionArchive({ archive, log }).run({ now });

    // Assess: 8 objects read at once, then the bound: the part ends at the ninth object's date.
    expect(outcome.status).toBe('pass');
    expect(outcome.observations).toMatchObject({
      archiveObjectsRead: 8,
      compared: { until: later[7]?.at },
      notChecked: { windowParts: [{ from: later[7]?.at }] },
    });
  });

  it('is an error, not a pass, when the bounds leave no part of the window to compare', async () => {
    // Prepare: more objects than a run reads, within less than a batch span.
    const { archive, log } = setup();
    const start = now.getTime() - 300 * MINUTE;
    for (let i = 0; i < MAX_ARCHIVE_OBJECTS + 100; i += 1)
      await archiveObject(archive, [decision('acme', new Date(start + i * 100).toISOString())]);

    // Act
    const outcome = await decisionArchive({ archive, log, random: () => 0.5 }).run({ now });

    // Assess
    expect(outcome.status).toBe('error');
    expect(outcome.summary).toContain('no part of');
  });
});

describe('platform.decisions-logged', () => {
  it('passes when every archived decision is in its tenant’s log, every record complete', async () => {
    // Prepare
    const { archive, log } = setup();
    const records = [decision('acme', ago(400)), decision('globex', ago(300), { allow: false, reasons: [] })];
    log.add(...records);
    await archiveObject(archive, records);

    // Act
    const outcome = await decisionsLogged({ archive, log }).run({ now });

    // Assess
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('all 2 decisions archived');
  });

  it('fails naming an archived decision its tenant’s log does not hold', async () => {
    // Prepare
    const { archive, log } = setup();
    const logged = decision('acme', ago(400));
    const unlogged = decision('acme', ago(300));
    log.add(logged);
    await archiveObject(archive, [logged, unlogged]);

    // Act
    const outcome = await decisionsLogged({ archive, log }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain(
      `1 archived decisions are not in the decision log (acme/${unlogged.decisionId})`,
    );
  });

  it('fails naming records, archived or logged, that lack what an audit needs', async () => {
    // Prepare
    const { archive, log } = setup();
    const anonymous = decision('acme', ago(400));
    const archivedCopy = {
      ...anonymous,
      input: { ...anonymous.input, principal: { ...anonymous.input.principal, subject: '' } },
    };
    const unversioned = decision('acme', ago(300), { policyVersion: '' });
    log.add(anonymous, unversioned);
    await archiveObject(archive, [archivedCopy, { ...unversioned, policyVersion: 'cedar-2026-12-01' }]);

    // Act
    const outcome = await decisionsLogged({ archive, log }).run({ now });

    // Assess
    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toContain('2 records lack audit fields');
    expect(outcome.summary).toContain(`acme/${anonymous.decisionId} in decisions/`);
    expect(outcome.summary).toContain('lacks input.principal.subject');
    expect(outcome.summary).toContain(`acme/${unversioned.decisionId} in log: lacks policyVersion`);
  });

  it('stops reading the log at the run’s bound and compares that tenant for completeness only', async () => {
    // Prepare
    const { archive, log } = setup();
    const archived = decision('acme', ago(30));
    await archiveObject(archive, [archived]);
    for (let i = 0; i < MAX_LOGGED_DECISIONS + 5; i += 1) log.add(decision('acme', ago(600)));

    // Act
    const outcome = await decisionsLogged({ archive, log }).run({ now });

    // Assess
    expect(log.handedOut).toBe(MAX_LOGGED_DECISIONS + 1);
    expect(outcome.status).toBe('pass');
    expect(outcome.summary).toContain('not checked: the rest of the log of acme');
    expect(outcome.observations).toMatchObject({ notChecked: { tenantsCut: ['acme'] } });
  });
});

describe('auditGapsOf', () => {
  it('finds nothing missing in a record the enforcer writes, and names each field missing', () => {
    const record = decision('acme', ago(1));
    const { input: _input, allow: _allow, ...bare } = record;
    expect(auditGapsOf(record as never)).toEqual([]);
    expect(auditGapsOf(bare)).toEqual([
      'input.principal.subject',
      'input.principal.tenantId',
      'input.action',
      'input.resource.tenantId',
      'input.resource.kind',
      'allow',
    ]);
  });
});

/**
 * The format the checks rely on, pinned against the code that writes it: the kernel's enforcer makes
 * the records, the authorize pillar's archiver files them (a test may reach into another pillar; the
 * checks themselves only restate the documented layout).
 */
describe('the decision archive as the enforcer and the archiver write it', () => {
  const principal = (tenantId: string): Principal => ({
    subject: 'alice',
    tenantId,
    roles: ['viewer'],
    amr: [],
  });

  it('passes both checks on what they wrote, and fails them when an object or a log write is lost', async () => {
    // Prepare
    const logged: DecisionRecord[][] = [];
    const messages: { messageId: string; body: string }[] = [];
    const enforcer = new PolicyEnforcer({
      engine: {
        name: 'cedar',
        policyVersion: 'cedar-format',
        decide: (request) => ({
          allow: request.action !== 'experts:delete',
          obligations: [],
          masks: [],
          reasons: ['format-test'],
          policyVersion: 'cedar-format',
        }),
      },
      grants: { grantedTenants: async () => [] },
      log: { record: async (records) => void logged.push([...records]) },
      archive: {
        append: async (records) =>
          void messages.push({ messageId: `msg-${messages.length}`, body: JSON.stringify(records) }),
      },
      clock: new ManualClock(ago(120)),
      ids: new SequentialIds(),
    });
    await enforcer.decide({
      principal: principal('acme'),
      action: 'experts:get',
      resource: { tenantId: 'acme', kind: 'experts', id: 'exp_1' },
      traceId: 'trace-1',
    });
    await enforcer.decideMany([
      {
        principal: principal('acme'),
        action: 'experts:delete',
        resource: { tenantId: 'acme', kind: 'experts', id: 'exp_2' },
        traceId: 'trace-2',
      },
      {
        principal: principal('acme'),
        action: 'experts:get',
        resource: { tenantId: 'globex', kind: 'experts' },
        traceId: 'trace-2',
      },
    ]);
    const archive = new InMemoryWormStore();
    const archiver = new DecisionArchiver(archive, testSubjectHasher);
    const [first, ...rest] = messages;
    const firstWrite = (await archiver.archive(first ? [first] : [])).write;
    await archiver.archive(rest);
    const log = new InMemoryLog().add(...logged.flat());

    // Act
    const whole = [
      await decisionArchive({ archive, log }).run({ now }),
      await decisionsLogged({ archive, log }).run({ now }),
    ];
    const withoutFirstObject = new InMemoryWormStore();
    for (const [key, { body }] of archive.objects)
      if (firstWrite.status === 'created' && key !== firstWrite.key)
        await withoutFirstObject.putOnce(key, body);
    const lostObject = await decisionArchive({ archive: withoutFirstObject, log }).run({ now });
    const lostLogWrite = await decisionsLogged({
      archive,
      log: new InMemoryLog().add(...(logged[0] ?? [])),
    }).run({
      now,
    });

    // Assess
    expect(whole.map((outcome) => outcome.status)).toEqual(['pass', 'pass']);
    expect(whole[0]?.summary).toContain('all 4 decisions logged by 2 tenants');
    expect(lostObject.status).toBe('fail');
    expect(lostObject.summary).toContain('1 logged decisions not archived');
    expect(lostLogWrite.status).toBe('fail');
    expect(lostLogWrite.summary).toContain('3 archived decisions are not in the decision log');
  });
});
