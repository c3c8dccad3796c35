import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import {
  approvalFlowChain,
  approvalFlowDefinition,
  PLACEHOLDER_FUNCTION_ARNS,
} from '../functions/runbooks/src/workflow/approval-flow.js';
import type { AslDefinition } from '../functions/runbooks/src/workflow/flow-contract.js';

/**
 * The Step Functions workflows of the catalog, each defined once and keyed `<pillar>/<workflow id>`
 * (the manifest's `workflows`, `workflowKeyOf`): CDK builds the state machine from `chain`
 * (infra/cdk/lib/pillar-services.ts), the embedded runtime interprets `definition`, the very ASL CDK
 * deploys (a test compares it to the synthesized DefinitionString). Both take the task functions by
 * the role the definition gives them, as the manifest's `tasks` names them.
 *
 * Importing this module builds nothing: `definition` renders the chain in a throwaway stack only
 * when called, and never synthesizes.
 */
export interface WorkflowDefinition {
  /** The task roles the definition invokes: exactly the keys of the manifest's `tasks`. */
  readonly roles: readonly string[];
  /** Builds the states in `scope`, invoking the given functions (CDK: their `live` aliases). */
  chain(scope: Construct, lambdas: Readonly<Record<string, lambda.IFunction>>): sfn.IChainable;
  /** The ASL of the same chain, with these function ARNs (placeholders by default), without a synth. */
  definition(functionArns?: Readonly<Record<string, string>>): AslDefinition;
}

/** The function of one role, or an error naming the workflow and the role. */
const roleOf = <T>(workflow: string, values: Readonly<Record<string, T>>, role: string): T => {
  const value = values[role];
  if (value === undefined) throw new Error(`Workflow ${workflow}: no function for the task role '${role}'`);
  return value;
};

const APPROVAL_FLOW = 'runbooks/approval-flow';

export const WORKFLOWS: Readonly<Record<string, WorkflowDefinition>> = {
  [APPROVAL_FLOW]: {
    roles: Object.keys(PLACEHOLDER_FUNCTION_ARNS),
    chain: (scope, lambdas) =>
      approvalFlowChain(scope, {
        approvalRequest: roleOf(APPROVAL_FLOW, lambdas, 'approvalRequest'),
        runSteps: roleOf(APPROVAL_FLOW, lambdas, 'runSteps'),
      }),
    definition: (functionArns = PLACEHOLDER_FUNCTION_ARNS) =>
      approvalFlowDefinition({
        approvalRequest: roleOf(APPROVAL_FLOW, functionArns, 'approvalRequest'),
        runSteps: roleOf(APPROVAL_FLOW, functionArns, 'runSteps'),
      }),
  },
};

/** The definition of `<pillar>/<id>`, or an error naming the known ones. */
export const workflowDefinitionOf = (key: string): WorkflowDefinition => {
  const definition = WORKFLOWS[key];
  if (!definition) {
    throw new Error(
      `Workflow '${key}' has no definition in infra/workflows.ts; known: ${Object.keys(WORKFLOWS).join(', ')}`,
    );
  }
  return definition;
};
