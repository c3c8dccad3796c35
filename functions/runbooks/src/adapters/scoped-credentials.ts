import type { STSClient } from '@aws-sdk/client-sts';
import type { StepContext } from '../domain/steps.js';
import type { AwsApiStep, LambdaStep, ScopedAwsCredentials } from './step-runners.js';

/** Loaded on first use (see KmsSigner): only the lambda and aws-api steps need it. */
const stsSdk = () => import('@aws-sdk/client-sts');

/** `arn:<partition>:iam::<account>:role/<path/name>` */
const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;
/** What AssumeRole accepts in a RoleSessionName. */
const SESSION_NAME_CHARS = /[^\w+=,.@-]/g;
const MAX_SESSION_NAME = 64;
/** The shortest session STS allows: a step outliving it fails with ExpiredToken rather than keep rights. */
export const STEP_SESSION_SECONDS = 900;

/** An IAM policy document, as AssumeRole's inline session `Policy` takes it (JSON). */
export interface SessionPolicy {
  readonly Version: '2012-10-17';
  readonly Statement: readonly [
    { readonly Effect: 'Allow'; readonly Action: string; readonly Resource: string },
  ];
}

/**
 * The session policy of one step: exactly the action it declares. `aws-api`: its `action` on every
 * resource (the step names no resource ARN; the role's own policy bounds which). `lambda`:
 * `lambda:InvokeFunction` on its function, unqualified.
 */
export const sessionPolicyFor = (
  step: LambdaStep | AwsApiStep,
  partition: string,
  region: string,
  account: string,
): SessionPolicy => {
  const statement =
    step.type === 'lambda'
      ? {
          Effect: 'Allow' as const,
          Action: 'lambda:InvokeFunction',
          Resource: `arn:${partition}:lambda:${region}:${account}:function:${step.functionName}`,
        }
      : { Effect: 'Allow' as const, Action: step.action, Resource: '*' };
  return { Version: '2012-10-17', Statement: [statement] };
};

/** `runbook-<executionId>-<stepId>`, other characters than AssumeRole allows as `-`, at most 64. */
export const roleSessionNameFor = (executionId: string, stepId: string): string =>
  `runbook-${executionId}-${stepId}`.replace(SESSION_NAME_CHARS, '-').slice(0, MAX_SESSION_NAME);

export interface ScopedCredentialsOptions {
  /** The role every step assumes (`arn:aws:iam::<account>:role/…`): its policy bounds what any step may do. */
  readonly roleArn: string;
  /** The region of the Lambda functions steps invoke (an IAM role ARN names none). */
  readonly region: string;
  /** The account of those functions. @default the role's account */
  readonly account?: string;
}

/**
 * Least privilege per step: each `lambda` and `aws-api` step runs with credentials from AssumeRole
 * on the step role with an inline session policy allowing only what the step declares
 * ({@link sessionPolicyFor}). The effective rights are the role's policy intersected with the
 * session policy, so the role must allow the deployment's allow-listed actions and no step gets
 * more than its own. Sessions last 15 minutes (STS's minimum) and are named after the execution
 * and step, so CloudTrail ties each call to them.
 */
export class ScopedCredentials {
  readonly #partition: string;
  readonly #account: string;

  constructor(
    private readonly sts: Pick<STSClient, 'send'>,
    private readonly options: ScopedCredentialsOptions,
  ) {
    const match = ROLE_ARN.exec(options.roleArn);
    if (!match) throw new Error(`ScopedCredentials needs an IAM role ARN, got "${options.roleArn}"`);
    this.#partition = match[1] ?? 'aws';
    this.#account = options.account ?? match[2] ?? '';
  }

  /** The runners' `credentialsFor` (a bound function: pass `scoped.credentialsFor` as it is). */
  readonly credentialsFor = async (
    step: LambdaStep | AwsApiStep,
    context: StepContext,
  ): Promise<ScopedAwsCredentials> => {
    const { AssumeRoleCommand } = await stsSdk();
    const policy = sessionPolicyFor(step, this.#partition, this.options.region, this.#account);
    const out = await this.sts.send(
      new AssumeRoleCommand({
        RoleArn: this.options.roleArn,
        RoleSessionName: roleSessionNameFor(context.executionId, step.id),
        Policy: JSON.stringify(policy),
        DurationSeconds: STEP_SESSION_SECONDS,
      }),
    );
    const credentials = out.Credentials;
    if (!credentials?.AccessKeyId || !credentials.SecretAccessKey || !credentials.SessionToken)
      throw new Error(`AssumeRole on ${this.options.roleArn} returned no credentials`);
    return {
      accessKeyId: credentials.AccessKeyId,
      secretAccessKey: credentials.SecretAccessKey,
      sessionToken: credentials.SessionToken,
      ...(credentials.Expiration ? { expiration: credentials.Expiration } : {}),
    };
  };
}
