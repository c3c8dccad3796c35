import { Duration } from 'aws-cdk-lib';
import type { CfnStage, IHttpApi, IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
import {
  Alarm,
  AlarmRule,
  AlarmState,
  AlarmStatusWidget,
  AlarmWidget,
  AnomalyDetectionAlarm,
  ComparisonOperator,
  CompositeAlarm,
  Dashboard,
  GraphWidget,
  type IAlarm,
  type IMetric,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { FilterPattern, LogGroup, MetricFilter } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type RouteSpec, routeKeyOf } from '#shared/http/http.js';
import { enforcesPolicies, type PillarManifest, type RouteSlo } from '#shared/pillar.js';
import { pascal } from './names.js';
import type { ServiceFunction } from './service-function.js';
import { type ConductorStatefulStack, DLQ_MAX_AGE, QUEUE_ALARM_PERIOD } from './stateful-stack.js';
import type { PillarWorkflow } from './workflow.js';

/** EMF namespace of every function (POWERTOOLS_METRICS_NAMESPACE); `service` is the function name. */
export const METRICS_NAMESPACE = 'Conductor';

/** One multi-window burn-rate alert: both windows above `burnRate` x the error budget. */
export interface BurnRateAlert {
  /** `fast` (pages: 2 % of a 30-day budget gone in 1 h) or `slow` (5 % in 6 h). */
  readonly name: 'fast' | 'slow';
  readonly burnRate: number;
  /** The window that says the budget really burns. */
  readonly longWindow: Duration;
  /** The window that says it still burns now, so the alert resets soon after a fix. */
  readonly shortWindow: Duration;
}

/** The two multi-window, multi-burn-rate alerts of the Google SRE workbook (ch. 5, "Alerting on SLOs"). */
export const BURN_RATE_ALERTS: readonly BurnRateAlert[] = [
  { name: 'fast', burnRate: 14.4, longWindow: Duration.hours(1), shortWindow: Duration.minutes(5) },
  { name: 'slow', burnRate: 6, longWindow: Duration.hours(6), shortWindow: Duration.minutes(30) },
];

/** The error budget of an SLO: the share of answers that may be 5xx. */
export const errorBudgetOf = (slo: Pick<RouteSlo, 'objective'>): number =>
  Number((1 - slo.objective).toFixed(9));

/** The error ratio above which an alert's windows breach: burnRate x error budget (0.0144, 0.006 at 99.9 %). */
export const burnRateThreshold = (alert: BurnRateAlert, slo: Pick<RouteSlo, 'objective'>): number =>
  Number((alert.burnRate * errorBudgetOf(slo)).toFixed(9));

/**
 * Deny spike: 5-minute sums of `PolicyDenied` above an anomaly band of 3 standard deviations in
 * 2 periods in a row. The band learns each service's daily and weekly pattern (denies follow
 * traffic); two periods keep one user's burst of bad requests from paging.
 */
export const DENY_SPIKE = { period: Duration.minutes(5), stdDevs: 3, evaluationPeriods: 2 } as const;

/**
 * The static backup of the deny spike alarm, whose anomaly band has no model for up to two weeks
 * after creation (and after each long silence): the same 5-minute sums above 600 (two denies a
 * second, sustained) in 2 periods in a row. High enough to stay quiet once the band is trained.
 */
export const DENIES_HIGH = { threshold: 600, evaluationPeriods: DENY_SPIKE.evaluationPeriods } as const;

/**
 * Failure ratio alarms (a route's 5xx, a function's errors): 5-minute ratios breaching in 2 of 3
 * periods in a row, counted only in periods with at least `minRequests` requests: one failure in
 * three requests at night is 33 %, and no reason to wake anybody. The SLO routes have burn-rate
 * alerts instead, tighter and tied to their objective.
 */
export const FAILURE_RATIO = {
  period: Duration.minutes(5),
  evaluationPeriods: 3,
  datapointsToAlarm: 2,
  minRequests: 10,
  /** A route answers 5xx to more than 5 % of its requests: users see it fail. */
  route5xx: 0.05,
  /**
   * A function crashes or times out (Lambda `Errors`) on more than 1 % of its invocations: handlers
   * turn every expected failure into an error response or a partial batch failure, so any
   * sustained share of Errors is a bug, an outage of a dependency or a timeout.
   */
  lambdaErrors: 0.01,
} as const;

/**
 * Throttling alarms (Lambda throttles, DynamoDB throttle events): 10 or more in a 5-minute period,
 * in 2 of 3 periods in a row. The SDK retries a stray throttle; a sustained one is capacity (reserved
 * concurrency, a hot partition, an account limit) that someone has to raise or spread.
 */
export const THROTTLES = {
  period: Duration.minutes(5),
  threshold: 10,
  evaluationPeriods: 3,
  datapointsToAlarm: 2,
} as const;

/**
 * The 401s the gateway answers (the JWT authorizer's refusals): counted from the API's access logs
 * by a metric filter, one series per route (`Route` = the access log's `routeKey`).
 */
export const GATEWAY_UNAUTHORIZED = {
  namespace: METRICS_NAMESPACE,
  metricName: 'GatewayUnauthorized',
} as const;

/**
 * A workflow's executions that end where nothing in Conductor ends them: TIMED_OUT (the machine sets
 * no top-level timeout, so none is expected) and ABORTED (no function may call StopExecution, so a
 * person or another tool did). One in 5 minutes opens a ticket. FAILED has no alarm on the machine's
 * own metric: its flows fail on purpose when an approver rejects or a stage times out, and the
 * failures that are faults are counted by the status-change function (the manifest's event alarm).
 */
export const WORKFLOW_ENDS = { period: Duration.minutes(5), threshold: 1 } as const;

/** Dashboard periods: one datapoint every 5 minutes keeps week-long graphs readable. */
const GRAPH_PERIOD = Duration.minutes(5);

export interface PillarObservabilityProps {
  /** Deployment stage: names alarms (`conductor-<stage>-*`, as the topic policy requires) and dashboards. */
  readonly stage: string;
  readonly pillar: PillarManifest;
  readonly api: IHttpApi;
  /**
   * The API stage; per-route metrics need `detailedMetricsEnabled` on it, and the 401 count its
   * JSON access logs.
   */
  readonly httpStage: IHttpStage;
  /** The pillar's functions, by function name. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /**
   * The pillar's workflows (state machines), by workflow id.
   *
   * @default - none
   */
  readonly workflows?: Readonly<Record<string, PillarWorkflow>>;
  /** The DLQ of each of the pillar's subscriptions, by subscription id. */
  readonly subscriptionDeadLetterQueues?: Readonly<Record<string, IQueue>>;
  /** Tables, queues, their DLQs, and the page and ticket topics the alarms notify. */
  readonly stateful: ConductorStatefulStack;
}

/** What a dashboard may show of other pillars: every policy-enforcing function and its deny spike alarm. */
export interface EnforcerView {
  readonly name: string;
  readonly denySpikeAlarm: IAlarm;
}

/** The alarms of one workflow (state machine), all tickets. */
export interface WorkflowAlarms {
  /** ExecutionsTimedOut >= 1 in 5 min. */
  readonly timedOut: IAlarm;
  /** ExecutionsAborted >= 1 in 5 min. */
  readonly aborted: IAlarm;
  /** ExecutionThrottled, as THROTTLES. */
  readonly throttled: IAlarm;
  /** The status-change DLQ holds a message (with `statusChangesTo`). */
  readonly statusDlqNotEmpty?: IAlarm;
  /** A status change has waited in that DLQ for DLQ_MAX_AGE. */
  readonly statusDlqOldestMessageAge?: IAlarm;
}

/** The alarms of one function: errors page, throttles open a ticket. */
export interface FunctionAlarms {
  readonly errors: IAlarm;
  readonly throttles: IAlarm;
}

/**
 * The alerts and the dashboard of one pillar (DESIGN §9), from its manifest alone: the multi-window
 * burn-rate alerts of its SLOs; a 5xx ratio alarm for each of its other routes; errors and throttles
 * of each of its functions; read and write throttles of each of its tables; a deny spike alarm (and
 * its static backup) per function that enforces policies; the count of the gateway's 401s; and one
 * CloudWatch dashboard (`conductor-<stage>-<dashboard>`) with its alarms, SLOs, routes, functions,
 * tables, queues and the per-tenant metrics it declares. The queue alarms live beside the queues in
 * the stateful stack. Every alarm notifies the stateful stack's page or ticket topic, as
 * ALERT_SEVERITY says.
 */
export class PillarObservability extends Construct {
  /** The burn-rate alerts (composite alarms: they notify), by `<slo>-<alert>`, e.g. `route-fast`. */
  readonly burnRateAlarms: Readonly<Record<string, IAlarm>>;
  /** The window alarms the burn-rate alerts combine (no actions of their own), by alarm name. */
  readonly burnRateWindowAlarms: Readonly<Record<string, IAlarm>>;
  /** The 5xx ratio alarm of each route without an SLO, by route key (`GET /api/conductor/v1/...`). */
  readonly routeErrorAlarms: Readonly<Record<string, IAlarm>>;
  /** The alarms of each of the pillar's functions, by function name. */
  readonly functionAlarms: Readonly<Record<string, FunctionAlarms>>;
  /** The throttle alarm of each of the pillar's tables, by table id. */
  readonly tableThrottleAlarms: Readonly<Record<string, IAlarm>>;
  /** The deny spike alarm of each of the pillar's policy-enforcing functions, by function name. */
  readonly denySpikeAlarms: Readonly<Record<string, IAlarm>>;
  /** The static backup of each deny spike alarm, by function name. */
  readonly deniesHighAlarms: Readonly<Record<string, IAlarm>>;
  /** The manifest's event alarms (a count of 1 or more in a minute), by name. */
  readonly eventAlarms: Readonly<Record<string, IAlarm>>;
  /** The alarms of each workflow, by workflow id. */
  readonly workflowAlarms: Readonly<Record<string, WorkflowAlarms>>;
  /** The DLQ alarms of each subscription, by subscription id. */
  readonly subscriptionAlarms: Readonly<
    Record<string, { readonly notEmpty: IAlarm; readonly oldestAge: IAlarm }>
  >;

  readonly #props: PillarObservabilityProps;

  constructor(scope: Construct, id: string, props: PillarObservabilityProps) {
    super(scope, id);
    this.#props = props;
    const alerts: Record<string, IAlarm> = {};
    const windows: Record<string, IAlarm> = {};
    const slos = props.pillar.observability?.slos ?? [];
    for (const slo of slos) this.createBurnRateAlarms(slo, alerts, windows);
    this.burnRateAlarms = alerts;
    this.burnRateWindowAlarms = windows;
    const sloRoutes = new Set(slos.map((slo) => routeKeyOf(slo.route)));
    this.routeErrorAlarms = this.createRouteErrorAlarms(sloRoutes);
    this.functionAlarms = this.createFunctionAlarms();
    this.tableThrottleAlarms = this.createTableThrottleAlarms();
    const { spikes, backups } = this.createDenySpikeAlarms();
    this.denySpikeAlarms = spikes;
    this.deniesHighAlarms = backups;
    this.eventAlarms = this.createEventAlarms();
    this.workflowAlarms = this.createWorkflowAlarms();
    this.subscriptionAlarms = this.createSubscriptionAlarms();
    countGatewayUnauthorized(props.httpStage);
  }

  /**
   * The error budget burn of one SLO. CloudWatch has no rolling-window function in metric math, so
   * each window is an alarm of its own whose single period is the window (1 h, 5 min, 6 h, 30 min;
   * alarms slide their window every evaluation), on `FILL(5xx, 0) / Count` of the route. A composite
   * alarm per alert fires only when both its windows breach: the long one proves the budget burns,
   * the short one that it still burns (it resets minutes after a fix). Only the composites notify;
   * the window alarms alone would page on a five-minute blip. No requests means no datapoint, which
   * is not breaching.
   */
  private createBurnRateAlarms(
    slo: RouteSlo,
    alerts: Record<string, IAlarm>,
    windows: Record<string, IAlarm>,
  ) {
    const { stage, pillar } = this.#props;
    const routeKey = routeKeyOf(slo.route);
    const budget = errorBudgetOf(slo);
    const prefix = `conductor-${stage}-${pillar.name}-${slo.name}`;
    const windowAlarm = (alert: BurnRateAlert, window: Duration): IAlarm => {
      const label = windowLabel(window);
      const alarmName = `${prefix}-5xx-ratio-${label}`;
      const existing = windows[alarmName];
      if (existing) return existing;
      const threshold = burnRateThreshold(alert, slo);
      const alarm = new Alarm(this, `${pascal(slo.name)}ErrorRatio${label.toUpperCase()}Alarm`, {
        alarmName,
        alarmDescription: `${routeKey}: 5xx / requests over ${label} is above ${threshold} (${alert.burnRate} x the ${budget} error budget of the ${slo.objective * 100} % SLO). A window of the ${alert.name}-burn alert; only that composite alarm notifies.`,
        metric: this.routeErrorRatio(routeKey, window),
        threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      windows[alarmName] = alarm;
      return alarm;
    };

    for (const alert of BURN_RATE_ALERTS) {
      const long = windowAlarm(alert, alert.longWindow);
      const short = windowAlarm(alert, alert.shortWindow);
      const composite = new CompositeAlarm(
        this,
        `${pascal(slo.name)}ErrorBudget${pascal(alert.name)}BurnAlarm`,
        {
          compositeAlarmName: `${prefix}-error-budget-${alert.name}-burn`,
          alarmDescription: `${routeKey} burns its error budget (${slo.objective * 100} % non-5xx) at ${alert.burnRate}x or more over both ${windowLabel(alert.longWindow)} and ${windowLabel(alert.shortWindow)}: ${alert.name === 'fast' ? '2 % of a 30-day budget gone within an hour; page' : '5 % of a 30-day budget gone within six hours; open a ticket'}. See ${dashboardNameOf(pillar) === false ? 'the' : `the conductor-${stage}-${dashboardNameOf(pillar)} dashboard and the`} ${pillar.name} functions' logs.`,
          alarmRule: AlarmRule.allOf(
            AlarmRule.fromAlarm(long, AlarmState.ALARM),
            AlarmRule.fromAlarm(short, AlarmState.ALARM),
          ),
        },
      );
      this.#props.stateful.notify(composite, alert.name === 'fast' ? 'page' : 'ticket');
      alerts[`${slo.name}-${alert.name}`] = composite;
    }
  }

  /**
   * A 5xx ratio alarm per route of the pillar that has no SLO (those have their burn-rate alerts):
   * `5xx / Count` of the route (detailed route metrics) above FAILURE_RATIO.route5xx. Pages: a route
   * failing for one in twenty requests fails its callers now; `/policy/authorize` fails every
   * service that asks it.
   */
  private createRouteErrorAlarms(sloRoutes: ReadonlySet<string>): Record<string, IAlarm> {
    const { stage, pillar, stateful } = this.#props;
    const alarms: Record<string, IAlarm> = {};
    for (const fn of pillar.functions) {
      for (const route of fn.routes ?? []) {
        const routeKey = routeKeyOf(route);
        if (sloRoutes.has(routeKey)) continue;
        const alarm = new Alarm(this, `${pascal(fn.name)}${pascal(route.operationId)}ErrorRatioAlarm`, {
          alarmName: `conductor-${stage}-${fn.name}-${route.operationId}-5xx-ratio`,
          alarmDescription: `${routeKey} answers 5xx to more than ${FAILURE_RATIO.route5xx * 100} % of its requests (periods of at least ${FAILURE_RATIO.minRequests} requests, ${FAILURE_RATIO.datapointsToAlarm} of ${FAILURE_RATIO.evaluationPeriods} x 5 min). Read the ${fn.name} function's logs and the API access logs.`,
          metric: this.routeErrorRatio(routeKey, FAILURE_RATIO.period, FAILURE_RATIO.minRequests),
          threshold: FAILURE_RATIO.route5xx,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: FAILURE_RATIO.evaluationPeriods,
          datapointsToAlarm: FAILURE_RATIO.datapointsToAlarm,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        });
        stateful.notify(alarm, 'page');
        alarms[routeKey] = alarm;
      }
    }
    return alarms;
  }

  /**
   * Per function: its error ratio (Lambda `Errors` / `Invocations`: crashes and timeouts, not the
   * error responses a handler returns) pages; its throttles (reserved concurrency or the account's
   * limit reached) open a ticket.
   */
  private createFunctionAlarms(): Record<string, FunctionAlarms> {
    const { stage, functions, stateful } = this.#props;
    const alarms: Record<string, FunctionAlarms> = {};
    for (const [name, service] of Object.entries(functions)) {
      const fn = service.function;
      const sum = { period: FAILURE_RATIO.period, statistic: Stats.SUM };
      const errors = new Alarm(this, `${pascal(name)}LambdaErrorsAlarm`, {
        alarmName: `conductor-${stage}-${name}-lambda-errors`,
        alarmDescription: `The ${name} function fails (throws, times out or runs out of memory) on more than ${FAILURE_RATIO.lambdaErrors * 100} % of its invocations (periods of at least ${FAILURE_RATIO.minRequests}, ${FAILURE_RATIO.datapointsToAlarm} of ${FAILURE_RATIO.evaluationPeriods} x 5 min). Read its logs and X-Ray traces.`,
        metric: new MathExpression({
          expression: `IF(invocations >= ${FAILURE_RATIO.minRequests}, FILL(errors, 0) / invocations, 0)`,
          usingMetrics: { errors: fn.metricErrors(sum), invocations: fn.metricInvocations(sum) },
          label: 'Errors / Invocations',
          period: FAILURE_RATIO.period,
        }),
        threshold: FAILURE_RATIO.lambdaErrors,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: FAILURE_RATIO.evaluationPeriods,
        datapointsToAlarm: FAILURE_RATIO.datapointsToAlarm,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const throttles = new Alarm(this, `${pascal(name)}LambdaThrottlesAlarm`, {
        alarmName: `conductor-${stage}-${name}-lambda-throttles`,
        alarmDescription: `The ${name} function was throttled ${THROTTLES.threshold} times or more per 5 min (${THROTTLES.datapointsToAlarm} of ${THROTTLES.evaluationPeriods} periods): its reserved concurrency or the account's concurrency limit is reached. Raise it, or find what floods the function.`,
        metric: fn.metricThrottles({ period: THROTTLES.period, statistic: Stats.SUM }),
        threshold: THROTTLES.threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: THROTTLES.evaluationPeriods,
        datapointsToAlarm: THROTTLES.datapointsToAlarm,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      stateful.notify(errors, 'page');
      stateful.notify(throttles, 'ticket');
      alarms[name] = { errors, throttles };
    }
    return alarms;
  }

  /**
   * Per table the pillar declares: its read and write throttle events (`ReadThrottleEvents` +
   * `WriteThrottleEvents`, which count every cause: a hot partition, the account's or the table's
   * on-demand maximum). `ThrottledRequests` would need one series per operation. A ticket: the SDK
   * retries, but sustained throttling means a key design or a limit to raise.
   */
  private createTableThrottleAlarms(): Record<string, IAlarm> {
    const { stage, pillar, stateful } = this.#props;
    const alarms: Record<string, IAlarm> = {};
    for (const spec of pillar.tables ?? []) {
      const table = stateful.table(spec.id);
      const sum = { period: THROTTLES.period, statistic: Stats.SUM };
      const alarm = new Alarm(this, `${pascal(spec.id)}TableThrottlesAlarm`, {
        alarmName: `conductor-${stage}-${spec.id}-table-throttles`,
        alarmDescription: `The ${spec.id} table throttled ${THROTTLES.threshold} or more reads and writes per 5 min (${THROTTLES.datapointsToAlarm} of ${THROTTLES.evaluationPeriods} periods): a hot partition key or a throughput limit. See the table's ReadKeyRangeThroughputThrottleEvents and account-limit metrics for the cause.`,
        metric: new MathExpression({
          expression: 'FILL(reads, 0) + FILL(writes, 0)',
          usingMetrics: {
            reads: table.metric('ReadThrottleEvents', sum),
            writes: table.metric('WriteThrottleEvents', sum),
          },
          label: 'Read + write throttle events',
          period: THROTTLES.period,
        }),
        threshold: THROTTLES.threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: THROTTLES.evaluationPeriods,
        datapointsToAlarm: THROTTLES.datapointsToAlarm,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      stateful.notify(alarm, 'ticket');
      alarms[spec.id] = alarm;
    }
    return alarms;
  }

  /**
   * One anomaly detection alarm per function that enforces policies (`PolicyDenied` of its
   * `service`): alarms cannot use SEARCH, so there is no single alarm over every service. The
   * alarm's ANOMALY_DETECTION_BAND makes CloudWatch create and train the model itself; until it
   * has enough history the alarm stays in INSUFFICIENT_DATA, so a static threshold (DENIES_HIGH) on
   * the same metric backs it up. Both open a ticket: denies are the callers' failures, and a probe
   * is held back by the policies themselves.
   */
  private createDenySpikeAlarms(): { spikes: Record<string, IAlarm>; backups: Record<string, IAlarm> } {
    const { stage, pillar, stateful } = this.#props;
    const spikes: Record<string, IAlarm> = {};
    const backups: Record<string, IAlarm> = {};
    for (const fn of pillar.functions.filter(enforcesPolicies)) {
      const metric = policyMetric('PolicyDenied', fn.name, DENY_SPIKE.period);
      const alarm = new AnomalyDetectionAlarm(this, `${pascal(fn.name)}PolicyDenySpikeAlarm`, {
        alarmName: `conductor-${stage}-${fn.name}-policy-deny-spike`,
        alarmDescription: `The ${fn.name} function denies more requests than usual for this time (PolicyDenied above ${DENY_SPIKE.stdDevs} standard deviations for ${DENY_SPIKE.evaluationPeriods} x 5 min): a broken client or token issuer, a policy change, or probing. Read its decision log (GET /policy/decisions) and the policy_denied events.`,
        metric,
        stdDevs: DENY_SPIKE.stdDevs,
        comparisonOperator: ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
        evaluationPeriods: DENY_SPIKE.evaluationPeriods,
        // No decisions, no datapoint: an idle service is not a spike.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const backup = new Alarm(this, `${pascal(fn.name)}PolicyDeniesHighAlarm`, {
        alarmName: `conductor-${stage}-${fn.name}-policy-denies-high`,
        alarmDescription: `The ${fn.name} function denied more than ${DENIES_HIGH.threshold} requests per 5 min for ${DENIES_HIGH.evaluationPeriods} periods (the static backup of its deny spike alarm, whose model may still be training). Read its decision log (GET /policy/decisions) and the policy_denied events.`,
        metric,
        threshold: DENIES_HIGH.threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: DENIES_HIGH.evaluationPeriods,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      stateful.notify(alarm, 'ticket');
      stateful.notify(backup, 'ticket');
      spikes[fn.name] = alarm;
      backups[fn.name] = backup;
    }
    return { spikes, backups };
  }

  /** One alarm per event alarm of the manifest: its count (dimension service) is 1 or more in a minute. */
  private createEventAlarms(): Record<string, IAlarm> {
    const { stage, pillar, stateful } = this.#props;
    const alarms: Record<string, IAlarm> = {};
    for (const spec of pillar.observability?.eventAlarms ?? []) {
      const alarm = new Alarm(this, `${pascal(spec.name)}EventAlarm`, {
        alarmName: `conductor-${stage}-${pillar.name}-${spec.name}`,
        alarmDescription: spec.description,
        metric: new Metric({
          namespace: METRICS_NAMESPACE,
          metricName: spec.metric,
          dimensionsMap: { service: spec.service },
          statistic: Stats.SUM,
          period: Duration.minutes(1),
        }),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      stateful.notify(alarm, spec.severity);
      alarms[spec.name] = alarm;
    }
    return alarms;
  }

  /**
   * The two alarms of a delivery DLQ (a rule's and its function's on-failure destination): not empty,
   * and a message waiting DLQ_MAX_AGE (SQS drops it a week later). `<id>DeadLetterQueueNotEmptyAlarm`
   * and `<id>DeadLetterQueueOldestMessageAgeAlarm`, named `<name>-dlq-not-empty` and
   * `<name>-dlq-oldest-message-age`.
   */
  private deadLetterAlarms(
    dlq: IQueue,
    alarm: { readonly id: string; readonly name: string; readonly notEmpty: string; readonly what: string },
  ): { readonly notEmpty: Alarm; readonly oldestAge: Alarm } {
    const maximum = { period: QUEUE_ALARM_PERIOD, statistic: Stats.MAXIMUM };
    return {
      notEmpty: new Alarm(this, `${alarm.id}DeadLetterQueueNotEmptyAlarm`, {
        alarmName: `${alarm.name}-dlq-not-empty`,
        alarmDescription: alarm.notEmpty,
        metric: dlq.metricApproximateNumberOfMessagesVisible(maximum),
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
      oldestAge: new Alarm(this, `${alarm.id}DeadLetterQueueOldestMessageAgeAlarm`, {
        alarmName: `${alarm.name}-dlq-oldest-message-age`,
        alarmDescription: `${alarm.what} has waited in its DLQ for ${DLQ_MAX_AGE.toDays()} days: SQS drops it a week later. Handle it now.`,
        metric: dlq.metricApproximateAgeOfOldestMessage(maximum),
        threshold: DLQ_MAX_AGE.toSeconds(),
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    };
  }

  /**
   * Per subscription: the DLQ of its deliveries, not empty and a message a week old (tickets): an
   * event its function never handled waits for an operator.
   */
  private createSubscriptionAlarms(): Record<
    string,
    { readonly notEmpty: Alarm; readonly oldestAge: Alarm }
  > {
    const { stage, pillar, stateful } = this.#props;
    const alarms: Record<string, { readonly notEmpty: Alarm; readonly oldestAge: Alarm }> = {};
    for (const [id, queue] of Object.entries(this.#props.subscriptionDeadLetterQueues ?? {})) {
      const spec = (pillar.subscriptions ?? []).find((subscription) => subscription.id === id);
      const pair = this.deadLetterAlarms(queue, {
        id: `${pascal(pillar.name)}${pascal(id)}Subscription`,
        name: `conductor-${stage}-${pillar.name}-${id}`,
        notEmpty: `An event of ${spec?.events.join(', ') ?? id} could not be delivered to ${spec?.function ?? 'its function'}, or it failed on it three times. Read the message (an EventBridge event, or Lambda's invocation record with the event as requestPayload and the error), fix the cause, then hand the event to the function again.`,
        what: `An event for ${spec?.function ?? id}`,
      });
      stateful.notify(pair.notEmpty, 'ticket');
      stateful.notify(pair.oldestAge, 'ticket');
      alarms[id] = pair;
    }
    return alarms;
  }

  /**
   * Per workflow: its timed-out and aborted executions (WORKFLOW_ENDS), its throttled state
   * transitions (THROTTLES), and, with a status-change function, the DLQ of its status changes (not
   * empty; a message a week old), as the stateful stack watches every queue's DLQ. All tickets: an
   * execution that ended unexpectedly, or an end its record did not hear of, waits for an operator;
   * nothing is lost for days.
   */
  private createWorkflowAlarms(): Record<string, WorkflowAlarms> {
    const { stage, pillar, stateful } = this.#props;
    const alarms: Record<string, WorkflowAlarms> = {};
    for (const [id, workflow] of Object.entries(this.#props.workflows ?? {})) {
      const machine = workflow.stateMachine;
      const prefix = `conductor-${stage}-${pillar.name}-${id}`;
      const construct = `${pascal(pillar.name)}${pascal(id)}`;
      const sum = { period: WORKFLOW_ENDS.period, statistic: Stats.SUM };
      const ends = (kind: 'timed-out' | 'aborted', metric: Metric, what: string) =>
        new Alarm(this, `${construct}Executions${pascal(kind)}Alarm`, {
          alarmName: `${prefix}-executions-${kind}`,
          alarmDescription: `An execution of ${workflow.stateMachineName} ${what}. Read it in the Step Functions console (its events are in /aws/vendedlogs/states/${workflow.stateMachineName}) and the record of the execution it ran for.`,
          metric,
          threshold: WORKFLOW_ENDS.threshold,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        });
      const timedOut = ends(
        'timed-out',
        machine.metricTimedOut(sum),
        'timed out, although the machine sets no overall timeout',
      );
      const aborted = ends(
        'aborted',
        machine.metricAborted(sum),
        'was aborted (StopExecution), which no Conductor function may do: a person or another tool stopped it',
      );
      const throttled = new Alarm(this, `${construct}ExecutionsThrottledAlarm`, {
        alarmName: `${prefix}-executions-throttled`,
        alarmDescription: `${workflow.stateMachineName} was throttled ${THROTTLES.threshold} times or more per 5 min (${THROTTLES.datapointsToAlarm} of ${THROTTLES.evaluationPeriods} periods; ExecutionThrottled): the account's Step Functions state transition or StartExecution quota is reached. Raise it, or find what floods the machine.`,
        metric: machine.metricThrottled({ period: THROTTLES.period, statistic: Stats.SUM }),
        threshold: THROTTLES.threshold,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: THROTTLES.evaluationPeriods,
        datapointsToAlarm: THROTTLES.datapointsToAlarm,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const found: WorkflowAlarms = { timedOut, aborted, throttled };
      const dlq = workflow.statusDeadLetterQueue;
      if (dlq) {
        const pair = this.deadLetterAlarms(dlq, {
          id: `${construct}Status`,
          name: `${prefix}-status`,
          notEmpty: `A status change of ${workflow.stateMachineName} could not be delivered to ${workflow.spec.statusChangesTo}, or it failed on it three times: the execution's record may not know its end. Read the message (an EventBridge event, or Lambda's invocation record with the event as requestPayload and the error), fix the cause, then hand the event to the function again.`,
          what: `A status change of ${workflow.stateMachineName}`,
        });
        Object.assign(found, { statusDlqNotEmpty: pair.notEmpty, statusDlqOldestMessageAge: pair.oldestAge });
      }
      for (const alarm of Object.values(found)) stateful.notify(alarm as Alarm, 'ticket');
      alarms[id] = found;
    }
    return alarms;
  }

  /**
   * The pillar's dashboard, built once every pillar's alarms exist: a policy view may show every
   * enforcing function of the app. Sections: the state of the pillar's alarms, SLOs (alerts and burn
   * rate), the policy decisions of every enforcer (when the manifest asks), the pillar's routes
   * (with the gateway's 401s), functions, tables and queues, and its per-tenant metrics. No section,
   * no dashboard.
   */
  addDashboard(enforcers: readonly EnforcerView[]): Dashboard | undefined {
    const { stage, pillar } = this.#props;
    const routes = pillar.functions.flatMap((fn) => fn.routes ?? []);
    const slos = pillar.observability?.slos ?? [];
    const policy = pillar.observability?.policyDecisions === true && enforcers.length > 0;
    const queues = (pillar.queues ?? []).map((queue) => queue.id);
    const tables = (pillar.tables ?? []).map((table) => table.id);
    const tenantMetrics = pillar.observability?.tenantMetrics ?? [];
    const name = dashboardNameOf(pillar);
    if (name === false) return undefined;
    // A pillar that only declares tables (the kernel's policy table in tests) gets no dashboard of its own.
    const workflows = Object.values(this.#props.workflows ?? {});
    if (routes.length === 0 && slos.length === 0 && !policy && queues.length === 0 && workflows.length === 0)
      return undefined;
    const dashboard = new Dashboard(this, `${pascal(name)}Dashboard`, {
      dashboardName: `conductor-${stage}-${name}`,
    });

    this.addAlarmStatusWidget(dashboard);
    for (const slo of slos) this.addSloWidgets(dashboard, slo);
    if (policy) this.addPolicyWidgets(dashboard, enforcers);
    this.addApiWidgets(dashboard);
    this.addFunctionWidgets(dashboard);
    this.addTableWidgets(dashboard, tables);
    this.addQueueWidgets(dashboard, queues);
    this.addWorkflowWidgets(dashboard, workflows);
    if (tenantMetrics.length > 0) {
      // EMF metrics with `service` and `tenant`: one line per tenant through SEARCH, which dashboards
      // (unlike alarms) allow.
      dashboard.addWidgets(
        new TextWidget({ markdown: `## ${pillar.name}: per tenant`, width: 24, height: 1 }),
      );
      dashboard.addWidgets(
        ...tenantMetrics.map(
          (graph) =>
            new GraphWidget({
              title: graph.title,
              left: [
                new MathExpression({
                  expression: `SEARCH('{${METRICS_NAMESPACE},service,tenant} service="${graph.service}" MetricName="${graph.metric}"', '${graph.statistic}', ${GRAPH_PERIOD.toSeconds()})`,
                  usingMetrics: {},
                  // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudWatch dynamic label (the tenant of each series), not a JS template.
                  label: "${PROP('Dim.tenant')}",
                  period: GRAPH_PERIOD,
                }),
              ],
              leftYAxis: { min: 0, ...(graph.yMax === undefined ? {} : { max: graph.yMax }) },
              width: 24 / Math.min(tenantMetrics.length, 4),
            }),
        ),
      );
    }
    return dashboard;
  }

  /** The state of every alarm of the pillar that notifies (its queues' alarms live in the stateful stack). */
  private addAlarmStatusWidget(dashboard: Dashboard): void {
    const alarms = [
      ...Object.values(this.burnRateAlarms),
      ...Object.values(this.routeErrorAlarms),
      ...Object.values(this.functionAlarms).flatMap(({ errors, throttles }) => [errors, throttles]),
      ...Object.values(this.tableThrottleAlarms),
      ...Object.values(this.denySpikeAlarms),
      ...Object.values(this.deniesHighAlarms),
      ...Object.values(this.eventAlarms),
      ...Object.values(this.workflowAlarms).flatMap((workflow) => Object.values(workflow) as IAlarm[]),
      ...Object.values(this.subscriptionAlarms).flatMap((pair) => [pair.notEmpty, pair.oldestAge]),
    ];
    if (alarms.length === 0) return;
    dashboard.addWidgets(
      new AlarmStatusWidget({
        title: `Alarms of ${this.#props.pillar.name}`,
        alarms,
        width: 24,
        height: Math.min(2 + Math.ceil(alarms.length / 4), 8),
      }),
    );
  }

  private addSloWidgets(dashboard: Dashboard, slo: RouteSlo): void {
    const routeKey = routeKeyOf(slo.route);
    const budget = errorBudgetOf(slo);
    const alerts = BURN_RATE_ALERTS.flatMap((alert) => {
      const alarm = this.burnRateAlarms[`${slo.name}-${alert.name}`];
      return alarm ? [alarm] : [];
    });
    dashboard.addWidgets(
      new TextWidget({
        markdown: `# ${pascal(this.#props.pillar.name)}\nSLO: ${slo.objective * 100} % of \`${routeKey}\` answers are not 5xx. Burn rate 1 = the error budget lasts exactly the 30-day window; the fast alert fires at ${BURN_RATE_ALERTS[0]?.burnRate}x (1 h and 5 min), the slow one at ${BURN_RATE_ALERTS[1]?.burnRate}x (6 h and 30 min).`,
        width: 12,
        height: 4,
      }),
      new AlarmStatusWidget({ title: 'Error budget alerts', alarms: alerts, width: 12, height: 4 }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: `Error budget burn rate (5 min): ${routeKey}`,
        left: [
          new MathExpression({
            expression: `FILL(errors, 0) / requests / ${budget}`,
            usingMetrics: {
              errors: this.routeMetric('5xx', routeKey, Stats.SUM, GRAPH_PERIOD),
              requests: this.routeMetric('Count', routeKey, Stats.SUM, GRAPH_PERIOD),
            },
            label: 'burn rate',
            period: GRAPH_PERIOD,
          }),
        ],
        leftAnnotations: BURN_RATE_ALERTS.map((alert) => ({
          value: alert.burnRate,
          label: `${alert.name} burn (${alert.burnRate}x)`,
        })),
        leftYAxis: { min: 0 },
        width: 24,
      }),
    );
  }

  /** Decisions, denies and cache hit rate of every enforcing function, and their deny spike alarms. */
  private addPolicyWidgets(dashboard: Dashboard, enforcers: readonly EnforcerView[]): void {
    const perService = (metricName: string) =>
      enforcers.map(({ name }) => policyMetric(metricName, name, GRAPH_PERIOD).with({ label: name }));
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Policy decisions (PolicyDecisions, Sum)',
        left: perService('PolicyDecisions'),
        width: 8,
      }),
      new GraphWidget({
        title: 'Policy denies (PolicyDenied, Sum)',
        left: perService('PolicyDenied'),
        width: 8,
      }),
      new GraphWidget({
        title: 'Decision cache hit rate % (PolicyCacheHits / PolicyDecisions)',
        left: enforcers.map(
          ({ name }, index) =>
            new MathExpression({
              expression: `100 * FILL(hits${index}, 0) / decisions${index}`,
              usingMetrics: {
                [`hits${index}`]: policyMetric('PolicyCacheHits', name, GRAPH_PERIOD),
                [`decisions${index}`]: policyMetric('PolicyDecisions', name, GRAPH_PERIOD),
              },
              label: name,
              period: GRAPH_PERIOD,
            }),
        ),
        leftYAxis: { min: 0, max: 100 },
        width: 8,
      }),
    );
    // The deny spike alarms with their anomaly bands.
    dashboard.addWidgets(
      ...enforcers.map(
        ({ name, denySpikeAlarm }) =>
          new AlarmWidget({
            title: `Deny spike: ${name} (PolicyDenied and its anomaly band)`,
            alarm: denySpikeAlarm,
            width: 24 / Math.min(enforcers.length, 4),
          }),
      ),
    );
  }

  /** Requests, 4xx, 5xx and p95 latency, one line per route of the pillar (detailed route metrics). */
  private addApiWidgets(dashboard: Dashboard): void {
    const { pillar } = this.#props;
    const withRoutes = pillar.functions.filter((fn) => (fn.routes ?? []).length > 0);
    const routes = withRoutes.flatMap((fn) => fn.routes ?? []);
    if (routes.length === 0) return;
    const perRoute = (metricName: string, statistic: string) =>
      routes.map((spec) =>
        this.routeMetric(metricName, routeKeyOf(spec), statistic, GRAPH_PERIOD).with({
          label: `${spec.method} ${spec.path}`,
        }),
      );
    dashboard.addWidgets(
      new TextWidget({
        markdown: `## API: routes of ${withRoutes.map((fn) => fn.name).join(', ')}`,
        width: 24,
        height: 1,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Requests per route (Count, Sum)',
        left: perRoute('Count', Stats.SUM),
        width: 12,
      }),
      new GraphWidget({
        title: 'p95 latency per route (Latency, ms)',
        left: perRoute('Latency', Stats.p(95)),
        width: 12,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({ title: '4xx per route (Sum)', left: perRoute('4xx', Stats.SUM), width: 12 }),
      new GraphWidget({ title: '5xx per route (Sum)', left: perRoute('5xx', Stats.SUM), width: 12 }),
    );
    const guarded = routes.filter((spec) => spec.auth === 'jwt');
    if (guarded.length > 0) {
      dashboard.addWidgets(
        new GraphWidget({
          title: '401 from the gateway per route (token refused by the JWT authorizer; from the access logs)',
          left: guarded.map((spec: RouteSpec) =>
            gatewayUnauthorizedMetric(routeKeyOf(spec), GRAPH_PERIOD).with({
              label: `${spec.method} ${spec.path}`,
            }),
          ),
          leftYAxis: { min: 0 },
          width: 24,
        }),
      );
    }
  }

  /** Read and write throttle events of each of the pillar's tables. */
  private addTableWidgets(dashboard: Dashboard, tableIds: readonly string[]): void {
    const { stateful } = this.#props;
    if (tableIds.length === 0) return;
    const perTable = (metricName: string) =>
      tableIds.map((id) =>
        stateful.table(id).metric(metricName, { statistic: Stats.SUM, period: GRAPH_PERIOD, label: id }),
      );
    dashboard.addWidgets(
      new TextWidget({ markdown: `## Tables: ${tableIds.join(', ')}`, width: 24, height: 1 }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Read throttle events (Sum)',
        left: perTable('ReadThrottleEvents'),
        width: 12,
      }),
      new GraphWidget({
        title: 'Write throttle events (Sum)',
        left: perTable('WriteThrottleEvents'),
        width: 12,
      }),
    );
  }

  /** Duration p95, errors, throttles and concurrent executions, one line per function of the pillar. */
  private addFunctionWidgets(dashboard: Dashboard): void {
    const fns = Object.entries(this.#props.functions).map(([name, fn]) => ({ name, fn: fn.function }));
    if (fns.length === 0) return;
    const perFunction = (metric: (fn: IFunction) => Metric) =>
      fns.map(({ name, fn }) => metric(fn).with({ label: name, period: GRAPH_PERIOD }));
    dashboard.addWidgets(
      new TextWidget({
        markdown: `## Lambda: ${fns.map(({ name }) => name).join(', ')}`,
        width: 24,
        height: 1,
      }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Duration p95 (ms)',
        left: perFunction((fn) => fn.metricDuration({ statistic: Stats.p(95) })),
        width: 6,
      }),
      new GraphWidget({ title: 'Errors (Sum)', left: perFunction((fn) => fn.metricErrors()), width: 6 }),
      new GraphWidget({
        title: 'Throttles (Sum)',
        left: perFunction((fn) => fn.metricThrottles()),
        width: 6,
      }),
      new GraphWidget({
        title: 'Concurrent executions (Maximum)',
        left: perFunction((fn) => fn.metric('ConcurrentExecutions', { statistic: Stats.MAXIMUM })),
        width: 6,
      }),
    );
  }

  /** Visible messages, messages in flight, age of the oldest message and the DLQ's visible messages of each queue. */
  private addQueueWidgets(dashboard: Dashboard, queueIds: readonly string[]): void {
    const { stateful } = this.#props;
    if (queueIds.length === 0) return;
    const perQueue = (metric: (id: string) => IMetric) => queueIds.map((id) => metric(id));
    const options = { statistic: Stats.MAXIMUM, period: GRAPH_PERIOD };
    dashboard.addWidgets(
      new TextWidget({ markdown: `## Queues: ${queueIds.join(', ')}`, width: 24, height: 1 }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Visible messages (Maximum)',
        left: perQueue((id) =>
          stateful.queue(id).metricApproximateNumberOfMessagesVisible({ ...options, label: id }),
        ),
        width: 6,
      }),
      new GraphWidget({
        // Received by a consumer and not yet deleted: the work in progress (the workers' concurrency in use).
        title: 'In flight (NotVisible, Maximum)',
        left: perQueue((id) =>
          stateful.queue(id).metricApproximateNumberOfMessagesNotVisible({ ...options, label: id }),
        ),
        width: 6,
      }),
      new GraphWidget({
        title: 'Age of the oldest message (s, Maximum)',
        left: perQueue((id) =>
          stateful.queue(id).metricApproximateAgeOfOldestMessage({ ...options, label: id }),
        ),
        width: 6,
      }),
      new GraphWidget({
        title: 'DLQ visible messages (Maximum)',
        left: perQueue((id) => {
          const dlq = stateful.deadLetterQueues[id];
          if (!dlq) throw new Error(`Queue '${id}' has no dead-letter queue`);
          return dlq.metricApproximateNumberOfMessagesVisible({ ...options, label: `${id} DLQ` });
        }),
        width: 6,
      }),
    );
  }

  /**
   * Per workflow: its executions started, succeeded, failed, timed out and aborted (Sum per 5 min),
   * its throttled transitions, and its status-change DLQ's visible messages.
   */
  private addWorkflowWidgets(dashboard: Dashboard, workflows: readonly PillarWorkflow[]): void {
    if (workflows.length === 0) return;
    const options = { statistic: Stats.SUM, period: GRAPH_PERIOD };
    dashboard.addWidgets(
      new TextWidget({
        markdown: `## Workflows: ${workflows.map((workflow) => workflow.stateMachineName).join(', ')}`,
        width: 24,
        height: 1,
      }),
    );
    for (const workflow of workflows) {
      const machine = workflow.stateMachine;
      const dlq = workflow.statusDeadLetterQueue;
      dashboard.addWidgets(
        new GraphWidget({
          title: `Executions of ${workflow.spec.id} (Sum)`,
          left: [
            machine.metricStarted({ ...options, label: 'started' }),
            machine.metricSucceeded({ ...options, label: 'succeeded' }),
            machine.metricFailed({ ...options, label: 'failed (rejections and approval timeouts included)' }),
            machine.metricTimedOut({ ...options, label: 'timed out' }),
            machine.metricAborted({ ...options, label: 'aborted' }),
          ],
          leftYAxis: { min: 0 },
          width: dlq ? 12 : 16,
        }),
        new GraphWidget({
          title: `Throttled (ExecutionThrottled, Sum): ${workflow.spec.id}`,
          left: [machine.metricThrottled({ ...options, label: 'throttled' })],
          leftYAxis: { min: 0 },
          width: dlq ? 6 : 8,
        }),
        ...(dlq
          ? [
              new GraphWidget({
                title: `Status DLQ visible messages (Maximum): ${workflow.spec.id}`,
                left: [
                  dlq.metricApproximateNumberOfMessagesVisible({
                    statistic: Stats.MAXIMUM,
                    period: GRAPH_PERIOD,
                    label: `${workflow.spec.id} status DLQ`,
                  }),
                ],
                leftYAxis: { min: 0 },
                width: 6,
              }),
            ]
          : []),
      );
    }
  }

  /** An HTTP API metric of one route (dimensions ApiId, Stage, Route; needs detailed metrics). */
  private routeMetric(metricName: string, routeKey: string, statistic: string, period: Duration): Metric {
    return new Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: {
        ApiId: this.#props.api.apiId,
        Stage: this.#props.httpStage.stageName,
        Route: routeKey,
      },
      statistic,
      period,
    });
  }

  /**
   * `FILL(5xx, 0) / Count` of one route over `window` (a single period); with `minRequests`, 0 in
   * periods with fewer requests than that.
   */
  private routeErrorRatio(routeKey: string, window: Duration, minRequests?: number): MathExpression {
    const ratio = 'FILL(errors, 0) / requests';
    return new MathExpression({
      expression: minRequests === undefined ? ratio : `IF(requests >= ${minRequests}, ${ratio}, 0)`,
      usingMetrics: {
        errors: this.routeMetric('5xx', routeKey, Stats.SUM, window),
        requests: this.routeMetric('Count', routeKey, Stats.SUM, window),
      },
      label: `5xx ratio over ${windowLabel(window)}`,
      period: window,
    });
  }
}

/** `conductor-<stage>-<this>`: the manifest's dashboard name, or the pillar's. */
export const dashboardNameOf = (pillar: PillarManifest): string | false =>
  pillar.observability?.dashboard ?? pillar.name;

/** An EMF policy metric of one service. */
const policyMetric = (metricName: string, service: string, period: Duration): Metric =>
  new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service },
    statistic: Stats.SUM,
    period,
  });

/** The gateway's 401s of one route, counted from the access logs (countGatewayUnauthorized). */
const gatewayUnauthorizedMetric = (routeKey: string, period: Duration): Metric =>
  new Metric({
    ...GATEWAY_UNAUTHORIZED,
    dimensionsMap: { Route: routeKey },
    statistic: Stats.SUM,
    period,
  });

/**
 * Counts the 401s of an HTTP API stage from its JSON access logs (`status`, `routeKey`: the format
 * of ConductorApiStack), once per stage however many pillars ask. API Gateway's own metrics only
 * count 4xx, where a token refused by the authorizer hides among validation errors and 404s. The
 * log group is read from the stage's access log destination; a stage without access logs counts
 * nothing.
 */
export const countGatewayUnauthorized = (httpStage: IHttpStage): void => {
  const id = 'GatewayUnauthorizedMetricFilter';
  if (httpStage.node.tryFindChild(id)) return;
  const settings = (httpStage.node.defaultChild as CfnStage | undefined)?.accessLogSettings as
    | CfnStage.AccessLogSettingsProperty
    | undefined;
  if (settings?.destinationArn === undefined) return;
  new MetricFilter(httpStage, id, {
    logGroup: LogGroup.fromLogGroupArn(httpStage, 'AccessLogGroup', settings.destinationArn),
    filterPattern: FilterPattern.stringValue('$.status', '=', '401'),
    metricNamespace: GATEWAY_UNAUTHORIZED.namespace,
    metricName: GATEWAY_UNAUTHORIZED.metricName,
    metricValue: '1',
    dimensions: { Route: '$.routeKey' },
  });
};

/** `5m`, `30m`, `1h`, `6h`. */
const windowLabel = (window: Duration): string => {
  const minutes = window.toMinutes();
  return minutes % 60 === 0 ? `${minutes / 60}h` : `${minutes}m`;
};
