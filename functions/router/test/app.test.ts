import { describe, expect, it } from 'vitest';
import { API_BASE, roleLadderAuthorizer } from '#shared/http/http.js';
import { ManualClock, SequentialIds } from '#shared/ports/system.js';
import { httpEvent, principalClaims } from '#shared/testing/events.js';
import { InMemoryTenantRecords, silentLogger } from '#shared/testing/fakes.js';
import { invoke } from '#shared/testing/invoke.js';
import { expectedVersionOf, makeRouterApp } from '../src/app.js';
import { type Expert, ExpertService } from '../src/domain/experts.js';
import { inMemoryRouting } from './support/routing-fakes.js';

const acmeAdmin = principalClaims({ tenant: 'acme', roles: ['admin'] });
const globexAdmin = principalClaims({ tenant: 'globex', roles: ['admin'] });

const expertInput = {
  name: 'large-model',
  type: 'model',
  costPerCallUsd: 0.002,
  endpoint: 'https://models.example.com/v1/complete',
};

const setup = () => {
  const repository = new InMemoryTenantRecords<Expert>('EXPERT');
  const app = makeRouterApp({
    logger: silentLogger(),
    experts: new ExpertService({
      repository,
      endpointPolicy: () => ({ ok: true }),
      clock: new ManualClock(),
      ids: new SequentialIds(),
    }),
    ...inMemoryRouting(repository).appDeps,
    authorize: roleLadderAuthorizer,
  });
  const create = (claims = acmeAdmin, body: object = expertInput) =>
    invoke(app, httpEvent({ method: 'POST', path: '/experts', body, claims }));
  const onExpert = (
    method: 'GET' | 'PUT' | 'DELETE',
    id: string,
    options: { claims?: Record<string, unknown>; headers?: Record<string, string>; body?: object } = {},
  ) =>
    invoke(
      app,
      httpEvent({
        method,
        path: `/experts/${id}`,
        pathParameters: { expertId: id },
        claims: options.claims ?? acmeAdmin,
        ...(options.headers ? { headers: options.headers } : {}),
        ...(options.body ? { body: options.body } : {}),
      }),
    );
  return { app, repository, create, onExpert };
};

