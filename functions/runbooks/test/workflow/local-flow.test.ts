import { describe, expect, it } from 'vitest';
import { CallMeter, meterCalls } from '#shared/adapters/call-meter.js';
import { approvalFlowDefinition } from '../../src/workflow/approval-flow.js';
import {
  type ApprovalFlowInput,
  type ApprovalRequestPayload,
  type AslDefinition,
  FLOW_ERRORS,
  type JsonValue,
  type RunStepsPayload,
  TaskTokenNotFoundError,
} from '../../src/workflow/flow-contract.js';
import { LocalApprovalFlow } from '../../src/workflow/local-flow.js';

const DEFINITION = approvalFlowDefinition();

const inputWith = (...timeouts: number[]): ApprovalFlowInput => ({
  executionId: 'exec_000001',
  runbookId: 'restart-router',
  digest: 'sha256:9f2c',
  parameters: { region: 'eu-west-1' },
  stages: timeouts.map((timeoutSeconds, i) => ({
    name: `stage ${i + 1}`,
    timeoutSeconds,
    approvalsRequired: 2,
  })),
});

type Decision = 'approve' | 'reject' | 'wait';

/**
 * The flow on the local interpreter with a stand-in domain that decides each stage as told (after
 * the request went out, as approvers would), and records what the two Lambdas were given.
 */
const flowThatDecides = (
  decide: (stageIndex: number) => Decision,
  definition: AslDefinition = DEFINITION,
) => {
  const requests: ApprovalRequestPayload[] = [];
  const stepsRuns: RunStepsPayload[] = [];
  const flow: LocalApprovalFlow = new LocalApprovalFlow({
    definition,
    requestApproval: (request) => {
      requests.push(request);
      const decision = decide(request.stageIndex);
      const output = JSON.stringify({ approvers: ['alice', 'bob'], digest: request.digest });
      setImmediate(() => {
        if (decision === 'approve') void flow.sendTaskSuccess({ taskToken: request.taskToken, output });
        if (decision === 'reject') {
          void flow.sendTaskFailure({
            taskToken: request.taskToken,
            error: FLOW_ERRORS.rejected,
            cause: 'carol: not today',
          });
        }
      });
    },
    runSteps: (payload) => {
      stepsRuns.push(payload);
      return { stepsRun: 3 };
    },
  });
  return { flow, requests, stepsRuns };
};

describe('the approval flow on the local interpreter', () => {
  it('runs the steps once, with the input and every approval, when all stages approve', async () => {
    // Prepare
    const { flow, requests, stepsRuns } = flowThatDecides(() => 'approve');
    const input = inputWith(30, 30, 30);

    // Act
    const { executionArn, result } = flow.startExecution(input, { name: 'exec_000001' });
    const execution = await result;

    // Assess
    expect(executionArn).toBe(
      'arn:aws:states:us-east-1:000000000000:execution:runbooks-approval-flow:exec_000001',
    );
    expect(execution.status).toBe('SUCCEEDED');
    expect(requests.map((r) => [r.stageIndex, r.stage.name, r.digest])).toEqual([
      [0, 'stage 1', 'sha256:9f2c'],
      [1, 'stage 2', 'sha256:9f2c'],
      [2, 'stage 3', 'sha256:9f2c'],
    ]);
    const approval: JsonValue = { approvers: ['alice', 'bob'], digest: 'sha256:9f2c' };
    expect(stepsRuns).toEqual([{ ...input, approvals: [approval, approval, approval] }]);
    expect(execution.output).toMatchObject({
      approvals: [approval, approval, approval],
      stepsResult: { output: { stepsRun: 3 } },
    });
    expect(flow.describeExecution(executionArn)).toEqual(execution);
  });

  it('gives each stage a token of its own', async () => {
    // Prepare
    const { flow, requests } = flowThatDecides(() => 'approve');

    // Act
    await flow.startExecution(inputWith(30, 30, 30)).result;
    await flow.startExecution(inputWith(30, 30, 30)).result;

    // Assess
    const tokens = requests.map((r) => r.taskToken);
    expect(tokens).toHaveLength(6);
    expect(new Set(tokens).size).toBe(6);
  });

  it('fails with ApprovalRejected at a rejected second stage, and never runs the steps', async () => {
    // Prepare
    const { flow, requests, stepsRuns } = flowThatDecides((stage) => (stage === 1 ? 'reject' : 'approve'));

    // Act
    const execution = await flow.startExecution(inputWith(30, 30, 30)).result;

    // Assess
    expect(execution).toMatchObject({ status: 'FAILED', error: 'ApprovalRejected' });
    expect(execution.cause).toMatch(/rejected/);
    expect(requests.map((r) => r.stageIndex)).toEqual([0, 1]);
    expect(stepsRuns).toEqual([]);
  });

  it('fails with StepsFailed when the steps throw after every approval', async () => {
    // Prepare
    const flow: LocalApprovalFlow = new LocalApprovalFlow({
      definition: DEFINITION,
      requestApproval: (request) => {
        setImmediate(() => void flow.sendTaskSuccess({ taskToken: request.taskToken, output: '"ok"' }));
      },
      runSteps: () => {
        throw new Error('the router did not restart');
      },
    });

    // Act
    const execution = await flow.startExecution(inputWith(30)).result;

    // Assess
    expect(execution).toMatchObject({ status: 'FAILED', error: 'StepsFailed' });
  });

  it('runs the steps straight away for a runbook with no approval stage', async () => {
    // Prepare
    const { flow, requests, stepsRuns } = flowThatDecides(() => 'approve');

    // Act
    const execution = await flow.startExecution(inputWith()).result;

    // Assess
    expect(execution.status).toBe('SUCCEEDED');
    expect(requests).toEqual([]);
    expect(stepsRuns).toHaveLength(1);
  });

  // Both wait a real second: run side by side.
  describe.concurrent('when time runs out', () => {
    it('fails with ApprovalTimedOut when the first stage gets no decision in its timeout, and requests no later stage', async ({
      expect,
    }) => {
      // Prepare
      const { flow, requests, stepsRuns } = flowThatDecides(() => 'wait');
      const started = Date.now();

      // Act
      const execution = await flow.startExecution(inputWith(1, 30)).result;

      // Assess
      expect(Date.now() - started).toBeGreaterThanOrEqual(990);
      expect(execution).toMatchObject({ status: 'FAILED', error: 'ApprovalTimedOut' });
      expect(execution.cause).toMatch(/timeout/);
      expect(requests.map((r) => r.stageIndex)).toEqual([0]);
      expect(stepsRuns).toEqual([]);
      const late = flow.sendTaskSuccess({ taskToken: requests[0]?.taskToken ?? '', output: '{}' });
      await expect(late).rejects.toBeInstanceOf(TaskTokenNotFoundError);
    });

    it('reports TIMED_OUT when the execution outlives a top-level TimeoutSeconds', async ({ expect }) => {
      // Prepare
      const { flow, stepsRuns } = flowThatDecides(() => 'wait', { ...DEFINITION, TimeoutSeconds: 1 });

      // Act
      const execution = await flow.startExecution(inputWith(30)).result;

      // Assess
      expect(execution).toMatchObject({ status: 'TIMED_OUT', error: 'States.Timeout' });
      expect(stepsRuns).toEqual([]);
    });
  });
});

