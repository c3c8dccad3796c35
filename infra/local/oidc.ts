import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  type JSONWebKeySet,
  type JWK,
  type JWTPayload,
  jwtVerify,
  SignJWT,
} from 'jose';
import type { Role } from '#shared/ports/identity.js';

/**
 * A local OIDC issuer standing in for Cognito: an RS256 key pair (kept under .conductor/ so tokens
 * survive a restart), its JWKS, and token minting for demo principals. The embedded gateway
 * verifies tokens exactly as API Gateway's JWT authorizer does: signature against the JWKS, `iss`,
 * `aud`, `exp`/`nbf`, RS256 only.
 */
export const LOCAL_AUDIENCE = 'conductor';
const KID = 'conductor-local-1';

export interface DemoToken {
  readonly label: string;
  readonly tenant: string;
  readonly roles: readonly Role[];
  readonly token: string;
}

export interface TokenRequest {
  readonly subject: string;
  readonly tenant?: string;
  readonly roles?: readonly string[];
  readonly amr?: readonly string[];
  /** Lifetime in seconds (default 12 hours). Negative values mint expired tokens, for tests. */
  readonly expiresInSeconds?: number;
  readonly audience?: string;
  /** Sign with this `iss` instead of the issuer's own (to test that other issuers are refused). */
  readonly issuer?: string;
  readonly extraClaims?: Readonly<Record<string, unknown>>;
}

export class LocalIssuer {
  private constructor(
    readonly issuer: string,
    private readonly privateKey: Awaited<ReturnType<typeof importJWK>>,
    readonly jwks: JSONWebKeySet,
  ) {}

  /** Loads the key pair from `keyFile` (creating it on first start) or keeps it in memory if undefined. */
  static async create(issuer: string, keyFile?: string): Promise<LocalIssuer> {
    let privateJwk: JWK;
    if (keyFile && existsSync(keyFile)) {
      privateJwk = JSON.parse(readFileSync(keyFile, 'utf8')) as JWK;
    } else {
      const pair = await generateKeyPair('RS256', { extractable: true });
      privateJwk = { ...(await exportJWK(pair.privateKey)), kid: KID, alg: 'RS256', use: 'sig' };
      if (keyFile) {
        mkdirSync(dirname(keyFile), { recursive: true });
        writeFileSync(keyFile, JSON.stringify(privateJwk), { mode: 0o600 });
      }
    }
    const { d, p, q, dp, dq, qi, ...publicJwk } = privateJwk;
    const privateKey = await importJWK(privateJwk, 'RS256');
    return new LocalIssuer(issuer, privateKey, {
      keys: [{ ...publicJwk, kid: KID, alg: 'RS256', use: 'sig' }],
    });
  }

  get openIdConfiguration(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/.well-known/jwks.json`,
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
    };
  }

  async mint(request: TokenRequest): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const lifetime = request.expiresInSeconds ?? 12 * 3600;
    const claims: JWTPayload = {
      ...(request.tenant ? { tenant: request.tenant } : {}),
      ...(request.roles ? { roles: [...request.roles] } : {}),
      ...(request.amr ? { amr: [...request.amr] } : {}),
      ...request.extraClaims,
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'JWT' })
      .setIssuer(request.issuer ?? this.issuer)
      .setAudience(request.audience ?? LOCAL_AUDIENCE)
      .setSubject(request.subject)
      .setIssuedAt(lifetime < 0 ? now + lifetime - 60 : now)
      .setExpirationTime(now + lifetime)
      .sign(this.privateKey);
  }

  /** The demo principals printed at start: viewer, operator and tenant-admin of acme and globex, one org-admin. */
  async demoTokens(): Promise<DemoToken[]> {
    const specs: { label: string; tenant: string; roles: Role[]; amr?: string[] }[] = [];
    for (const tenant of ['acme', 'globex']) {
      specs.push({ label: `${tenant}-viewer`, tenant, roles: ['viewer'] });
      specs.push({ label: `${tenant}-operator`, tenant, roles: ['operator'] });
      specs.push({ label: `${tenant}-admin`, tenant, roles: ['tenant-admin'], amr: ['pwd', 'mfa'] });
    }
    specs.push({ label: 'org-admin', tenant: 'acme', roles: ['org-admin'], amr: ['pwd', 'mfa'] });
    return Promise.all(
      specs.map(async (spec) => ({
        label: spec.label,
        tenant: spec.tenant,
        roles: spec.roles,
        token: await this.mint({
          subject: `demo-${spec.label}`,
          tenant: spec.tenant,
          roles: spec.roles,
          ...(spec.amr ? { amr: spec.amr } : {}),
        }),
      })),
    );
  }
}

export class TokenRejectedError extends Error {}

/** Verifies a bearer token as API Gateway's JWT authorizer would; returns its claims. */
export const makeJwtVerifier = (options: { issuer: string; audience: string; jwks: JSONWebKeySet }) => {
  const keySet = createLocalJWKSet(options.jwks);
  return async (token: string): Promise<JWTPayload> => {
    try {
      const { payload } = await jwtVerify(token, keySet, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms: ['RS256'],
        clockTolerance: 5,
      });
      return payload;
    } catch (error) {
      throw new TokenRejectedError(error instanceof Error ? error.name : 'invalid token');
    }
  };
};
