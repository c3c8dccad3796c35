import { createLocalJWKSet, exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { bind, httpApp, type RouteSpec, roleLadderAuthorizer } from '#shared/http/http.js';
import {
  JWT_AUDIENCES_ENV,
  JWT_ISSUER_ENV,
  type JwtVerifier,
  jwtVerifierFromEnv,
  makeJwtVerifier,
  TokenRejectedError,
  VERIFY_JWT_ENV,
} from '#shared/http/jwt-verify.js';
import { httpEvent } from '#shared/testing/events.js';
import { silentLogger } from '#shared/testing/fakes.js';
import { invoke } from '#shared/testing/invoke.js';

/** The function's own token check (CONDUCTOR_VERIFY_JWT) and the local gateway's, one verifier. */
const ISSUER = 'https://issuer.test/pool';
const KID = 'key-1';
const NOW_SECONDS = 1_767_225_600;

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;
let key: KeyPair;
let otherKey: KeyPair;
let verify: JwtVerifier;

interface TokenOptions {
  readonly claims?: JWTPayload;
  readonly header?: { alg?: string; kid?: string | undefined };
  readonly issuer?: string;
  readonly audience?: string | undefined;
  readonly issuedAt?: number | undefined;
  readonly expiresAt?: number | undefined;
  readonly signWith?: KeyPair;
}

/** A token of the issuer: a user of acme, valid one hour from NOW; each option changes one thing. */
const token = (options: TokenOptions = {}): Promise<string> => {
  const jwt = new SignJWT({
    tenant: 'acme',
    'cognito:groups': ['tenant-admin'],
    ...options.claims,
  })
    .setProtectedHeader({ alg: 'RS256', kid: KID, ...options.header } as { alg: string })
    .setIssuer(options.issuer ?? ISSUER)
    .setSubject('user-1');
  if (!('audience' in options) || options.audience !== undefined)
    jwt.setAudience(options.audience ?? 'app-client');
  if (!('issuedAt' in options) || options.issuedAt !== undefined)
    jwt.setIssuedAt(options.issuedAt ?? NOW_SECONDS);
  if (!('expiresAt' in options) || options.expiresAt !== undefined)
    jwt.setExpirationTime(options.expiresAt ?? NOW_SECONDS + 3600);
  return jwt.sign((options.signWith ?? key).privateKey);
};

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (error: unknown) => (error instanceof TokenRejectedError ? 'rejected' : `threw ${String(error)}`),
  );