describe('router app', () => {
  it('creates an expert with 201, its version as ETag and a Location that resolves to it', async () => {
    // Prepare
    const { create } = setup();

    // Act
    const reply = await create();

    // Assess
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      ...expertInput,
      metadata: {},
      enabled: true,
      version: 1,
      tenantId: 'acme',
    });
    expect(reply.headers.etag).toBe('"1"');
    expect(new URL(reply.headers.location ?? '', `https://api.test${API_BASE}/experts`).pathname).toBe(
      `${API_BASE}/experts/${reply.body.id}`,
    );
  });

  it('reads an expert with its version as ETag', async () => {
    // Prepare
    const { create, onExpert } = setup();
    const { body: created } = await create();

    // Act
    const reply = await onExpert('GET', created.id);

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual(created);
    expect(reply.headers.etag).toBe('"1"');
  });

  it('updates on a matching If-Match and answers the new ETag', async () => {
    // Prepare
    const { create, onExpert } = setup();
    const { body: created } = await create();

    // Act
    const reply = await onExpert('PUT', created.id, {
      headers: { 'If-Match': '"1"' },
      body: { ...expertInput, name: 'renamed' },
    });

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ name: 'renamed', version: 2 });
    expect(reply.headers.etag).toBe('"2"');
  });

  it('refuses an update on a stale If-Match with 409', async () => {
    // Prepare
    const { create, onExpert } = setup();
    const { body: created } = await create();
    await onExpert('PUT', created.id, { body: { ...expertInput, name: 'second' } });

    // Act
    const reply = await onExpert('PUT', created.id, {
      headers: { 'if-match': '1' },
      body: { ...expertInput, name: 'stale' },
    });

    // Assess
    expect(reply.status).toBe(409);
    expect(reply.body.code).toBe('version_conflict');
  });

  it('refuses an If-Match that is not a version with 400 naming the header', async () => {
    // Prepare
    const { create, onExpert } = setup();
    const { body: created } = await create();

    // Act
    const reply = await onExpert('DELETE', created.id, { headers: { 'If-Match': '"abc"' } });

    // Assess
    expect(reply.status).toBe(400);
    expect(reply.body.details.issues).toEqual([{ path: 'headers.if-match', message: 'not a version' }]);
  });

  it('deletes with 204 and an empty body, after which the expert is gone', async () => {
    // Prepare
    const { create, onExpert } = setup();
    const { body: created } = await create();

    // Act
    const reply = await onExpert('DELETE', created.id, { headers: { 'If-Match': 'W/"1"' } });

    // Assess
    expect(reply.status).toBe(204);
    expect(reply.text).toBe('');
    expect((await onExpert('GET', created.id)).status).toBe(404);
  });

  it('answers 404 when one tenant reads, updates or deletes another tenant’s expert, which stays as it was', async () => {
    // Prepare
    const { create, onExpert, repository } = setup();
    const { body: theirs } = await create(globexAdmin);

    // Act
    const replies = await Promise.all([
      onExpert('GET', theirs.id),
      onExpert('PUT', theirs.id, { body: { ...expertInput, name: 'hijacked' } }),
      onExpert('DELETE', theirs.id),
    ]);

    // Assess
    expect(replies.map((reply) => [reply.status, reply.body.code])).toEqual([
      [404, 'expert_not_found'],
      [404, 'expert_not_found'],
      [404, 'expert_not_found'],
    ]);
    expect(repository.all()).toEqual([theirs]);
  });

  it('lists a page at a time through limit and cursor query parameters', async () => {
    // Prepare
    const { app, create } = setup();
    for (const name of ['one', 'two', 'three']) await create(acmeAdmin, { ...expertInput, name });
    await create(globexAdmin);
    const list = (query: Record<string, string>) =>
      invoke(
        app,
        httpEvent({
          method: 'GET',
          path: '/experts',
          query,
          claims: principalClaims({ tenant: 'acme', roles: ['viewer'] }),
        }),
      );

    // Act
    const first = await list({ limit: '2' });
    const second = await list({ limit: '2', cursor: first.body.nextCursor });

    // Assess
    expect(first.body.items.map((expert: Expert) => expert.name)).toEqual(['one', 'two']);
    expect(second.body.items.map((expert: Expert) => expert.name)).toEqual(['three']);
  });

  it('refuses a cursor that is not the caller’s with 400 invalid_cursor', async () => {
    // Prepare
    const { app, create } = setup();
    await create(globexAdmin);
    await create(globexAdmin, { ...expertInput, name: 'second' });
    const globexPage = await invoke(
      app,
      httpEvent({ method: 'GET', path: '/experts', query: { limit: '1' }, claims: globexAdmin }),
    );

    // Act
    const reply = await invoke(
      app,
      httpEvent({
        method: 'GET',
        path: '/experts',
        query: { cursor: globexPage.body.nextCursor },
        claims: acmeAdmin,
      }),
    );

    // Assess
    expect(reply.status).toBe(400);
    expect(reply.body.code).toBe('invalid_cursor');
  });
});

describe('expectedVersionOf', () => {
  it.each([
    ['"3"', 3],
    ['3', 3],
    ['W/"12"', 12],
    [' "7" ', 7],
  ])('reads If-Match %s as version %i', (header, version) => {
    // Act / Assess
    expect(
      expectedVersionOf(
        httpEvent({ method: 'PUT', path: '/experts/exp_1', headers: { 'If-Match': header } }),
      ),
    ).toBe(version);
  });

  it('reads no If-Match as no expectation', () => {
    // Act / Assess
    expect(expectedVersionOf(httpEvent({ method: 'PUT', path: '/experts/exp_1' }))).toBeUndefined();
  });

  it.each(['"abc"', '-1', '"1", "2"', '1.5', ''])('refuses If-Match %j', (header) => {
    // Act / Assess
    expect(() =>
      expectedVersionOf(
        httpEvent({ method: 'PUT', path: '/experts/exp_1', headers: { 'If-Match': header } }),
      ),
    ).toThrow('If-Match');
  });
});
