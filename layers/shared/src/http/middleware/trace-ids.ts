import type { Logger } from '@aws-lambda-powertools/logger';
import { type IdGenerator, randomIds } from '../../ports/system.js';
import { type HttpEvent, headerValue, TRACE_HEADER } from '../conventions.js';
import type { KernelMiddleware } from './request-state.js';

const TRACE_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;
/** Every log key the kernel's middlewares add (`identity` adds tenantId); removed when the request ends. */
const LOG_KEYS = ['traceId', 'routeKey', 'tenantId'];

/** The trace id of a request: the caller's when well-formed, else API Gateway's request id, else a new one. */
export const traceIdOf = (event: HttpEvent, ids: IdGenerator = randomIds): string => {
  const offered = headerValue(event, TRACE_HEADER);
  if (offered && TRACE_ID_PATTERN.test(offered)) return offered;
  return event.requestContext?.requestId ?? ids.next('trace');
};

/**
 * First in the chain: gives the request its trace id (answered in every reply, logged on every
 * line) and the state the other middlewares fill in; clears its log keys once answered.
 */
export const traceIds = ({ logger, ids }: { logger: Logger; ids: IdGenerator }): KernelMiddleware => {
  const forget = (): void => logger.removeKeys(LOG_KEYS);
  return {
    name: 'conductorTraceIds',
    before: ({ event, context }) => {
      const traceId = traceIdOf(event, ids);
      context.conductor = { traceId, tenantId: '', masks: [], responseHeaders: {} };
      logger.appendKeys({ traceId, routeKey: event.routeKey });
    },
    after: forget,
    onError: forget,
  };
};
