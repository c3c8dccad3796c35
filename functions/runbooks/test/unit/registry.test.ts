import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '#shared/errors.js';
import { canonicalJson } from '#shared/ports/canonical-json.js';
import { refusal } from '#shared/testing/refusal.js';
import { type RunbookVersionRecord, runbookOf } from '../../src/domain/registry.js';
import type { RunbookSignature } from '../../src/domain/signing.js';
import {
  exampleJson,
  type InMemoryRegistry,
  impostorSigner,
  inMemoryRegistry,
  parsed,
  strangerSigner,
} from '../support/fakes.js';

const T0 = '2026-03-01T09:00:00.000Z';
const T1 = '2026-03-01T09:01:00.000Z';
const MINUTE = 60_000;

type Json = Record<string, unknown>;

/** restart-service v1: one approval stage (on-call), one privileged step. */
const restart = exampleJson('restart-service.json');
/** key-rotation v1: one approval stage (security-dual-control), two privileged steps. */
const rotation = exampleJson('key-rotation.json');

/** restart-service with its fields overridden (another version, other content). */
const restartWith = (overrides: Json): Json => ({ ...restart, ...overrides });

/** The unsigned_runbook event the registry publishes for one refusal or quarantine. */
const unsignedEvent = (detail: {
  traceId: string;
  occurredAt: string;
  runbookId: string;
  version: number;
  at: 'publish' | 'execute';
  reason: string;
}) => ({ type: 'unsigned_runbook', detail: { tenantId: 'acme', ...detail } });

/** A runbook with a lambda step invoking `functionName` (no approvals: the step is not privileged). */
const invoking = (functionName: string): Json => ({
  apiVersion: 'conductor.runbook/v1',
  id: 'flush-cache',
  version: 1,
  description: 'Flush the cache.',
  parameters: { type: 'object' },
  steps: [{ id: 'flush', name: 'Flush', type: 'lambda', functionName }],
});

