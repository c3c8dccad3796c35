import { Aws, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import type { Rule } from 'aws-cdk-lib/aws-events';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { type PillarManifest, type WorkflowSpec, workflowKeyOf } from '#shared/pillar.js';
import { workflowDefinitionOf } from '../../workflows.js';
import { deliverEvents, EVENT_DELIVERY } from './event-delivery.js';
import type { ServiceFunction } from './service-function.js';

/** The execution statuses whose change the `statusChangesTo` function receives: the ends of an execution. */
export const WORKFLOW_END_STATUSES = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED'] as const;

/** EventBridge's detail type of a Step Functions execution's status change (source `aws.states`). */
export const STATUS_CHANGE_DETAIL_TYPE = 'Step Functions Execution Status Change';

/** Delivery of status changes to their function: as every bus rule's (EVENT_DELIVERY). */
export const STATUS_CHANGE_DELIVERY = EVENT_DELIVERY;

/** What a starter may do with task tokens, on `*` (see grantStarter). */
const TASK_TOKEN_ACTIONS = ['states:SendTaskSuccess', 'states:SendTaskFailure'] as const;

export interface PillarWorkflowProps {
  readonly stage: string;
  readonly pillar: PillarManifest;
  readonly spec: WorkflowSpec;
  /** The pillar's functions, by function name. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** The state machine's log group and the status DLQ: kept (the stage's policy) or destroyed with the stack. */
  readonly removalPolicy: RemovalPolicy;
}

/**
 * One workflow of a manifest on AWS: a STANDARD state machine named `conductor-<stage>-<pillar>-<id>`
 * whose definition is the chain of `infra/workflows.ts` (`<pillar>/<id>`) with the task functions'
 * `live` aliases (the LambdaInvoke tasks give its role `lambda:InvokeFunction` on those aliases, and
 * nobody else gets it); logs of every event (without execution data: the task payloads carry task
 * tokens) to its own log group, X-Ray tracing; for each starter the machine's ARN in `envVar` and
 * exactly start, describe and task-token rights; and, with `statusChangesTo`, an EventBridge rule on
 * the default bus handing the machine's status changes to that function, with retries and a DLQ.
 * The alarms and dashboard widgets are PillarObservability's.
 */
export class PillarWorkflow extends Construct {
  readonly spec: WorkflowSpec;
  readonly stateMachine: StateMachine;
  /** `conductor-<stage>-<pillar>-<id>`, also in the ARNs of its executions. */
  readonly stateMachineName: string;
  readonly logGroup: LogGroup;
  /** The rule of the status changes; undefined without `statusChangesTo`. */
  readonly statusChanges?: Rule;
  /** Status changes that could not be delivered or handled; undefined without `statusChangesTo`. */
  readonly statusDeadLetterQueue?: Queue;

  constructor(scope: Construct, id: string, props: PillarWorkflowProps) {
    super(scope, id);
    const { stage, pillar, spec, functions } = props;
    this.spec = spec;
    const key = workflowKeyOf(pillar, spec);
    const definition = workflowDefinitionOf(key);
    const roles = Object.keys(spec.tasks).sort();
    if (JSON.stringify(roles) !== JSON.stringify([...definition.roles].sort())) {
      throw new Error(
        `Workflow ${key}: the manifest's tasks (${roles.join(', ')}) are not the definition's roles (${[...definition.roles].sort().join(', ')})`,
      );
    }
    const fn = (name: string): ServiceFunction => {
      const found = functions[name];
      if (!found) throw new Error(`Workflow ${key}: no function '${name}' in pillar '${pillar.name}'`);
      return found;
    };
    this.stateMachineName = `conductor-${stage}-${pillar.name}-${spec.id}`;

    // Under /aws/vendedlogs/: Step Functions then needs no CloudWatch Logs resource policy per log
    // group (the account's policies are limited in size).
    this.logGroup = new LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${this.stateMachineName}`,
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: props.removalPolicy,
    });
    // The task functions through their `live` alias, as every other caller (gradual deployments).
    const lambdas = Object.fromEntries(
      Object.entries(spec.tasks).map(([role, name]) => [role, fn(name).alias]),
    );
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineName: this.stateMachineName,
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromChainable(definition.chain(this, lambdas)),
      // Every event, but not the states' inputs and outputs: they hold the task tokens, which anyone
      // allowed states:SendTaskSuccess (a "*" action) could use to approve a stage.
      logs: { destination: this.logGroup, level: LogLevel.ALL, includeExecutionData: false },
      tracingEnabled: true,
    });
    Validations.of(this.stateMachine.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'The state machine role gets, from CDK, the CloudWatch Logs vended-delivery actions (logs:CreateLogDelivery, PutResourcePolicy, DescribeLogGroups, ...) and the X-Ray write actions that logging and tracing need: none supports a resource-level permission. Its only other right is lambda:InvokeFunction on the task functions’ live aliases.',
    });

    for (const name of spec.startedBy) this.grantStarter(fn(name));
    if (spec.statusChangesTo !== undefined) {
      const { rule, queue } = this.addStatusChanges(fn(spec.statusChangesTo), props.removalPolicy);
      this.statusChanges = rule;
      this.statusDeadLetterQueue = queue;
    }
  }

  /**
   * A function that starts executions, reads them and settles their task tokens: the machine's ARN
   * in `envVar`, and exactly
   * - `states:StartExecution` on the state machine;
   * - `states:DescribeExecution` on its executions (`execution:<machine name>:*`);
   * - `states:SendTaskSuccess` and `states:SendTaskFailure` on `*`: the Service Authorization
   *   Reference lists no resource type for either action ("Actions, resources, and condition keys for
   *   AWS Step Functions", https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html:
   *   SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat have an empty Resource types column), so a
   *   statement naming the state machine ARN would never match (CDK's grantTaskResponse names it);
   *   the task token itself names the execution. No SendTaskHeartbeat (the flow sets no heartbeat),
   *   no StopExecution.
   */
  private grantStarter(fn: ServiceFunction): void {
    fn.function.addEnvironment(this.spec.envVar, this.stateMachine.stateMachineArn);
    fn.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['states:StartExecution'],
        resources: [this.stateMachine.stateMachineArn],
      }),
    );
    fn.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['states:DescribeExecution'],
        resources: [this.executionArnPattern()],
      }),
    );
    fn.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...TASK_TOKEN_ACTIONS], resources: ['*'] }),
    );
    Validations.of(fn.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'states:SendTaskSuccess and states:SendTaskFailure support no resource-level permission (Service Authorization Reference, AWS Step Functions): this statement holds those two actions only; the task token names the execution, and the domain checks each decision before settling it.',
    });
    Validations.of(fn.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${this.stateMachineName}:*]`,
      reason: `states:DescribeExecution on the executions of ${this.stateMachineName} only (an execution ARN ends with its name, which the starter chooses per execution).`,
    });
  }

  /** `arn:<partition>:states:<region>:<account>:execution:<machine name>:*`: every execution of the machine. */
  executionArnPattern(): string {
    return `arn:${Aws.PARTITION}:states:${Aws.REGION}:${Aws.ACCOUNT_ID}:execution:${this.stateMachineName}:*`;
  }

  /**
   * The status changes of the machine's executions, on the default bus (where Step Functions puts
   * them), for `target`: a rule matching source `aws.states`, STATUS_CHANGE_DETAIL_TYPE, this
   * machine's ARN and the end statuses, invoking the function's `live` alias with STATUS_CHANGE_DELIVERY
   * and a DLQ (SSE-SQS, TLS only, 14 days), which is also the alias's on-failure destination. SSE-SQS
   * rather than the data key: EventBridge could write under the data key only if its key policy let
   * events.amazonaws.com use it, and the data key is not shared with a service principal.
   */
  private addStatusChanges(
    target: ServiceFunction,
    removalPolicy: RemovalPolicy,
  ): { rule: Rule; queue: Queue } {
    return deliverEvents(this, {
      ruleId: 'StatusChanges',
      description: `Conductor: the ends of ${this.stateMachineName}'s executions, for ${this.spec.statusChangesTo}`,
      eventPattern: {
        source: ['aws.states'],
        detailType: [STATUS_CHANGE_DETAIL_TYPE],
        detail: {
          stateMachineArn: [this.stateMachine.stateMachineArn],
          status: [...WORKFLOW_END_STATUSES],
        },
      },
      target,
      removalPolicy,
      what: `the ${this.stateMachineName} status changes`,
    });
  }
}
