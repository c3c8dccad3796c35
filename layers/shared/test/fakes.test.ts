import { describe, expect, it, vi } from 'vitest';
import { InMemoryTenantRecords, silentLogger } from '#shared/testing/fakes.js';
import { describeTenantRecordContract, type Note, note } from './tenant-records.contract.js';

describeTenantRecordContract('InMemoryTenantRecords', () => new InMemoryTenantRecords<Note>('NOTE'));

describe('InMemoryTenantRecords', () => {
  it('hands out copies, so a caller mutating a read record does not change what is stored', async () => {
    // Prepare
    const store = new InMemoryTenantRecords<Note>('NOTE');
    await store.create(note({ tags: ['a'] }));
    const read = await store.get('acme', 'note-1');
    if (!read) throw new Error('expected the note to be stored');

    // Act
    (read.tags as string[]).push('mutated');

    // Assess
    expect((await store.get('acme', 'note-1'))?.tags).toEqual(['a']);
  });

  it('lists every stored record of every tenant for assertions', async () => {
    // Prepare
    const store = new InMemoryTenantRecords<Note>('NOTE');

    // Act
    await store.create(note({ tenantId: 'acme' }));
    await store.create(note({ tenantId: 'globex' }));

    // Assess
    expect(
      store
        .all()
        .map((record) => record.tenantId)
        .sort(),
    ).toEqual(['acme', 'globex']);
  });
});

describe('silentLogger', () => {
  it('writes nothing, even for critical errors', () => {
    // Prepare
    const logger = silentLogger();
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);

    // Act
    try {
      logger.info('hello');
      logger.error('failure', new Error('boom'));
      logger.critical('on fire');
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }

    // Assess
    expect(logger.getLevelName()).toBe('SILENT');
    expect([...stdout.mock.calls, ...stderr.mock.calls]).toEqual([]);
  });
});
