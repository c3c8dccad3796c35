import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { callMeteringActive, recordCall } from '#shared/adapters/call-meter.js';
import { DEFAULT_FUNCTION_MEMORY_MB } from '#shared/pillar.js';
import { LOCAL_ACCOUNT_ID, LOCAL_REGION } from './account.js';

/**
 * The Lambda context of one local invocation (HTTP, queue batch or schedule): the function's name
 * and ARN, a fresh request id and a deadline `timeoutMs` from now. Callback-style completion is not
 * supported: handlers return promises.
 */
export const lambdaContext = (functionName: string, timeoutMs: number): Context => {
  const deadline = Date.now() + timeoutMs;
  const requestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `local/[$LATEST]${requestId.replaceAll('-', '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
};

/** Records one Lambda invocation as it is billed: its duration rounded up to the millisecond, times its memory. */
export const recordInvocation = (functionName: string, startedAt: number): void => {
  const ms = Math.max(1, Math.ceil(performance.now() - startedAt));
  const name = functionName.replace(/^conductor-/, '');
  recordCall('lambda', 'Invoke', { ms, mbMs: ms * DEFAULT_FUNCTION_MEMORY_MB, [`ms.${name}`]: ms });
};

/**
 * Invokes a handler as Lambda would for an asynchronous source (a schedule, a bus rule, a state
 * machine's task): with its context and deadline, recorded as a billed invocation into the active
 * call meters, as the gateway and the event source mappings record theirs.
 */
export const invokeAsLambda = async (
  fn: { readonly name: string; readonly handler: (event: unknown, context: unknown) => Promise<unknown> },
  event: unknown,
  timeoutMs: number,
): Promise<unknown> => {
  const startedAt = performance.now();
  try {
    return await fn.handler(event, lambdaContext(fn.name, timeoutMs));
  } finally {
    if (callMeteringActive()) recordInvocation(fn.name, startedAt);
  }
};
