import { Duration } from 'aws-cdk-lib';
import type { IHttpApi, IHttpStage } from 'aws-cdk-lib/aws-apigatewayv2';
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
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { routeKeyOf } from '#shared/http/http.js';
import type { FunctionEntry } from '../../../functions/meta/src/catalog.js';
import { routeTask } from '../../../functions/router/src/routes.js';
import { pascal } from './names.js';
import type { ServiceFunction } from './service-function.js';
import type { ConductorStatefulStack } from './stateful-stack.js';

/** EMF namespace of every function (POWERTOOLS_METRICS_NAMESPACE); `service` is the catalog name. */
export const METRICS_NAMESPACE = 'Conductor';

/** A function enforces policies (and emits the Policy* metrics) when any of its routes takes a token. */
export const enforcesPolicies = (entry: FunctionEntry): boolean =>
  entry.routes.some((spec) => spec.auth === 'jwt');

/**
 * The router's availability SLO: 99.9 % of `POST /router/route` answers are not 5xx, i.e. an error
 * budget of 0.1 % of its requests (30-day window).
 */
export const ROUTE_SLO = { routeKey: routeKeyOf(routeTask), objective: 0.999, errorBudget: 0.001 } as const;

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

/** The error ratio above which an alert's windows breach: burnRate x error budget (0.0144, 0.006). */
export const burnRateThreshold = (alert: BurnRateAlert): number =>
  Number((alert.burnRate * ROUTE_SLO.errorBudget).toFixed(9));

/**
 * Deny spike: 5-minute sums of `PolicyDenied` above an anomaly band of 3 standard deviations in
 * 2 periods in a row. The band learns each service's daily and weekly pattern (denies follow
 * traffic); two periods keep one user's burst of bad requests from paging.
 */
export const DENY_SPIKE = { period: Duration.minutes(5), stdDevs: 3, evaluationPeriods: 2 } as const;

/** Dashboard periods: one datapoint every 5 minutes keeps week-long graphs readable. */
const GRAPH_PERIOD = Duration.minutes(5);

export interface ConductorObservabilityProps {
  /** Deployment stage: names alarms (`conductor-<stage>-*`, as the topic policy requires) and dashboards. */
  readonly stage: string;
  readonly api: IHttpApi;
  /** The API stage; per-route metrics need `detailedMetricsEnabled` on it. */
  readonly httpStage: IHttpStage;
  /** The function catalog the API stack deployed. */
  readonly catalog: readonly FunctionEntry[];
  /** The functions of the catalog, keyed by catalog name. */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** Queues, their DLQs and the alarm topic every alarm notifies. */
  readonly stateful: ConductorStatefulStack;
}

/**
 * The API-side alerts and the pillar dashboards of DESIGN §9: the router error budget burn
 * (multi-window burn rate on the route's 5xx ratio), one policy deny spike alarm per function that
 * enforces policies, and one CloudWatch dashboard per pillar that exists (`router`, `policy`). The
 * queue alarms (DLQ not empty, oldest message age, depth anomaly) live beside the queues in the
 * stateful stack. Every alarm that notifies uses the stateful stack's alarm topic.
 */
export class ConductorObservability extends Construct {
  /** The burn-rate alerts of ROUTE_SLO (composite alarms: they notify), by alert name. */
  readonly burnRateAlarms: Readonly<Partial<Record<BurnRateAlert['name'], IAlarm>>>;
  /** The window alarms the burn-rate alerts combine (no actions of their own), by alarm name. */
  readonly burnRateWindowAlarms: Readonly<Record<string, IAlarm>>;
  /** The deny spike alarm of each policy-enforcing function, by catalog name. */
  readonly denySpikeAlarms: Readonly<Record<string, IAlarm>>;
  /** The pillar dashboards, by pillar (`router`, `policy`). */
  readonly dashboards: Readonly<Record<string, Dashboard>>;

  readonly #props: ConductorObservabilityProps;
  readonly #action: SnsAction;

  constructor(scope: Construct, id: string, props: ConductorObservabilityProps) {
    super(scope, id);
    this.#props = props;
    this.#action = new SnsAction(props.stateful.alarmTopic);

    const burn = this.createBurnRateAlarms();
    this.burnRateAlarms = burn.alerts;
    this.burnRateWindowAlarms = burn.windows;
    this.denySpikeAlarms = this.createDenySpikeAlarms();

    const dashboards: Record<string, Dashboard> = {};
    const router = this.createRouterDashboard();
    if (router) dashboards.router = router;
    const policy = this.createPolicyDashboard();
    if (policy) dashboards.policy = policy;
    this.dashboards = dashboards;
  }

