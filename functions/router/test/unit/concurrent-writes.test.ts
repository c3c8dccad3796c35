import { describe, expect, it } from 'vitest';
import { ConflictError } from '#shared/errors.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { InMemoryTenantRecords } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import {
  type Expert,
  type ExpertInput,
  ExpertService,
  LAST_WRITER_ATTEMPTS,
} from '../../src/domain/experts.js';
import {
  DEFAULT_ROUTER_CONFIG,
  ROUTER_CONFIG_ID,
  type RouterConfig,
  RouterConfigService,
} from '../../src/domain/router-config.js';

const NOW = '2026-01-01T00:00:00.000Z';

const input = (name: string): ExpertInput => ({
  name,
  type: 'model',
  costPerCallUsd: 0.002,
  endpoint: 'https://models.example.com/v1',
  metadata: {},
  enabled: true,
});

/**
 * A record store where another writer gets in between each read and the write that follows it, the
 * first `races` times: the race a concurrent PUT without If-Match runs into.
 */
const racing = <T extends RouterConfig | Expert>(
  records: InMemoryTenantRecords<T>,
  races: number,
  rival: (current: T) => T,
) => {
  let left = races;
  let writes = 0;
  const store = {
    get: (tenantId: string, id: string) => records.get(tenantId, id),
    getMany: (tenantId: string, ids: readonly string[]) => records.getMany(tenantId, ids),
    list: (tenantId: string, options: { limit: number; cursor?: string | undefined }) =>
      records.list(tenantId, options),
    delete: (tenantId: string, id: string, expected?: number) => records.delete(tenantId, id, expected),
    create: async (record: T) => {
      writes += 1;
      await records.create(record);
    },
    replace: async (record: T, expectedVersion: number) => {
      writes += 1;
      if (left > 0) {
        left -= 1;
        const current = (await records.get(record.tenantId, record.id)) as T;
        await records.replace(rival(current), current.version);
      }
      await records.replace(record, expectedVersion);
    },
  };
  return {
    store,
    get writes() {
      return writes;
    },
  };
};

describe('PUT /experts/{id} without If-Match (ExpertService.update)', () => {
  const setup = async (races: number) => {
    const records = new InMemoryTenantRecords<Expert>('EXPERT');
    const clock = new ManualClock(NOW);
    const plain = new ExpertService({
      repository: records,
      endpointPolicy: () => ({ ok: true }),
      clock,
      ids: new SequentialIds(),
    });
    const created = await plain.create('acme', input('first'));
    const race = racing(records, races, (current) => ({
      ...current,
      name: 'rival',
      version: current.version + 1,
    }));
    const service = new ExpertService({
      repository: race.store,
      endpointPolicy: () => ({ ok: true }),
      clock,
      ids: new SequentialIds(),
    });
    return { service, records, race, created };
  };

  it('re-reads and writes again after losing to a concurrent write: the last writer wins', async () => {
    // Prepare
    const { service, records, race, created } = await setup(2);

    // Act
    const updated = await service.update('acme', created.id, input('mine'));

    // Assess
    expect(updated).toMatchObject({ name: 'mine', version: 4 });
    expect(await records.get('acme', created.id)).toEqual(updated);
    expect(race.writes).toBe(3);
  });

  it('still answers 409 version_conflict when If-Match names a version a concurrent write replaced', async () => {
    // Prepare
    const { service, records, created } = await setup(1);

    // Act
    const error = await refusal(service.update('acme', created.id, input('mine'), created.version));

    // Assess
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: 'version_conflict' });
    expect(await records.get('acme', created.id)).toMatchObject({ name: 'rival', version: 2 });
  });

  it('gives up with 409 after LAST_WRITER_ATTEMPTS lost races (a write storm), having written nothing of its own', async () => {
    // Prepare
    const { service, records, created } = await setup(LAST_WRITER_ATTEMPTS);

    // Act
    const error = await refusal(service.update('acme', created.id, input('mine')));

    // Assess
    expect(error).toMatchObject({ code: 'version_conflict' });
    expect((await records.get('acme', created.id))?.name).toBe('rival');
  });

  it('retries a health mark without If-Match the same way', async () => {
    // Prepare
    const { service, records, created } = await setup(1);

    // Act
    const marked = await service.setHealth('acme', created.id, { status: 'unhealthy' }, 'ops');

    // Assess
    expect(marked).toMatchObject({ name: 'rival', version: 3, health: { status: 'unhealthy' } });
    expect(await records.get('acme', created.id)).toEqual(marked);
  });
});

describe('PUT /router/config without If-Match (RouterConfigService.update)', () => {
  const setup = async (races: number) => {
    const records = new InMemoryTenantRecords<RouterConfig>('ROUTER_CONFIG');
    const clock = new ManualClock(NOW);
    const experts = new InMemoryTenantRecords<Expert>('EXPERT');
    await new RouterConfigService({ repository: records, experts, clock }).update(
      'acme',
      DEFAULT_ROUTER_CONFIG,
      undefined,
      'first',
    );
    const race = racing(records, races, (current) => ({
      ...current,
      epsilon: 0.3,
      version: current.version + 1,
      updatedBy: 'rival',
    }));
    const service = new RouterConfigService({ repository: race.store, experts, clock });
    return { service, records };
  };

  it('re-reads and writes again after losing to a concurrent change, and audits it on top of that change', async () => {
    // Prepare
    const { service, records } = await setup(1);

    // Act
    const config = await service.update(
      'acme',
      { ...DEFAULT_ROUTER_CONFIG, killSwitch: true },
      undefined,
      'mine',
    );

    // Assess
    expect(config).toMatchObject({ killSwitch: true, version: 3, updatedBy: 'mine' });
    const stored = await records.get('acme', ROUTER_CONFIG_ID);
    expect(stored).toMatchObject({ killSwitch: true, version: 3 });
    expect(stored?.changes?.at(-1)).toMatchObject({ version: 3, changedBy: 'mine' });
  });

  it('still answers 409 version_conflict when If-Match names a version a concurrent change replaced', async () => {
    // Prepare
    const { service, records } = await setup(1);

    // Act
    const error = await refusal(service.update('acme', { ...DEFAULT_ROUTER_CONFIG, killSwitch: true }, 1));

    // Assess
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: 'version_conflict' });
    expect(await records.get('acme', ROUTER_CONFIG_ID)).toMatchObject({ killSwitch: false, version: 2 });
  });

  it('two first configurations racing without If-Match both land, one after the other', async () => {
    // Prepare
    const records = new InMemoryTenantRecords<RouterConfig>('ROUTER_CONFIG');
    const clock = new ManualClock(NOW);
    const experts = new InMemoryTenantRecords<Expert>('EXPERT');
    const service = new RouterConfigService({ repository: records, experts, clock });

    // Act
    const [a, b] = await Promise.all([
      service.update('acme', { ...DEFAULT_ROUTER_CONFIG, epsilon: 0.2 }, undefined, 'a'),
      service.update('acme', { ...DEFAULT_ROUTER_CONFIG, epsilon: 0.4 }, undefined, 'b'),
    ]);

    // Assess
    expect([a.version, b.version].sort()).toEqual([1, 2]);
    const stored = await records.get('acme', ROUTER_CONFIG_ID);
    expect(stored?.version).toBe(2);
    expect(stored?.changes?.map((change) => change.changedBy).sort()).toEqual(['a', 'b']);
  });
});
