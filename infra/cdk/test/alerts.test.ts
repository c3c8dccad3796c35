/**
 * Alerts that reach a person (issue 14): a `page` topic and a `ticket` topic with the subscriptions
 * the context names, and, from every manifest with no code of its own, a 5xx alarm per route, Lambda
 * errors and throttles per function, DynamoDB throttles per table, DLQ depth and age per queue, a
 * static backup beside every anomaly alarm, and the gateway's 401s counted.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RouteSpec, routeKeyOf } from '#shared/http/http.js';
import { enforcesPolicies, functionsOf, queuesOf, tablesOf, workflowsOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { buildApp, type ConductorAppProps } from '../lib/app.js';
import { dashboardNameOf } from '../lib/observability.js';
import { ALERT_SEVERITY } from '../lib/stateful-stack.js';
import { LEDGER, LEDGER_ROUTE } from './ledger-pillar.js';
import { type Synthesized, statefulImport, synthConductor, synthPillars } from './synth.js';

const FUNCTIONS = functionsOf(PILLARS);
const QUEUES = queuesOf(PILLARS);
const TABLES = tablesOf(PILLARS);
const WORKFLOWS = workflowsOf(PILLARS);
const SLO_ROUTES = new Set(
  PILLARS.flatMap((pillar) => pillar.observability?.slos ?? []).map((slo) => routeKeyOf(slo.route)),
);

type Resource = { Type: string; Properties: Record<string, unknown> };
type Severity = 'page' | 'ticket' | 'silent';

const ALARM_TYPES = new Set(['AWS::CloudWatch::Alarm', 'AWS::CloudWatch::CompositeAlarm']);

/** A scratch app (no bundling, no cdk-nag) for tests that read one template. */
const quickBuild = (props: ConductorAppProps) =>
  buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), { nag: false, ...props });

