import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectUniformError, foreignToken, type Harness, startHarness, unsignedToken } from './harness.js';

const validExpert = {
  name: 'graph_ops',
  type: 'agent',
  costPerCallUsd: 0.004,
  endpoint: 'https://graph-ops.experts.example.com/v1/invoke',
  metadata: { domain: 'graphs', tier: 2 },
};

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.conductor.stop();
});

const countExperts = async (token: string): Promise<number> => {
  let count = 0;
  let cursor: string | undefined;
  do {
    const page = await h.call('GET', `/experts?limit=100${cursor ? `&cursor=${cursor}` : ''}`, { token });
    expect(page.status).toBe(200);
    count += page.json.items.length;
    cursor = page.json.nextCursor;
  } while (cursor);
  return count;
};

const createExpert = async (token: string, overrides: Record<string, unknown> = {}) => {
  const reply = await h.call('POST', '/experts', { token, body: { ...validExpert, ...overrides } });
  expect(reply.status, reply.text).toBe(201);
  return reply.json as { id: string; version: number; tenantId: string; name: string };
};

describe('the experts API over HTTP on the embedded runtime', () => {
  it('answers health without a token, with the version and trace headers', async () => {
    const reply = await h.call('GET', '/health');

    expect(reply.status).toBe(200);
    expect(reply.json.status).toBe('ok');
    expect(reply.headers.get('x-conductor-api-version')).toBe('v1');
    expect(reply.headers.get('x-conductor-trace-id')).toBeTruthy();
  });

  it('creates, reads, lists, updates and deletes an expert', async () => {
    const created = await createExpert(h.tokens.acmeAdmin ?? '');
    expect(created).toMatchObject({ ...validExpert, enabled: true, tenantId: 'acme', version: 1 });
    expect(created.id).toMatch(/^exp_/);

    const read = await h.call('GET', `/experts/${created.id}`, { token: h.tokens.acmeOperator });
    expect(read.status).toBe(200);
    expect(read.json).toEqual(created);
    expect(read.headers.get('etag')).toBe('"1"');

    const listed = await h.call('GET', '/experts', { token: h.tokens.acmeViewer });
    expect(listed.json.items.map((e: { id: string }) => e.id)).toContain(created.id);

    const updated = await h.call('PUT', `/experts/${created.id}`, {
      token: h.tokens.acmeAdmin,
      headers: { 'if-match': '"1"' },
      body: { ...validExpert, costPerCallUsd: 0.01, enabled: false },
    });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.json).toMatchObject({ id: created.id, version: 2, costPerCallUsd: 0.01, enabled: false });

    const deleted = await h.call('DELETE', `/experts/${created.id}`, { token: h.tokens.acmeAdmin });
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expectUniformError(
      await h.call('GET', `/experts/${created.id}`, { token: h.tokens.acmeViewer }),
      404,
      'expert_not_found',
    );
  });

  it('masks expert endpoints for viewers, as the policy obliges, and not for operators', async () => {
    const created = await createExpert(h.tokens.acmeAdmin ?? '');

    const asViewer = await h.call('GET', `/experts/${created.id}`, { token: h.tokens.acmeViewer });
    const asOperator = await h.call('GET', `/experts/${created.id}`, { token: h.tokens.acmeOperator });
    const listed = await h.call('GET', '/experts?limit=100', { token: h.tokens.acmeViewer });

    expect(asViewer.json.endpoint).toBe('[masked]');
    expect(asViewer.json.name).toBe(created.name);
    expect(asOperator.json.endpoint).toBe(validExpert.endpoint);
    expect(listed.text).not.toContain(validExpert.endpoint);
  });

  it('pages through a long list with an opaque cursor', async () => {
    const admin = h.tokens.globexAdmin ?? '';
    for (let i = 0; i < 7; i += 1) await createExpert(admin, { name: `pager-${i}` });
    const first = await h.call('GET', '/experts?limit=3', { token: admin });
    expect(first.json.items).toHaveLength(3);
    expect(typeof first.json.nextCursor).toBe('string');
    const second = await h.call('GET', `/experts?limit=3&cursor=${first.json.nextCursor}`, { token: admin });
    const firstIds = first.json.items.map((e: { id: string }) => e.id);
    for (const expert of second.json.items) expect(firstIds).not.toContain(expert.id);
  });

  describe('bad input gets the uniform error and changes nothing', () => {
    const cases: {
      name: string;
      status: number;
      code: string;
      rawBody?: string;
      body?: unknown;
      contentType?: string;
    }[] = [
      { name: 'malformed JSON', status: 400, code: 'malformed_json', rawBody: '{"name": "x",' },
      {
        name: 'wrong types',
        status: 400,
        code: 'validation_failed',
        body: { ...validExpert, costPerCallUsd: 'cheap' },
      },
      {
        name: 'a negative cost',
        status: 400,
        code: 'validation_failed',
        body: { ...validExpert, costPerCallUsd: -1 },
      },
      {
        name: 'unknown fields',
        status: 400,
        code: 'validation_failed',
        body: { ...validExpert, colour: 'blue' },
      },
      {
        name: 'a missing required field',
        status: 400,
        code: 'validation_failed',
        body: { type: 'agent', costPerCallUsd: 1, endpoint: validExpert.endpoint },
      },
      {
        name: 'an unknown expert type',
        status: 400,
        code: 'validation_failed',
        body: { ...validExpert, type: 'oracle' },
      },
      {
        name: 'a non-http endpoint',
        status: 400,
        code: 'validation_failed',
        body: { ...validExpert, endpoint: 'file:///etc/passwd' },
      },
      ...['constructor', '__proto__', 'toString', 'hasOwnProperty'].map((key) => ({
        name: `a metadata key named after Object.prototype (${key})`,
        status: 400,
        code: 'validation_failed',
        rawBody: JSON.stringify({ ...validExpert, metadata: {} }).replace(
          '"metadata":{}',
          `"metadata":{"${key}":"x"}`,
        ),
      })),
      { name: 'an empty body', status: 400, code: 'body_required', rawBody: '' },
      { name: 'a JSON array', status: 400, code: 'validation_failed', body: [validExpert] },
      {
        name: 'a body over the limit',
        status: 413,
        code: 'payload_too_large',
        body: { ...validExpert, metadata: { big: 'x'.repeat(1000) }, name: 'y'.repeat(300_000) },
      },
      {
        name: 'a non-JSON content type',
        status: 415,
        code: 'unsupported_media_type',
        rawBody: 'name=x',
        contentType: 'application/x-www-form-urlencoded',
      },
    ];

    for (const testCase of cases) {
      it(`refuses ${testCase.name}`, async () => {
        const before = await countExperts(h.tokens.acmeViewer ?? '');

        const reply = await h.call('POST', '/experts', {
          token: h.tokens.acmeAdmin,
          ...(testCase.rawBody !== undefined ? { rawBody: testCase.rawBody } : { body: testCase.body }),
          headers: { 'content-type': testCase.contentType ?? 'application/json' },
        });

        expectUniformError(reply, testCase.status, testCase.code);
        expect(await countExperts(h.tokens.acmeViewer ?? '')).toBe(before);
      });
    }

    it('names each offending field in the details', async () => {
      const reply = await h.call('POST', '/experts', {
        token: h.tokens.acmeAdmin,
        body: { ...validExpert, costPerCallUsd: 'cheap', colour: 'blue' },
      });

      expectUniformError(reply, 400, 'validation_failed');
      const paths = reply.json.details.issues.map((issue: { path: string }) => issue.path);
      expect(paths).toEqual(expect.arrayContaining(['body.costPerCallUsd', 'body.colour']));
    });

    it('refuses a malformed expert id in the path', async () => {
      expectUniformError(
        await h.call('GET', '/experts/not-an-id', { token: h.tokens.acmeViewer }),
        400,
        'validation_failed',
      );
    });

    it('refuses an If-Match that is not a version', async () => {
      const expert = await createExpert(h.tokens.acmeAdmin ?? '');
      const reply = await h.call('PUT', `/experts/${expert.id}`, {
        token: h.tokens.acmeAdmin,
        headers: { 'if-match': 'yesterday' },
        body: validExpert,
      });
      expectUniformError(reply, 400, 'validation_failed');
    });
  });

  describe('authentication and roles', () => {
    it('refuses a request without a token', async () => {
      expectUniformError(await h.call('GET', '/experts'), 401, 'unauthorized');
    });

    it('refuses an expired token', async () => {
      const expired = await h.conductor.issuer.mint({
        subject: 's',
        tenant: 'acme',
        roles: ['viewer'],
        expiresInSeconds: -120,
      });
      expectUniformError(await h.call('GET', '/experts', { token: expired }), 401, 'unauthorized');
    });

    it('refuses a token signed by another key', async () => {
      const token = await foreignToken(h.conductor.issuer.issuer, 'acme');
      expectUniformError(await h.call('GET', '/experts', { token }), 401, 'unauthorized');
    });

    it('refuses an unsigned alg:none token', async () => {
      const token = unsignedToken(h.conductor.issuer.issuer, 'acme');
      expectUniformError(await h.call('GET', '/experts', { token }), 401, 'unauthorized');
    });

    it('refuses a token for another audience', async () => {
      const token = await h.conductor.issuer.mint({
        subject: 's',
        tenant: 'acme',
        roles: ['viewer'],
        audience: 'someone-else',
      });
      expectUniformError(await h.call('GET', '/experts', { token }), 401, 'unauthorized');
    });

    it('refuses a token signed by the right key for another issuer', async () => {
      const token = await h.conductor.issuer.mint({
        subject: 's',
        tenant: 'acme',
        roles: ['viewer'],
        issuer: 'https://evil.example.com/oidc',
      });
      expectUniformError(await h.call('GET', '/experts', { token }), 401, 'unauthorized');
    });

    it('refuses a token without a tenant claim', async () => {
      const token = await h.conductor.issuer.mint({ subject: 's', roles: ['tenant-admin'] });
      expectUniformError(await h.call('GET', '/experts', { token }), 401, 'unauthorized');
    });

    it('refuses a viewer or operator who tries to create, update or delete', async () => {
      const expert = await createExpert(h.tokens.acmeAdmin ?? '');
      for (const token of [h.tokens.acmeViewer, h.tokens.acmeOperator]) {
        expectUniformError(
          await h.call('POST', '/experts', { token, body: validExpert }),
          403,
          'policy_denied',
        );
        expectUniformError(
          await h.call('PUT', `/experts/${expert.id}`, { token, body: validExpert }),
          403,
          'policy_denied',
        );
        expectUniformError(await h.call('DELETE', `/experts/${expert.id}`, { token }), 403, 'policy_denied');
      }
      const still = await h.call('GET', `/experts/${expert.id}`, { token: h.tokens.acmeOperator });
      expect(still.json).toEqual(expert);
    });

    it('ignores roles the token does not carry, whatever the body claims', async () => {
      const reply = await h.call('POST', '/experts', {
        token: h.tokens.acmeViewer,
        body: { ...validExpert, roles: ['org-admin'] },
      });
      expectUniformError(reply, 403, 'policy_denied');
    });
  });

  describe('tenant isolation', () => {
    it('never shows or changes one tenant’s expert to another tenant', async () => {
      const acmeExpert = await createExpert(h.tokens.acmeAdmin ?? '', { name: 'acme-secret-sauce' });
      const globex = h.tokens.globexAdmin;

      const list = await h.call('GET', '/experts?limit=100', { token: globex });
      expect(list.text).not.toContain(acmeExpert.id);
      expect(list.text).not.toContain('acme-secret-sauce');

      for (const reply of [
        await h.call('GET', `/experts/${acmeExpert.id}`, { token: globex }),
        await h.call('PUT', `/experts/${acmeExpert.id}`, {
          token: globex,
          body: { ...validExpert, name: 'pwned' },
        }),
        await h.call('DELETE', `/experts/${acmeExpert.id}`, { token: globex }),
      ]) {
        expectUniformError(reply, 404, 'expert_not_found');
        expect(reply.text).not.toContain('acme-secret-sauce');
      }

      const unchanged = await h.call('GET', `/experts/${acmeExpert.id}`, { token: h.tokens.acmeOperator });
      expect(unchanged.json).toEqual(acmeExpert);
    });

    it('refuses a cursor that points into another tenant’s partition', async () => {
      const forged = Buffer.from(JSON.stringify({ pk: 'T#acme#EXPERT', sk: 'exp_0' })).toString('base64url');
      expectUniformError(
        await h.call('GET', `/experts?cursor=${forged}`, { token: h.tokens.globexViewer }),
        400,
        'invalid_cursor',
      );
    });
  });

  describe('server-owned fields (mass assignment)', () => {
    it('cannot be set on create', async () => {
      const reply = await h.call('POST', '/experts', {
        token: h.tokens.acmeAdmin,
        body: {
          ...validExpert,
          id: 'exp_mine',
          tenantId: 'globex',
          version: 99,
          createdAt: '2000-01-01T00:00:00Z',
        },
      });
      expectUniformError(reply, 400, 'validation_failed');
      const paths = reply.json.details.issues.map((issue: { path: string }) => issue.path);
      expect(paths).toEqual(
        expect.arrayContaining(['body.id', 'body.tenantId', 'body.version', 'body.createdAt']),
      );
    });

    it('cannot be changed on update', async () => {
      const expert = await createExpert(h.tokens.acmeAdmin ?? '');
      const reply = await h.call('PUT', `/experts/${expert.id}`, {
        token: h.tokens.acmeAdmin,
        body: { ...validExpert, tenantId: 'globex', updatedAt: '2000-01-01T00:00:00Z' },
      });
      expectUniformError(reply, 400, 'validation_failed');
      const after = await h.call('GET', `/experts/${expert.id}`, { token: h.tokens.acmeOperator });
      expect(after.json).toEqual(expert);
    });
  });

  describe('expert endpoints', () => {
    const refused = [
      'http://10.0.0.5/invoke',
      'http://192.168.1.20:8080/invoke',
      'http://169.254.169.254/latest/meta-data/',
      'http://localhost:9000/invoke',
      'http://127.0.0.1/invoke',
      'http://[::1]/invoke',
      'http://[fd00::1]/invoke',
      'http://0x7f.1/invoke',
      'http://metadata.google.internal/computeMetadata/v1/',
      'https://experts.example.com:6379/invoke',
    ];
    for (const endpoint of refused) {
      it(`refuses ${endpoint} with a clear error`, async () => {
        const reply = await h.call('POST', '/experts', {
          token: h.tokens.acmeAdmin,
          body: { ...validExpert, endpoint },
        });
        expectUniformError(reply, 422);
        expect(reply.json.code).toMatch(/^endpoint_/);
        expect(reply.json.message.length).toBeGreaterThan(20);
      });
    }

    it('refuses moving an existing expert onto a private address', async () => {
      const expert = await createExpert(h.tokens.acmeAdmin ?? '');
      const reply = await h.call('PUT', `/experts/${expert.id}`, {
        token: h.tokens.acmeAdmin,
        body: { ...validExpert, endpoint: 'http://10.1.2.3/x' },
      });
      expectUniformError(reply, 422);
      const after = await h.call('GET', `/experts/${expert.id}`, { token: h.tokens.acmeOperator });
      expect(after.json.endpoint).toBe(validExpert.endpoint);
    });
  });

  describe('concurrent updates', () => {
    it('lets exactly one of two writers holding the same version win', async () => {
      const expert = await createExpert(h.tokens.acmeAdmin ?? '');
      const [a, b] = await Promise.all(
        ['first', 'second'].map((name) =>
          h.call('PUT', `/experts/${expert.id}`, {
            token: h.tokens.acmeAdmin,
            headers: { 'if-match': `"${expert.version}"` },
            body: { ...validExpert, name },
          }),
        ),
      );
      const statuses = [a?.status, b?.status].sort();
      expect(statuses).toEqual([200, 409]);
      const after = await h.call('GET', `/experts/${expert.id}`, { token: h.tokens.acmeOperator });
      expect(after.json.version).toBe(2);
    });
  });

  describe('gateway behaviour', () => {
    it('echoes a caller-supplied trace id', async () => {
      const reply = await h.call('GET', '/experts', {
        token: h.tokens.acmeViewer,
        headers: { 'x-conductor-trace-id': 'client-trace-12345' },
      });
      expect(reply.headers.get('x-conductor-trace-id')).toBe('client-trace-12345');
    });

    it('answers unknown paths with a uniform 404 and wrong methods with a 405', async () => {
      expectUniformError(await h.call('GET', '/no-such-thing'), 404, 'route_not_found');
      const wrong = await h.call('PATCH', '/experts', { token: h.tokens.acmeAdmin });
      expectUniformError(wrong, 405, 'method_not_allowed');
      expect(wrong.headers.get('allow')).toBe('GET, POST');
    });

    it('serves the OpenAPI 3.1 document listing the experts operations', async () => {
      const reply = await h.call('GET', '/openapi.json');
      expect(reply.status).toBe(200);
      expect(reply.json.openapi).toBe('3.1.0');
      expect(Object.keys(reply.json.paths)).toEqual(
        expect.arrayContaining(['/api/conductor/v1/experts', '/api/conductor/v1/experts/{expertId}']),
      );
      expect(reply.json.paths['/api/conductor/v1/experts'].post.operationId).toBe('createExpert');
    });
  });
});
