import { createRemoteJWKSet, type JWTPayload, type JWTVerifyGetKey, jwtVerify } from 'jose';

/**
 * Verifying a bearer token as API Gateway's JWT authorizer does, and a little stricter: RS256 only,
 * a `kid` in the header naming a key of the issuer's JWKS, `iss`, `aud` (or `client_id` when the
 * token has no `aud`, API Gateway's rule for access tokens), and `exp` and `iat` both required,
 * with `iat` not in the future beyond the clock skew and not older than the maximum token age.
 *
 * The embedded gateway verifies every token with it; a function verifies the token itself with it
 * only when asked (CONDUCTOR_VERIFY_JWT), for deployments where something other than the API could
 * invoke it. Otherwise the function trusts the claims API Gateway passed (see `identity`).
 */

/** Clock difference allowed between the issuer and this process, on `iat` in the future. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;
/**
 * The oldest token accepted, by `iat`, whatever its `exp` says: Cognito's longest ID and access
 * token lifetime is one day, and the local issuer's demo tokens live 12 hours.
 */
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 24 * 3600;
/** Tolerance on `exp` (and `nbf`): a token is expired within seconds of its `exp`, as on API Gateway. */
const EXPIRY_TOLERANCE_SECONDS = 5;

/** A token refused; its message names the check that failed, never the token. */
export class TokenRejectedError extends Error {
  override readonly name = 'TokenRejectedError';
}

export interface JwtVerifierOptions {
  /** The one `iss` accepted. */
  readonly issuer: string;
  /** What `aud` must name, or `client_id` when there is no `aud`. */
  readonly audiences: readonly string[];
  /** The issuer's keys (jose's `createLocalJWKSet` or `createRemoteJWKSet`). */
  readonly keys: JWTVerifyGetKey;
  /** @default DEFAULT_CLOCK_SKEW_SECONDS */
  readonly clockSkewSeconds?: number;
  /** @default DEFAULT_MAX_TOKEN_AGE_SECONDS */
  readonly maxTokenAgeSeconds?: number;
  /** Current time in epoch milliseconds. @default Date.now */
  readonly now?: () => number;
}

/** Verifies a token; resolves to its claims, or rejects with a TokenRejectedError. */
export type JwtVerifier = (token: string) => Promise<JWTPayload>;

const audiencesOf = (payload: JWTPayload): string[] => {
  if (payload.aud !== undefined) return [payload.aud].flat();
  return typeof payload.client_id === 'string' ? [payload.client_id] : [];
};

export const makeJwtVerifier = (options: JwtVerifierOptions): JwtVerifier => {
  const skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  const maxAge = options.maxTokenAgeSeconds ?? DEFAULT_MAX_TOKEN_AGE_SECONDS;
  const now = options.now ?? Date.now;
  // Without a kid, jose would try the JWKS's only key: API Gateway refuses such a token.
  const keys: JWTVerifyGetKey = (header, token) => {
    if (typeof header.kid !== 'string' || header.kid === '') throw new TokenRejectedError('no kid');
    return options.keys(header, token);
  };
  return async (token) => {
    const nowMs = now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        issuer: options.issuer,
        algorithms: ['RS256'],
        requiredClaims: ['exp', 'iat'],
        clockTolerance: EXPIRY_TOLERANCE_SECONDS,
        currentDate: new Date(nowMs),
      }));
    } catch (error) {
      if (error instanceof TokenRejectedError) throw error;
      throw new TokenRejectedError(error instanceof Error ? error.name : 'invalid token');
    }
    // requiredClaims and jose's own checks made `iat` a number.
    const age = nowMs / 1000 - (payload.iat ?? 0);
    if (age < -skew) throw new TokenRejectedError('iat in the future');
    if (age > maxAge) throw new TokenRejectedError('token older than the maximum token age');
    if (!audiencesOf(payload).some((audience) => options.audiences.includes(audience))) {
      throw new TokenRejectedError('audience not accepted');
    }
    return payload;
  };
};

/** Switches the function's own verification on (`1` or `true`); the variables below then say how. */
export const VERIFY_JWT_ENV = 'CONDUCTOR_VERIFY_JWT';
/** The issuer the function accepts (Cognito: `https://cognito-idp.<region>.amazonaws.com/<poolId>`). */
export const JWT_ISSUER_ENV = 'CONDUCTOR_JWT_ISSUER';
/** The issuer's JWKS URL; default `<issuer>/.well-known/jwks.json` (Cognito's). */
export const JWT_JWKS_URL_ENV = 'CONDUCTOR_JWT_JWKS_URL';
/** Comma-separated audiences: the app client ids (as the JWT authorizer's audience list). */
export const JWT_AUDIENCES_ENV = 'CONDUCTOR_JWT_AUDIENCES';

const switchedOn = (value: string | undefined): boolean =>
  value !== undefined && ['1', 'true'].includes(value.trim().toLowerCase());

/**
 * The function's own verifier from its environment, or undefined when CONDUCTOR_VERIFY_JWT is not
 * on. Throws, naming the variable, when it is on and the issuer or the audiences are missing: a
 * function asked to verify must not start trusting claims instead.
 */
export const jwtVerifierFromEnv = (env: NodeJS.ProcessEnv = process.env): JwtVerifier | undefined => {
  if (!switchedOn(env[VERIFY_JWT_ENV])) return undefined;
  const issuer = env[JWT_ISSUER_ENV]?.trim();
  if (!issuer) throw new Error(`${VERIFY_JWT_ENV} is on but ${JWT_ISSUER_ENV} is not set`);
  const audiences = (env[JWT_AUDIENCES_ENV] ?? '')
    .split(',')
    .map((audience) => audience.trim())
    .filter(Boolean);
  if (audiences.length === 0) throw new Error(`${VERIFY_JWT_ENV} is on but ${JWT_AUDIENCES_ENV} is not set`);
  let jwksUrl: URL;
  try {
    jwksUrl = new URL(env[JWT_JWKS_URL_ENV]?.trim() || `${issuer.replace(/\/+$/, '')}/.well-known/jwks.json`);
  } catch {
    throw new Error(`${JWT_JWKS_URL_ENV} (or ${JWT_ISSUER_ENV}) is not a URL`);
  }
  return makeJwtVerifier({ issuer, audiences, keys: createRemoteJWKSet(jwksUrl) });
};
