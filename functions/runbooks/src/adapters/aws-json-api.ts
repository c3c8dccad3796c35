import { Sha256 } from '@smithy/core/checksum';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Clock } from '#shared/ports/system.js';
import { type StepContext, StepFailedError, type StepRunner } from '../domain/steps.js';
import {
  type AwsApiStep,
  awsFailureReason,
  bounded,
  type CredentialsFor,
  checkAllowedAction,
  failedWithCause,
  maskAccountIds,
  scopedCredentials,
  withinDeadline,
} from './step-runners.js';

/**
 * One `aws-api` step as a signed call to an AWS service that speaks the JSON protocol (AWS JSON 1.0
 * and 1.1): `POST /` with `X-Amz-Target: <targetPrefix>.<Operation>` and the step's `input` as the
 * body, signed with SigV4. Generic on purpose: one allow-listed action needs no SDK of its own.
 * Services speaking other protocols (query, REST-JSON, REST-XML: S3, Lambda, IAM, EC2…) are not here.
 */

export interface AwsJsonService {
  /** The `X-Amz-Target` prefix: `<targetPrefix>.<Operation>`. */
  readonly targetPrefix: string;
  /** `Content-Type: application/x-amz-json-<version>`. */
  readonly jsonVersion: '1.0' | '1.1';
  /** The host's first label and the SigV4 signing name: `<endpointPrefix>.<region>.<dns suffix>`. */
  readonly endpointPrefix: string;
}

/** The services `aws-api` steps may call, by IAM service prefix (the part of `action` before `:`). */
export const AWS_JSON_SERVICES: Readonly<Record<string, AwsJsonService>> = {
  dynamodb: { targetPrefix: 'DynamoDB_20120810', jsonVersion: '1.0', endpointPrefix: 'dynamodb' },
  ecs: { targetPrefix: 'AmazonEC2ContainerServiceV20141113', jsonVersion: '1.1', endpointPrefix: 'ecs' },
  events: { targetPrefix: 'AWSEvents', jsonVersion: '1.1', endpointPrefix: 'events' },
  kms: { targetPrefix: 'TrentService', jsonVersion: '1.1', endpointPrefix: 'kms' },
  logs: { targetPrefix: 'Logs_20140328', jsonVersion: '1.1', endpointPrefix: 'logs' },
  secretsmanager: { targetPrefix: 'secretsmanager', jsonVersion: '1.1', endpointPrefix: 'secretsmanager' },
  sqs: { targetPrefix: 'AmazonSQS', jsonVersion: '1.0', endpointPrefix: 'sqs' },
  ssm: { targetPrefix: 'AmazonSSM', jsonVersion: '1.1', endpointPrefix: 'ssm' },
  states: { targetPrefix: 'AWSStepFunctions', jsonVersion: '1.0', endpointPrefix: 'states' },
};

/** The part of `fetch` the runner uses: tests pass one that captures the signed request. */
export type AwsJsonTransport = (
  url: string,
  init: {
    readonly method: 'POST';
    readonly headers: Record<string, string>;
    readonly body: string;
    readonly signal: AbortSignal;
  },
) => Promise<{ readonly status: number; text(): Promise<string> }>;

export interface AwsApiStepRunnerOptions {
  /** The region every call goes to. */
  readonly region: string;
  /** `service:Action` names steps may call (exact match), checked again before each call. */
  readonly allowedActions: readonly string[];
  /** Credentials allowing the step's action only ({@link ScopedCredentials}). */
  readonly credentialsFor: CredentialsFor<AwsApiStep>;
  /** @default global fetch */
  readonly transport?: AwsJsonTransport;
  /** The signing time. @default the real time (never the embedded runtime's moved clock: AWS would refuse the signature) */
  readonly clock?: Clock;
}

const realTime: Clock = { now: () => new Date() };

/** The endpoint of a service in a region: `amazonaws.com.cn` in the China regions, else `amazonaws.com`. */
export const awsJsonEndpointOf = (service: AwsJsonService, region: string): string =>
  `${service.endpointPrefix}.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;

export class AwsApiStepRunner implements StepRunner<AwsApiStep> {
  readonly #transport: AwsJsonTransport;
  readonly #clock: Clock;

  constructor(private readonly options: AwsApiStepRunnerOptions) {
    this.#transport = options.transport ?? ((url, init) => fetch(url, init));
    this.#clock = options.clock ?? realTime;
  }

  async run(step: AwsApiStep, context: StepContext): Promise<unknown> {
    checkAllowedAction(step, this.options.allowedActions);
    const [servicePrefix, operation = ''] = step.action.split(':');
    const service = servicePrefix === step.service ? AWS_JSON_SERVICES[step.service] : undefined;
    if (!service)
      throw new StepFailedError(
        step.id,
        `the AWS API runner does not call "${step.service}" (${step.action}): it calls ${Object.keys(AWS_JSON_SERVICES).join(', ')}`,
      );

    return withinDeadline(step.id, context.timeoutMs, async (signal) => {
      const credentials = await scopedCredentials(this.options.credentialsFor, step, context);
      const host = awsJsonEndpointOf(service, this.options.region);
      const signer = new SignatureV4({
        service: service.endpointPrefix,
        region: this.options.region,
        credentials,
        sha256: Sha256,
      });
      const signed = await signer.sign(
        {
          method: 'POST',
          protocol: 'https:',
          hostname: host,
          path: '/',
          query: {},
          headers: {
            host,
            'content-type': `application/x-amz-json-${service.jsonVersion}`,
            'x-amz-target': `${service.targetPrefix}.${operation}`,
          },
          body: JSON.stringify(step.input ?? {}),
        },
        { signingDate: this.#clock.now() },
      );
      // fetch sets Host itself, from the URL: the same value as the signed one.
      const { host: _fromTheUrl, ...headers } = signed.headers;
      let response: Awaited<ReturnType<AwsJsonTransport>>;
      let text: string;
      try {
        response = await this.#transport(`https://${host}/`, {
          method: 'POST',
          headers,
          body: signed.body as string,
          signal,
        });
        text = await response.text();
      } catch (error) {
        if (signal.aborted) throw error; // the deadline's own failure wins
        throw failedWithCause(new StepFailedError(step.id, `${host} is unreachable`), error);
      }
      const body = parsedOrUndefined(text);
      if (response.status < 200 || response.status > 299)
        throw new StepFailedError(step.id, awsErrorReason(response.status, body));
      if (text.trim() === '') return {};
      if (body === undefined)
        throw new StepFailedError(step.id, `${step.action} answered with a body that is not JSON`);
      return body;
    });
  }
}

const parsedOrUndefined = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/**
 * An AWS JSON error (`{ "__type": "com.amazonaws.kms#NotFoundException", "message": "…" }`) as
 * `NotFoundException: …` (namespace dropped, account ids masked); `HTTP <status>` without one.
 */
const awsErrorReason = (status: number, body: unknown): string => {
  const error = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const rawType = typeof error.__type === 'string' ? error.__type : undefined;
  const message = [error.message, error.Message].find((m): m is string => typeof m === 'string');
  if (rawType === undefined)
    return message === undefined ? `HTTP ${status}` : bounded(maskAccountIds(`HTTP ${status}: ${message}`));
  const type = rawType.slice(rawType.lastIndexOf('#') + 1).split(':')[0] ?? rawType;
  return awsFailureReason({ name: type, message });
};