describe('Alerts', () => {
  let synth: Synthesized;
  let alarms: Record<string, Record<string, unknown>>;

  beforeAll(() => {
    synth = synthConductor();
    alarms = {};
    for (const template of [synth.statefulTemplate, synth.flatApiTemplate]) {
      for (const resource of Object.values(template.toJSON().Resources as Record<string, Resource>)) {
        if (ALARM_TYPES.has(resource.Type))
          alarms[String(resource.Properties.AlarmName)] = resource.Properties;
      }
    }
  });
  afterAll(() => synth?.dispose());

  const topicId = (severity: 'page' | 'ticket') =>
    synth.stateful.getLogicalId(
      (severity === 'page' ? synth.stateful.pageTopic : synth.stateful.ticketTopic).node
        .defaultChild as never,
    );

  /** Which topic an alarm notifies, on ALARM and on OK alike (failing the test if it mixes them). */
  const severityOf = (name: string): Severity => {
    const alarm = alarms[name];
    if (!alarm) throw new Error(`no alarm ${name}`);
    if (alarm.AlarmActions === undefined) {
      expect(alarm.OKActions, name).toBeUndefined();
      return 'silent';
    }
    expect(alarm.OKActions, name).toEqual(alarm.AlarmActions);
    const actions = JSON.stringify(alarm.AlarmActions);
    const candidates = (['page', 'ticket'] as const).filter((severity) => {
      const ref = { Ref: topicId(severity) };
      const imported = statefulImport(
        synth,
        severity === 'page' ? synth.stateful.pageTopic : synth.stateful.ticketTopic,
        'Ref',
      );
      return actions === JSON.stringify([ref]) || actions === JSON.stringify([imported]);
    });
    expect(candidates, `${name} notifies ${actions}`).toHaveLength(1);
    return candidates[0] as Severity;
  };

  /** Alarms whose metrics (or metric math inputs) name `text`. */
  const alarmsMentioning = (text: string): string[] =>
    Object.entries(alarms)
      .filter(([, alarm]) => JSON.stringify([alarm.Dimensions, alarm.Metrics]).includes(text))
      .map(([name]) => name);

  describe('the topics', () => {
    it('are two, page and ticket, both TLS only and encrypted with the alarm topic key that CloudWatch may use', () => {
      synth.statefulTemplate.resourceCountIs('AWS::SNS::Topic', 2);
      const keyId = Object.keys(synth.statefulTemplate.findResources('AWS::KMS::Key')).find((id) =>
        id.startsWith('AlarmTopicKey'),
      );
      for (const [severity, name] of [
        ['page', 'conductor-prod-alarms'],
        ['ticket', 'conductor-prod-tickets'],
      ] as const) {
        synth.statefulTemplate.hasResourceProperties('AWS::SNS::Topic', {
          TopicName: name,
          KmsMasterKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
        });
        const policies = Object.values(synth.statefulTemplate.findResources('AWS::SNS::TopicPolicy')).filter(
          (policy) =>
            JSON.stringify(policy.Properties.Topics) === JSON.stringify([{ Ref: topicId(severity) }]),
        );
        expect(policies).toHaveLength(1);
        const statements = JSON.stringify(policies[0]?.Properties.PolicyDocument);
        expect(statements).toContain('"aws:SecureTransport":"false"');
        expect(statements).toContain('cloudwatch.amazonaws.com');
        expect(statements).toContain(':alarm:conductor-prod-*');
      }
    });

    it('keeps the page topic on the logical id of the former alarm topic, so its subscriptions survive', () => {
      expect(topicId('page')).toBe('AlarmTopicD01E77F9');
      expect(synth.stateful.alarmTopic).toBe(synth.stateful.pageTopic);
    });

    it('have no subscription unless the context names one', () => {
      synth.statefulTemplate.resourceCountIs('AWS::SNS::Subscription', 0);
    });

    it('subscribe the email address and the HTTPS endpoint given for each', () => {
      const { stateful } = quickBuild({
        pageEmail: 'oncall@example.com',
        pageUrl: 'https://events.pagerduty.example/integration/abc/enqueue',
        ticketEmail: 'team@example.com',
        ticketUrl: 'https://chat.example.com/hooks/conductor',
      });
      const template = Template.fromStack(stateful);
      template.resourceCountIs('AWS::SNS::Subscription', 4);
      const ref = (topic: typeof stateful.pageTopic) => ({
        Ref: stateful.getLogicalId(topic.node.defaultChild as never),
      });
      for (const [topic, protocol, endpoint] of [
        [stateful.pageTopic, 'email', 'oncall@example.com'],
        [stateful.pageTopic, 'https', 'https://events.pagerduty.example/integration/abc/enqueue'],
        [stateful.ticketTopic, 'email', 'team@example.com'],
        [stateful.ticketTopic, 'https', 'https://chat.example.com/hooks/conductor'],
      ] as const) {
        template.hasResourceProperties('AWS::SNS::Subscription', {
          TopicArn: ref(topic),
          Protocol: protocol,
          Endpoint: endpoint,
        });
      }
    });

    it('take the deprecated alarmEmail for both topics, unless pageEmail or ticketEmail names another', () => {
      const both = Template.fromStack(quickBuild({ alarmEmail: 'ops@example.com' }).stateful);
      expect(
        Object.values(both.findResources('AWS::SNS::Subscription')).map((s) => s.Properties.Endpoint),
      ).toEqual(['ops@example.com', 'ops@example.com']);
      const { stateful } = quickBuild({ alarmEmail: 'ops@example.com', pageEmail: 'oncall@example.com' });
      const template = Template.fromStack(stateful);
      template.resourceCountIs('AWS::SNS::Subscription', 2);
      template.hasResourceProperties('AWS::SNS::Subscription', {
        TopicArn: { Ref: stateful.getLogicalId(stateful.pageTopic.node.defaultChild as never) },
        Endpoint: 'oncall@example.com',
      });
      template.hasResourceProperties('AWS::SNS::Subscription', {
        TopicArn: { Ref: stateful.getLogicalId(stateful.ticketTopic.node.defaultChild as never) },
        Endpoint: 'ops@example.com',
      });
    });

    it('refuses an endpoint that is not https, without repeating it (it may hold an integration key)', () => {
      for (const key of ['pageUrl', 'ticketUrl'] as const) {
        for (const url of ['http://hooks.example.com/secret-key', 'not a url secret-key']) {
          let message = '';
          try {
            quickBuild({ [key]: url });
          } catch (error) {
            message = (error as Error).message;
          }
          expect(message).toMatch(new RegExp(`${key} must be an https URL`));
          expect(message).not.toContain('secret-key');
        }
      }
    });

    it('refuses an email that is not one address, naming the key', () => {
      for (const key of ['pageEmail', 'ticketEmail'] as const) {
        expect(() => quickBuild({ [key]: 'a@example.com,b@example.com' })).toThrow(new RegExp(key));
      }
    });
  });

  describe('from every manifest', () => {
    it('gives every route a 5xx alarm that pages: its own, or its SLO’s fast burn', () => {
      for (const fn of FUNCTIONS) {
        for (const route of fn.routes ?? []) {
          const key = routeKeyOf(route);
          const on5xx = alarmsMentioning(`"Route","Value":"${key}"`).filter((name) =>
            JSON.stringify(alarms[name]?.Metrics).includes('"MetricName":"5xx"'),
          );
          expect(on5xx.length, key).toBeGreaterThan(0);
          if (SLO_ROUTES.has(key)) {
            // The SLO's windows feed the burn-rate composites; the fast one pages.
            expect(
              on5xx.every((name) => severityOf(name) === 'silent'),
              key,
            ).toBe(true);
            expect(
              Object.keys(alarms)
                .filter((name) => name.endsWith('-error-budget-fast-burn'))
                .map(severityOf),
            ).toEqual(['page']);
          } else {
            expect(on5xx, key).toEqual([`conductor-prod-${fn.name}-${route.operationId}-5xx-ratio`]);
            expect(severityOf(on5xx[0] as string), key).toBe('page');
          }
        }
      }
    });

    it('pages on POST /policy/authorize answering 5xx to more than 5 % of at least 10 requests in 2 of 3 five-minute periods', () => {
      const authorize = FUNCTIONS.find((fn) => fn.name === 'authorize')?.routes?.find(
        (route) => route.method === 'POST' && route.path === '/policy/authorize',
      ) as RouteSpec;
      const name = `conductor-prod-authorize-${authorize.operationId}-5xx-ratio`;
      expect(alarms[name]).toMatchObject({
        Threshold: 0.05,
        ComparisonOperator: 'GreaterThanThreshold',
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
        TreatMissingData: 'notBreaching',
      });
      const metrics = alarms[name]?.Metrics as { Id: string; Expression?: string; MetricStat?: unknown }[];
      expect(metrics.find((m) => m.Expression)?.Expression).toBe(
        'IF(requests >= 10, FILL(errors, 0) / requests, 0)',
      );
      expect(JSON.stringify(metrics)).toContain(`"Value":"${routeKeyOf(authorize)}"`);
      expect(severityOf(name)).toBe('page');
    });

    for (const fn of FUNCTIONS) {
      it(`pages on the ${fn.name} function's errors and tickets its throttles`, () => {
        const functionId = synth.logicalIdOf(
          synth.api.functions[fn.name]?.function.node.defaultChild as CfnFunction,
        );
        const errors = alarms[`conductor-prod-${fn.name}-lambda-errors`];
        expect(JSON.stringify(errors?.Metrics)).toContain(
          `{"Name":"FunctionName","Value":{"Ref":"${functionId}"}}`,
        );
        expect(JSON.stringify(errors?.Metrics)).toContain('"MetricName":"Errors"');
        expect(errors).toMatchObject({ Threshold: 0.01, EvaluationPeriods: 3, DatapointsToAlarm: 2 });
        expect(severityOf(`conductor-prod-${fn.name}-lambda-errors`)).toBe('page');
        const throttles = alarms[`conductor-prod-${fn.name}-lambda-throttles`];
        expect(throttles).toMatchObject({
          MetricName: 'Throttles',
          Namespace: 'AWS/Lambda',
          Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId } }],
          Statistic: 'Sum',
          Period: 300,
        });
        expect(severityOf(`conductor-prod-${fn.name}-lambda-throttles`)).toBe('ticket');
      });
    }

    for (const table of TABLES) {
      it(`tickets read and write throttles of the ${table.id} table`, () => {
        const name = `conductor-prod-${table.id}-table-throttles`;
        const metrics = JSON.stringify(alarms[name]?.Metrics);
        expect(metrics).toContain('"MetricName":"ReadThrottleEvents"');
        expect(metrics).toContain('"MetricName":"WriteThrottleEvents"');
        expect(metrics).toContain(
          JSON.stringify({
            Name: 'TableName',
            Value: statefulImport(synth, synth.stateful.table(table.id), 'Ref'),
          }),
        );
        expect(severityOf(name)).toBe('ticket');
      });
    }

    for (const queue of QUEUES) {
      it(`tickets the ${queue.id} queue: DLQ not empty, DLQ message older than 7 days, oldest message age, depth`, () => {
        for (const suffix of [
          'dlq-not-empty',
          'dlq-oldest-message-age',
          'oldest-message-age',
          'depth-anomaly',
          'depth-high',
        ]) {
          expect(severityOf(`conductor-prod-${queue.id}-${suffix}`), suffix).toBe('ticket');
        }
        expect(alarms[`conductor-prod-${queue.id}-dlq-oldest-message-age`]).toMatchObject({
          MetricName: 'ApproximateAgeOfOldestMessage',
          Threshold: 7 * 24 * 3600,
        });
      });
    }

    it('pairs every anomaly detection alarm with a static-threshold alarm on the same metric', () => {
      const anomalies = Object.entries(alarms).filter(([, alarm]) => alarm.ThresholdMetricId !== undefined);
      expect(anomalies.length).toBe(QUEUES.length + FUNCTIONS.filter(enforcesPolicies).length);
      for (const [name, alarm] of anomalies) {
        const watched = (
          alarm.Metrics as {
            MetricStat?: {
              Metric: { Namespace: string; MetricName: string; Dimensions?: unknown };
              Stat: string;
            };
          }[]
        ).find((m) => m.MetricStat)?.MetricStat;
        const same = (candidate: Record<string, unknown>) =>
          candidate.Namespace === watched?.Metric.Namespace &&
          candidate.MetricName === watched?.Metric.MetricName &&
          JSON.stringify(candidate.Dimensions) === JSON.stringify(watched?.Metric.Dimensions) &&
          candidate.Statistic === watched?.Stat;
        const backups = Object.entries(alarms).filter(
          ([other, candidate]) =>
            other !== name && typeof candidate.Threshold === 'number' && same(candidate),
        );
        expect(
          backups.map(([other]) => other),
          name,
        ).toHaveLength(1);
        expect(severityOf(backups[0]?.[0] as string)).toBe(severityOf(name));
      }
    });

    it('routes every alarm as the table of ALERT_SEVERITY says: fast burn, 5xx and Lambda errors page, the rest tickets', () => {
      expect(ALERT_SEVERITY).toMatchObject({
        'error-budget-fast-burn': 'page',
        '5xx-ratio': 'page',
        'lambda-errors': 'page',
        'error-budget-slow-burn': 'ticket',
        'lambda-throttles': 'ticket',
        'table-throttles': 'ticket',
        'dlq-not-empty': 'ticket',
        'oldest-message-age': 'ticket',
      });
      const kinds = Object.keys(ALERT_SEVERITY).sort((a, b) => b.length - a.length);
      let routed = 0;
      for (const name of Object.keys(alarms)) {
        expect(name).toMatch(/^conductor-prod-/);
        const severity = severityOf(name);
        // The burn-rate windows only feed their composites.
        const kind = /-5xx-ratio-\d+[mh]$/.test(name) ? undefined : kinds.find((k) => name.endsWith(`-${k}`));
        if (kind === undefined) {
          // Alarms of other concerns (e.g. a deployment's rollback alarm) may exist, notifying nobody.
          expect(severity, `${name} notifies without a row in ALERT_SEVERITY`).toBe('silent');
          continue;
        }
        expect(severity, name).toBe(ALERT_SEVERITY[kind as keyof typeof ALERT_SEVERITY]);
        routed += 1;
      }
      // 2 burn-rate composites, a 5xx alarm per route without an SLO, 2 per function, 1 per table,
      // 2 per enforcer, 5 per queue, the manifests' event alarms (the router's canary rollback, the
      // scheduler's budget breach, ...), and 3 per workflow (timed out, aborted, throttled) plus 2 for its
      // status-change DLQ.
      const routes = FUNCTIONS.flatMap((fn) => fn.routes ?? []).filter((r) => !SLO_ROUTES.has(routeKeyOf(r)));
      const eventAlarms = PILLARS.flatMap((pillar) => pillar.observability?.eventAlarms ?? []);
      expect(eventAlarms.map((alarm) => alarm.name)).toContain('canary-rollback');
      expect(routed).toBe(
        2 +
          routes.length +
          2 * FUNCTIONS.length +
          TABLES.length +
          2 * FUNCTIONS.filter(enforcesPolicies).length +
          5 * QUEUES.length +
          eventAlarms.length +
          WORKFLOWS.reduce((sum, workflow) => sum + 3 + (workflow.statusChangesTo === undefined ? 0 : 2), 0) +
          // 2 per subscription's DLQ.
          2 * PILLARS.flatMap((pillar) => pillar.subscriptions ?? []).length,
      );
    });
  });

  describe('event alarms', () => {
    it('fire on one canary rollback in a minute (CanaryRollback of the router service) and open a ticket', () => {
      const alarms = Object.values(synth.flatApiTemplate.findResources('AWS::CloudWatch::Alarm')).filter(
        (alarm) => alarm.Properties.AlarmName === 'conductor-prod-router-canary-rollback',
      );
      expect(alarms).toHaveLength(1);
      expect(alarms[0]?.Properties).toMatchObject({
        MetricName: 'CanaryRollback',
        Namespace: 'Conductor',
        Dimensions: [{ Name: 'service', Value: 'router' }],
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
      });
      expect(JSON.stringify(alarms[0]?.Properties.AlarmActions)).toContain('TicketTopic');
    });

    it('fire on one budget breach in a minute (BudgetBreach of the scheduler service) and open a ticket', () => {
      const alarms = Object.values(synth.flatApiTemplate.findResources('AWS::CloudWatch::Alarm')).filter(
        (alarm) => alarm.Properties.AlarmName === 'conductor-prod-scheduler-budget-breach',
      );
      expect(alarms).toHaveLength(1);
      expect(alarms[0]?.Properties).toMatchObject({
        MetricName: 'BudgetBreach',
        Namespace: 'Conductor',
        Dimensions: [{ Name: 'service', Value: 'scheduler' }],
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      expect(JSON.stringify(alarms[0]?.Properties.AlarmActions)).toContain('TicketTopic');
    });

    it('show each scheduler queue’s depth, work in flight, oldest age and DLQ on the scheduler dashboard, with its per-tenant spend', () => {
      const dashboards = Object.values(synth.flatApiTemplate.findResources('AWS::CloudWatch::Dashboard'));
      const body = JSON.stringify(
        dashboards.find((dashboard) =>
          JSON.stringify(dashboard.Properties.DashboardName).includes('scheduler'),
        )?.Properties.DashboardBody,
      );
      for (const text of [
        'Visible messages (Maximum)',
        'In flight (NotVisible, Maximum)',
        'Age of the oldest message (s, Maximum)',
        'DLQ visible messages (Maximum)',
        'ApproximateNumberOfMessagesNotVisible',
        'Spend per tenant (JobCostUsd, Sum, USD)',
        'Budget breaches per tenant (BudgetBreach, Sum)',
        'scheduler-high',
        'scheduler-jobs',
        'scheduler-low',
      ]) {
        expect(body, text).toContain(text);
      }
    });
  });

  describe('gateway 401s', () => {
    it('are counted from the access logs, per route (Conductor GatewayUnauthorized)', () => {
      const filters = Object.values(synth.flatApiTemplate.findResources('AWS::Logs::MetricFilter'));
      expect(filters).toHaveLength(1);
      expect(filters[0]?.Properties).toMatchObject({
        FilterPattern: '{ $.status = "401" }',
        // The name, out of the access log group's ARN (arn:aws:logs:<region>:<account>:log-group:<name>:*).
        LogGroupName: {
          'Fn::Select': [
            6,
            { 'Fn::Split': [':', { 'Fn::GetAtt': [expect.stringMatching(/^AccessLogs/), 'Arn'] }] },
          ],
        },
        MetricTransformations: [
          {
            MetricNamespace: 'Conductor',
            MetricName: 'GatewayUnauthorized',
            MetricValue: '1',
            Dimensions: [{ Key: 'Route', Value: '$.routeKey' }],
          },
        ],
      });
    });

    it('are graphed on the dashboard of every pillar with token routes, one line per route', () => {
      const dashboards = Object.values(synth.flatApiTemplate.findResources('AWS::CloudWatch::Dashboard'));
      for (const pillar of PILLARS) {
        const name = dashboardNameOf(pillar);
        const jwtRoutes = pillar.functions.flatMap((fn) => fn.routes ?? []).filter((r) => r.auth === 'jwt');
        if (name === false || jwtRoutes.length === 0) continue;
        const body = JSON.stringify(
          dashboards.find((d) => d.Properties.DashboardName === `conductor-prod-${name}`)?.Properties
            .DashboardBody,
        );
        for (const route of jwtRoutes) {
          expect(body, `${name}: ${routeKeyOf(route)}`).toContain(
            `\\"Conductor\\",\\"GatewayUnauthorized\\",\\"Route\\",\\"${routeKeyOf(route)}\\"`,
          );
        }
      }
    });
  });
});