  /**
   * The error budget burn of ROUTE_SLO, when the catalog serves its route. CloudWatch has no
   * rolling-window function in metric math, so each window is an alarm of its own whose single
   * period is the window (1 h, 5 min, 6 h, 30 min; alarms slide their window every evaluation),
   * on `FILL(5xx, 0) / Count` of the route. A composite alarm per alert fires only when both its
   * windows breach: the long one proves the budget burns, the short one that it still burns (it
   * resets minutes after a fix). Only the composites notify; the window alarms alone would page
   * on a five-minute blip. No requests means no datapoint, which is not breaching.
   */
  private createBurnRateAlarms() {
    const { stage, catalog } = this.#props;
    const alerts: Partial<Record<BurnRateAlert['name'], IAlarm>> = {};
    const windows: Record<string, IAlarm> = {};
    const served = catalog.some((entry) =>
      entry.routes.some((spec) => routeKeyOf(spec) === ROUTE_SLO.routeKey),
    );
    if (!served) return { alerts, windows };

    const windowAlarm = (alert: BurnRateAlert, window: Duration): IAlarm => {
      const label = windowLabel(window);
      const alarmName = `conductor-${stage}-router-route-5xx-ratio-${label}`;
      const existing = windows[alarmName];
      if (existing) return existing;
      const threshold = burnRateThreshold(alert);
      const alarm = new Alarm(this, `RouteErrorRatio${label.toUpperCase()}Alarm`, {
        alarmName,
        alarmDescription: `${ROUTE_SLO.routeKey}: 5xx / requests over ${label} is above ${threshold} (${alert.burnRate} x the ${ROUTE_SLO.errorBudget} error budget of the ${ROUTE_SLO.objective * 100} % SLO). A window of the ${alert.name}-burn alert; only that composite alarm notifies.`,
        metric: this.routeErrorRatio(ROUTE_SLO.routeKey, window),
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
      const composite = new CompositeAlarm(this, `RouteErrorBudget${pascal(alert.name)}BurnAlarm`, {
        compositeAlarmName: `conductor-${stage}-router-route-error-budget-${alert.name}-burn`,
        alarmDescription: `${ROUTE_SLO.routeKey} burns its error budget (${ROUTE_SLO.objective * 100} % non-5xx) at ${alert.burnRate}x or more over both ${windowLabel(alert.longWindow)} and ${windowLabel(alert.shortWindow)}: ${alert.name === 'fast' ? '2 % of a 30-day budget gone within an hour; page' : '5 % of a 30-day budget gone within six hours; open a ticket'}. See the conductor-${stage}-router dashboard, the router function's logs and its expert backends.`,
        alarmRule: AlarmRule.allOf(
          AlarmRule.fromAlarm(long, AlarmState.ALARM),
          AlarmRule.fromAlarm(short, AlarmState.ALARM),
        ),
      });
      composite.addAlarmAction(this.#action);
      composite.addOkAction(this.#action);
      alerts[alert.name] = composite;
    }
    return { alerts, windows };
  }

  /**
   * One anomaly detection alarm per function that enforces policies (`PolicyDenied` of its
   * `service`): alarms cannot use SEARCH, so there is no single alarm over every service. The
   * alarm's ANOMALY_DETECTION_BAND makes CloudWatch create and train the model itself; until it
   * has enough history the alarm stays in INSUFFICIENT_DATA.
   */
  private createDenySpikeAlarms(): Record<string, IAlarm> {
    const { stage, catalog } = this.#props;
    const alarms: Record<string, IAlarm> = {};
    for (const entry of catalog.filter(enforcesPolicies)) {
      const alarm = new AnomalyDetectionAlarm(this, `${pascal(entry.name)}PolicyDenySpikeAlarm`, {
        alarmName: `conductor-${stage}-${entry.name}-policy-deny-spike`,
        alarmDescription: `The ${entry.name} function denies more requests than usual for this time (PolicyDenied above ${DENY_SPIKE.stdDevs} standard deviations for ${DENY_SPIKE.evaluationPeriods} x 5 min): a broken client or token issuer, a policy change, or probing. Read its decision log (GET /policy/decisions) and the policy_denied events.`,
        metric: policyMetric('PolicyDenied', entry.name, DENY_SPIKE.period),
        stdDevs: DENY_SPIKE.stdDevs,
        comparisonOperator: ComparisonOperator.GREATER_THAN_UPPER_THRESHOLD,
        evaluationPeriods: DENY_SPIKE.evaluationPeriods,
        // No decisions, no datapoint: an idle service is not a spike.
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      alarm.addAlarmAction(this.#action);
      alarm.addOkAction(this.#action);
      alarms[entry.name] = alarm;
    }
    return alarms;
  }

  /** `conductor-<stage>-router`: the router pillar (route, reward and expert API; router and reward functions; rewards queue; exploration). */
  private createRouterDashboard(): Dashboard | undefined {
    const { stage } = this.#props;
    const apiEntries = this.entries(['router']);
    if (apiEntries.length === 0) return undefined;
    const dashboard = new Dashboard(this, 'RouterDashboard', { dashboardName: `conductor-${stage}-router` });

    const alerts = [...Object.values(this.burnRateAlarms)].filter((alarm) => alarm !== undefined);
    if (alerts.length > 0) {
      dashboard.addWidgets(
        new TextWidget({
          markdown: `# Router\nSLO: ${ROUTE_SLO.objective * 100} % of \`${ROUTE_SLO.routeKey}\` answers are not 5xx. Burn rate 1 = the error budget lasts exactly the 30-day window; the fast alert fires at ${BURN_RATE_ALERTS[0]?.burnRate}x (1 h and 5 min), the slow one at ${BURN_RATE_ALERTS[1]?.burnRate}x (6 h and 30 min).`,
          width: 12,
          height: 4,
        }),
        new AlarmStatusWidget({ title: 'Error budget alerts', alarms: alerts, width: 12, height: 4 }),
      );
      dashboard.addWidgets(
        new GraphWidget({
          title: `Error budget burn rate (5 min): ${ROUTE_SLO.routeKey}`,
          left: [
            new MathExpression({
              expression: `FILL(errors, 0) / requests / ${ROUTE_SLO.errorBudget}`,
              usingMetrics: {
                errors: this.routeMetric('5xx', ROUTE_SLO.routeKey, Stats.SUM, GRAPH_PERIOD),
                requests: this.routeMetric('Count', ROUTE_SLO.routeKey, Stats.SUM, GRAPH_PERIOD),
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
    this.addApiWidgets(dashboard, apiEntries);
    this.addFunctionWidgets(dashboard, this.entries(['router', 'reward']));
    this.addQueueWidgets(dashboard, ['rewards']);

    // RouteExploration and RouteExplorationCapped carry `service` and `tenant`: one line per tenant
    // through SEARCH, which dashboards (unlike alarms) allow.
    const search = (metricName: string, statistic: string) =>
      new MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},service,tenant} service="router" MetricName="${metricName}"', '${statistic}', ${GRAPH_PERIOD.toSeconds()})`,
        usingMetrics: {},
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a CloudWatch dynamic label (the tenant of each series), not a JS template.
        label: "${PROP('Dim.tenant')}",
        period: GRAPH_PERIOD,
      });
    dashboard.addWidgets(
      new TextWidget({ markdown: '## Exploration (router, per tenant)', width: 24, height: 1 }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Exploration rate per tenant (RouteExploration, Average)',
        left: [search('RouteExploration', 'Average')],
        leftYAxis: { min: 0, max: 1 },
        width: 12,
      }),
      new GraphWidget({
        title: 'Exploration capped per tenant (RouteExplorationCapped, Sum)',
        left: [search('RouteExplorationCapped', 'Sum')],
        leftYAxis: { min: 0 },
        width: 12,
      }),
    );
    return dashboard;
  }

  /** `conductor-<stage>-policy`: the policy pillar (decisions of every enforcer, authorize API and function, decision archive). */
  private createPolicyDashboard(): Dashboard | undefined {
    const { stage, catalog } = this.#props;
    const apiEntries = this.entries(['authorize']);
    const enforcers = catalog.filter(enforcesPolicies);
    if (apiEntries.length === 0 && enforcers.length === 0) return undefined;
    const dashboard = new Dashboard(this, 'PolicyDashboard', { dashboardName: `conductor-${stage}-policy` });

    if (enforcers.length > 0) {
      const perService = (metricName: string) =>
        enforcers.map((entry) =>
          policyMetric(metricName, entry.name, GRAPH_PERIOD).with({ label: entry.name }),
        );
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
            (entry, index) =>
              new MathExpression({
                expression: `100 * FILL(hits${index}, 0) / decisions${index}`,
                usingMetrics: {
                  [`hits${index}`]: policyMetric('PolicyCacheHits', entry.name, GRAPH_PERIOD),
                  [`decisions${index}`]: policyMetric('PolicyDecisions', entry.name, GRAPH_PERIOD),
                },
                label: entry.name,
                period: GRAPH_PERIOD,
              }),
          ),
          leftYAxis: { min: 0, max: 100 },
          width: 8,
        }),
      );
      // The deny spike alarms with their anomaly bands.
      dashboard.addWidgets(
        ...Object.entries(this.denySpikeAlarms).map(
          ([name, alarm]) =>
            new AlarmWidget({
              title: `Deny spike: ${name} (PolicyDenied and its anomaly band)`,
              alarm,
              width: 24 / Math.min(Object.keys(this.denySpikeAlarms).length, 4),
            }),
        ),
      );
    }
    this.addApiWidgets(dashboard, apiEntries);
    this.addFunctionWidgets(dashboard, apiEntries);
    this.addQueueWidgets(dashboard, ['decision-archive']);
    return dashboard;
  }

  /** Requests, 4xx, 5xx and p95 latency, one line per route of the given functions (detailed route metrics). */
  private addApiWidgets(dashboard: Dashboard, entries: readonly FunctionEntry[]): void {
    const routes = entries.flatMap((entry) => entry.routes);
    if (routes.length === 0) return;
    const names = entries.map((entry) => entry.name).join(', ');
    const perRoute = (metricName: string, statistic: string) =>
      routes.map((spec) =>
        this.routeMetric(metricName, routeKeyOf(spec), statistic, GRAPH_PERIOD).with({
          label: `${spec.method} ${spec.path}`,
        }),
      );
    dashboard.addWidgets(new TextWidget({ markdown: `## API: routes of ${names}`, width: 24, height: 1 }));
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
  }

  /** Duration p95, errors, throttles and concurrent executions, one line per function. */
  private addFunctionWidgets(dashboard: Dashboard, entries: readonly FunctionEntry[]): void {
    const fns = entries.flatMap((entry) => {
      const fn = this.#props.functions[entry.name];
      return fn ? [{ name: entry.name, fn: fn.function }] : [];
    });
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

  /** Visible messages, age of the oldest message and the DLQ's visible messages of each queue. */
  private addQueueWidgets(dashboard: Dashboard, queueIds: readonly string[]): void {
    const { stateful } = this.#props;
    const present = queueIds.filter((id) => stateful.queueSpecs.some((spec) => spec.id === id));
    if (present.length === 0) return;
    const perQueue = (metric: (id: string) => IMetric) => present.map((id) => metric(id));
    const options = { statistic: Stats.MAXIMUM, period: GRAPH_PERIOD };
    dashboard.addWidgets(
      new TextWidget({ markdown: `## Queues: ${present.join(', ')}`, width: 24, height: 1 }),
    );
    dashboard.addWidgets(
      new GraphWidget({
        title: 'Visible messages (Maximum)',
        left: perQueue((id) =>
          stateful.queue(id).metricApproximateNumberOfMessagesVisible({ ...options, label: id }),
        ),
        width: 8,
      }),
      new GraphWidget({
        title: 'Age of the oldest message (s, Maximum)',
        left: perQueue((id) =>
          stateful.queue(id).metricApproximateAgeOfOldestMessage({ ...options, label: id }),
        ),
        width: 8,
      }),
      new GraphWidget({
        title: 'DLQ visible messages (Maximum)',
        left: perQueue((id) => {
          const dlq = stateful.deadLetterQueues[id];
          if (!dlq) throw new Error(`Queue '${id}' has no dead-letter queue`);
          return dlq.metricApproximateNumberOfMessagesVisible({ ...options, label: `${id} DLQ` });
        }),
        width: 8,
      }),
    );
  }

  /** The catalog entries of these names, in that order (absent ones skipped). */
  private entries(names: readonly string[]): FunctionEntry[] {
    return names.flatMap((name) => this.#props.catalog.filter((entry) => entry.name === name));
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

  /** `FILL(5xx, 0) / Count` of one route over `window` (a single period). */
  private routeErrorRatio(routeKey: string, window: Duration): MathExpression {
    return new MathExpression({
      expression: 'FILL(errors, 0) / requests',
      usingMetrics: {
        errors: this.routeMetric('5xx', routeKey, Stats.SUM, window),
        requests: this.routeMetric('Count', routeKey, Stats.SUM, window),
      },
      label: `5xx ratio over ${windowLabel(window)}`,
      period: window,
    });
  }
}

/** An EMF policy metric of one service. */
const policyMetric = (metricName: string, service: string, period: Duration): Metric =>
  new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service },
    statistic: Stats.SUM,
    period,
  });

/** `5m`, `30m`, `1h`, `6h`. */
const windowLabel = (window: Duration): string => {
  const minutes = window.toMinutes();
  return minutes % 60 === 0 ? `${minutes / 60}h` : `${minutes}m`;
};
