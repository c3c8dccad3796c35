import { describe, expect, it } from 'vitest';
import { MissingTenantError } from '#shared/adapters/tenant-store.js';
import { ConflictError, ValidationError } from '#shared/errors.js';
import type { Page, TenantRecord, TenantRecords } from '#shared/ports/records.js';

/**
 * The contract of a tenant record store, run against TenantRecordStore on a local DynamoDB and
 * against the in-memory fake, so domain tests that use the fake can trust it behaves the same.
 */
export interface Note extends TenantRecord {
  readonly title: string;
  readonly tags: readonly string[];
}

export type { TenantRecords };

export const note = (overrides: Partial<Note> = {}): Note => ({
  tenantId: 'acme',
  id: 'note-1',
  version: 1,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  title: 'first',
  tags: ['a', 'b'],
  ...overrides,
});

/** Follows cursors until a page has none; returns every page. */
export const allPages = async <T extends TenantRecord>(
  store: TenantRecords<T>,
  tenantId: string,
  limit: number,
): Promise<Page<T>[]> => {
  const pages: Page<T>[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.list(tenantId, { limit, cursor });
    pages.push(page);
    cursor = page.nextCursor;
  } while (cursor !== undefined && pages.length < 100);
  return pages;
};

const codeOf = async (promise: Promise<unknown>): Promise<string> => {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ConflictError || error instanceof ValidationError) return error.code;
    throw error;
  }
  return 'no error';
};

