import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { type CfnDashboard, Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routeKeyOf } from '#shared/http/http.js';
import { enforcesPolicies, functionsOf, type PillarManifest, queuesOf, tablesOf } from '#shared/pillar.js';
import { authorizeRoutes } from '../../../functions/authorize/contract.js';
import { authorizePillar } from '../../../functions/authorize/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { metaPillar } from '../../../functions/meta/pillar.js';
import { routerPillar } from '../../../functions/router/pillar.js';
import { ConductorApiStack } from '../lib/api-stack.js';
import { BURN_RATE_ALERTS, burnRateThreshold, dashboardNameOf, errorBudgetOf } from '../lib/observability.js';
import { ConductorStatefulStack } from '../lib/stateful-stack.js';
import { type Synthesized, statefulImport, synthConductor } from './synth.js';

const FUNCTIONS = functionsOf(PILLARS);
const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);
/** The router's availability SLO, declared by its manifest. */
const [ROUTE_SLO] = routerPillar.observability.slos;

/** The dashboards a construct built (a pillar's PillarObservability keeps none as a property). */
const dashboardsIn = (scope: { node: { findAll: () => readonly unknown[] } }): string[] =>
  scope.node
    .findAll()
    .filter((c): c is Dashboard => c instanceof Dashboard)
    .map((d) => String((d.node.defaultChild as CfnDashboard).dashboardName));

type Resource = { Type: string; Properties: Record<string, unknown> };
type MetricQuery = {
  Id: string;
  Expression?: string;
  ReturnData?: boolean;
  MetricStat?: {
    Metric: { Namespace: string; MetricName: string; Dimensions: { Name: string; Value: unknown }[] };
    Period: number;
    Stat: string;
  };
};

const ROUTER_ROUTE = 'POST /api/conductor/v1/router/route';

