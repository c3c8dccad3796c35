import type { LambdaClient } from '@aws-sdk/client-lambda';
import { type ClientOptions, instrumented, sdkConfig } from '#shared/adapters/clients.js';
import { AppError } from '#shared/errors.js';
import { EgressRefusedError, type OutboundHttp } from '#shared/outbound/outbound.js';
import {
  type ResolvedStep,
  type StepContext,
  StepFailedError,
  type StepOutput,
  type StepRunner,
} from '../domain/steps.js';

/**
 * The runners of `http`, `lambda` and `notify` steps, and what the AWS runners share: scoped
 * credentials, the allow-list check, the deadline and reasons safe to show. A reason never carries
 * response headers, request secrets or account ids (see {@link awsFailureReason}).
 */

export type HttpStep = Extract<ResolvedStep, { type: 'http' }>;
export type LambdaStep = Extract<ResolvedStep, { type: 'lambda' }>;
export type AwsApiStep = Extract<ResolvedStep, { type: 'aws-api' }>;
export type NotifyStep = Extract<ResolvedStep, { type: 'notify' }>;

/** Temporary AWS credentials (the shape SDK clients and SigV4 take). */
export interface ScopedAwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
  readonly expiration?: Date;
}

/** Credentials allowing exactly what one step declares ({@link ScopedCredentials.credentialsFor}). */
export type CredentialsFor<S extends LambdaStep | AwsApiStep> = (
  step: S,
  context: StepContext,
) => Promise<ScopedAwsCredentials>;

/** The most of an `http` step's response body kept as its output (64 KiB of UTF-8). */
export const MAX_HTTP_OUTPUT_BYTES = 64 * 1024;
const MAX_REASON_CHARS = 1000;

// --- http --------------------------------------------------------------------------------------

/** An `http` step's output; `truncated` only when the body was cut to {@link MAX_HTTP_OUTPUT_BYTES}. */
export interface HttpStepOutput {
  readonly status: number;
  /** Parsed JSON when the response is JSON (and fits), else its text. */
  readonly body: unknown;
  readonly truncated?: true;
}

/**
 * Sends an `http` step through the kernel's guarded outbound client: private, loopback, link-local
 * and metadata addresses refused at call time, DNS answers pinned, redirects not followed, the
 * step's deadline for the whole call. Output `{ status, body }`; any status but 2xx fails the step.
 */
export class HttpStepRunner implements StepRunner<HttpStep> {
  constructor(private readonly outbound: OutboundHttp) {}

  async run(step: HttpStep, context: StepContext): Promise<HttpStepOutput> {
    let response: Awaited<ReturnType<OutboundHttp['request']>>;
    try {
      response = await this.outbound.request({
        url: step.url,
        method: step.method,
        ...(step.headers ? { headers: step.headers } : {}),
        ...(step.body === undefined ? {} : { body: step.body }),
        timeoutMs: context.timeoutMs,
      });
    } catch (error) {
      throw failedWithCause(new StepFailedError(step.id, outboundReason(error, context.timeoutMs)), error);
    }
    if (response.status < 200 || response.status > 299) {
      const redirect = response.status >= 300 && response.status < 400 ? ' (redirects are not followed)' : '';
      throw new StepFailedError(step.id, `HTTP ${response.status}${redirect}`);
    }
    return { status: response.status, ...boundedBody(response.body) };
  }
}

/** Why the outbound client gave no response, in words that name no path, query or header. */
const outboundReason = (error: unknown, timeoutMs: number): string => {
  if (error instanceof EgressRefusedError) return `refused: ${error.code}`;
  if (error instanceof AppError) {
    switch (error.code) {
      case 'upstream_timeout':
        return timedOutReason(timeoutMs);
      case 'upstream_unreachable':
        return 'unreachable (no connection, or the name does not resolve)';
      case 'upstream_response_too_large':
        return 'the response is larger than the outbound client accepts';
      case 'upstream_invalid_json':
        return 'the response is not the JSON its content-type claims';
    }
  }
  return 'the request could not be sent';
};

