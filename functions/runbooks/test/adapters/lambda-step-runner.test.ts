import { InvokeCommand, type InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda';
import { AssumeRoleCommand, STSClient } from '@aws-sdk/client-sts';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-vitest/extend';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  roleSessionNameFor,
  ScopedCredentials,
  STEP_SESSION_SECONDS,
  sessionPolicyFor,
} from '../../src/adapters/scoped-credentials.js';
import { type LambdaStep, LambdaStepRunner } from '../../src/adapters/step-runners.js';
import { StepFailedError } from '../../src/domain/steps.js';
import { CREATE_KEY_STEP as awsApiStep, SCOPED_CREDENTIALS as SCOPED, stepContext } from './step-fixtures.js';

const ROLE_ARN = 'arn:aws:iam::111122223333:role/conductor/runbook-steps';
const context = stepContext({ executionId: '01J9ZK3V6F9Q2T8X4M5N7P0R1S', runbookId: 'flush-cache' });

const lambdaStep: LambdaStep = {
  id: 'flush',
  name: 'Flush the cache',
  type: 'lambda',
  privileged: false,
  functionName: 'conductor-cache-flush',
  payload: { region: 'eu-west-1', keys: ['a', 'b'] },
};

/** A response payload: the SDK's blob adapter is a Uint8Array, and bytes are all the runner reads. */
const payloadOf = (text: string) => Buffer.from(text, 'utf8') as unknown as InvokeCommandOutput['Payload'];
const bytes = (value: unknown) => payloadOf(JSON.stringify(value));

describe('LambdaStepRunner', () => {
  const lambda = mockClient(LambdaClient);
  const credentialsFor = vi.fn(async () => SCOPED);
  const runner = new LambdaStepRunner({ client: { region: 'eu-west-1' }, credentialsFor });

  afterEach(() => {
    lambda.reset();
    credentialsFor.mockClear();
  });

  it('invokes the function (RequestResponse) with the payload as JSON and answers its parsed answer', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: bytes({ flushed: 2 }) });

    // Act
    const output = await runner.run(lambdaStep, context);

    // Assess
    expect(output).toEqual({ flushed: 2 });
    expect(lambda).toHaveReceivedCommandTimes(InvokeCommand, 1);
    const input = lambda.commandCalls(InvokeCommand)[0]?.args[0].input;
    expect(input).toMatchObject({ FunctionName: 'conductor-cache-flush', InvocationType: 'RequestResponse' });
    expect(JSON.parse(Buffer.from(input?.Payload as Uint8Array).toString('utf8'))).toEqual(
      lambdaStep.payload,
    );
  });

  it('calls with the step’s own scoped credentials, asked for that step and execution', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: bytes(null) });

    // Act
    await runner.run(lambdaStep, context);

    // Assess
    expect(credentialsFor).toHaveBeenCalledExactlyOnceWith(lambdaStep, context);
    const client = lambda.commandCalls(InvokeCommand)[0]?.thisValue as LambdaClient;
    expect(await client.config.credentials()).toMatchObject(SCOPED);
    expect(await client.config.region()).toBe('eu-west-1');
    expect(await client.config.maxAttempts()).toBe(1);
  });

  it('fails the step with the errorType and errorMessage when the function fails', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: bytes({ errorType: 'CacheLockedError', errorMessage: 'cache is locked', trace: ['at x'] }),
    });

    // Act
    const running = runner.run(lambdaStep, context);

    // Assess
    await expect(running).rejects.toThrow(StepFailedError);
    await expect(running).rejects.toMatchObject({
      stepId: 'flush',
      reason: 'function error CacheLockedError: cache is locked',
    });
  });

  it('fails the step with the AWS error, its account ids masked', async () => {
    // Prepare
    lambda
      .on(InvokeCommand)
      .rejects(
        Object.assign(
          new Error(
            'User: arn:aws:sts::111122223333:assumed-role/runbook-steps/x is not authorized to perform: lambda:InvokeFunction',
          ),
          { name: 'AccessDeniedException' },
        ),
      );

    // Act
    const running = runner.run(lambdaStep, context);

    // Assess
    const error = await running.catch((e: unknown) => e);
    expect(error).toMatchObject({
      reason: expect.stringMatching(/^AccessDeniedException: User: arn:aws:sts::\*{12}:assumed-role/),
    });
    expect((error as StepFailedError).reason).not.toContain('111122223333');
  });

  it('fails the step when the function does not answer within the step’s timeout', async () => {
    // Prepare
    lambda.on(InvokeCommand).callsFake(() => new Promise(() => undefined));

    // Act
    const running = runner.run(lambdaStep, { ...context, timeoutMs: 50 });

    // Assess
    await expect(running).rejects.toMatchObject({ stepId: 'flush', reason: 'timed out after 50 ms' });
  });

  it('fails the step without invoking anything when there are no scoped credentials', async () => {
    // Prepare
    credentialsFor.mockRejectedValueOnce(
      Object.assign(new Error('not authorized to perform sts:AssumeRole'), { name: 'AccessDenied' }),
    );

    // Act
    const running = runner.run(lambdaStep, context);

    // Assess
    await expect(running).rejects.toMatchObject({
      reason: 'no scoped credentials for the step (AccessDenied: not authorized to perform sts:AssumeRole)',
    });
    expect(lambda).not.toHaveReceivedCommand(InvokeCommand);
  });

  it('fails the step when the function answers something that is not JSON', async () => {
    // Prepare
    lambda.on(InvokeCommand).resolves({ StatusCode: 200, Payload: payloadOf('not json') });

    // Act
    const running = runner.run(lambdaStep, context);

    // Assess
    await expect(running).rejects.toMatchObject({
      reason: 'the function answered with a payload that is not JSON',
    });
  });
});