describe('Observability (DESIGN §9)', () => {
  let synth: Synthesized;
  let resources: Record<string, Resource>;
  let apiRef: unknown;
  let pageImport: unknown;
  let ticketImport: unknown;

  beforeAll(() => {
    synth = synthConductor();
    resources = synth.flatApiTemplate.toJSON().Resources as Record<string, Resource>;
    apiRef = { Ref: synth.logicalIdOf(synth.api.api.node.defaultChild as never) };
    pageImport = importOf(synth.stateful.pageTopic, 'Ref');
    ticketImport = importOf(synth.stateful.ticketTopic, 'Ref');
  });
  afterAll(() => synth?.dispose());

  const importOf = (
    construct: { node: { defaultChild?: unknown } },
    attribute: 'Arn' | 'Ref' | 'QueueName',
  ) => statefulImport(synth, construct, attribute);

  const ofType = (type: string): Resource[] => Object.values(resources).filter((r) => r.Type === type);
  const alarmNamed = (name: string): Resource['Properties'] => {
    const found = [...ofType('AWS::CloudWatch::Alarm'), ...ofType('AWS::CloudWatch::CompositeAlarm')].filter(
      (alarm) => alarm.Properties.AlarmName === name,
    );
    expect(found, name).toHaveLength(1);
    return found[0]?.Properties ?? {};
  };
  const logicalIdOfAlarmNamed = (name: string): string =>
    Object.entries(resources).find(([, r]) => r.Properties?.AlarmName === name)?.[0] ?? '';
  const dashboardBody = (name: string): string => {
    const found = ofType('AWS::CloudWatch::Dashboard').filter((d) => d.Properties.DashboardName === name);
    expect(found, name).toHaveLength(1);
    return JSON.stringify(found[0]?.Properties.DashboardBody);
  };
  const functionRef = (name: string) => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    return { Ref: synth.logicalIdOf(fn.function.node.defaultChild as CfnFunction) };
  };

  it('enables detailed (per-route) metrics on the stage', () => {
    synth.flatApiTemplate.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      DefaultRouteSettings: { DetailedMetricsEnabled: true },
    });
  });

  describe('router error budget burn', () => {
    it(`watches ${ROUTER_ROUTE} with a 99.9 % SLO`, () => {
      expect(routeKeyOf(ROUTE_SLO.route)).toBe(ROUTER_ROUTE);
      expect(ROUTE_SLO).toMatchObject({ name: 'route', objective: 0.999 });
      expect(errorBudgetOf(ROUTE_SLO)).toBeCloseTo(1 - ROUTE_SLO.objective, 9);
      expect(errorBudgetOf(ROUTE_SLO)).toBe(0.001);
      expect(FUNCTIONS.find((entry) => entry.name === 'router')?.routes?.map(routeKeyOf)).toContain(
        ROUTER_ROUTE,
      );
      expect(BURN_RATE_ALERTS.map((alert) => burnRateThreshold(alert, ROUTE_SLO))).toEqual([0.0144, 0.006]);
      // The only SLO of the catalog: the alarm counts below rely on it.
      expect(PILLARS.flatMap((pillar) => pillar.observability?.slos ?? [])).toEqual([ROUTE_SLO]);
    });

    it('keeps the burn-rate alarms on the router pillar, by <slo>-<alert>', () => {
      const observability = synth.api.pillars.router?.observability;
      expect(Object.keys(observability?.burnRateAlarms ?? {})).toEqual(['route-fast', 'route-slow']);
      for (const alert of ['fast', 'slow']) {
        const alarm = observability?.burnRateAlarms[`route-${alert}`];
        expect(synth.logicalIdOf(alarm?.node.defaultChild as never)).toBe(
          logicalIdOfAlarmNamed(`conductor-prod-router-route-error-budget-${alert}-burn`),
        );
      }
      expect(Object.keys(observability?.burnRateWindowAlarms ?? {}).sort()).toEqual(
        ['1h', '5m', '6h', '30m'].map((label) => `conductor-prod-router-route-5xx-ratio-${label}`).sort(),
      );
      for (const pillar of ['meta', 'authorize']) {
        expect(synth.api.pillars[pillar]?.observability.burnRateAlarms).toEqual({});
      }
    });

    const windows = [
      { alert: 'fast', label: '1h', period: 3600, threshold: 0.0144 },
      { alert: 'fast', label: '5m', period: 300, threshold: 0.0144 },
      { alert: 'slow', label: '6h', period: 21600, threshold: 0.006 },
      { alert: 'slow', label: '30m', period: 1800, threshold: 0.006 },
    ];
    for (const window of windows) {
      it(`alarms when the route's 5xx ratio over ${window.label} is above ${window.threshold} (${window.alert} burn), without notifying by itself`, () => {
        const alarm = alarmNamed(`conductor-prod-router-route-5xx-ratio-${window.label}`);
        expect(alarm).toMatchObject({
          ComparisonOperator: 'GreaterThanThreshold',
          Threshold: window.threshold,
          EvaluationPeriods: 1,
          TreatMissingData: 'notBreaching',
        });
        const metrics = alarm.Metrics as MetricQuery[];
        expect(metrics.find((m) => m.ReturnData !== false)?.Expression).toBe('FILL(errors, 0) / requests');
        for (const [id, metricName] of [
          ['errors', '5xx'],
          ['requests', 'Count'],
        ]) {
          expect(metrics.find((m) => m.Id === id)?.MetricStat).toEqual({
            Metric: {
              Namespace: 'AWS/ApiGateway',
              MetricName: metricName,
              Dimensions: [
                { Name: 'ApiId', Value: apiRef },
                { Name: 'Route', Value: ROUTER_ROUTE },
                { Name: 'Stage', Value: '$default' },
              ],
            },
            Period: window.period,
            Stat: 'Sum',
          });
        }
        // Only the composite alarm pages: one window alone is a blip (short) or stale (long).
        expect(alarm.AlarmActions).toBeUndefined();
        expect(alarm.OKActions).toBeUndefined();
      });
    }

    for (const [alert, long, short, severity] of [
      ['fast', '1h', '5m', 'page'],
      ['slow', '6h', '30m', 'ticket'],
    ] as const) {
      it(`fires the ${alert}-burn composite alarm when both the ${long} and ${short} windows breach, and notifies the ${severity} topic`, () => {
        const topicImport = severity === 'page' ? pageImport : ticketImport;
        const alarm = alarmNamed(`conductor-prod-router-route-error-budget-${alert}-burn`);
        expect(alarm.AlarmRule).toEqual({
          'Fn::Join': [
            '',
            [
              '(ALARM("',
              {
                'Fn::GetAtt': [logicalIdOfAlarmNamed(`conductor-prod-router-route-5xx-ratio-${long}`), 'Arn'],
              },
              '") AND ALARM("',
              {
                'Fn::GetAtt': [
                  logicalIdOfAlarmNamed(`conductor-prod-router-route-5xx-ratio-${short}`),
                  'Arn',
                ],
              },
              '"))',
            ],
          ],
        });
        expect(alarm.AlarmActions).toEqual([topicImport]);
        expect(alarm.OKActions).toEqual([topicImport]);
      });
    }
  });

  describe('policy deny spike', () => {
    const enforcers = FUNCTIONS.filter(enforcesPolicies).map((entry) => entry.name);

    it('covers exactly the functions with token routes (router, authorize, and any other pillar’s)', () => {
      // The catalog decides: router and authorize have token routes, meta and reward have none.
      expect(enforcers).toEqual(expect.arrayContaining(['router', 'authorize']));
      expect(enforcers).not.toContain('meta');
      expect(enforcers).not.toContain('reward');
      // Each is kept by the pillar of its function.
      for (const pillar of PILLARS) {
        expect(Object.keys(synth.api.pillars[pillar.name]?.observability.denySpikeAlarms ?? {})).toEqual(
          pillar.functions.filter(enforcesPolicies).map((fn) => fn.name),
        );
      }
      expect(Object.keys(synth.api.pillars.router?.observability.denySpikeAlarms ?? {})).toEqual(['router']);
      expect(Object.keys(synth.api.pillars.authorize?.observability.denySpikeAlarms ?? {})).toEqual([
        'authorize',
      ]);
      expect(synth.api.pillars.meta?.observability.denySpikeAlarms).toEqual({});
      const denySpikes = ofType('AWS::CloudWatch::Alarm').filter((alarm) =>
        String(alarm.Properties.AlarmName).endsWith('-policy-deny-spike'),
      );
      expect(denySpikes.map((alarm) => alarm.Properties.AlarmName).sort()).toEqual(
        enforcers.map((name) => `conductor-prod-${name}-policy-deny-spike`).sort(),
      );
    });

    for (const name of ['router', 'authorize']) {
      it(`alarms when the ${name} function's PolicyDenied is above its anomaly detection band, opening a ticket`, () => {
        const alarm = alarmNamed(`conductor-prod-${name}-policy-deny-spike`);
        expect(alarm).toMatchObject({
          ComparisonOperator: 'GreaterThanUpperThreshold',
          ThresholdMetricId: 'expr_1',
          EvaluationPeriods: 2,
          TreatMissingData: 'notBreaching',
          AlarmActions: [ticketImport],
          OKActions: [ticketImport],
        });
        expect(alarm.Threshold).toBeUndefined();
        expect(alarm.Metrics).toEqual([
          {
            Id: 'expr_1',
            Expression: 'ANOMALY_DETECTION_BAND(m0, 3)',
            Label: 'Anomaly Detection Band',
            ReturnData: true,
          },
          {
            Id: 'm0',
            ReturnData: true,
            MetricStat: {
              Metric: {
                Namespace: 'Conductor',
                MetricName: 'PolicyDenied',
                Dimensions: [{ Name: 'service', Value: name }],
              },
              Period: 300,
              Stat: 'Sum',
            },
          },
        ]);
      });

      it(`backs the ${name} deny spike alarm with a static threshold on the same metric while its model trains`, () => {
        expect(alarmNamed(`conductor-prod-${name}-policy-denies-high`)).toMatchObject({
          Namespace: 'Conductor',
          MetricName: 'PolicyDenied',
          Dimensions: [{ Name: 'service', Value: name }],
          Statistic: 'Sum',
          Period: 300,
          Threshold: 600,
          EvaluationPeriods: 2,
          ComparisonOperator: 'GreaterThanThreshold',
          TreatMissingData: 'notBreaching',
          AlarmActions: [ticketImport],
          OKActions: [ticketImport],
        });
      });
    }
  });

  it('names every API-side alarm conductor-prod-* and has every notifying one notify the page or the ticket topic', () => {
    const alarms = [...ofType('AWS::CloudWatch::Alarm'), ...ofType('AWS::CloudWatch::CompositeAlarm')];
    const routes = FUNCTIONS.flatMap((fn) => fn.routes ?? []).filter((r) => routeKeyOf(r) !== ROUTER_ROUTE);
    const enforcers = FUNCTIONS.filter(enforcesPolicies).length;
    const ours = alarms.filter((alarm) => !String(alarm.Properties.AlarmName).endsWith('-deploy-errors'));
    // 4 burn-rate windows, 2 burn-rate composites, a 5xx alarm per route without an SLO, errors and
    // throttles per function, throttles per table, a deny spike and its backup per enforcer, and the
    // manifests' event alarms (the router's canary rollback), and per workflow its timed-out, aborted
    // and throttled executions, plus 2 for its status-change DLQ.
    const eventAlarms = PILLARS.flatMap((pillar) => pillar.observability?.eventAlarms ?? []).length;
    const workflowAlarms = PILLARS.flatMap((pillar) => pillar.workflows ?? []).reduce(
      (sum, workflow) => sum + 3 + (workflow.statusChangesTo === undefined ? 0 : 2),
      0,
    );
    expect(ours).toHaveLength(
      4 +
        2 +
        routes.length +
        2 * FUNCTIONS.length +
        TABLES.length +
        2 * enforcers +
        eventAlarms +
        workflowAlarms +
        // 2 per subscription's DLQ.
        2 * PILLARS.flatMap((pillar) => pillar.subscriptions ?? []).length,
    );
    const silent: string[] = [];
    for (const alarm of ours) {
      // The topic policies let CloudWatch publish for alarms named conductor-<stage>-* only.
      expect(String(alarm.Properties.AlarmName)).toMatch(/^conductor-prod-/);
      if (alarm.Properties.AlarmActions === undefined) {
        silent.push(String(alarm.Properties.AlarmName));
        continue;
      }
      expect([[pageImport], [ticketImport]]).toContainEqual(alarm.Properties.AlarmActions);
      expect(alarm.Properties.OKActions).toEqual(alarm.Properties.AlarmActions);
    }
    // The only silent alarms are the burn-rate windows, which the composites combine.
    expect(silent.sort()).toEqual(
      ['1h', '5m', '6h', '30m'].map((label) => `conductor-prod-router-route-5xx-ratio-${label}`).sort(),
    );
  });

  it('keeps each pillar’s alarms on its PillarObservability, and shows them on its dashboard', () => {
    const router = synth.api.pillars.router?.observability;
    expect(Object.keys(router?.functionAlarms ?? {}).sort()).toEqual(['replay', 'reward', 'router']);
    expect(Object.keys(router?.eventAlarms ?? {})).toEqual(['canary-rollback', 'reward-drift']);
    expect(Object.keys(router?.tableThrottleAlarms ?? {})).toEqual(['router']);
    expect(Object.keys(router?.routeErrorAlarms ?? {})).not.toContain(ROUTER_ROUTE);
    const authorize = synth.api.pillars.authorize?.observability;
    expect(Object.keys(authorize?.routeErrorAlarms ?? {}).sort()).toEqual(
      authorizeRoutes.map(routeKeyOf).sort(),
    );
    expect(Object.keys(authorize?.tableThrottleAlarms ?? {})).toEqual(['policy']);
    const body = dashboardBody('conductor-prod-policy');
    for (const alarm of [
      ...Object.values(authorize?.routeErrorAlarms ?? {}),
      authorize?.functionAlarms.authorize?.errors,
      authorize?.tableThrottleAlarms.policy,
    ]) {
      expect(body).toContain(
        JSON.stringify({ 'Fn::GetAtt': [synth.logicalIdOf(alarm?.node.defaultChild as never), 'Arn'] }),
      );
    }
    expect(body).toContain('\\"AWS/DynamoDB\\",\\"ReadThrottleEvents\\"');
  });

  describe('dashboards', () => {
    it('creates one dashboard per pillar that asks for one: router and policy among them, none for meta', () => {
      // Each pillar builds its own: meta declares none (dashboard: false), authorize names its `policy`,
      // the others are named after their pillar.
      expect(dashboardNameOf(metaPillar)).toBe(false);
      expect(dashboardNameOf(authorizePillar)).toBe('policy');
      expect(dashboardNameOf(routerPillar)).toBe('router');
      const expected = Object.fromEntries(
        PILLARS.map((pillar) => {
          const name = dashboardNameOf(pillar);
          return [pillar.name, name === false ? [] : [`conductor-prod-${name}`]];
        }),
      );
      expect(expected).toMatchObject({
        meta: [],
        router: ['conductor-prod-router'],
        authorize: ['conductor-prod-policy'],
      });
      expect(
        Object.fromEntries(
          Object.entries(synth.api.pillars).map(([name, services]) => [name, dashboardsIn(services)]),
        ),
      ).toEqual(expected);
      expect(
        ofType('AWS::CloudWatch::Dashboard')
          .map((d) => d.Properties.DashboardName)
          .sort(),
      ).toEqual(Object.values(expected).flat().sort());
    });

    it('router: per-route requests, 4xx, 5xx and p95 latency of the router routes', () => {
      const body = dashboardBody('conductor-prod-router');
      const router = FUNCTIONS.find((entry) => entry.name === 'router');
      for (const spec of router?.routes ?? []) {
        expect(body).toContain(`\\"Route\\",\\"${routeKeyOf(spec)}\\"`);
      }
      for (const metric of [
        '\\"Count\\"',
        '\\"4xx\\"',
        '\\"5xx\\"',
        '\\"Latency\\"',
        '\\"stat\\":\\"p95\\"',
      ]) {
        expect(body).toContain(metric);
      }
      // The error budget burn rate graph and the status of the burn alerts.
      expect(body).toContain(`FILL(errors, 0) / requests / ${errorBudgetOf(ROUTE_SLO)}`);
      for (const alert of ['fast', 'slow']) {
        expect(body).toContain(
          JSON.stringify({
            'Fn::GetAtt': [
              logicalIdOfAlarmNamed(`conductor-prod-router-route-error-budget-${alert}-burn`),
              'Arn',
            ],
          }),
        );
      }
    });

    it('router: duration p95, errors, throttles and concurrency of the router and reward functions', () => {
      const body = dashboardBody('conductor-prod-router');
      for (const name of ['router', 'reward']) expect(body).toContain(JSON.stringify(functionRef(name)));
      expect(body).not.toContain(JSON.stringify(functionRef('authorize')));
      for (const metric of ['Duration', 'Errors', 'Throttles', 'ConcurrentExecutions']) {
        expect(body).toContain(`\\"AWS/Lambda\\",\\"${metric}\\"`);
      }
    });

    it('router: the rewards queue (visible, oldest age, DLQ visible) and exploration per tenant through SEARCH', () => {
      const body = dashboardBody('conductor-prod-router');
      expect(body).toContain(JSON.stringify(importOf(synth.stateful.queue('rewards'), 'QueueName')));
      const dlq = synth.stateful.deadLetterQueues.rewards;
      if (!dlq) throw new Error('no rewards DLQ');
      expect(body).toContain(JSON.stringify(importOf(dlq, 'QueueName')));
      expect(body).toContain('ApproximateNumberOfMessagesVisible');
      expect(body).toContain('ApproximateAgeOfOldestMessage');
      expect(body).not.toContain(
        JSON.stringify(importOf(synth.stateful.queue('decision-archive'), 'QueueName')),
      );
      expect(body).toContain('## router: per tenant');
      for (const [metric, statistic] of [
        ['RouteExploration', 'Average'],
        ['RouteExplorationCapped', 'Sum'],
      ]) {
        expect(body).toContain(
          `SEARCH('{Conductor,service,tenant} service=\\\\\\"router\\\\\\" MetricName=\\\\\\"${metric}\\\\\\"', '${statistic}', 300)`,
        );
      }
    });

    it('policy: decisions, denies and cache hit rate per enforcing service, and the deny spike alarms', () => {
      const body = dashboardBody('conductor-prod-policy');
      for (const name of FUNCTIONS.filter(enforcesPolicies).map((entry) => entry.name)) {
        for (const metric of ['PolicyDecisions', 'PolicyDenied', 'PolicyCacheHits']) {
          expect(body).toContain(`\\"Conductor\\",\\"${metric}\\",\\"service\\",\\"${name}\\"`);
        }
        expect(body).toContain(
          JSON.stringify({
            'Fn::GetAtt': [logicalIdOfAlarmNamed(`conductor-prod-${name}-policy-deny-spike`), 'Arn'],
          }),
        );
      }
      expect(body).toMatch(/100 \* FILL\(hits0, 0\) \/ decisions0/);
    });

    it('policy: the authorize routes, the authorize function and the decision-archive queue', () => {
      const body = dashboardBody('conductor-prod-policy');
      for (const spec of authorizeRoutes) expect(body).toContain(`\\"Route\\",\\"${routeKeyOf(spec)}\\"`);
      expect(body).not.toContain(`\\"Route\\",\\"${ROUTER_ROUTE}\\"`);
      expect(body).toContain(JSON.stringify(functionRef('authorize')));
      const archive = QUEUES.find((spec) => spec.id === 'decision-archive');
      expect(archive).toBeDefined();
      expect(body).toContain(JSON.stringify(importOf(synth.stateful.queue('decision-archive'), 'QueueName')));
      const dlq = synth.stateful.deadLetterQueues['decision-archive'];
      if (!dlq) throw new Error('no decision-archive DLQ');
      expect(body).toContain(JSON.stringify(importOf(dlq, 'QueueName')));
    });
  });
});

