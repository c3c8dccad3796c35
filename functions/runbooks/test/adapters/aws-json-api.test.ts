import { createHash, createHmac } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '#shared/ports/system.js';
import {
  AWS_JSON_SERVICES,
  AwsApiStepRunner,
  type AwsApiStepRunnerOptions,
  type AwsJsonTransport,
} from '../../src/adapters/aws-json-api.js';
import { StepFailedError } from '../../src/domain/steps.js';
import { CREATE_KEY_STEP as createKey, SCOPED_CREDENTIALS, stepContext } from './step-fixtures.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const context = stepContext();

interface Sent {
  url: string;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
}

/** A transport that records each request and answers `status` with `body`. */
const answering = (status: number, body: string) => {
  const sent: Sent[] = [];
  const transport: AwsJsonTransport = async (url, init) => {
    sent.push({ url, headers: init.headers, body: init.body, signal: init.signal });
    return { status, text: async () => body };
  };
  return { sent, transport };
};

const credentialsFor = vi.fn(async () => SCOPED_CREDENTIALS);
const runnerWith = (transport: AwsJsonTransport, options: Partial<AwsApiStepRunnerOptions> = {}) =>
  new AwsApiStepRunner({
    region: 'eu-west-1',
    allowedActions: ['kms:CreateKey', 'kms:UpdateAlias', 'dynamodb:UpdateTable', 'rds:RebootDBInstance'],
    credentialsFor,
    transport,
    clock: new ManualClock(NOW),
    ...options,
  });

/**
 * SigV4 recomputed from the AWS specification with node:crypto only, over what was sent (the host
 * from the URL, as fetch sends it): it agrees with the Authorization header only if the request was
 * signed as sent.
 */
const expectedSignature = (sent: Sent, region: string, service: string, secret: string): string => {
  const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();
  const sha256 = (data: string) => createHash('sha256').update(data).digest('hex');
  const headers: Record<string, string> = { ...sent.headers, host: new URL(sent.url).host };
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(headers.authorization ?? '')?.[1] ?? '';
  const names = signedHeaders.split(';');
  const canonicalRequest = [
    'POST',
    '/',
    '',
    ...names.map((name) => `${name}:${(headers[name] ?? '').trim()}`),
    '',
    signedHeaders,
    sha256(sent.body),
  ].join('\n');
  const amzDate = headers['x-amz-date'] ?? '';
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign).digest('hex');
};

