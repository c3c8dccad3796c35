import { Duration, type RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import {
  type HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpRoute,
  HttpRouteKey,
  type HttpStage,
} from 'aws-cdk-lib/aws-apigatewayv2';
import type { HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { API_BASE, routeKeyOf } from '#shared/http/http.js';
import {
  CONSUMED_QUEUES_ENV,
  DEAD_LETTER_QUEUES_ENV,
  type DeadLetterQueueRef,
  enforcesPolicies,
  type FunctionSpec,
  type PillarManifest,
  producesTo,
  type QueueSpec,
  tablesOfFunction,
} from '#shared/pillar.js';
import { pascal } from './names.js';
import { PillarObservability } from './observability.js';
import { LAYER_POLICY_DIRS, type PolicyLayer } from './policy-layer.js';
import { ServiceFunction } from './service-function.js';
import type { ConductorStatefulStack } from './stateful-stack.js';

export interface PillarServicesProps {
  readonly pillar: PillarManifest;
  /** Deployment stage: passed to every function, part of alarm and dashboard names. */
  readonly stage: string;
  readonly api: HttpApi;
  readonly httpStage: HttpStage;
  readonly authorizer: HttpJwtAuthorizer;
  /** Tables, queues, the evidence bucket, the bus and the alarm topic the functions are granted. */
  readonly stateful: ConductorStatefulStack;
  /** The policy engine and policies every function with token routes runs in-process. */
  readonly policyLayer: PolicyLayer;
  /** Log groups of the functions. */
  readonly removalPolicy: RemovalPolicy;
  /**
   * The JWT issuer requires MFA at every sign-in (the Cognito pool the app creates), so every token
   * counts as stepped up (CONDUCTOR_ISSUER_ENFORCES_MFA).
   */
  readonly issuerEnforcesMfa: boolean;
  /** `acr` values that count as step-up besides an `amr` with `mfa` (CONDUCTOR_STEP_UP_ACR). */
  readonly stepUpAcr?: readonly string[];
}

/**
 * One pillar's compute, built from its manifest and nothing else: a Lambda per function with its
 * environment and least-privilege grants (its tables, the queues it sends to, the DLQs of the queues
 * it consumes, the evidence prefixes it writes, the bus), its API routes (JWT or public), an event
 * source mapping per queue it consumes, and its alarms and dashboard (`PillarObservability`). A new
 * pillar needs no code here.
 *
 * Pillar constructs are transparent to CloudFormation logical ids (see ConductorApiStack): a
 * resource has the id it would have as a direct child of the stack, so moving a function, a route
 * or a named alarm into its pillar never replaces it.
 */
export class PillarServices extends Construct {
  readonly pillar: PillarManifest;
  /** The pillar's functions, by function name. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  readonly observability: PillarObservability;
  readonly #props: PillarServicesProps;

  constructor(scope: Construct, id: string, props: PillarServicesProps) {
    super(scope, id);
    this.pillar = props.pillar;
    this.#props = props;
    const functions: Record<string, ServiceFunction> = {};
    for (const spec of props.pillar.functions) functions[spec.name] = this.addFunction(spec);
    this.functions = functions;
    for (const schedule of props.pillar.schedules ?? []) {
      const target = functions[schedule.function];
      if (!target) throw new Error(`Schedule '${schedule.id}': no function '${schedule.function}'`);
      // A rule on the default bus with a schedule expression: EventBridge invokes the function with a
      // `Scheduled Event`, retrying for up to two more attempts.
      new Rule(this, `${pascal(schedule.id)}Schedule`, {
        schedule: Schedule.expression(schedule.expression),
        description: `Conductor ${props.stage} ${schedule.id}: ${schedule.description}`.slice(0, 512),
        targets: [new LambdaFunction(target.function, { retryAttempts: 2 })],
      });
    }
    this.observability = new PillarObservability(this, 'Observability', {
      stage: props.stage,
      pillar: props.pillar,
      api: props.api,
      httpStage: props.httpStage,
      functions,
      stateful: props.stateful,
    });
  }

  private addFunction(spec: FunctionSpec): ServiceFunction {
    const { stateful, policyLayer } = this.#props;
    const environment: Record<string, string> = {};
    const tables = tablesOfFunction(spec).map((id) => ({
      spec: stateful.tableSpec(id),
      table: stateful.table(id),
    }));
    for (const { spec: table, table: resource } of tables) environment[table.envVar] = resource.tableName;
    const enforces = enforcesPolicies(spec);
    const sends = stateful.queueSpecs.filter((queue) => producesTo(queue, spec));
    const consumes = stateful.queueSpecs.filter((queue) => queue.consumer === spec.name);
    for (const queue of sends) environment[queue.envVar] = stateful.queue(queue.id).queueUrl;
    if ((spec.evidence ?? []).length > 0)
      environment.EVIDENCE_BUCKET_NAME = stateful.evidenceBucket.bucketName;
    if (enforces) {
      environment.POLICY_ENGINE = policyLayer.engine;
      environment.POLICY_DIR = LAYER_POLICY_DIRS[policyLayer.engine];
      // The user pool the app creates requires MFA at every sign-in: its tokens are stepped up, even
      // where Cognito does not yet put `amr` into them. Another issuer must say so in amr or acr.
      if (this.#props.issuerEnforcesMfa) environment.CONDUCTOR_ISSUER_ENFORCES_MFA = 'true';
      const acr = this.#props.stepUpAcr ?? [];
      if (acr.length > 0) environment.CONDUCTOR_STEP_UP_ACR = acr.join(',');
    }
    const publishes = enforces || spec.publishesEvents === true;
    if (publishes) environment.EVENT_BUS_NAME = stateful.eventBus.eventBusName;
    if (spec.deadLetterAccess) {
      environment[DEAD_LETTER_QUEUES_ENV] = this.deadLetterQueueRefs(stateful.queueSpecs);
    }
    if (consumes.length > 0) environment[CONSUMED_QUEUES_ENV] = this.deadLetterQueueRefs(consumes);

    const fn = new ServiceFunction(this, pascal(spec.name), {
      entry: spec.entry,
      serviceName: spec.name,
      description: `Conductor ${spec.name}: ${spec.description}`.slice(0, 256),
      stage: this.#props.stage,
      environment,
      logRemovalPolicy: this.#props.removalPolicy,
      ...(enforces ? { layers: [policyLayer.layer] } : {}),
    });
    for (const { table } of tables) table.grantReadWriteData(fn);
    if (publishes) stateful.eventBus.grantPutEventsTo(fn);
    for (const queue of sends) stateful.queue(queue.id).grantSendMessages(fn);
    for (const queue of consumes) {
      this.addQueueConsumer(fn, queue);
      // Its own DLQ only: a record failing its last delivery goes there with its error (the kernel's
      // SqsLastAttemptDeadLetters). No other right on the DLQ, and no other DLQ.
      this.deadLetterQueueOf(queue.id).grantSendMessages(fn);
    }
    if (spec.deadLetterAccess) this.grantDeadLetterAccess(fn);
    for (const prefix of spec.evidence ?? []) {
      stateful.grantEvidenceWriteOnce(fn, prefix);
      Validations.of(fn.role).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${stateful.evidenceBucketArnExportName}/${prefix}*]`,
        reason: `The function writes (put-once) and reads evidence objects under ${prefix} only: s3:PutObject and s3:GetObject on that prefix of the Object Lock bucket, whose keys it derives itself.`,
      });
    }
    if (tables.length > 0 || sends.length > 0 || consumes.length > 0 || spec.deadLetterAccess) {
      // grantReadWriteData on a table, and grantSendMessages on a queue, encrypted with the data key
      // also grant the key's data-key action families. They are scoped to the one data key ARN; the
      // table and queue statements name only this function's tables and queues.
      for (const action of ['kms:GenerateDataKey*', 'kms:ReEncrypt*']) {
        Validations.of(fn.role).acknowledge({
          id: `AwsSolutions-IAM5[Action::${action}]`,
          reason: `${action} comes from grantReadWriteData / grantSendMessages on tables and queues encrypted with the Conductor data key; the statement is limited to that one key ARN.`,
        });
      }
    }
    this.addRoutes(spec, fn);
    return fn;
  }

  /** Queues of the catalog with their DLQs, as JSON (`DeadLetterQueueRef` by queue id). */
  private deadLetterQueueRefs(specs: readonly QueueSpec[]): string {
    const { stateful } = this.#props;
    const refs: Record<string, DeadLetterQueueRef> = {};
    for (const spec of specs) {
      const queue = stateful.queue(spec.id);
      const dlq = this.deadLetterQueueOf(spec.id);
      refs[spec.id] = {
        queueUrl: queue.queueUrl,
        queueArn: queue.queueArn,
        dlqUrl: dlq.queueUrl,
        dlqArn: dlq.queueArn,
        maxReceiveCount: spec.maxReceiveCount,
      };
    }
    return Stack.of(this).toJsonString(refs);
  }

  private deadLetterQueueOf(id: string) {
    const dlq = this.#props.stateful.deadLetterQueues[id];
    if (!dlq) throw new Error(`Queue '${id}' has no dead-letter queue in the stateful stack`);
    return dlq;
  }

  /**
   * What inspecting and redriving dead letters takes, and no more: on every DLQ, receive, delete and
   * change visibility (peek, redrive one, discard) and the message move task actions (redrive all,
   * SQS's own redrive, which also needs receive/delete/attributes on the source); on every queue,
   * send (the destination of a redrive). Each statement names the queues' ARNs.
   */
  private grantDeadLetterAccess(fn: ServiceFunction): void {
    const { stateful } = this.#props;
    for (const spec of stateful.queueSpecs) {
      const dlq = this.deadLetterQueueOf(spec.id);
      dlq.grantConsumeMessages(fn);
      dlq.grant(fn, 'sqs:StartMessageMoveTask', 'sqs:ListMessageMoveTasks', 'sqs:CancelMessageMoveTask');
      stateful.queue(spec.id).grantSendMessages(fn);
    }
  }

  private addRoutes(spec: FunctionSpec, fn: ServiceFunction): void {
    const { api, authorizer } = this.#props;
    if ((spec.routes ?? []).length === 0 && !spec.servesDefaultRoute) return;
    const integration = new HttpLambdaIntegration(`${pascal(spec.name)}Integration`, fn.function);
    for (const route of spec.routes ?? []) {
      const resource = new HttpRoute(this, `${pascal(spec.name)}${pascal(route.operationId)}Route`, {
        httpApi: api,
        routeKey: HttpRouteKey.with(`${API_BASE}${route.path}`, HttpMethod[route.method]),
        integration,
        authorizer: route.auth === 'jwt' ? authorizer : new HttpNoneAuthorizer(),
      });
      if (route.auth === 'public') {
        Validations.of(resource).acknowledge({
          id: 'AwsSolutions-APIG4',
          reason: `${routeKeyOf(route)} is public by design (${route.summary}); it returns no tenant data.`,
        });
      }
    }
    if (spec.servesDefaultRoute) {
      const route = new HttpRoute(this, 'DefaultRoute', {
        httpApi: api,
        routeKey: HttpRouteKey.DEFAULT,
        integration,
        authorizer: new HttpNoneAuthorizer(),
      });
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The $default route only answers the uniform 404/405 error for requests that match no route, so unknown paths get the same error body as everything else; it reads no data.',
      });
    }
  }

  /**
   * The Lambda event source mapping of a queue (the stand-in for KEDA): batches of `batchSize`
   * gathered for up to `maxBatchingWindowSeconds` when the spec has one, at most
   * `maximumConcurrency` concurrent invocations, and partial batch failures reported by the
   * handler, so only the failed messages come back (and reach the DLQ after maxReceiveCount).
   */
  private addQueueConsumer(fn: ServiceFunction, spec: QueueSpec): void {
    if (spec.visibilityTimeoutSeconds < fn.timeout.toSeconds()) {
      throw new Error(
        `Queue '${spec.id}': visibilityTimeoutSeconds ${spec.visibilityTimeoutSeconds} is shorter than the timeout of its consumer '${spec.consumer}' (${fn.timeout.toSeconds()} s)`,
      );
    }
    fn.function.addEventSource(
      new SqsEventSource(this.#props.stateful.queue(spec.id), {
        batchSize: spec.batchSize,
        ...(spec.maxBatchingWindowSeconds === undefined
          ? {}
          : { maxBatchingWindow: Duration.seconds(spec.maxBatchingWindowSeconds) }),
        maxConcurrency: spec.maximumConcurrency,
        reportBatchItemFailures: true,
      }),
    );
  }
}
