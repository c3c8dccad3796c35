import { describe, expect, it } from 'vitest';
import { authorizeBatchRequestSchema, authorizeRequestSchema } from '../../contract.js';

/**
 * The decision service writes the ids a body names into the decision log, its archive and
 * `policy_denied` events: the contract lets through only ids of a safe character set, so no logged
 * id can break a log line or carry markup into a viewer.
 */
const question = (subjectId: string, resource: Record<string, unknown> = {}) => ({
  subject: { id: subjectId, tenantId: 'acme', roles: ['operator'] },
  action: 'experts:get',
  resource: { tenantId: 'globex', kind: 'experts', id: 'exp_1', ...resource },
});

describe('the authorize request contract', () => {
  it.each([
    'alice',
    '6f1c2a9e-0b7d-4c4e-9a51-2f0d8f2e7c11',
    'svc.router@acme.example.com',
    'auth0|5f7c8ec7c33c6c004bbafe82',
    'google-oauth2:1234567890',
    'c2VydmljZQ==/x+y_z~1',
  ])('accepts the subject id %j', (id) => {
    expect(authorizeRequestSchema.safeParse(question(id)).success).toBe(true);
  });

  it.each([
    'FORGED-1\nline2 <script>',
    'a b',
    'tab\there',
    '<img>',
    'quote"d',
    "apo'strophe",
    'amp&er',
    'semi;colon',
    'nul\u0000byte',
    'é-accented',
    'x'.repeat(257),
    '',
  ])('refuses the subject id %j', (id) => {
    const parsed = authorizeRequestSchema.safeParse(question(id));

    expect(parsed.success).toBe(false);
    expect(new Set(parsed.error?.issues.map((issue) => issue.path.join('.')))).toEqual(
      new Set(['subject.id']),
    );
  });

  it.each([
    ['id', 'exp_1\n<b>'],
    ['kind', 'experts<script>'],
    ['kind', 'exp erts'],
    ['classification', 'restricted\r\nX-Injected: 1'],
  ])('refuses a resource %s outside the safe set (%j)', (field, value) => {
    const parsed = authorizeRequestSchema.safeParse(question('alice', { [field]: value }));

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual([`resource.${field}`]);
  });

  it('refuses a batch with one unsafe subject id, naming it', () => {
    const parsed = authorizeBatchRequestSchema.safeParse({
      requests: [question('alice'), question('FORGED-2\nline2 <script>')],
    });

    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => issue.path.join('.'))).toEqual(['requests.1.subject.id']);
  });
});
