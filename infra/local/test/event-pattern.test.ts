import { describe, expect, it } from 'vitest';
import type { BusEvent } from '../bus.js';
import { type EventPattern, matchesEventPattern, validateEventPattern } from '../event-pattern.js';

describe('matchesEventPattern', () => {
  const event: BusEvent = {
    version: '0',
    id: 'e-1',
    'detail-type': 'budget_breach',
    source: 'conductor.scheduler',
    account: '000000000000',
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: ['arn:aws:sqs:us-east-1:000000000000:jobs'],
    detail: {
      tenantId: 't-1',
      amount: 120,
      severity: 'HIGH',
      tags: ['gold', 'eu'],
      note: null,
      budget: { kind: 'cost', level: 3 },
      items: [{ sku: 'a' }, { sku: 'b' }],
    },
  };

  it.each<[string, EventPattern, boolean]>([
    ['an exact source', { source: ['conductor.scheduler'] }, true],
    ['a source among several', { source: ['conductor.router', 'conductor.scheduler'] }, true],
    ['another source', { source: ['conductor.router'] }, false],
    [
      'all fields at once (AND)',
      { source: ['conductor.scheduler'], 'detail-type': ['route_decision'] },
      false,
    ],
    ['a prefix', { source: [{ prefix: 'conductor.' }] }, true],
    ['another prefix', { source: [{ prefix: 'aws.' }] }, false],
    ['a prefix ignoring case', { source: [{ prefix: { 'equals-ignore-case': 'CONDUCTOR.' } }] }, true],
    ['a suffix', { 'detail-type': [{ suffix: '_breach' }] }, true],
    ['anything but another value', { 'detail-type': [{ 'anything-but': 'route_decision' }] }, true],
    [
      'anything but a list holding the value',
      { 'detail-type': [{ 'anything-but': ['budget_breach', 'x'] }] },
      false,
    ],
    ['anything but a matching prefix', { 'detail-type': [{ 'anything-but': { prefix: 'budget' } }] }, false],
    ['anything but, on a missing field', { detail: { missing: [{ 'anything-but': 'x' }] } }, false],
    ['a present field that must exist', { detail: { tenantId: [{ exists: true }] } }, true],
    ['a missing field that must not exist', { detail: { missing: [{ exists: false }] } }, true],
    ['a present field that must not exist', { detail: { tenantId: [{ exists: false }] } }, false],
    ['an object that must exist (only leaves exist)', { detail: { budget: [{ exists: true }] } }, false],
    ['a number above a bound', { detail: { amount: [{ numeric: ['>', 100] }] } }, true],
    ['a number outside a range', { detail: { amount: [{ numeric: ['>=', 0, '<', 100] }] } }, false],
    ['a number equal to a value', { detail: { amount: [{ numeric: ['=', 120] }] } }, true],
    ['a numeric match on a string', { detail: { tenantId: [{ numeric: ['>', 0] }] } }, false],
    ['an exact number', { detail: { amount: [120] } }, true],
    ['a number written as a string', { detail: { amount: ['120'] } }, false],
    ['a nested field', { detail: { budget: { kind: ['cost'] } } }, true],
    ['a nested numeric field', { detail: { budget: { level: [{ numeric: ['>', 5] }] } } }, false],
    ['one value of an array field', { detail: { tags: ['eu'] } }, true],
    ['no value of an array field', { detail: { tags: ['us'] } }, false],
    ['a field inside an array of objects', { detail: { items: { sku: ['b'] } } }, true],
    ['a null value', { detail: { note: [null] } }, true],
    ['a value ignoring case', { detail: { severity: [{ 'equals-ignore-case': 'high' }] } }, true],
    ['a wildcard', { resources: [{ wildcard: 'arn:aws:sqs:*:jobs' }] }, true],
    [
      'one branch of an $or',
      { detail: { $or: [{ amount: [{ numeric: ['>', 1000] }] }, { severity: ['HIGH'] }] } },
      true,
    ],
    ['no branch of an $or', { detail: { $or: [{ amount: [1] }, { severity: ['LOW'] }] } }, false],
  ])('matches %s: %j → %s', (_label, pattern, expected) => {
    // Prepare
    validateEventPattern(pattern);

    // Act
    const matched = matchesEventPattern(pattern, event);

    // Assess
    expect(matched).toBe(expected);
  });
});
