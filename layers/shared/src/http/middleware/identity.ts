import type { Logger } from '@aws-lambda-powertools/logger';
import { UnauthorizedError, ValidationError } from '../../errors.js';
import { TENANT_ID_PATTERN } from '../../ports/identity.js';
import { principalFromClaims } from '../claims.js';
import { type HttpEvent, headerValue, TENANT_HEADER } from '../conventions.js';
import type { JwtVerifier } from '../jwt-verify.js';
import { type KernelMiddleware, routeOf, stateOf } from './request-state.js';

/**
 * The claims to read the caller from. By default those API Gateway's JWT authorizer verified and
 * passed on, as they are: the function does not check the token again, so it must be invoked by the
 * API only. With a verifier (CONDUCTOR_VERIFY_JWT), the bearer token's own claims once the function
 * verified it itself, unflattened (a list claim stays a list, so a group name with a space in it is
 * seen as one name and refused, see rolesOf).
 */
const claimsOf = async (
  event: HttpEvent,
  verify: JwtVerifier | undefined,
): Promise<Readonly<Record<string, unknown>> | undefined> => {
  if (!verify) return event.requestContext?.authorizer?.jwt?.claims;
  const bearer = /^Bearer\s+(\S+)$/i.exec(headerValue(event, 'authorization') ?? '')?.[1];
  if (!bearer) throw new UnauthorizedError('A bearer token is required (Authorization: Bearer <token>).');
  try {
    return await verify(bearer);
  } catch {
    throw new UnauthorizedError('The bearer token is invalid or expired.');
  }
};

/**
 * On jwt routes: the caller from the token's claims (401 without a usable identity), and the tenant
 * it acts in — its own, or the one it names in X-Conductor-Tenant (whether it may is the policy's
 * question). Before anything reads the body, so an anonymous caller learns nothing from validation.
 */
export const identity = ({ logger, verify }: { logger: Logger; verify?: JwtVerifier }): KernelMiddleware => ({
  name: 'conductorIdentity',
  before: async ({ event, context }) => {
    const state = stateOf(context);
    if (routeOf(state).spec.auth !== 'jwt') return;
    const found = principalFromClaims(await claimsOf(event, verify));
    if (!found.ok) throw new UnauthorizedError(`Unauthorized: ${found.reason}.`);
    // Known before the header is checked, so a refusal of it is the caller's (see refusalBudget).
    state.principal = found.principal;
    logger.appendKeys({ tenantId: found.principal.tenantId });
    const named = headerValue(event, TENANT_HEADER);
    if (named !== undefined && !TENANT_ID_PATTERN.test(named)) {
      throw new ValidationError(`${TENANT_HEADER} is not a tenant id.`, [
        { path: `headers.${TENANT_HEADER.toLowerCase()}`, message: 'not a tenant id' },
      ]);
    }
    state.tenantId = named ?? found.principal.tenantId;
  },
});