export const describeTenantRecordContract = (name: string, makeStore: () => TenantRecords<Note>): void => {
  describe(`${name} (tenant record contract)`, () => {
    it('reads back a created record exactly as it was written', async () => {
      // Prepare
      const store = makeStore();
      const written = note({ tags: ['x', 'y'] });

      // Act
      await store.create(written);

      // Assess
      expect(await store.get('acme', 'note-1')).toEqual(written);
    });

    it('refuses a second create with the same id as already_exists and keeps the first record', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note({ title: 'original' }));

      // Act
      const code = await codeOf(store.create(note({ title: 'impostor' })));

      // Assess
      expect(code).toBe('already_exists');
      expect((await store.get('acme', 'note-1'))?.title).toBe('original');
    });

    it('keeps records with the same id in two tenants apart', async () => {
      // Prepare
      const store = makeStore();

      // Act
      await store.create(note({ tenantId: 'acme', title: 'acme note' }));
      await store.create(note({ tenantId: 'globex', title: 'globex note' }));

      // Assess
      expect((await store.get('acme', 'note-1'))?.title).toBe('acme note');
      expect((await store.get('globex', 'note-1'))?.title).toBe('globex note');
    });

    it('reads several records of one tenant at once, leaving out missing ids and other tenants', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note({ id: 'note-1', title: 'one' }));
      await store.create(note({ id: 'note-2', title: 'two' }));
      await store.create(note({ tenantId: 'globex', id: 'note-3', title: 'globex' }));

      // Act
      const found = await store.getMany('acme', ['note-1', 'note-2', 'note-3', 'missing', 'note-1']);

      // Assess
      expect([...found.keys()].sort()).toEqual(['note-1', 'note-2']);
      expect(found.get('note-2')?.title).toBe('two');
    });

    it('does not find a record under another tenant', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note({ tenantId: 'acme' }));

      // Act
      const seen = await store.get('globex', 'note-1');

      // Assess
      expect(seen).toBeUndefined();
    });

    it('replaces a record whose stored version is the expected one', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note());

      // Act
      await store.replace(note({ version: 2, title: 'second' }), 1);

      // Assess
      expect(await store.get('acme', 'note-1')).toMatchObject({ version: 2, title: 'second' });
    });

    it('refuses a replace on a stale version as version_conflict and leaves the record unchanged', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note());
      await store.replace(note({ version: 2, title: 'second' }), 1);

      // Act
      const code = await codeOf(store.replace(note({ version: 2, title: 'lost update' }), 1));

      // Assess
      expect(code).toBe('version_conflict');
      expect(await store.get('acme', 'note-1')).toMatchObject({ version: 2, title: 'second' });
    });

    it('refuses to replace a record that does not exist, and does not create it', async () => {
      // Prepare
      const store = makeStore();

      // Act
      const code = await codeOf(store.replace(note({ version: 2 }), 1));

      // Assess
      expect(code).toBe('version_conflict');
      expect(await store.get('acme', 'note-1')).toBeUndefined();
    });

    it('refuses a delete on a stale version as version_conflict and keeps the record', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note());
      await store.replace(note({ version: 2 }), 1);

      // Act
      const code = await codeOf(store.delete('acme', 'note-1', 1));

      // Assess
      expect(code).toBe('version_conflict');
      expect(await store.get('acme', 'note-1')).toBeDefined();
    });

    it('deletes a record on its current version and reports it deleted', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note());

      // Act
      const deleted = await store.delete('acme', 'note-1', 1);

      // Assess
      expect(deleted).toBe(true);
      expect(await store.get('acme', 'note-1')).toBeUndefined();
    });

    it('answers false when deleting a record that does not exist, with or without a version', async () => {
      // Prepare
      const store = makeStore();

      // Act
      const unversioned = await store.delete('acme', 'ghost');
      const versioned = await store.delete('acme', 'ghost', 3);

      // Assess
      expect([unversioned, versioned]).toEqual([false, false]);
    });

    it('does not delete another tenant’s record with the same id', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note({ tenantId: 'acme' }));

      // Act
      const deleted = await store.delete('globex', 'note-1');

      // Assess
      expect(deleted).toBe(false);
      expect(await store.get('acme', 'note-1')).toBeDefined();
    });

    it('lists a tenant’s records a page at a time, in id order, across three pages', async () => {
      // Prepare
      const store = makeStore();
      const ids = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'];
      for (const id of [...ids].reverse()) await store.create(note({ id }));
      await store.create(note({ tenantId: 'globex', id: 'n0' }));

      // Act
      const pages = await allPages(store, 'acme', 3);

      // Assess
      expect(pages.map((page) => page.items.map((item) => item.id))).toEqual([
        ['n1', 'n2', 'n3'],
        ['n4', 'n5', 'n6'],
        ['n7'],
      ]);
      expect(pages[2]?.nextCursor).toBeUndefined();
    });

    it('lists only the ids that start with a prefix, a page at a time, none of another tenant', async () => {
      // Prepare
      const store = makeStore();
      for (const id of ['a@1', 'a@2', 'a@3', 'ab@1', 'b@1', 'a']) await store.create(note({ id }));
      await store.create(note({ tenantId: 'globex', id: 'a@0' }));

      // Act
      const ids: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.list('acme', { limit: 2, cursor, prefix: 'a@' });
        ids.push(...page.items.map((item) => item.id));
        cursor = page.nextCursor;
        pages += 1;
      } while (cursor !== undefined && pages < 10);

      // Assess
      expect(ids).toEqual(['a@1', 'a@2', 'a@3']);
      expect(pages).toBe(2);
    });

    it('resumes after a given id within a prefix, a page at a time, none of another tenant', async () => {
      // Prepare
      const store = makeStore();
      for (const id of ['log#001', 'log#002', 'log#003', 'log#004', 'other#005'])
        await store.create(note({ id }));
      await store.create(note({ tenantId: 'globex', id: 'log#003a' }));

      // Act
      const first = await store.list('acme', { limit: 1, prefix: 'log#', after: 'log#002' });
      const rest = await store.list('acme', { limit: 10, prefix: 'log#', cursor: first.nextCursor });
      const none = await store.list('acme', { limit: 10, prefix: 'log#', after: 'log#004' });

      // Assess
      expect(first.items.map((item) => item.id)).toEqual(['log#003']);
      expect(rest.items.map((item) => item.id)).toEqual(['log#004']);
      expect(none.items).toEqual([]);
    });

    it('refuses a cursor issued for another tenant as invalid_cursor', async () => {
      // Prepare
      const store = makeStore();
      for (const id of ['n1', 'n2', 'n3']) {
        await store.create(note({ tenantId: 'acme', id }));
        await store.create(note({ tenantId: 'globex', id }));
      }
      const globexCursor = (await store.list('globex', { limit: 1 })).nextCursor;
      expect(globexCursor).toBeDefined();

      // Act
      const code = await codeOf(store.list('acme', { limit: 1, cursor: globexCursor }));

      // Assess
      expect(code).toBe('invalid_cursor');
    });

    it.each([
      ['garbage', () => 'not-a-cursor!'],
      ['JSON that is not a key', () => Buffer.from('"n1"').toString('base64url')],
      ['a key with an extra attribute', (pk: string) => encode({ pk, sk: 'n1', entity: 'X' })],
      ['a key with a non-string sort key', (pk: string) => encode({ pk, sk: 7 })],
      [
        'a key pointing at another tenant',
        (pk: string) => encode({ pk: pk.replace('T#acme#', 'T#globex#'), sk: 'n1' }),
      ],
    ])('refuses a tampered cursor (%s) as invalid_cursor', async (_, tamper) => {
      // Prepare
      const store = makeStore();
      for (const id of ['n1', 'n2']) await store.create(note({ id }));
      const genuine = (await store.list('acme', { limit: 1 })).nextCursor ?? '';
      const pk = String(
        (JSON.parse(Buffer.from(genuine, 'base64url').toString('utf8')) as { pk: unknown }).pk,
      );

      // Act
      const code = await codeOf(store.list('acme', { limit: 1, cursor: tamper(pk) }));

      // Assess
      expect(code).toBe('invalid_cursor');
    });

    it.each([
      ['missing', ''],
      ['invalid', 'Acme Corp!'],
      ['a key prefix trick', 'acme#OTHER'],
    ])('refuses a record whose tenantId is %s with MissingTenantError', async (_, tenantId) => {
      // Prepare
      const store = makeStore();

      // Act
      const attempt = store.create(note({ tenantId }));

      // Assess
      await expect(attempt).rejects.toBeInstanceOf(MissingTenantError);
    });

    it('lets exactly one of 20 concurrent replaces on the same expected version win', async () => {
      // Prepare
      const store = makeStore();
      await store.create(note());

      // Act
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, (_, writer) =>
          store.replace(note({ version: 2, title: `writer ${writer}` }), 1),
        ),
      );

      // Assess
      const winners = outcomes.flatMap((outcome, writer) => (outcome.status === 'fulfilled' ? [writer] : []));
      const losers = outcomes.filter((outcome) => outcome.status === 'rejected');
      expect(winners).toHaveLength(1);
      expect(losers.every((outcome) => (outcome.reason as ConflictError).code === 'version_conflict')).toBe(
        true,
      );
      expect(await store.get('acme', 'note-1')).toMatchObject({ version: 2, title: `writer ${winners[0]}` });
    });
  });
};

const encode = (key: unknown): string => Buffer.from(JSON.stringify(key)).toString('base64url');
