import { describe, expect, it } from 'vitest';
import { CallMeter, meterCalls } from '#shared/adapters/call-meter.js';
import type { ApprovalRequestPayload } from '../../../functions/runbooks/src/workflow/flow-contract.js';
import { ApprovalFlowHost } from '../approval-flow-host.js';

describe('the approval flow host', () => {
  it('records each function the flow invokes as a billed Lambda invocation, besides the flow’s own calls', async () => {
    // Prepare: one stage, approved as soon as it is requested
    const host = new ApprovalFlowHost();
    const invoked: string[] = [];
    const handler = (name: string) => async (event: unknown) => {
      invoked.push(name);
      if (name === 'conductor-runbooks-approval-request') {
        const { taskToken } = event as ApprovalRequestPayload;
        setImmediate(() => void host.standIn.sendTaskSuccess({ taskToken, output: '{}' }));
      }
      return { ran: name };
    };
    const fn = (name: string) => ({ name, handler: handler(name) });
    host.bind({
      approvalRequest: fn('conductor-runbooks-approval-request'),
      runSteps: fn('conductor-runbooks-run-steps'),
      statusChanges: fn('conductor-runbooks-flow-events'),
    });
    const meter = new CallMeter();
    const input = {
      executionId: 'rbx_1',
      runbookId: 'restart',
      digest: 'd',
      stages: [{ name: 'on-call', timeoutSeconds: 60 }],
    };

    // Act
    await meterCalls(meter, async () => {
      await host.standIn.start(input, 'rbx_1');
      await host.settled();
    });

    // Assess
    expect(invoked).toEqual([
      'conductor-runbooks-approval-request',
      'conductor-runbooks-run-steps',
      'conductor-runbooks-flow-events',
    ]);
    const invocations = meter.lines().find((line) => line.service === 'lambda');
    expect(invocations?.calls).toBe(3);
    expect(Object.keys(invocations?.units ?? {}).sort()).toEqual([
      'mbMs',
      'ms',
      'ms.runbooks-approval-request',
      'ms.runbooks-flow-events',
      'ms.runbooks-run-steps',
    ]);
    expect(meter.calls('sfn.StartExecution')).toBe(1);
    expect(meter.calls('sfn.SendTaskSuccess')).toBe(1);
    expect(meter.calls('sfn.StateTransition')).toBe(4);
  });
});