describe('Alerts of a new pillar, with no code of its own', () => {
  const _route = LEDGER_ROUTE;
  const ledger = LEDGER;

  let synth: Synthesized;
  beforeAll(() => {
    synth = synthPillars([...PILLARS, ledger]);
  });
  afterAll(() => synth?.dispose());

  it('gets its route, function, table and queue alarms', () => {
    // Its own alarms in its nested stack, its queue's beside the queue in the stateful stack.
    const names = [synth.statefulTemplate, synth.pillarTemplate('ledger')].flatMap((template) =>
      Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName),
    );
    expect(names).toEqual(
      expect.arrayContaining([
        'conductor-test-ledger-listEntries-5xx-ratio',
        'conductor-test-ledger-lambda-errors',
        'conductor-test-ledger-lambda-throttles',
        'conductor-test-ledger-table-throttles',
        'conductor-test-ledger-policy-deny-spike',
        'conductor-test-ledger-policy-denies-high',
        'conductor-test-ledger-entries-dlq-not-empty',
        'conductor-test-ledger-entries-dlq-oldest-message-age',
        'conductor-test-ledger-entries-oldest-message-age',
        'conductor-test-ledger-entries-depth-anomaly',
        'conductor-test-ledger-entries-depth-high',
      ]),
    );
  });
});