const boundedBody = (body: unknown): { body: unknown; truncated?: true } => {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (Buffer.byteLength(text, 'utf8') <= MAX_HTTP_OUTPUT_BYTES) return { body };
  return { body: truncateUtf8(text, MAX_HTTP_OUTPUT_BYTES), truncated: true };
};

/** The longest prefix of `text` within `maxBytes` of UTF-8 that does not split a character. */
const truncateUtf8 = (text: string, maxBytes: number): string => {
  const bytes = Buffer.from(text, 'utf8');
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end -= 1; // a continuation byte: back up
  return bytes.subarray(0, end).toString('utf8');
};

// --- notify ------------------------------------------------------------------------------------

/** What a `notify` step publishes: the caller sends it on the event bus (as the execution's tenant). */
export interface StepNotification {
  readonly tenantId: string;
  readonly channel: string;
  readonly message: string;
  readonly executionId: string;
  readonly runbookId: string;
  readonly stepId: string;
}

/** Publishes a `notify` step's message; no output. */
export class NotifyStepRunner implements StepRunner<NotifyStep> {
  constructor(private readonly publish: (message: StepNotification) => Promise<void>) {}

  async run(step: NotifyStep, context: StepContext): Promise<undefined> {
    await this.publish({
      tenantId: context.tenantId,
      channel: step.channel,
      message: step.message,
      executionId: context.executionId,
      runbookId: context.runbookId,
      stepId: step.id,
    });
    return undefined;
  }
}

// --- lambda ------------------------------------------------------------------------------------

/** Loaded on first use, as KmsSigner does: a function that never runs a lambda step does not pay for it. */
const lambdaSdk = () => import('@aws-sdk/client-lambda');

export interface LambdaStepRunnerOptions {
  /** Region, endpoint (a local stand-in) and tracing of the per-step clients (`#shared/adapters/clients`). */
  readonly client: ClientOptions;
  /** Credentials allowing `lambda:InvokeFunction` on the step's function only. */
  readonly credentialsFor: CredentialsFor<LambdaStep>;
}

/**
 * Invokes a `lambda` step's function (`RequestResponse`) with its payload as JSON; output: the
 * function's answer, parsed. The function's own failure (`FunctionError`) fails the step with its
 * `errorType` and `errorMessage`.
 *
 * Each step gets its own client, made with that step's scoped credentials and dropped after: an SDK
 * client keeps one credential identity, and sharing one would hand a step another step's rights.
 * One attempt only: a retried Invoke after a timeout would run the function twice.
 */
export class LambdaStepRunner implements StepRunner<LambdaStep> {
  constructor(private readonly options: LambdaStepRunnerOptions) {}

  async run(step: LambdaStep, context: StepContext): Promise<StepOutput> {
    return withinDeadline(step.id, context.timeoutMs, async (abortSignal) => {
      const credentials = await scopedCredentials(this.options.credentialsFor, step, context);
      const { LambdaClient, InvokeCommand } = await lambdaSdk();
      const client: Pick<LambdaClient, 'send' | 'destroy'> = instrumented(
        this.options.client,
        new LambdaClient({ ...sdkConfig(this.options.client), credentials, maxAttempts: 1 }),
      );
      try {
        const out = await client
          .send(
            new InvokeCommand({
              FunctionName: step.functionName,
              InvocationType: 'RequestResponse',
              ...(step.payload === undefined
                ? {}
                : { Payload: Buffer.from(JSON.stringify(step.payload), 'utf8') }),
            }),
            { abortSignal },
          )
          .catch((error: unknown) => {
            if (abortSignal.aborted) throw error; // the deadline's own failure wins
            throw failedWithCause(new StepFailedError(step.id, awsFailureReason(error)), error);
          });
        const text = out.Payload ? Buffer.from(out.Payload).toString('utf8') : '';
        if (out.FunctionError !== undefined)
          throw new StepFailedError(step.id, functionErrorReason(out.FunctionError, text));
        if (text === '') return null;
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new StepFailedError(step.id, 'the function answered with a payload that is not JSON');
        }
      } finally {
        client.destroy();
      }
    });
  }
}

