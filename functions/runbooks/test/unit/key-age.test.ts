import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalRsaSigner, localSigningKeyInfo } from '../../src/adapters/local-signer.js';
import { keyAgeOf, ROTATE_AFTER_DAYS } from '../../src/domain/key-age.js';

const DAY = 86_400_000;
const created = new Date('2026-01-01T00:00:00.000Z');

describe('keyAgeOf (the 90-day key ceremony)', () => {
  it('is due from the 90th day on, not before', () => {
    // Act
    const day89 = keyAgeOf({ keyId: 'k', createdAt: created }, new Date(created.getTime() + 89.9 * DAY));
    const day90 = keyAgeOf({ keyId: 'k', createdAt: created }, new Date(created.getTime() + 90 * DAY));

    // Assess
    expect(ROTATE_AFTER_DAYS).toBe(90);
    expect(day89).toEqual({
      keyId: 'k',
      createdAt: created.toISOString(),
      ageDays: 89,
      rotateAfterDays: 90,
      due: false,
    });
    expect(day90.due).toBe(true);
  });

  it('takes another cadence, and never reads a negative age from a clock behind the key', () => {
    // Act
    const monthly = keyAgeOf({ keyId: 'k', createdAt: created }, new Date(created.getTime() + 30 * DAY), 30);
    const skewed = keyAgeOf({ keyId: 'k', createdAt: created }, new Date(created.getTime() - DAY));

    // Assess
    expect(monthly.due).toBe(true);
    expect(skewed).toMatchObject({ ageDays: 0, due: false });
  });
});

describe('localSigningKeyInfo', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reads the newest version of the local key and when it was written; a rotation makes it young again', async () => {
    // Prepare
    dir = mkdtempSync(join(tmpdir(), 'key-age-'));
    const signer = await LocalRsaSigner.open(dir);
    const old = new Date('2025-01-01T00:00:00.000Z');
    utimesSync(join(dir, 'v1.pub.pem'), old, old);

    // Act
    const before = await localSigningKeyInfo(dir).current();
    await signer.rotate();
    const after = await localSigningKeyInfo(dir).current();

    // Assess
    expect(before).toEqual({ keyId: `${signer.keyId}#1`, createdAt: old });
    expect(after?.keyId).toBe(`${signer.keyId}#2`);
    expect(after?.createdAt.getTime()).toBeGreaterThan(old.getTime());
  });

  it('answers nothing before any key exists', async () => {
    // Prepare
    dir = mkdtempSync(join(tmpdir(), 'key-age-'));

    // Act
    const info = await localSigningKeyInfo(join(dir, 'absent')).current();

    // Assess
    expect(info).toBeUndefined();
  });
});