describe('RunbookRegistry', () => {
  describe('publish', () => {
    it('stores the verified version as signed and a runbook record naming it the latest', async () => {
      // Prepare
      const r = inMemoryRegistry();
      const signature = await r.signatureOf(restart);

      // Act
      const { version, created } = await r.registry.publish(
        'acme',
        { runbook: restart, signature },
        'operator-1',
        'trace-publish',
      );

      // Assess
      expect(created).toBe(true);
      expect(version).toEqual({
        tenantId: 'acme',
        id: 'restart-service@0000000001',
        version: 1,
        createdAt: T0,
        updatedAt: T0,
        runbookId: 'restart-service',
        runbookVersion: 1,
        document: canonicalJson(parsed(restart)),
        digest: signature.digest,
        signature,
        status: 'active',
        publishedAt: T0,
        publishedBy: 'operator-1',
      });
      expect(r.versions.all()).toEqual([version]);
      expect(r.runbooks.all()).toEqual([
        {
          tenantId: 'acme',
          id: 'restart-service',
          version: 1,
          createdAt: T0,
          updatedAt: T0,
          latestVersion: 1,
          description: restart.description,
          digest: signature.digest,
          status: 'active',
          privilegedSteps: 1,
          approvalStages: ['on-call'],
          publishedAt: T0,
          publishedBy: 'operator-1',
        },
      ]);
      expect(r.events.published).toEqual([]);
      expect(r.unsigned).toEqual([]);
    });

    it('stores the runbook with its defaults filled in, as it was signed', async () => {
      // Prepare
      const r = inMemoryRegistry();

      // Act
      const { version } = await r.publishSigned(rotation);

      // Assess
      const runbook = runbookOf(version);
      expect(runbook).toEqual(parsed(rotation));
      expect(runbook.steps.map((step) => step.privileged)).toEqual([false, true, true, false, false]);
      expect(await r.registry.latest('acme', 'key-rotation')).toEqual(version);
      expect(r.runbooks.all()).toMatchObject([
        { id: 'key-rotation', privilegedSteps: 2, approvalStages: ['security-dual-control'] },
      ]);
    });

    it('answers the same version and content again with created: false, changing nothing', async () => {
      // Prepare
      const r = inMemoryRegistry();
      const first = await r.publishSigned(restart);
      const storedRunbooks = r.runbooks.all();
      const storedVersions = r.versions.all();
      r.clock.advance(MINUTE);

      // Act (signed again: another signature, the same digest)
      const again = await r.publishSigned(restart, 'operator-2');

      // Assess
      expect(again).toEqual({ version: first.version, created: false });
      expect(r.runbooks.all()).toEqual(storedRunbooks);
      expect(r.versions.all()).toEqual(storedVersions);
      expect(r.events.published).toEqual([]);
    });

    it('refuses other content under a published version with 409 runbook_version_exists, changing nothing', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      const storedRunbooks = r.runbooks.all();
      const storedVersions = r.versions.all();
      r.clock.advance(MINUTE);

      // Act
      const error = await refusal(r.publishSigned(restartWith({ description: 'Restart it, quietly.' })));

      // Assess
      expect(error).toBeInstanceOf(ConflictError);
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('runbook_version_exists');
      expect(r.runbooks.all()).toEqual(storedRunbooks);
      expect(r.versions.all()).toEqual(storedVersions);
    });

    it('makes a higher version the latest, keeping when the runbook was created', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      r.clock.advance(MINUTE);
      const v2 = restartWith({ version: 2, description: 'Restart one service, second edition.' });

      // Act
      const { version, created } = await r.publishSigned(v2, 'operator-2');

      // Assess
      expect(created).toBe(true);
      expect(r.runbooks.all()).toEqual([
        {
          tenantId: 'acme',
          id: 'restart-service',
          version: 2,
          createdAt: T0,
          updatedAt: T1,
          latestVersion: 2,
          description: 'Restart one service, second edition.',
          digest: version.digest,
          status: 'active',
          privilegedSteps: 1,
          approvalStages: ['on-call'],
          publishedAt: T1,
          publishedBy: 'operator-2',
        },
      ]);
      expect(r.versions.all().map((record) => record.id)).toEqual([
        'restart-service@0000000001',
        'restart-service@0000000002',
      ]);
    });

    it('keeps the latest when a lower version is published after a higher one', async () => {
      // Prepare
      const r = inMemoryRegistry();
      const v3 = await r.publishSigned(restartWith({ version: 3 }));
      const storedRunbooks = r.runbooks.all();
      r.clock.advance(MINUTE);

      // Act
      const v2 = await r.publishSigned(restartWith({ version: 2, description: 'An older edition.' }));

      // Assess
      expect(v2.created).toBe(true);
      expect(r.runbooks.all()).toEqual(storedRunbooks);
      expect(await r.registry.latest('acme', 'restart-service')).toEqual(v3.version);
      expect(r.versions.all()).toHaveLength(2);
    });

    it('leaves the higher of two concurrent publishes the latest', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);

      // Act
      await Promise.all([
        r.publishSigned(restartWith({ version: 3 })),
        r.publishSigned(restartWith({ version: 2 })),
      ]);

      // Assess
      expect(r.runbooks.all()).toMatchObject([{ id: 'restart-service', latestVersion: 3 }]);
    });

    it('reads the runbook record again when another writer changed it meanwhile', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      r.runbooks.contended = 4;

      // Act
      await r.publishSigned(restartWith({ version: 2 }));

      // Assess
      expect(r.runbooks.all()).toMatchObject([{ latestVersion: 2, version: 2 }]);
    });

    it('gives up with 409 runbook_contended after five lost races; publishing again then advances the latest', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      r.runbooks.contended = 5;
      const v2 = restartWith({ version: 2 });

      // Act
      const error = await refusal(r.publishSigned(v2));
      const retried = await r.publishSigned(v2);

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('runbook_contended');
      expect(retried.created).toBe(false);
      expect(r.runbooks.all()).toMatchObject([{ latestVersion: 2 }]);
    });

    describe('refuses a runbook its signature does not hold for', () => {
      it.each<[string, Json, (r: InMemoryRegistry) => Promise<RunbookSignature>, string]>([
        [
          'content changed after signing',
          restartWith({ description: 'Restart every service.' }),
          (r) => r.signatureOf(restart),
          'digest_mismatch',
        ],
        ["another runbook's signature", restart, (r) => r.signatureOf(rotation), 'digest_mismatch'],
        ['a key it does not trust', restart, (r) => r.signatureOf(restart, strangerSigner), 'unknown_key'],
        [
          "another key claiming the trusted key's id",
          restart,
          (r) => r.signatureOf(restart, impostorSigner),
          'bad_signature',
        ],
      ])('with 422 signature_invalid: %s (%s)', async (_case, runbook, signatureOf, reason) => {
        // Prepare
        const r = inMemoryRegistry();
        const signature = await signatureOf(r);

        // Act
        const error = await refusal(
          r.registry.publish('acme', { runbook, signature }, 'operator-1', 'trace-publish'),
        );

        // Assess
        expect(error.statusCode).toBe(422);
        expect(error.code).toBe('signature_invalid');
        expect(error.details).toEqual({ reason });
        expect(r.versions.all()).toEqual([]);
        expect(r.runbooks.all()).toEqual([]);
        expect(r.events.published).toEqual([
          unsignedEvent({
            traceId: 'trace-publish',
            occurredAt: T0,
            runbookId: 'restart-service',
            version: 1,
            at: 'publish',
            reason,
          }),
        ]);
        expect(r.unsigned).toEqual([{ tenantId: 'acme', runbookId: 'restart-service', reason }]);
      });

      it('still refuses when the event cannot be published, telling onPublishError', async () => {
        // Prepare
        const r = inMemoryRegistry();
        r.events.failing = true;
        const signature = await r.signatureOf(restart, strangerSigner);

        // Act
        const error = await refusal(
          r.registry.publish('acme', { runbook: restart, signature }, 'operator-1', 'trace-publish'),
        );

        // Assess
        expect(error.statusCode).toBe(422);
        expect(error.code).toBe('signature_invalid');
        expect(r.publishErrors).toEqual(['restart-service']);
        expect(r.unsigned).toEqual([
          { tenantId: 'acme', runbookId: 'restart-service', reason: 'unknown_key' },
        ]);
        expect(r.versions.all()).toEqual([]);
        expect(r.runbooks.all()).toEqual([]);
      });

      it('does not replace a published version with the refused content', async () => {
        // Prepare
        const r = inMemoryRegistry();
        await r.publishSigned(restart);
        const storedVersions = r.versions.all();
        const forged = restartWith({ description: 'Restart every service.' });

        // Act
        const error = await refusal(
          r.registry.publish(
            'acme',
            { runbook: forged, signature: await r.signatureOf(restart) },
            'operator-1',
            'trace-publish',
          ),
        );

        // Assess
        expect(error.code).toBe('signature_invalid');
        expect(r.versions.all()).toEqual(storedVersions);
      });
    });

    it('refuses an invalid runbook with 400 invalid_runbook naming each path, publishing no event', async () => {
      // Prepare
      const r = inMemoryRegistry();
      const signature = await r.signatureOf(restart);

      // Act
      const error = await refusal(
        r.registry.publish(
          'acme',
          { runbook: restartWith({ version: 0, colour: 'red' }), signature },
          'operator-1',
          'trace-publish',
        ),
      );

      // Assess
      expect(error.statusCode).toBe(400);
      expect(error.code).toBe('invalid_runbook');
      expect(error.details).toEqual({
        issues: [
          { path: 'version', message: 'must be at least 1, got 0' },
          { path: 'colour', message: 'unknown field' },
        ],
      });
      expect(r.events.published).toEqual([]);
      expect(r.unsigned).toEqual([]);
      expect(r.versions.all()).toEqual([]);
    });

    describe('with allow-lists', () => {
      it('refuses a lambda step naming a function not on the list, signed or not', async () => {
        // Prepare
        const r = inMemoryRegistry({ allowLists: { allowedLambdas: ['conductor-cache-flush'] } });
        const runbook = invoking('delete-everything');

        // Act
        const error = await refusal(r.publishSigned(runbook));

        // Assess
        expect(error.statusCode).toBe(400);
        expect(error.code).toBe('invalid_runbook');
        expect(error.details).toEqual({
          issues: [
            {
              path: 'steps[0].functionName',
              message:
                '"delete-everything" is not an allowed Lambda function (allowed: conductor-cache-flush)',
            },
          ],
        });
        expect(r.versions.all()).toEqual([]);
        expect(r.events.published).toEqual([]);
      });

      it('publishes a lambda step naming a function on the list', async () => {
        // Prepare
        const r = inMemoryRegistry({ allowLists: { allowedLambdas: ['conductor-cache-flush'] } });

        // Act
        const { created } = await r.publishSigned(invoking('conductor-cache-flush'));

        // Assess
        expect(created).toBe(true);
        expect(r.runbooks.all()).toMatchObject([
          { id: 'flush-cache', privilegedSteps: 0, approvalStages: [] },
        ]);
      });
    });
  });

  describe('reading', () => {
    /** restart-service v1, v2 and v3, a minute apart. */
    const threeVersions = async () => {
      const r = inMemoryRegistry();
      const published: RunbookVersionRecord[] = [];
      for (const version of [1, 2, 3]) {
        published.push((await r.publishSigned(restartWith({ version }))).version);
        r.clock.advance(MINUTE);
      }
      return { r, published };
    };

    it('answers the latest version of a runbook', async () => {
      // Prepare
      const { r, published } = await threeVersions();

      // Act
      const latest = await r.registry.latest('acme', 'restart-service');

      // Assess
      expect(latest).toEqual(published[2]);
    });

    it('answers any one version', async () => {
      // Prepare
      const { r, published } = await threeVersions();

      // Act
      const second = await r.registry.version('acme', 'restart-service', 2);

      // Assess
      expect(second).toEqual(published[1]);
    });

    it('answers every version, newest first', async () => {
      // Prepare
      const { r, published } = await threeVersions();
      await r.publishSigned(rotation);

      // Act
      const all = await r.registry.versions('acme', 'restart-service');

      // Assess
      expect(all).toEqual([...published].reverse());
    });

    it('answers 404 runbook_not_found for a runbook that was never published', async () => {
      // Prepare
      const { r } = await threeVersions();

      // Act
      const latest = await refusal(r.registry.latest('acme', 'key-rotation'));
      const versions = await refusal(r.registry.versions('acme', 'key-rotation'));

      // Assess
      for (const error of [latest, versions]) {
        expect(error).toBeInstanceOf(NotFoundError);
        expect(error.code).toBe('runbook_not_found');
      }
    });

    it('answers 404 runbook_version_not_found for a version that was never published', async () => {
      // Prepare
      const { r } = await threeVersions();

      // Act
      const error = await refusal(r.registry.version('acme', 'restart-service', 4));

      // Assess
      expect(error.statusCode).toBe(404);
      expect(error.code).toBe('runbook_version_not_found');
    });

    it("shows no tenant another tenant's runbooks", async () => {
      // Prepare
      const { r } = await threeVersions();

      // Act
      const latest = await refusal(r.registry.latest('globex', 'restart-service'));
      const version = await refusal(r.registry.version('globex', 'restart-service', 1));

      // Assess
      expect(latest.code).toBe('runbook_not_found');
      expect(version.code).toBe('runbook_version_not_found');
    });

    // Its cost follows how many versions exist, not the version number (a date as version is fine).
    it('lists a runbook published at a large version number as the one version it has', async () => {
      // Prepare
      const r = inMemoryRegistry();
      const { version } = await r.publishSigned(restartWith({ version: 2 ** 32 }));

      // Act
      const all = await r.registry.versions('acme', 'restart-service');

      // Assess
      expect(all).toEqual([version]);
    });
  });

  describe('verifyStored', () => {
    it('verifies an untouched version and answers its runbook, changing nothing', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      const storedVersions = r.versions.all();
      const storedRunbooks = r.runbooks.all();
      const record = await r.registry.latest('acme', 'restart-service');

      // Act
      const verified = await r.registry.verifyStored('acme', record, 'trace-run');

      // Assess
      expect(verified).toEqual({ ok: true, runbook: parsed(restart) });
      expect(r.versions.all()).toEqual(storedVersions);
      expect(r.runbooks.all()).toEqual(storedRunbooks);
      expect(r.events.published).toEqual([]);
      expect(r.unsigned).toEqual([]);
    });

    it('quarantines a version whose stored document was changed, and the runbook it is the latest of', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      await r.tamper('restart-service', 1, () => ({
        document: canonicalJson(parsed(restartWith({ description: 'Restart every service.' }))),
      }));
      r.clock.advance(MINUTE);
      const record = await r.registry.version('acme', 'restart-service', 1);

      // Act
      const verified = await r.registry.verifyStored('acme', record, 'trace-run');

      // Assess
      expect(verified).toEqual({ ok: false, reason: 'digest_mismatch' });
      expect(await r.registry.version('acme', 'restart-service', 1)).toEqual({
        ...record,
        version: record.version + 1,
        updatedAt: T1,
        status: 'quarantined',
        quarantinedAt: T1,
        quarantineReason: 'digest_mismatch',
      });
      expect(r.runbooks.all()).toMatchObject([{ id: 'restart-service', version: 2, status: 'quarantined' }]);
      expect(r.events.published).toEqual([
        unsignedEvent({
          traceId: 'trace-run',
          occurredAt: T1,
          runbookId: 'restart-service',
          version: 1,
          at: 'execute',
          reason: 'digest_mismatch',
        }),
      ]);
      expect(r.unsigned).toEqual([
        { tenantId: 'acme', runbookId: 'restart-service', reason: 'digest_mismatch' },
      ]);
    });

    it('answers a quarantined version not ok again, publishing no second event', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      await r.tamper('restart-service', 1, () => ({
        document: canonicalJson(parsed(restartWith({ description: 'Restart every service.' }))),
      }));
      await r.registry.verifyStored(
        'acme',
        await r.registry.version('acme', 'restart-service', 1),
        'trace-run',
      );
      const storedVersions = r.versions.all();
      const storedRunbooks = r.runbooks.all();
      r.clock.advance(MINUTE);
      const quarantined = await r.registry.version('acme', 'restart-service', 1);

      // Act
      const verified = await r.registry.verifyStored('acme', quarantined, 'trace-run-2');

      // Assess
      expect(verified).toEqual({ ok: false, reason: 'digest_mismatch' });
      expect(r.events.published).toHaveLength(1);
      expect(r.unsigned).toHaveLength(1);
      expect(r.versions.all()).toEqual(storedVersions);
      expect(r.runbooks.all()).toEqual(storedRunbooks);
    });

    it('leaves the runbook active when the quarantined version is not its latest', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      await r.publishSigned(restartWith({ version: 2 }));
      const storedRunbooks = r.runbooks.all();
      await r.tamper('restart-service', 1, () => ({
        document: canonicalJson(parsed(restartWith({ description: 'Restart every service.' }))),
      }));

      // Act
      const verified = await r.registry.verifyStored(
        'acme',
        await r.registry.version('acme', 'restart-service', 1),
        'trace-run',
      );

      // Assess
      expect(verified).toEqual({ ok: false, reason: 'digest_mismatch' });
      expect(await r.registry.version('acme', 'restart-service', 1)).toMatchObject({ status: 'quarantined' });
      expect(await r.registry.version('acme', 'restart-service', 2)).toMatchObject({ status: 'active' });
      expect(r.runbooks.all()).toEqual(storedRunbooks);
      expect(r.events.published).toMatchObject([{ detail: { version: 1, at: 'execute' } }]);
    });

    it.each<[string, (document: string) => string, string]>([
      [
        'edited content',
        () => canonicalJson(parsed(restartWith({ description: 'Restart every service.' }))),
        'digest_mismatch',
      ],
      [
        'the same runbook, re-formatted',
        (document) => JSON.stringify(JSON.parse(document), null, 2),
        'not_canonical',
      ],
      ['text that is not JSON', (document) => document.slice(0, 40), 'unreadable'],
      [
        'JSON that is no runbook',
        (document) => canonicalJson({ ...JSON.parse(document), steps: [] }),
        'invalid_runbook',
      ],
    ])('quarantines a stored document replaced by %s as %s', async (_case, edit, reason) => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      await r.tamper('restart-service', 1, (stored) => ({ document: edit(stored.document) }));
      const record = await r.registry.version('acme', 'restart-service', 1);

      // Act
      const verified = await r.registry.verifyStored('acme', record, 'trace-run');

      // Assess
      expect(verified).toEqual({ ok: false, reason });
      expect(await r.registry.version('acme', 'restart-service', 1)).toMatchObject({
        status: 'quarantined',
        quarantineReason: reason,
      });
      expect(r.events.published).toMatchObject([{ detail: { at: 'execute', reason } }]);
    });

    it.each<[string, (r: InMemoryRegistry) => Promise<RunbookSignature>, string]>([
      ["another runbook's signature", (r) => r.signatureOf(rotation), 'digest_mismatch'],
      [
        'a signature by a key it does not trust',
        (r) => r.signatureOf(restart, strangerSigner),
        'unknown_key',
      ],
      [
        "another key's signature under the trusted key's id",
        (r) => r.signatureOf(restart, impostorSigner),
        'bad_signature',
      ],
    ])(
      'quarantines a version whose signature was swapped for %s as %s',
      async (_case, signatureOf, reason) => {
        // Prepare
        const r = inMemoryRegistry();
        await r.publishSigned(restart);
        const swapped = await signatureOf(r);
        await r.tamper('restart-service', 1, () => ({ signature: swapped }));
        r.clock.advance(MINUTE);
        const record = await r.registry.version('acme', 'restart-service', 1);

        // Act
        const verified = await r.registry.verifyStored('acme', record, 'trace-run');

        // Assess
        expect(verified).toEqual({ ok: false, reason });
        expect(await r.registry.version('acme', 'restart-service', 1)).toMatchObject({
          signature: swapped,
          status: 'quarantined',
          quarantinedAt: T1,
          quarantineReason: reason,
        });
        expect(r.runbooks.all()).toMatchObject([{ status: 'quarantined' }]);
        expect(r.events.published).toEqual([
          unsignedEvent({
            traceId: 'trace-run',
            occurredAt: T1,
            runbookId: 'restart-service',
            version: 1,
            at: 'execute',
            reason,
          }),
        ]);
        expect(r.unsigned).toEqual([{ tenantId: 'acme', runbookId: 'restart-service', reason }]);
      },
    );
  });

  describe('revoke', () => {
    it('revokes a version: never verified again, its runbook revoked when it is the latest, no unsigned_runbook', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);
      r.clock.advance(MINUTE);

      // Act
      const revoked = await r.registry.revoke('acme', 'restart-service', 1, 'admin-1', 'wrong drain default');
      const again = await r.registry.revoke('acme', 'restart-service', 1, 'admin-2', 'twice');
      const check = await r.registry.verifyStored('acme', revoked, 'trace-execute');
      const latest = await r.runbooks.get('acme', 'restart-service');

      // Assess
      expect(revoked).toMatchObject({
        status: 'revoked',
        revokedAt: T1,
        revokedBy: 'admin-1',
        revokeReason: 'wrong drain default',
      });
      expect(again).toEqual(revoked);
      expect(check).toEqual({ ok: false, reason: 'revoked' });
      expect(latest?.status).toBe('revoked');
      expect(r.unsigned).toEqual([]);
      expect(r.events.published).toEqual([]);
    });

    it('refuses a replay of a revoked version (the same signed content again) with 409, changing nothing', async () => {
      // Prepare
      const r = inMemoryRegistry();
      const signature = await r.signatureOf(restart);
      await r.registry.publish('acme', { runbook: restart, signature }, 'operator-1', 't');
      const revoked = await r.registry.revoke('acme', 'restart-service', 1, 'admin-1', 'compromised');

      // Act
      const replay = await refusal(
        r.registry.publish('acme', { runbook: restart, signature }, 'mallory', 't'),
      );
      const stored = await r.registry.version('acme', 'restart-service', 1);

      // Assess
      expect(replay).toBeInstanceOf(ConflictError);
      expect(replay.code).toBe('runbook_version_revoked');
      expect(stored).toEqual(revoked);
    });

    it('answers 404 runbook_version_not_found for a version that was never published', async () => {
      // Prepare
      const r = inMemoryRegistry();
      await r.publishSigned(restart);

      // Act
      const error = await refusal(r.registry.revoke('acme', 'restart-service', 2, 'admin-1', 'nope'));

      // Assess
      expect(error).toBeInstanceOf(NotFoundError);
      expect(error.code).toBe('runbook_version_not_found');
    });
  });
});
