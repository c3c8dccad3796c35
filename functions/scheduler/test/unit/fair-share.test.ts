import { describe, expect, it } from 'vitest';
import { MAX_TENANT_WEIGHT, messageGroupOf, parseTenantWeights } from '../../src/domain/fair-share.js';

describe('weighted fair share: a tenant of weight w spreads its jobs over w message groups', () => {
  it('keeps a tenant of weight 1 (or none given) in one group named after it', () => {
    expect(messageGroupOf('globex', 'job_1', {})).toBe('globex');
    expect(messageGroupOf('globex', 'job_1', { globex: 1, acme: 3 })).toBe('globex');
  });

  it('spreads a tenant of weight 3 evenly over three groups of its own, the same job always in the same one', () => {
    // Act
    const counts = new Map<string, number>();
    for (let i = 0; i < 3000; i += 1) {
      const group = messageGroupOf('acme', `job_${i}`, { acme: 3 });
      counts.set(group, (counts.get(group) ?? 0) + 1);
    }

    // Assess
    expect([...counts.keys()].sort()).toEqual(['acme', 'acme#1', 'acme#2']);
    for (const count of counts.values()) expect(count).toBeGreaterThan(900);
    expect(messageGroupOf('acme', 'job_7', { acme: 3 })).toBe(messageGroupOf('acme', 'job_7', { acme: 3 }));
  });

  it('reads SCHEDULER_TENANT_WEIGHTS as JSON and refuses what is not a whole weight of a valid tenant', () => {
    expect(parseTenantWeights(undefined)).toEqual({});
    expect(parseTenantWeights('  ')).toEqual({});
    expect(parseTenantWeights('{"acme":3,"globex":1}')).toEqual({ acme: 3, globex: 1 });
    for (const bad of [
      '{"acme":0}',
      `{"acme":${MAX_TENANT_WEIGHT + 1}}`,
      '{"acme":1.5}',
      '{"Not A Tenant":2}',
      'acme=3',
      '[3]',
    ]) {
      expect(() => parseTenantWeights(bad), bad).toThrow(/SCHEDULER_TENANT_WEIGHTS/);
    }
  });
});