describe('Observability follows the catalog', () => {
  let outdir = '';
  beforeAll(() => {
    mkdirSync(tmpdir(), { recursive: true });
    outdir = mkdtempSync(join(tmpdir(), 'cdk.out-observability-'));
  });
  afterAll(() => rmSync(outdir, { recursive: true, force: true }));

  it('gives every function with token routes a deny spike alarm, and skips what the catalog does not serve', () => {
    const app = new App({ outdir, context: { 'aws:cdk:bundling-stacks': [] } });
    const stateful = new ConductorStatefulStack(app, 'S', { stage: 'test', queues: [] });
    // Whoever declares the policy table that every function with token routes is given.
    const kernel: PillarManifest = {
      name: 'kernel',
      description: 'test',
      functions: [],
      tables: authorizePillar.tables,
    };
    const route = authorizeRoutes.find((spec) => spec.auth === 'jwt');
    if (!route) throw new Error('no token route');
    const ledger: PillarManifest = {
      name: 'ledger',
      description: 'test',
      functions: [
        { name: 'ledger', description: 'test', entry: 'functions/meta/src/handler.ts', routes: [route] },
      ],
      rateFamilies: route.rateFamily ? { [route.rateFamily]: 100 } : {},
      observability: { policyDecisions: true },
    };
    const api = new ConductorApiStack(app, 'A', {
      stage: 'test',
      stateful,
      pillars: [metaPillar, kernel, ledger],
    });
    // Meta stays in the API stack; the kernel and the ledger, of no catalog, get a nested stack each.
    expect(Object.keys(api.pillarStacks)).toEqual(['kernel', 'ledger']);
    const ledgerStack = api.pillarStacks.ledger;
    if (!ledgerStack) throw new Error('no nested stack for the ledger');
    const ledgerTemplate = Template.fromStack(ledgerStack);
    const templates = [
      Template.fromStack(api),
      ...Object.values(api.pillarStacks).map((stack) => Template.fromStack(stack)),
    ];
    const names = templates.flatMap((template) =>
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
        (alarm) => (alarm as Resource).Properties.AlarmName,
      ),
    );
    // No router route: no burn-rate alarms; no router: no router dashboard. Meta's function and
    // route, the ledger's function and route: their own alarms; the kernel's table: its throttles.
    expect(names.filter((name) => !String(name).endsWith('-deploy-errors')).sort()).toEqual(
      [
        'conductor-test-ledger-policy-deny-spike',
        'conductor-test-ledger-policy-denies-high',
        'conductor-test-ledger-lambda-errors',
        'conductor-test-ledger-lambda-throttles',
        `conductor-test-ledger-${route.operationId}-5xx-ratio`,
        'conductor-test-meta-lambda-errors',
        'conductor-test-meta-lambda-throttles',
        ...metaPillar.functions.flatMap((fn) =>
          (fn.routes ?? []).map((spec) => `conductor-test-${fn.name}-${spec.operationId}-5xx-ratio`),
        ),
        'conductor-test-policy-table-throttles',
      ].sort(),
    );
    for (const template of templates) template.resourceCountIs('AWS::CloudWatch::CompositeAlarm', 0);
    expect(Object.keys(api.pillars)).toEqual(['meta', 'kernel', 'ledger']);
    expect(api.pillars.ledger?.observability.denySpikeAlarms).toHaveProperty('ledger');
    // The ledger's dashboard (named after the pillar by default) graphs its decisions; meta asks for
    // none, and the kernel has nothing to show.
    expect(
      Object.fromEntries(
        Object.entries(api.pillars).map(([name, services]) => [name, dashboardsIn(services)]),
      ),
    ).toEqual({ meta: [], kernel: [], ledger: ['conductor-test-ledger'] });
    expect(
      templates.reduce(
        (sum, template) => sum + Object.keys(template.findResources('AWS::CloudWatch::Dashboard')).length,
        0,
      ),
    ).toBe(1);
    const dashboard = Object.values(ledgerTemplate.findResources('AWS::CloudWatch::Dashboard')).find(
      (d) => (d as Resource).Properties.DashboardName === 'conductor-test-ledger',
    ) as Resource | undefined;
    const body = JSON.stringify(dashboard?.Properties.DashboardBody);
    expect(body).toContain('\\"Conductor\\",\\"PolicyDenied\\",\\"service\\",\\"ledger\\"');
    const denySpike = api.pillars.ledger?.observability.denySpikeAlarms.ledger;
    expect(body).toContain(
      JSON.stringify({
        'Fn::GetAtt': [ledgerStack.getLogicalId(denySpike?.node.defaultChild as never), 'Arn'],
      }),
    );
  });
});