describe('sessionPolicyFor', () => {
  it('allows a lambda step only to invoke its own function', () => {
    // Act
    const policy = sessionPolicyFor(lambdaStep, 'aws', 'eu-west-1', '111122223333');

    // Assess
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: 'lambda:InvokeFunction',
          Resource: 'arn:aws:lambda:eu-west-1:111122223333:function:conductor-cache-flush',
        },
      ],
    });
  });

  it('allows an aws-api step only its declared action', () => {
    // Act
    const policy = sessionPolicyFor(awsApiStep, 'aws-cn', 'cn-north-1', '111122223333');

    // Assess
    expect(policy).toEqual({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'kms:CreateKey', Resource: '*' }],
    });
  });
});

describe('roleSessionNameFor', () => {
  it('names the execution and the step', () => {
    expect(roleSessionNameFor('exec-1', 'create-key')).toBe('runbook-exec-1-create-key');
  });

  it('replaces characters AssumeRole refuses and keeps at most 64', () => {
    // Act
    const name = roleSessionNameFor('tenant/acme:exec 1', `step.${'x'.repeat(100)}`);

    // Assess
    expect(name).toMatch(/^[\w+=,.@-]{2,64}$/);
    expect(name).toHaveLength(64);
    expect(name.startsWith('runbook-tenant-acme-exec-1-step.xxx')).toBe(true);
  });
});

describe('ScopedCredentials', () => {
  const sts = mockClient(STSClient);
  const client = new STSClient({ region: 'eu-west-1' });
  const expiration = new Date('2026-03-01T12:15:00.000Z');

  afterEach(() => sts.reset());

  it('assumes the step role with a session policy of exactly the step’s action, for 15 minutes', async () => {
    // Prepare
    sts.on(AssumeRoleCommand).resolves({
      Credentials: {
        AccessKeyId: 'ASIASCOPED',
        SecretAccessKey: 'scoped-secret',
        SessionToken: 'scoped-token',
        Expiration: expiration,
      },
    });
    const scoped = new ScopedCredentials(client, { roleArn: ROLE_ARN, region: 'eu-west-1' });

    // Act
    const credentials = await scoped.credentialsFor(lambdaStep, context);

    // Assess
    expect(credentials).toEqual({
      accessKeyId: 'ASIASCOPED',
      secretAccessKey: 'scoped-secret',
      sessionToken: 'scoped-token',
      expiration,
    });
    expect(sts).toHaveReceivedCommandTimes(AssumeRoleCommand, 1);
    const input = sts.commandCalls(AssumeRoleCommand)[0]?.args[0].input;
    expect(input).toMatchObject({
      RoleArn: ROLE_ARN,
      RoleSessionName: `runbook-${context.executionId}-flush`,
      DurationSeconds: STEP_SESSION_SECONDS,
    });
    expect(STEP_SESSION_SECONDS).toBe(900);
    expect(JSON.parse(input?.Policy ?? '')).toEqual(
      sessionPolicyFor(lambdaStep, 'aws', 'eu-west-1', '111122223333'),
    );
  });

  it('takes the partition and account from the role ARN, the account from the options when given', async () => {
    // Prepare
    sts.on(AssumeRoleCommand).resolves({
      Credentials: { AccessKeyId: 'a', SecretAccessKey: 's', SessionToken: 't', Expiration: expiration },
    });
    const scoped = new ScopedCredentials(client, {
      roleArn: 'arn:aws-cn:iam::111122223333:role/steps',
      region: 'cn-north-1',
      account: '444455556666',
    });

    // Act
    await scoped.credentialsFor(lambdaStep, context);

    // Assess
    const policy = JSON.parse(sts.commandCalls(AssumeRoleCommand)[0]?.args[0].input.Policy ?? '');
    expect(policy.Statement[0].Resource).toBe(
      'arn:aws-cn:lambda:cn-north-1:444455556666:function:conductor-cache-flush',
    );
  });

  it('is usable as a runner’s credentialsFor as it is (bound)', async () => {
    // Prepare
    sts.on(AssumeRoleCommand).resolves({
      Credentials: { AccessKeyId: 'a', SecretAccessKey: 's', SessionToken: 't', Expiration: expiration },
    });
    const { credentialsFor } = new ScopedCredentials(client, { roleArn: ROLE_ARN, region: 'eu-west-1' });

    // Act
    const credentials = await credentialsFor(awsApiStep, context);

    // Assess
    expect(credentials.accessKeyId).toBe('a');
    const policy = JSON.parse(sts.commandCalls(AssumeRoleCommand)[0]?.args[0].input.Policy ?? '');
    expect(policy.Statement).toEqual([{ Effect: 'Allow', Action: 'kms:CreateKey', Resource: '*' }]);
  });

  it('fails when STS answers no credentials', async () => {
    // Prepare
    sts.on(AssumeRoleCommand).resolves({});
    const scoped = new ScopedCredentials(client, { roleArn: ROLE_ARN, region: 'eu-west-1' });

    // Act
    const asking = scoped.credentialsFor(lambdaStep, context);

    // Assess
    await expect(asking).rejects.toThrow(`AssumeRole on ${ROLE_ARN} returned no credentials`);
  });

  it('needs an IAM role ARN', () => {
    // Act
    const making = () =>
      new ScopedCredentials(client, { roleArn: 'arn:aws:iam::111122223333:user/ops', region: 'eu-west-1' });

    // Assess
    expect(making).toThrow(
      'ScopedCredentials needs an IAM role ARN, got "arn:aws:iam::111122223333:user/ops"',
    );
  });
});
