import { Duration, Names, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { type CfnRule, type EventPattern, type IEventBus, Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { CfnPermission, type IDestination } from 'aws-cdk-lib/aws-lambda';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { ServiceFunction } from './service-function.js';
import { QUEUE_RETENTION } from './stateful-stack.js';

/**
 * Delivery of bus events to a function. EventBridge retries a failed hand-off to Lambda twice (as the
 * schedules' rules do) for up to a day, then puts the event on the DLQ; Lambda, which invokes the
 * function asynchronously, retries a failed invocation twice for up to six hours, then puts its
 * invocation record (the event is its `requestPayload`) on the same DLQ (an on-failure destination).
 */
export const EVENT_DELIVERY = {
  ruleRetryAttempts: 2,
  ruleMaxEventAge: Duration.hours(24),
  lambdaRetryAttempts: 2,
  lambdaMaxEventAge: Duration.hours(6),
} as const;

export interface EventDeliveryProps {
  /** Construct id of the rule; its DLQ is `<ruleId>DeadLetterQueue`. */
  readonly ruleId: string;
  readonly description: string;
  readonly eventPattern: EventPattern;
  /** The bus the rule is on; the account's default bus when absent (AWS services' events). */
  readonly eventBus?: IEventBus;
  readonly target: ServiceFunction;
  readonly removalPolicy: RemovalPolicy;
  /** What the DLQ holds, for its cdk-nag acknowledgement. */
  readonly what: string;
}

/**
 * An EventBridge rule invoking a function's `live` alias with EVENT_DELIVERY and a DLQ (SSE-SQS, TLS
 * only, 14 days), which is also the alias's on-failure destination. SSE-SQS rather than the data
 * key: EventBridge could write under the data key only if its key policy let events.amazonaws.com
 * use it, and the data key is not shared with a service principal. One per function: a function's
 * alias has one asynchronous-invoke configuration.
 */
export const deliverEvents = (scope: Construct, props: EventDeliveryProps): { rule: Rule; queue: Queue } => {
  const { target } = props;
  const queue = new Queue(scope, `${props.ruleId}DeadLetterQueue`, {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: QUEUE_RETENTION,
    removalPolicy: props.removalPolicy,
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason: `This is the dead-letter queue of ${props.what} (the rule's DLQ and the function's on-failure destination); a DLQ of the DLQ would only move the finding.`,
  });
  const rule = new Rule(scope, props.ruleId, {
    description: props.description.slice(0, 512),
    eventPattern: props.eventPattern,
    ...(props.eventBus ? { eventBus: props.eventBus } : {}),
    targets: [
      new LambdaFunction(target.alias, {
        retryAttempts: EVENT_DELIVERY.ruleRetryAttempts,
        maxEventAge: EVENT_DELIVERY.ruleMaxEventAge,
        deadLetterQueue: queue,
      }),
    ],
  });
  // The target names its invoke permission after the alias's construct path, pillar construct
  // included: it takes the rule's logical id instead, so that regrouping pillars renames nothing.
  const permission = rule.node.tryFindChild(`AllowEventRule${Names.nodeUniqueId(target.alias.node)}`);
  if (!(permission instanceof CfnPermission))
    throw new Error(`${props.ruleId}: the rule's invoke permission was not found`);
  permission.overrideLogicalId(
    `${Stack.of(scope).getLogicalId(rule.node.defaultChild as CfnRule)}InvokePermission`,
  );
  // The queue as the alias's on-failure destination, with sqs:SendMessage only (SqsDestination would
  // add GetQueueAttributes and GetQueueUrl, which Lambda does not need to deliver there).
  const onFailure: IDestination = { bind: () => ({ destination: queue.queueArn }) };
  target.alias.configureAsyncInvoke({
    retryAttempts: EVENT_DELIVERY.lambdaRetryAttempts,
    maxEventAge: EVENT_DELIVERY.lambdaMaxEventAge,
    onFailure,
  });
  target.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
  );
  return { rule, queue };
};
