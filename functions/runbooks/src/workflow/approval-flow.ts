import { rmSync } from 'node:fs';
import { App, Duration, Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import type { Construct } from 'constructs';
import { type AslDefinition, FLOW_ERRORS, FLOW_STATES, type JsonValue } from './flow-contract.js';

/**
 * The runbooks approval flow: one state machine for every runbook. A Map state walks the stages of
 * the execution input one at a time; each waits on a task token until the domain settles it or the
 * stage's timeout fails the execution; then the steps run. CDK only: Lambdas import flow-contract.ts.
 */

export interface ApprovalFlowLambdas {
  /** Records the stage's task token and publishes `approval_requested` (ApprovalRequestPayload). */
  readonly approvalRequest: lambda.IFunction;
  /** Runs the runbook's steps once every stage approved (RunStepsPayload). */
  readonly runSteps: lambda.IFunction;
}

/** The Lambda ARNs `approvalFlowDefinition` puts in the definition when it is given none. */
export const PLACEHOLDER_FUNCTION_ARNS = {
  approvalRequest: 'arn:aws:lambda:us-east-1:000000000000:function:runbooks-approval-request',
  runSteps: 'arn:aws:lambda:us-east-1:000000000000:function:runbooks-run-steps',
} as const;

/** A Lambda invocation of the run-steps function is bounded by Lambda's own 15 minutes. */
const RUN_STEPS_TIMEOUT = Duration.minutes(15);

/**
 * Builds the flow's states in `scope`. State names are construct ids: keep them stable (the local
 * interpreter overrides tasks by name, and the console shows them).
 */
export const approvalFlowChain = (scope: Construct, lambdas: ApprovalFlowLambdas): sfn.IChainable => {
  const rejected = new sfn.Fail(scope, FLOW_STATES.rejected, {
    error: FLOW_ERRORS.rejected,
    cause: 'An approver rejected an approval stage',
  });
  const timedOut = new sfn.Fail(scope, FLOW_STATES.timedOut, {
    error: FLOW_ERRORS.timedOut,
    cause: 'An approval stage got no decision before its timeout',
  });
  const stepsFailed = new sfn.Fail(scope, FLOW_STATES.stepsFailed, {
    error: FLOW_ERRORS.stepsFailed,
    cause: 'The runbook steps failed after every approval stage approved',
  });

  // Each iteration's input is { Payload: { ... } }, the same path the Lambda Parameters give: AWS
  // resolves TimeoutSecondsPath against the state input, aws-local-stepfunctions 3.0.0 against the
  // Parameters output, so `$.Payload.stage.timeoutSeconds` reads the same value on both.
  const waitForApproval = new tasks.LambdaInvoke(scope, FLOW_STATES.waitForApproval, {
    lambdaFunction: lambdas.approvalRequest,
    integrationPattern: sfn.IntegrationPattern.WAIT_FOR_TASK_TOKEN,
    payload: sfn.TaskInput.fromObject({
      taskToken: sfn.JsonPath.taskToken,
      executionId: sfn.JsonPath.stringAt('$.Payload.executionId'),
      runbookId: sfn.JsonPath.stringAt('$.Payload.runbookId'),
      digest: sfn.JsonPath.stringAt('$.Payload.digest'),
      stageIndex: sfn.JsonPath.numberAt('$.Payload.stageIndex'),
      stage: sfn.JsonPath.objectAt('$.Payload.stage'),
    }),
    taskTimeout: sfn.Timeout.at('$.Payload.stage.timeoutSeconds'),
  });

  const approvalStages = new sfn.Map(scope, FLOW_STATES.approvalStages, {
    itemsPath: '$.stages',
    maxConcurrency: 1,
    itemSelector: {
      Payload: {
        executionId: sfn.JsonPath.stringAt('$.executionId'),
        runbookId: sfn.JsonPath.stringAt('$.runbookId'),
        digest: sfn.JsonPath.stringAt('$.digest'),
        stageIndex: sfn.JsonPath.numberAt('$$.Map.Item.Index'),
        stage: sfn.JsonPath.objectAt('$$.Map.Item.Value'),
      },
    },
    resultPath: '$.approvals',
  })
    .itemProcessor(waitForApproval)
    .addCatch(rejected, { errors: [FLOW_ERRORS.rejected], resultPath: '$.failure' })
    .addCatch(timedOut, { errors: [sfn.Errors.TIMEOUT], resultPath: '$.failure' });

  const runSteps = new tasks.LambdaInvoke(scope, FLOW_STATES.runSteps, {
    lambdaFunction: lambdas.runSteps,
    payload: sfn.TaskInput.fromJsonPathAt('$'),
    resultSelector: { output: sfn.JsonPath.objectAt('$.Payload') },
    resultPath: '$.stepsResult',
    taskTimeout: sfn.Timeout.duration(RUN_STEPS_TIMEOUT),
    // Steps act on real systems: at most once. A Lambda service error may follow a run that happened.
    retryOnServiceExceptions: false,
  })
    // A throttled invocation never ran: retrying it cannot act twice (the executor also claims the
    // steps once, by a conditional write).
    .addRetry({
      errors: ['Lambda.TooManyRequestsException'],
      interval: Duration.seconds(2),
      maxAttempts: 3,
      backoffRate: 2,
    })
    .addCatch(stepsFailed, { errors: [sfn.Errors.ALL], resultPath: '$.failure' });

  return approvalStages.next(runSteps).next(new sfn.Succeed(scope, FLOW_STATES.succeeded));
};

/**
 * The ASL CDK deploys for the flow, without a synth: the chain rendered in a throwaway stack, the
 * partition resolved to `aws`, and the given (or placeholder) Lambda ARNs. The embedded runtime
 * interprets exactly this.
 */
export const approvalFlowDefinition = (
  functionArns: { readonly approvalRequest: string; readonly runSteps: string } = PLACEHOLDER_FUNCTION_ARNS,
): AslDefinition => {
  const app = new App();
  try {
    const stack = new Stack(app, 'ApprovalFlowDefinition');
    const chain = approvalFlowChain(stack, {
      approvalRequest: lambda.Function.fromFunctionArn(
        stack,
        'ApprovalRequest',
        functionArns.approvalRequest,
      ),
      runSteps: lambda.Function.fromFunctionArn(stack, 'RunSteps', functionArns.runSteps),
    });
    const graph = new sfn.StateGraph(chain.startState, 'Runbook approval flow');
    return resolveIntrinsics(stack.resolve(graph.toGraphJson())) as unknown as AslDefinition;
  } finally {
    // An App claims a temporary cdk.out folder when it is built; this one is never synthesized.
    rmSync(app.outdir, { recursive: true, force: true });
  }
};

/**
 * Resolves the intrinsics a rendered definition holds: `Fn::Join`, `{ Ref: AWS::Partition }` (to
 * `aws`), and any `Ref` or `Fn::GetAtt` named in `refs` (by `Name` or `LogicalId.Attribute`).
 */
export const resolveIntrinsics = (value: unknown, refs: Readonly<Record<string, string>> = {}): JsonValue => {
  if (Array.isArray(value)) return value.map((item) => resolveIntrinsics(item, refs));
  if (value === null || typeof value !== 'object') return value as JsonValue;
  const entries = Object.entries(value);
  const [key, argument] = entries[0] ?? [];
  if (entries.length === 1 && key === 'Ref' && typeof argument === 'string') {
    const resolved = argument === 'AWS::Partition' ? 'aws' : refs[argument];
    if (resolved === undefined)
      throw new Error(`the approval flow refers to ${argument}, which has no value here`);
    return resolved;
  }
  if (entries.length === 1 && key === 'Fn::GetAtt' && Array.isArray(argument)) {
    const resolved = refs[argument.join('.')];
    if (resolved === undefined)
      throw new Error(`the approval flow refers to ${argument.join('.')}, which has no value here`);
    return resolved;
  }
  if (entries.length === 1 && key === 'Fn::Join' && Array.isArray(argument)) {
    const [separator, parts] = argument as [string, unknown[]];
    return parts.map((part) => String(resolveIntrinsics(part, refs))).join(separator);
  }
  if (entries.length === 1 && key?.startsWith('Fn::')) {
    throw new Error(`the approval flow holds ${key}, which only CloudFormation resolves`);
  }
  return Object.fromEntries(entries.map(([name, field]) => [name, resolveIntrinsics(field, refs)]));
};
