import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rolesClaimFromEnv } from '#shared/http/claims.js';
import type { LocalMachineClient } from '../../infra/local/oidc.js';
import { createModelExpert, type Harness, startHarness } from './harness.js';

let h: Harness;
let acmeService: LocalMachineClient;
const experts: Record<string, string> = {};

const basic = (client: Pick<LocalMachineClient, 'clientId' | 'clientSecret'>) =>
  `Basic ${Buffer.from(`${client.clientId}:${client.clientSecret}`).toString('base64')}`;

/** A client-credentials request to the local issuer's token endpoint, as a service sends it to Cognito. */
const requestToken = (form: Record<string, string>, authorization?: string) =>
  fetch(`${h.conductor.issuer.issuer}/oauth2/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(authorization ? { authorization } : {}),
    },
    body: new URLSearchParams(form).toString(),
  });

const tokenOf = async (client: LocalMachineClient, scope?: string): Promise<string> => {
  const reply = await requestToken(
    { grant_type: 'client_credentials', ...(scope ? { scope } : {}) },
    basic(client),
  );
  expect(reply.status).toBe(200);
  return ((await reply.json()) as { access_token: string }).access_token;
};

const createExpert = (token: string, name: string): Promise<string> => createModelExpert(h, token, name);

beforeAll(async () => {
  h = await startHarness();
  const found = h.conductor.issuer.machineClients.find((client) => client.tenant === 'acme');
  if (!found) throw new Error('the local issuer registers no acme service');
  acmeService = found;
  experts.acme = await createExpert(h.tokens.acmeAdmin ?? '', 'acme-model');
  experts.globex = await createExpert(h.tokens.globexAdmin ?? '', 'globex-model');
});
afterAll(async () => {
  await h.conductor.stop();
});

describe('the local token endpoint', () => {
  it('issues a Cognito-shaped access token: the client as subject, its scopes, no audience, no tenant claim', async () => {
    // Act
    const reply = await requestToken({ grant_type: 'client_credentials' }, basic(acmeService));

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.headers.get('cache-control')).toBe('no-store');
    const body = (await reply.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    const claims = decodeJwt(body.access_token);
    expect(claims).toMatchObject({
      sub: acmeService.clientId,
      client_id: acmeService.clientId,
      token_use: 'access',
      scope: 'conductor/viewer conductor/operator',
    });
    expect(claims).not.toHaveProperty('aud');
    expect(claims).not.toHaveProperty('tenant');
    expect(claims).not.toHaveProperty('roles');
    expect(claims).not.toHaveProperty(rolesClaimFromEnv());
  });

  it('accepts the client secret in the form instead of HTTP Basic', async () => {
    // Act
    const reply = await requestToken({
      grant_type: 'client_credentials',
      client_id: acmeService.clientId,
      client_secret: acmeService.clientSecret,
    });

    // Assess
    expect(reply.status).toBe(200);
  });

  it.each<[string, Record<string, string>, string | undefined, number, string]>([
    ['a wrong secret', { grant_type: 'client_credentials' }, 'wrong', 401, 'invalid_client'],
    ['no client authentication', { grant_type: 'client_credentials' }, undefined, 401, 'invalid_client'],
    ['another grant type', { grant_type: 'password' }, 'right', 400, 'unsupported_grant_type'],
    [
      'a scope the client is not allowed',
      { grant_type: 'client_credentials', scope: 'conductor/admin' },
      'right',
      400,
      'invalid_scope',
    ],
  ])('refuses %s', async (_, form, secret, status, error) => {
    // Prepare
    const authorization =
      secret === undefined
        ? undefined
        : basic({
            clientId: acmeService.clientId,
            clientSecret: secret === 'right' ? acmeService.clientSecret : 'x',
          });

    // Act
    const reply = await requestToken(form, authorization);

    // Assess
    expect(reply.status).toBe(status);
    expect(((await reply.json()) as { error: string }).error).toBe(error);
  });

  it('announces the token endpoint in the discovery document', async () => {
    // Act
    const reply = await fetch(`${h.conductor.issuer.issuer}/.well-known/openid-configuration`);

    // Assess
    expect(((await reply.json()) as { token_endpoint: string }).token_endpoint).toBe(
      `${h.conductor.issuer.issuer}/oauth2/token`,
    );
  });
});

describe('a service calling the API with a client-credentials token', () => {
  it('routes a task for its own tenant', async () => {
    // Prepare
    const token = await tokenOf(acmeService);

    // Act
    const reply = await h.call('POST', '/router/route', {
      token,
      body: { taskId: 'machine-task-1', context: { lang: 'en' }, candidates: [experts.acme] },
    });

    // Assess
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json.expertId).toBe(experts.acme);
  });

  it('cannot act as another tenant by naming it', async () => {
    // Prepare
    const token = await tokenOf(acmeService);

    // Act
    const reply = await h.call('POST', '/router/route', {
      token,
      headers: { 'x-conductor-tenant': 'globex' },
      body: { taskId: 'machine-task-2', context: { lang: 'en' }, candidates: [experts.globex] },
    });

    // Assess
    expect(reply.status, reply.text).toBe(403);
    expect(reply.json.code).toBe('policy_denied');
  });

  it('sees only its own tenant’s experts', async () => {
    // Prepare
    const token = await tokenOf(acmeService);

    // Act
    const reply = await h.call('GET', '/experts', { token });

    // Assess
    expect(reply.status, reply.text).toBe(200);
    const ids = (reply.json.items as { id: string }[]).map((expert) => expert.id);
    expect(ids).toContain(experts.acme);
    expect(ids).not.toContain(experts.globex);
  });

  it('holds only the roles its token asked for: a viewer-scoped token may not route', async () => {
    // Prepare
    const token = await tokenOf(acmeService, 'conductor/viewer');

    // Act
    const reply = await h.call('POST', '/router/route', {
      token,
      body: { taskId: 'machine-task-3', context: { lang: 'en' }, candidates: [experts.acme] },
    });

    // Assess
    expect(reply.status, reply.text).toBe(403);
  });

  it('is refused when its token claims another tenant than the client is bound to', async () => {
    // Prepare: a token of the right issuer for the client, carrying a tenant claim of its own
    const forged = await h.conductor.issuer.mint({
      subject: acmeService.clientId,
      tenant: 'globex',
      audience: acmeService.clientId,
      extraClaims: { client_id: acmeService.clientId, scope: 'conductor/operator', token_use: 'access' },
    });

    // Act
    const reply = await h.call('GET', '/experts', { token: forged });

    // Assess
    expect(reply.status, reply.text).toBe(401);
  });

  it('is refused at the gateway when its client is unknown to the issuer', async () => {
    // Prepare: a well-signed access token of a client the gateway does not accept as audience
    const stranger = await h.conductor.issuer.mint({
      subject: 'stranger',
      audience: 'stranger',
      extraClaims: { client_id: 'stranger', scope: 'conductor/operator', token_use: 'access' },
    });

    // Act
    const reply = await h.call('GET', '/experts', { token: stranger });

    // Assess
    expect(reply.status).toBe(401);
  });
});
