import { describe, expect, it } from 'vitest';
import { redactSecrets, tracingFor } from '#shared/telemetry.js';

/** Nests `leaf` `levels` objects deep: { level: { level: ... leaf } }. */
const nested = (levels: number, leaf: Record<string, unknown>): Record<string, unknown> => {
  let value: Record<string, unknown> = leaf;
  for (let level = 0; level < levels; level += 1) value = { level: value };
  return value;
};

describe('redactSecrets', () => {
  it.each([
    'authorization',
    'Authorization',
    'cookie',
    'set-cookie',
    'password',
    'secret',
    'token',
    'access_token',
    'accessToken',
    'id_token',
    'refreshToken',
    'api_key',
    'x-api-key',
    'private_key',
    'client_secret',
  ])('redacts the value under %s', (key) => {
    // Act
    const redacted = redactSecrets({ [key]: 'the-secret-value', keep: 'visible' });

    // Assess
    expect(redacted).toEqual({ [key]: '[redacted]', keep: 'visible' });
  });

  it('redacts secrets inside nested objects and arrays and keeps everything else', () => {
    // Prepare
    const logged = {
      request: { headers: { Authorization: 'Bearer eyJhbGciOi', accept: 'application/json' } },
      users: [
        { name: 'ada', password: 'hunter2' },
        { name: 'bob', token: 'tok_123' },
      ],
    };

    // Act
    const redacted = redactSecrets(logged);

    // Assess
    expect(redacted).toEqual({
      request: { headers: { Authorization: '[redacted]', accept: 'application/json' } },
      users: [
        { name: 'ada', password: '[redacted]' },
        { name: 'bob', token: '[redacted]' },
      ],
    });
  });

  it('redacts a secret whatever value it holds, objects included', () => {
    // Act
    const redacted = redactSecrets({ token: { value: 'abc', kind: 'jwt' }, secret: 42 });

    // Assess
    expect(redacted).toEqual({ token: '[redacted]', secret: '[redacted]' });
  });

  it('does not change the object it was given', () => {
    // Prepare
    const logged = { headers: { authorization: 'Bearer abc' } };

    // Act
    redactSecrets(logged);

    // Assess
    expect(logged.headers.authorization).toBe('Bearer abc');
  });

  it('leaves keys that merely contain a secret word alone', () => {
    // Act
    const redacted = redactSecrets({ tokenCount: 3, passwordPolicy: 'strong' });

    // Assess
    expect(redacted).toEqual({ tokenCount: 3, passwordPolicy: 'strong' });
  });

  it.each([0, 1, 5, 8, 9, 12, 30])(
    'lets no password, token or authorization through when nested %i levels deep',
    (levels) => {
      // Prepare
      const logged = nested(levels, { password: 'pw-LEAK', token: 'tok-LEAK', authorization: 'Bearer LEAK' });

      // Act
      const serialized = JSON.stringify(redactSecrets(logged));

      // Assess
      expect(serialized).not.toContain('LEAK');
    },
  );

  it('passes primitives, null and undefined through unchanged', () => {
    // Act / Assess
    expect([redactSecrets('text'), redactSecrets(7), redactSecrets(null), redactSecrets(undefined)]).toEqual([
      'text',
      7,
      null,
      undefined,
    ]);
  });
});

describe('tracingFor', () => {
  it('passes clients and operations through untouched when tracing is off', async () => {
    // Prepare
    const previous = process.env.POWERTOOLS_TRACE_ENABLED;
    process.env.POWERTOOLS_TRACE_ENABLED = 'false';
    try {
      const client = { send: () => 'sent' };

      // Act
      const tracing = await tracingFor('router');
      const value = await tracing.traceOperation('routeTask', async () => 42);

      // Assess
      expect(tracing.instrument(client)).toBe(client);
      expect(value).toBe(42);
      await expect(
        tracing.traceOperation('routeTask', () => Promise.reject(new Error('boom'))),
      ).rejects.toThrow('boom');
    } finally {
      if (previous === undefined) delete process.env.POWERTOOLS_TRACE_ENABLED;
      else process.env.POWERTOOLS_TRACE_ENABLED = previous;
    }
  });

  it('runs operations outside Lambda even with tracing on (no segment to hang them on)', async () => {
    const previous = process.env.POWERTOOLS_TRACE_ENABLED;
    delete process.env.POWERTOOLS_TRACE_ENABLED;
    try {
      const tracing = await tracingFor('router');
      expect(await tracing.traceOperation('routeTask', async () => 'done')).toBe('done');
    } finally {
      if (previous !== undefined) process.env.POWERTOOLS_TRACE_ENABLED = previous;
    }
  });
});
