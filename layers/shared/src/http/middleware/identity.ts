import type { Logger } from '@aws-lambda-powertools/logger';
import { UnauthorizedError, ValidationError } from '../../errors.js';
import { TENANT_ID_PATTERN } from '../../ports/identity.js';
import { principalFromClaims } from '../claims.js';
import { headerValue, TENANT_HEADER } from '../conventions.js';
import { type KernelMiddleware, routeOf, stateOf } from './request-state.js';

/**
 * On jwt routes: the caller from the claims API Gateway verified (checked again, defence in
 * depth: 401 without a usable identity), and the tenant it acts in — its own, or the one it names
 * in X-Conductor-Tenant (whether it may is the policy's question). Before anything reads the body,
 * so an anonymous caller learns nothing from validation.
 */
export const identity = ({ logger }: { logger: Logger }): KernelMiddleware => ({
  name: 'conductorIdentity',
  before: ({ event, context }) => {
    const state = stateOf(context);
    if (routeOf(state).spec.auth !== 'jwt') return;
    const found = principalFromClaims(event.requestContext?.authorizer?.jwt?.claims);
    if (!found.ok) throw new UnauthorizedError(`Unauthorized: ${found.reason}.`);
    const named = headerValue(event, TENANT_HEADER);
    if (named !== undefined && !TENANT_ID_PATTERN.test(named)) {
      throw new ValidationError(`${TENANT_HEADER} is not a tenant id.`, [
        { path: `headers.${TENANT_HEADER.toLowerCase()}`, message: 'not a tenant id' },
      ]);
    }
    state.principal = found.principal;
    state.tenantId = named ?? found.principal.tenantId;
    logger.appendKeys({ tenantId: found.principal.tenantId });
  },
});