describe('AwsApiStepRunner', () => {
  afterEach(() => credentialsFor.mockClear());

  it('posts the input to the service’s JSON endpoint with its X-Amz-Target, signed with SigV4 and the step’s credentials', async () => {
    // Prepare
    const { sent, transport } = answering(
      200,
      '{"KeyMetadata":{"KeyId":"k-1","Arn":"arn:aws:kms:eu-west-1:1:key/k-1"}}',
    );

    // Act
    const output = await runnerWith(transport).run(createKey, context);

    // Assess
    expect(output).toEqual({ KeyMetadata: { KeyId: 'k-1', Arn: 'arn:aws:kms:eu-west-1:1:key/k-1' } });
    expect(credentialsFor).toHaveBeenCalledExactlyOnceWith(createKey, context);
    expect(sent).toHaveLength(1);
    const [request] = sent as [Sent];
    expect(request.url).toBe('https://kms.eu-west-1.amazonaws.com/');
    expect(JSON.parse(request.body)).toEqual(createKey.input);
    expect(request.headers['x-amz-target']).toBe('TrentService.CreateKey');
    expect(request.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(request.headers['x-amz-date']).toBe('20260301T120000Z');
    expect(request.headers['x-amz-security-token']).toBe('step-token');
    const authorization = request.headers.authorization ?? '';
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIASTEPSCOPED\/20260301\/eu-west-1\/kms\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/,
    );
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)?.[1]?.split(';');
    expect(signedHeaders).toEqual(
      expect.arrayContaining(['content-type', 'host', 'x-amz-date', 'x-amz-security-token', 'x-amz-target']),
    );
    expect(
      authorization.endsWith(`Signature=${expectedSignature(request, 'eu-west-1', 'kms', 'step-secret')}`),
    ).toBe(true);
  });

  it('speaks JSON 1.0 with DynamoDB’s target prefix', async () => {
    // Prepare
    const { sent, transport } = answering(200, '{"TableDescription":{"TableStatus":"UPDATING"}}');

    // Act
    await runnerWith(transport).run(
      {
        ...createKey,
        service: 'dynamodb',
        action: 'dynamodb:UpdateTable',
        input: { TableName: 'jobs', BillingMode: 'PAY_PER_REQUEST' },
      },
      context,
    );

    // Assess
    expect(sent[0]?.url).toBe('https://dynamodb.eu-west-1.amazonaws.com/');
    expect(sent[0]?.headers['x-amz-target']).toBe('DynamoDB_20120810.UpdateTable');
    expect(sent[0]?.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(sent[0]?.headers.authorization).toContain('/eu-west-1/dynamodb/aws4_request');
  });

  it('sends nothing and asks for no credentials when the action is not on the allow-list', async () => {
    // Prepare
    const { sent, transport } = answering(200, '{}');
    const runner = runnerWith(transport, { allowedActions: ['kms:UpdateAlias'] });

    // Act
    const running = runner.run(createKey, context);

    // Assess
    await expect(running).rejects.toThrow(StepFailedError);
    await expect(running).rejects.toMatchObject({
      stepId: 'create-key',
      reason: '"kms:CreateKey" is not an allowed AWS API action (allowed: kms:UpdateAlias)',
    });
    expect(sent).toHaveLength(0);
    expect(credentialsFor).not.toHaveBeenCalled();
  });

  it('fails a service it has no entry for, naming the ones it calls, and sends nothing', async () => {
    // Prepare
    const { sent, transport } = answering(200, '{}');

    // Act
    const running = runnerWith(transport).run(
      { ...createKey, service: 'rds', action: 'rds:RebootDBInstance', input: {} },
      context,
    );

    // Assess
    await expect(running).rejects.toMatchObject({
      reason: `the AWS API runner does not call "rds" (rds:RebootDBInstance): it calls ${Object.keys(AWS_JSON_SERVICES).join(', ')}`,
    });
    expect(sent).toHaveLength(0);
  });

  it('fails the step with the AWS error type and message, account ids masked', async () => {
    // Prepare
    const { transport } = answering(
      400,
      JSON.stringify({
        __type: 'com.amazonaws.kms#LimitExceededException',
        message: 'Account 111122223333 has too many keys',
      }),
    );

    // Act
    const running = runnerWith(transport).run(createKey, context);

    // Assess
    await expect(running).rejects.toMatchObject({
      reason: 'LimitExceededException: Account ************ has too many keys',
    });
  });

  it('fails the step with the status when the error has no AWS body', async () => {
    // Prepare
    const { transport } = answering(503, '<html>Service Unavailable</html>');

    // Act
    const running = runnerWith(transport).run(createKey, context);

    // Assess
    await expect(running).rejects.toMatchObject({ reason: 'HTTP 503' });
  });

  it('answers {} for an empty success body (UpdateAlias)', async () => {
    // Prepare
    const { transport } = answering(200, '');

    // Act
    const output = await runnerWith(transport).run(
      {
        ...createKey,
        id: 'move-alias',
        action: 'kms:UpdateAlias',
        input: { AliasName: 'alias/x', TargetKeyId: 'k-1' },
      },
      context,
    );

    // Assess
    expect(output).toEqual({});
  });

  it('fails the step at its timeout, aborting the request', async () => {
    // Prepare
    const sent: Sent[] = [];
    const hanging: AwsJsonTransport = (url, init) => {
      sent.push({ url, ...init });
      return new Promise(() => undefined);
    };

    // Act
    const running = runnerWith(hanging).run(createKey, { ...context, timeoutMs: 50 });

    // Assess
    await expect(running).rejects.toMatchObject({ reason: 'timed out after 50 ms' });
    expect(sent[0]?.signal.aborted).toBe(true);
  });

  it('fails the step when the endpoint cannot be reached, naming the host only', async () => {
    // Prepare
    const failing: AwsJsonTransport = async () => {
      throw new TypeError('fetch failed');
    };

    // Act
    const running = runnerWith(failing).run(createKey, context);

    // Assess
    await expect(running).rejects.toMatchObject({ reason: 'kms.eu-west-1.amazonaws.com is unreachable' });
  });

  it('uses the China regions’ domain there', async () => {
    // Prepare
    const { sent, transport } = answering(200, '{}');

    // Act
    await runnerWith(transport, { region: 'cn-north-1' }).run(createKey, context);

    // Assess
    expect(sent[0]?.url).toBe('https://kms.cn-north-1.amazonaws.com.cn/');
  });
});
