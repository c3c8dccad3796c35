import { approvalFlowDefinition } from '../../functions/runbooks/src/workflow/approval-flow.js';
import type {
  ApprovalFlowInput,
  ApprovalRequestPayload,
  JsonValue,
  RunStepsPayload,
} from '../../functions/runbooks/src/workflow/flow-contract.js';
import { LocalApprovalFlow } from '../../functions/runbooks/src/workflow/local-flow.js';
import { invokeAsLambda } from './lambda-context.js';

type Handler = (event: unknown, context: unknown) => Promise<unknown>;

export interface ApprovalFlowFunctions {
  /** The function of the flow's `approvalRequest` task (runbooks-approval-request). */
  readonly approvalRequest: { readonly name: string; readonly handler: Handler };
  /** The function of the flow's `runSteps` task (runbooks-run-steps). */
  readonly runSteps: { readonly name: string; readonly handler: Handler };
  /** The function the state machine's status changes go to (runbooks-flow-events). */
  readonly statusChanges?: { readonly name: string; readonly handler: Handler };
}

/**
 * The embedded runtime's approval flow: the ASL CDK deploys, run by aws-local-stepfunctions, whose
 * two Lambda tasks invoke the same handlers the state machine invokes on AWS, and whose end is
 * handed to the status-change function as EventBridge's "Step Functions Execution Status Change"
 * event. Bound late: the handlers read the stand-in when they are imported, before they exist here.
 */
export class ApprovalFlowHost {
  #flow: LocalApprovalFlow | undefined;
  #functions: ApprovalFlowFunctions | undefined;
  readonly #inFlight = new Set<Promise<unknown>>();

  /**
   * @param timeoutScale multiplies each stage's timeout (at least 1 s): tests see a stage time out
   * without waiting its minute. 1 in `npm start`.
   */
  constructor(private readonly timeoutScale = 1) {}

  bind(functions: ApprovalFlowFunctions): void {
    this.#functions = functions;
    this.#flow = new LocalApprovalFlow({
      definition: approvalFlowDefinition(),
      requestApproval: async (request: ApprovalRequestPayload) => {
        await invokeAsLambda(functions.approvalRequest, request, 60_000);
      },
      runSteps: async (payload: RunStepsPayload) =>
        (await invokeAsLambda(functions.runSteps, payload, 900_000)) as JsonValue,
    });
  }

  /** The stand-in the runbooks functions start executions and settle stages through. */
  readonly standIn = {
    start: async (input: Readonly<Record<string, unknown>>, name: string) => {
      const flow = this.#ready();
      const scaled = this.#scaled(input as unknown as ApprovalFlowInput);
      const started = flow.startExecution(scaled, { name });
      const ended = started.result.then(async (description) => {
        const target = this.#functions?.statusChanges;
        if (!target) return;
        await invokeAsLambda(
          target,
          {
            version: '0',
            id: `local-${name}-${description.status}`,
            'detail-type': 'Step Functions Execution Status Change',
            source: 'aws.states',
            account: '000000000000',
            time: (description.stopDate ?? new Date()).toISOString(),
            region: 'us-east-1',
            resources: [description.executionArn],
            detail: {
              executionArn: description.executionArn,
              stateMachineArn: flow.stateMachineArn,
              name,
              status: description.status,
              input: JSON.stringify(input),
              error: description.error ?? null,
              cause: description.cause ?? null,
            },
          },
          60_000,
        );
      });
      const tracked = ended.catch(() => undefined).finally(() => this.#inFlight.delete(tracked));
      this.#inFlight.add(tracked);
      return { executionArn: started.executionArn };
    },
    sendTaskSuccess: (input: { readonly taskToken: string; readonly output: string }) =>
      this.#ready().sendTaskSuccess(input),
    sendTaskFailure: (input: {
      readonly taskToken: string;
      readonly error?: string;
      readonly cause?: string;
    }) => this.#ready().sendTaskFailure(input),
  };

  /** Executions still running or reporting their end (a test waits for them; stop abandons them). */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  /** The tokens still waiting for a decision (tests, diagnostics). */
  pendingTokens(): string[] {
    return this.#flow?.tokens.pending() ?? [];
  }

  #ready(): LocalApprovalFlow {
    if (!this.#flow) throw new Error('the local approval flow is not bound to its functions yet');
    return this.#flow;
  }

  #scaled(input: ApprovalFlowInput): ApprovalFlowInput {
    if (this.timeoutScale === 1) return input;
    return {
      ...input,
      stages: input.stages.map((stage) => ({
        ...stage,
        timeoutSeconds: Math.max(1, Math.round(stage.timeoutSeconds * this.timeoutScale)),
      })),
    };
  }
}
