import type { Logger } from '@aws-lambda-powertools/logger';
import { AppError } from '../../errors.js';
import type { IdGenerator } from '../../ports/system.js';
import { errorResult, jsonResult } from '../conventions.js';
import type { KernelMiddleware } from './request-state.js';

/**
 * Maps whatever a request failed with to the uniform `{ code, message, traceId }` answer: an
 * AppError with its own status, code and headers; anything else a 500 that says nothing internal.
 */
export const errorResponses = ({ logger, ids }: { logger: Logger; ids: IdGenerator }): KernelMiddleware => ({
  name: 'conductorErrorResponses',
  onError: (request) => {
    const traceId = request.context.conductor?.traceId ?? ids.next('trace');
    const error = request.error;
    if (error instanceof AppError) {
      const fields = { status: error.statusCode, code: error.code };
      if (error.statusCode < 500) logger.info('request refused', fields);
      else logger.error('request failed', fields);
      request.response = errorResult(error, traceId);
      return;
    }
    logger.error('unhandled error', error as Error);
    request.response = jsonResult(
      500,
      { code: 'internal_error', message: 'An internal error occurred.', traceId },
      traceId,
    );
  },
});
