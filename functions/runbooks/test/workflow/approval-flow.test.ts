import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import aslValidator from 'asl-validator';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  approvalFlowChain,
  approvalFlowDefinition,
  PLACEHOLDER_FUNCTION_ARNS,
  resolveIntrinsics,
} from '../../src/workflow/approval-flow.js';
import { FLOW_ERRORS, FLOW_STATES } from '../../src/workflow/flow-contract.js';

/** The DefinitionString CDK synthesizes in a stack template, its Lambda ARNs replaced by the placeholders. */
const synthesizedDefinition = (outdir: string): unknown => {
  const cdkJson = JSON.parse(readFileSync(join(import.meta.dirname, '../../../../cdk.json'), 'utf8')) as {
    context?: Record<string, unknown>;
  };
  // The built-in CloudFormation validation costs ~4 s and does not read DefinitionString.
  const app = new App({ outdir, context: cdkJson.context ?? {}, builtinCloudFormationValidation: false });
  const stack = new Stack(app, 'Runbooks');
  const fn = (id: string) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({})'),
    });
  const approvalRequest = fn('ApprovalRequest');
  const runSteps = fn('RunSteps');
  new sfn.StateMachine(stack, 'ApprovalFlow', {
    definitionBody: sfn.DefinitionBody.fromChainable(approvalFlowChain(stack, { approvalRequest, runSteps })),
  });

  const machines = Template.fromStack(stack).findResources('AWS::StepFunctions::StateMachine');
  const [machine] = Object.values(machines) as { Properties: { DefinitionString: unknown } }[];
  const arnOf = (f: lambda.Function) =>
    `${stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction)}.Arn`;
  const text = resolveIntrinsics(machine?.Properties.DefinitionString, {
    [arnOf(approvalRequest)]: PLACEHOLDER_FUNCTION_ARNS.approvalRequest,
    [arnOf(runSteps)]: PLACEHOLDER_FUNCTION_ARNS.runSteps,
  });
  return JSON.parse(String(text));
};

describe('the approval flow definition', () => {
  let outdir = '';
  beforeAll(() => {
    outdir = mkdtempSync(join(tmpdir(), 'cdk.out-approval-flow-'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('is valid Amazon States Language, ARNs and paths included', () => {
    // Prepare (the validator writes QueryLanguage into the states it checks: give it a copy)
    const definition = structuredClone(approvalFlowDefinition());

    // Act
    const result = aslValidator(definition, { checkArn: true, checkPaths: true });

    // Assess
    expect(result.errorsText('\n')).toBe('');
    expect(result.isValid).toBe(true);
  });

  it('would be refused by the validator with a transition to a state that does not exist', () => {
    // Prepare
    const definition = structuredClone(approvalFlowDefinition()) as {
      States: Record<string, { Next?: string }>;
    };
    const runSteps = definition.States[FLOW_STATES.runSteps];
    if (runSteps) runSteps.Next = 'Nowhere';

    // Act
    const result = aslValidator(definition);

    // Assess
    expect(result.isValid).toBe(false);
    expect(result.errorsText('\n')).toContain('Nowhere');
  });

  it('deep-equals the DefinitionString CDK synthesizes, once the Lambda ARNs are normalised', () => {
    expect(synthesizedDefinition(outdir)).toEqual(approvalFlowDefinition());
  });

  it('names its states for the console: stages, the wait, the steps, and one end per outcome', () => {
    // Act
    const definition = approvalFlowDefinition();
    const stages = definition.States[FLOW_STATES.approvalStages] as unknown as {
      MaxConcurrency: number;
      ItemProcessor: { StartAt: string; States: Record<string, Record<string, unknown>> };
    };
    const wait = stages.ItemProcessor.States[FLOW_STATES.waitForApproval];

    // Assess
    expect(definition.StartAt).toBe('Collect approvals');
    expect(Object.keys(definition.States).sort()).toEqual(
      [
        'Approval rejected',
        'Approval timed out',
        'Collect approvals',
        'Run the steps',
        'Runbook done',
        'Steps failed',
      ].sort(),
    );
    expect(stages.MaxConcurrency).toBe(1);
    expect(stages.ItemProcessor.StartAt).toBe('Wait for approval');
    expect(wait).toMatchObject({
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      TimeoutSecondsPath: '$.Payload.stage.timeoutSeconds',
      Parameters: { Payload: { 'taskToken.$': '$$.Task.Token' } },
    });
  });

  it('ends a rejection, a timeout and a steps failure in Fail states with their own error', () => {
    // Act
    const { States } = approvalFlowDefinition();

    // Assess
    expect(States[FLOW_STATES.rejected]).toMatchObject({ Type: 'Fail', Error: FLOW_ERRORS.rejected });
    expect(States[FLOW_STATES.timedOut]).toMatchObject({ Type: 'Fail', Error: FLOW_ERRORS.timedOut });
    expect(States[FLOW_STATES.stepsFailed]).toMatchObject({ Type: 'Fail', Error: FLOW_ERRORS.stepsFailed });
    expect(States[FLOW_STATES.approvalStages]?.Catch).toEqual([
      { ErrorEquals: ['ApprovalRejected'], ResultPath: '$.failure', Next: 'Approval rejected' },
      { ErrorEquals: ['States.Timeout'], ResultPath: '$.failure', Next: 'Approval timed out' },
    ]);
  });
});