/** `function error <errorType>: <errorMessage>` from the payload Lambda returns with a FunctionError. */
const functionErrorReason = (functionError: string, payload: string): string => {
  let detail: { errorType?: unknown; errorMessage?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(payload);
    if (parsed !== null && typeof parsed === 'object') detail = parsed;
  } catch {
    // not JSON: the FunctionError alone
  }
  const type = typeof detail.errorType === 'string' ? detail.errorType : functionError;
  const message = typeof detail.errorMessage === 'string' ? `: ${detail.errorMessage}` : '';
  return bounded(`function error ${type}${message}`);
};

// --- shared by the AWS runners -----------------------------------------------------------------

/** The step's scoped credentials, or the step fails saying it could not get them. */
export const scopedCredentials = async <S extends LambdaStep | AwsApiStep>(
  credentialsFor: CredentialsFor<S>,
  step: S,
  context: StepContext,
): Promise<ScopedAwsCredentials> => {
  try {
    return await credentialsFor(step, context);
  } catch (error) {
    if (error instanceof StepFailedError) throw error;
    throw failedWithCause(
      new StepFailedError(step.id, `no scoped credentials for the step (${awsFailureReason(error)})`),
      error,
    );
  }
};

/**
 * Fails an `aws-api` step whose action is not on the deployment's allow-list, before anything is
 * called: publish checked it, and this checks it again in case the list shrank since.
 */
export const checkAllowedAction = (step: AwsApiStep, allowedActions: readonly string[] | undefined): void => {
  if (allowedActions === undefined || allowedActions.includes(step.action)) return;
  const list = allowedActions.length === 0 ? 'none is allowed' : `allowed: ${allowedActions.join(', ')}`;
  throw new StepFailedError(step.id, bounded(`"${step.action}" is not an allowed AWS API action (${list})`));
};

/**
 * An AWS error as `<name>: <message>`, bounded, with 12-digit account ids masked: AccessDenied
 * messages name the account and role, which the tenant has no need to see.
 */
export const awsFailureReason = (error: unknown): string => {
  const { name, message } =
    error !== null && typeof error === 'object' ? (error as { name?: unknown; message?: unknown }) : {};
  const type = typeof name === 'string' && name !== '' && name !== 'Error' ? name : 'error';
  const text = typeof message === 'string' && message !== '' ? `: ${message}` : '';
  return bounded(maskAccountIds(`${type}${text}`));
};

export const maskAccountIds = (text: string): string => text.replace(/(?<!\d)\d{12}(?!\d)/g, '************');

export const timedOutReason = (timeoutMs: number): string => `timed out after ${Math.round(timeoutMs)} ms`;

export const bounded = (text: string): string =>
  text.length <= MAX_REASON_CHARS ? text : `${text.slice(0, MAX_REASON_CHARS - 1)}…`;

export const failedWithCause = (error: StepFailedError, cause: unknown): StepFailedError => {
  error.cause = cause;
  return error;
};

/**
 * Runs `work` within the step's deadline: past it, the signal handed to `work` aborts and the step
 * fails as timed out, even if `work` ignores the signal.
 */
export const withinDeadline = async <T>(
  stepId: string,
  timeoutMs: number,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> => {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new StepFailedError(stepId, timedOutReason(timeoutMs)));
      controller.abort();
    }, timeoutMs);
  });
  const working = work(controller.signal);
  working.catch(() => undefined); // a failure after the deadline is not unhandled
  try {
    return await Promise.race([working, deadline]);
  } finally {
    clearTimeout(timer);
  }
};