beforeAll(async () => {
  key = await generateKeyPair('RS256', { extractable: true });
  otherKey = await generateKeyPair('RS256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(key.publicKey)), kid: KID, alg: 'RS256', use: 'sig' }] };
  verify = makeJwtVerifier({
    issuer: ISSUER,
    audiences: ['app-client', 'machine-client'],
    keys: createLocalJWKSet(jwks),
    now: () => NOW_SECONDS * 1000,
  });
});

describe('makeJwtVerifier', () => {
  it('accepts a token of the issuer and answers its claims', async () => {
    // Act
    const claims = await verify(await token());

    // Assess
    expect(claims).toMatchObject({ sub: 'user-1', tenant: 'acme', 'cognito:groups': ['tenant-admin'] });
  });

  it('accepts an access token without aud whose client_id is an accepted audience, as API Gateway does', async () => {
    // Act
    const outcome = await rejection(
      verify(await token({ audience: undefined, claims: { client_id: 'machine-client' } })),
    );

    // Assess
    expect(outcome).toBe('accepted');
  });

  it('accepts an iat a little ahead of its clock (clock skew within 60 s)', async () => {
    // Act
    const outcome = await rejection(verify(await token({ issuedAt: NOW_SECONDS + 30 })));

    // Assess
    expect(outcome).toBe('accepted');
  });

  it('refuses a token whose payload was changed after signing', async () => {
    // Prepare
    const [header, , signature] = (await token()).split('.');
    const forged = Buffer.from(
      JSON.stringify({
        iss: ISSUER,
        aud: 'app-client',
        sub: 'user-1',
        tenant: 'acme',
        'cognito:groups': ['org-admin'],
        iat: NOW_SECONDS,
        exp: NOW_SECONDS + 3600,
      }),
    ).toString('base64url');

    // Act
    const outcome = await rejection(verify(`${header}.${forged}.${signature}`));

    // Assess
    expect(outcome).toBe('rejected');
  });

  it.each<[string, () => Promise<string>]>([
    ['signed by another key under the same kid', () => token({ signWith: otherKey })],
    ['expired', () => token({ issuedAt: NOW_SECONDS - 7200, expiresAt: NOW_SECONDS - 60 })],
    ['of another issuer', () => token({ issuer: 'https://evil.test/pool' })],
    ['for another audience', () => token({ audience: 'other-app' })],
    [
      'for another audience, whatever its client_id says',
      () => token({ audience: 'other-app', claims: { client_id: 'app-client' } }),
    ],
    ['without exp', () => token({ expiresAt: undefined })],
    ['without iat', () => token({ issuedAt: undefined })],
    ['with an iat more than 60 s ahead', () => token({ issuedAt: NOW_SECONDS + 120 })],
    [
      'older than the maximum token age (24 h), though its exp is ahead',
      () => token({ issuedAt: NOW_SECONDS - 25 * 3600, expiresAt: NOW_SECONDS + 3600 }),
    ],
    ['without kid', () => token({ header: { kid: undefined } })],
    ['with a kid the issuer does not publish', () => token({ header: { kid: 'key-2' } })],
  ])('refuses a token %s', async (_, mint) => {
    // Act
    const outcome = await rejection(verify(await mint()));

    // Assess
    expect(outcome).toBe('rejected');
  });

  it.each<[string, string]>([
    ['unsigned (alg none)', 'none'],
    ['signed with a shared secret (HS256)', 'HS256'],
  ])('refuses a token %s', async (_, alg) => {
    // Prepare
    const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${encode({ alg, kid: KID })}.${encode({ iss: ISSUER, aud: 'app-client', sub: 'x', iat: NOW_SECONDS, exp: NOW_SECONDS + 60 })}.`;

    // Act
    const outcome = await rejection(verify(unsigned));

    // Assess
    expect(outcome).toBe('rejected');
  });

  it('names the failed check in its error, never the token', async () => {
    // Prepare
    const expired = await token({ issuedAt: NOW_SECONDS - 7200, expiresAt: NOW_SECONDS - 60 });

    // Act
    const error = await verify(expired).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(TokenRejectedError);
    expect((error as Error).message).not.toContain(expired.split('.')[1]);
  });
});

describe('jwtVerifierFromEnv', () => {
  it('verifies nothing unless CONDUCTOR_VERIFY_JWT is on', () => {
    // Act / Assess
    expect(jwtVerifierFromEnv({})).toBeUndefined();
    expect(jwtVerifierFromEnv({ [VERIFY_JWT_ENV]: '0' })).toBeUndefined();
  });

  it.each<[string, NodeJS.ProcessEnv, string]>([
    ['no issuer', { [VERIFY_JWT_ENV]: '1', [JWT_AUDIENCES_ENV]: 'app-client' }, JWT_ISSUER_ENV],
    ['no audience', { [VERIFY_JWT_ENV]: 'true', [JWT_ISSUER_ENV]: ISSUER }, JWT_AUDIENCES_ENV],
  ])('refuses to start with %s, naming the variable', (_, env, variable) => {
    // Act / Assess
    expect(() => jwtVerifierFromEnv(env)).toThrow(variable);
  });

  it('builds a verifier from the issuer and the audiences', () => {
    // Act
    const verifier = jwtVerifierFromEnv({
      [VERIFY_JWT_ENV]: '1',
      [JWT_ISSUER_ENV]: ISSUER,
      [JWT_AUDIENCES_ENV]: 'app-client, machine-client',
    });

    // Assess
    expect(verifier).toBeTypeOf('function');
  });
});

describe('httpApp with the function’s own verification', () => {
  const route = {
    operationId: 'adminWork',
    method: 'POST',
    path: '/work',
    summary: 'test route',
    tag: 'test',
    auth: 'jwt',
    minRole: 'tenant-admin',
    action: 'test:work',
    body: z.strictObject({}),
    success: { status: 200, description: 'ok' },
    errors: [],
  } as const satisfies RouteSpec;
  const app = () =>
    httpApp({
      logger: silentLogger(),
      authorize: roleLadderAuthorizer,
      verifyToken: verify,
      routes: [
        bind(route, async ({ principal }) => ({ subject: principal.subject, roles: principal.roles })),
      ],
    });
  /** What a caller that reached the function around the API might send: any claims, any token. */
  const event = (bearer: string) => {
    const base = httpEvent({
      method: 'POST',
      path: '/work',
      body: {},
      claims: { sub: 'intruder', tenant: 'acme', 'cognito:groups': ['org-admin'] },
    });
    return { ...base, headers: { ...base.headers, authorization: `Bearer ${bearer}` } };
  };

  it('reads the caller from the token it verified, not from the claims in the event', async () => {
    // Act
    const reply = await invoke(app(), event(await token()));

    // Assess
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ subject: 'user-1', roles: ['tenant-admin'] });
  });

  it('answers 401 to a token it cannot verify, whatever claims the event carries', async () => {
    // Act
    const reply = await invoke(app(), event(await token({ signWith: otherKey })));

    // Assess
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({
      code: 'unauthorized',
      message: 'The bearer token is invalid or expired.',
    });
  });

  it('refuses a group name with a space in the verified token’s array, where it is seen whole', async () => {
    // Act
    const reply = await invoke(app(), event(await token({ claims: { 'cognito:groups': ['viewer admin'] } })));

    // Assess
    expect(reply.status).toBe(403);
  });
});