describe('the hand-off of a stage token to the domain', () => {
  it('keeps the execution RUNNING on one pending token until the domain settles it, then refuses the token', async () => {
    // Prepare: the domain holds the token while approvals come in (M of N is counted outside the machine)
    const requested = Promise.withResolvers<ApprovalRequestPayload>();
    const flow = new LocalApprovalFlow({
      definition: DEFINITION,
      requestApproval: (request) => requested.resolve(request),
      runSteps: () => null,
    });
    const { executionArn, result } = flow.startExecution(inputWith(30));
    const request = await requested.promise;

    // Act
    const whileWaiting = flow.describeExecution(executionArn).status;
    const pending = flow.tokens.pending(executionArn);
    await flow.sendTaskSuccess({
      taskToken: request.taskToken,
      output: JSON.stringify({ approvers: ['a', 'b'] }),
    });
    const execution = await result;

    // Assess
    expect(whileWaiting).toBe('RUNNING');
    expect(pending).toEqual([request.taskToken]);
    expect(execution.status).toBe('SUCCEEDED');
    await expect(flow.sendTaskSuccess({ taskToken: request.taskToken, output: '{}' })).rejects.toBeInstanceOf(
      TaskTokenNotFoundError,
    );
    await expect(
      flow.sendTaskFailure({ taskToken: 'never-issued', error: FLOW_ERRORS.rejected }),
    ).rejects.toBeInstanceOf(TaskTokenNotFoundError);
  });

  it('leaves the task waiting when SendTaskSuccess is given output that is not JSON', async () => {
    // Prepare
    const requested = Promise.withResolvers<ApprovalRequestPayload>();
    const flow = new LocalApprovalFlow({
      definition: DEFINITION,
      requestApproval: (request) => requested.resolve(request),
      runSteps: () => null,
    });
    const { executionArn, result } = flow.startExecution(inputWith(30));
    const { taskToken } = await requested.promise;

    // Act
    const refused = flow.sendTaskSuccess({ taskToken, output: 'approved by alice' });

    // Assess
    await expect(refused).rejects.toBeInstanceOf(SyntaxError);
    expect(flow.tokens.pending(executionArn)).toEqual([taskToken]);
    await flow.sendTaskSuccess({ taskToken, output: '{}' });
    expect((await result).status).toBe('SUCCEEDED');
  });
});

describe('call accounting of the local flow', () => {
  it('records StartExecution, each SendTaskSuccess and one billed state transition per state entered', async () => {
    // Prepare
    const { flow } = flowThatDecides(() => 'approve');
    const meter = new CallMeter();

    // Act
    const execution = await meterCalls(meter, () => flow.startExecution(inputWith(30, 30)).result);

    // Assess: Collect approvals, Wait for approval in each of its two iterations, Run the steps, Runbook done
    expect(execution.status).toBe('SUCCEEDED');
    expect(meter.lines()).toEqual([
      { service: 'sfn', operation: 'SendTaskSuccess', calls: 2, units: { requests: 2 } },
      { service: 'sfn', operation: 'StartExecution', calls: 1, units: { requests: 1 } },
      { service: 'sfn', operation: 'StateTransition', calls: 5, units: {} },
    ]);
  });

  it('counts the Fail state a rejection ends in', async () => {
    // Prepare
    const { flow } = flowThatDecides(() => 'reject');
    const meter = new CallMeter();

    // Act
    const execution = await meterCalls(meter, () => flow.startExecution(inputWith(30)).result);

    // Assess: Collect approvals, Wait for approval, Approval rejected
    expect(execution).toMatchObject({ status: 'FAILED', error: 'ApprovalRejected' });
    expect(meter.calls('sfn.SendTaskFailure')).toBe(1);
    expect(meter.calls('sfn.StateTransition')).toBe(3);
  });
});
