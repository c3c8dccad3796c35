/**
 * Safe deploys: every function publishes a version behind the `live` alias, which a CodeDeploy
 * deployment group moves gradually (canary) and rolls back on alarms; every function has reserved
 * concurrency sized from its manifest, within the account quota.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Alarm, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { LambdaDeploymentConfig } from 'aws-cdk-lib/aws-codedeploy';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionsOf, queuesOf, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import {
  ACCOUNT_CONCURRENCY_DEFAULT,
  ConductorApiStack,
  MIN_UNRESERVED_CONCURRENCY,
  RESERVED_CONCURRENCY,
  reservedConcurrencyOf,
} from '../lib/api-stack.js';
import { LIVE_ALIAS, REPO_ROOT, ServiceFunction } from '../lib/service-function.js';
import { ConductorStatefulStack } from '../lib/stateful-stack.js';
import { flatTemplateOf, type Synthesized, synthConductor } from './synth.js';

const FUNCTIONS = functionsOf(PILLARS);
const QUEUES = queuesOf(PILLARS);

type Resource = {
  Type: string;
  Properties: Record<string, unknown>;
  UpdatePolicy?: Record<string, unknown>;
  DependsOn?: string[];
};

/** An App with cdk.json's context and no bundling, in a scratch folder. */
const scratchApp = (): { app: App; dispose: () => void } => {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk.out-deploy-'));
  const { context } = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  const app = new App({ outdir, context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  return { app, dispose: () => rmSync(outdir, { recursive: true, force: true }) };
};

describe('safe deploys: versions, the live alias and CodeDeploy', () => {
  let synth: Synthesized;
  let resources: Record<string, Resource>;

  beforeAll(() => {
    synth = synthConductor();
    resources = synth.flatApiTemplate.toJSON().Resources as Record<string, Resource>;
  });
  afterAll(() => synth?.dispose());

  /** The logical id of a construct's resource (resolved: a version's id is a hash of its function). */
  const idOf = (construct: { node: { defaultChild?: unknown } }): string =>
    synth.api.resolve((construct.node.defaultChild as CfnElement).logicalId) as string;
  const fnOf = (name: string): ServiceFunction => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    return fn;
  };
  const ofType = (type: string): [string, Resource][] =>
    Object.entries(resources).filter(([, resource]) => resource.Type === type);

  it('gives every function a published version and the live alias on it', () => {
    expect(ofType('AWS::Lambda::Alias')).toHaveLength(FUNCTIONS.length);
    expect(ofType('AWS::Lambda::Version')).toHaveLength(FUNCTIONS.length);
    for (const entry of FUNCTIONS) {
      const fn = fnOf(entry.name);
      const alias = resources[idOf(fn.alias)];
      expect(alias?.Properties).toMatchObject({
        Name: LIVE_ALIAS,
        FunctionName: { Ref: idOf(fn.function) },
        FunctionVersion: { 'Fn::GetAtt': [idOf(fn.function.currentVersion), 'Version'] },
      });
    }
  });

  it('moves every alias with a canary deployment group of one CodeDeploy application', () => {
    const applications = ofType('AWS::CodeDeploy::Application');
    expect(applications.map(([, app]) => app.Properties)).toEqual([
      expect.objectContaining({ ApplicationName: 'conductor-prod-functions', ComputePlatform: 'Lambda' }),
    ]);
    const applicationRef = { Ref: applications[0]?.[0] };
    expect(ofType('AWS::CodeDeploy::DeploymentGroup')).toHaveLength(FUNCTIONS.length);
    for (const entry of FUNCTIONS) {
      const fn = fnOf(entry.name);
      const groupId = idOf(fn.deploymentGroup);
      expect(resources[groupId]?.Properties).toMatchObject({
        ApplicationName: applicationRef,
        DeploymentGroupName: entry.name,
        DeploymentConfigName: 'CodeDeployDefault.LambdaCanary10Percent5Minutes',
        DeploymentStyle: { DeploymentOption: 'WITH_TRAFFIC_CONTROL', DeploymentType: 'BLUE_GREEN' },
        ServiceRoleArn: { 'Fn::GetAtt': [idOf(fn.deploymentRole), 'Arn'] },
        AutoRollbackConfiguration: {
          Enabled: true,
          Events: expect.arrayContaining(['DEPLOYMENT_FAILURE', 'DEPLOYMENT_STOP_ON_ALARM']),
        },
      });
      // The alias update is what CodeDeploy runs, and it waits for the group and its role's policy.
      const alias = resources[idOf(fn.alias)];
      expect(alias?.UpdatePolicy).toEqual({
        CodeDeployLambdaAliasUpdate: {
          ApplicationName: applicationRef,
          DeploymentGroupName: { Ref: groupId },
        },
      });
      expect(alias?.DependsOn).toEqual(
        expect.arrayContaining([
          groupId,
          idOf(fn.deploymentRole),
          expect.stringMatching(/DeploymentRoleDefaultPolicy/),
        ]),
      );
    }
  });

  it('rolls every function back on errors of its newest version through the alias (a silent alarm)', () => {
    for (const entry of FUNCTIONS) {
      const fn = fnOf(entry.name);
      const alarmId = idOf(fn.deployErrorsAlarm);
      const alarm = resources[alarmId]?.Properties ?? {};
      const functionRef = { Ref: idOf(fn.function) };
      expect(alarm).toMatchObject({
        AlarmName: `conductor-prod-${entry.name}-deploy-errors`,
        Namespace: 'AWS/Lambda',
        MetricName: 'Errors',
        Statistic: 'Sum',
        Period: 60,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        EvaluationPeriods: 1,
        TreatMissingData: 'notBreaching',
      });
      expect(alarm.Dimensions).toEqual(
        expect.arrayContaining([
          { Name: 'FunctionName', Value: functionRef },
          { Name: 'Resource', Value: { 'Fn::Join': ['', [functionRef, `:${LIVE_ALIAS}`]] } },
          {
            Name: 'ExecutedVersion',
            Value: { 'Fn::GetAtt': [idOf(fn.function.currentVersion), 'Version'] },
          },
        ]),
      );
      expect(alarm.AlarmActions).toBeUndefined();
      expect(resources[idOf(fn.deploymentGroup)]?.Properties.AlarmConfiguration).toEqual({
        Enabled: true,
        Alarms: [{ Name: { Ref: alarmId } }],
      });
    }
  });

  it('lets CodeDeploy touch only the function’s alias and read only its rollback alarms', () => {
    for (const entry of FUNCTIONS) {
      const fn = fnOf(entry.name);
      const roleId = idOf(fn.deploymentRole);
      const role = resources[roleId]?.Properties ?? {};
      expect(role.AssumeRolePolicyDocument).toMatchObject({
        Statement: [
          { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'codedeploy.amazonaws.com' } },
        ],
      });
      expect(role.ManagedPolicyArns).toBeUndefined();
      const policies = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
      );
      const statements = policies.flatMap(
        (p) =>
          (p.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] }).Statement,
      );
      const fnArn = { 'Fn::GetAtt': [idOf(fn.function), 'Arn'] };
      expect(statements).toEqual([
        {
          Effect: 'Allow',
          Action: ['lambda:GetAlias', 'lambda:GetProvisionedConcurrencyConfig', 'lambda:UpdateAlias'],
          Resource: [fnArn, { 'Fn::Join': ['', [fnArn, `:${LIVE_ALIAS}`]] }],
        },
        {
          Effect: 'Allow',
          Action: 'cloudwatch:DescribeAlarms',
          Resource: { 'Fn::GetAtt': [idOf(fn.deployErrorsAlarm), 'Arn'] },
        },
      ]);
    }
  });

  it('invokes every function only through its live alias: routes, API Gateway’s permissions, queues', () => {
    const aliasIds = new Set(FUNCTIONS.map((entry) => idOf(fnOf(entry.name).alias)));
    const functionIds = new Set(FUNCTIONS.map((entry) => idOf(fnOf(entry.name).function)));
    const refsIn = (value: unknown) =>
      [...JSON.stringify(value).matchAll(/"(?:Ref|Fn::GetAtt)":\[?"([A-Za-z0-9]+)"/g)].map((m) => m[1] ?? '');
    const integrations = ofType('AWS::ApiGatewayV2::Integration');
    expect(integrations.length).toBeGreaterThan(0);
    for (const [, integration] of integrations) {
      expect(refsIn(integration.Properties.IntegrationUri).every((id) => aliasIds.has(id))).toBe(true);
    }
    // No one may invoke $LATEST: every invoke permission names an alias.
    for (const [id, permission] of ofType('AWS::Lambda::Permission')) {
      const refs = refsIn(permission.Properties.FunctionName);
      expect(`${id}: ${refs.filter((ref) => functionIds.has(ref) || !aliasIds.has(ref)).join(',')}`).toBe(
        `${id}: `,
      );
    }
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(QUEUES.length);
    for (const [, mapping] of mappings) {
      const refs = refsIn(mapping.Properties.FunctionName);
      expect(refs.length).toBe(1);
      expect(aliasIds.has(refs[0] ?? '')).toBe(true);
      expect(JSON.stringify(mapping.Properties.FunctionName)).toContain(`":${LIVE_ALIAS}"`);
    }
  });

  it('reserves every function’s concurrency from its manifest, leaving the account at least 100', () => {
    const expected: Record<string, number> = {};
    for (const pillar of PILLARS) {
      for (const spec of pillar.functions) expected[spec.name] = reservedConcurrencyOf(spec, QUEUES, pillar);
    }
    // The numbers the deploy guide documents, per today's catalog.
    expect(expected).toEqual({
      meta: RESERVED_CONCURRENCY.anonymousRoutes,
      router: RESERVED_CONCURRENCY.tokenRoutes,
      reward: 4,
      replay: 2,
      authorize: RESERVED_CONCURRENCY.tokenRoutes + 2,
      scheduler: RESERVED_CONCURRENCY.tokenRoutes,
      'scheduler-worker': 17,
      eval: RESERVED_CONCURRENCY.tokenRoutes,
      'eval-worker': 5,
      runbooks: RESERVED_CONCURRENCY.tokenRoutes,
      // The approval flow's tasks, and the function of its status changes.
      'runbooks-approval-request': RESERVED_CONCURRENCY.workflowTask,
      'runbooks-run-steps': RESERVED_CONCURRENCY.workflowTask,
      'runbooks-flow-events': RESERVED_CONCURRENCY.workflowStatusChanges,
      // The signing key's daily age check.
      'runbooks-key-age': RESERVED_CONCURRENCY.schedule,
      // Every token route an org-admin's: a handful of operators and auditors.
      ops: RESERVED_CONCURRENCY.adminRoutes,
      'edge-sync': RESERVED_CONCURRENCY.tokenRoutes,
      // And the hourly sweep, and the change events of its subscription.
      compliance:
        RESERVED_CONCURRENCY.adminRoutes + RESERVED_CONCURRENCY.schedule + RESERVED_CONCURRENCY.subscription,
    });
    expect(synth.api.reservedConcurrency).toEqual(expected);
    for (const entry of FUNCTIONS) {
      expect(resources[idOf(fnOf(entry.name).function)]?.Properties.ReservedConcurrentExecutions).toBe(
        expected[entry.name],
      );
    }
    const total = Object.values(expected).reduce((sum, n) => sum + n, 0);
    expect(total).toBeLessThanOrEqual(ACCOUNT_CONCURRENCY_DEFAULT - MIN_UNRESERVED_CONCURRENCY);
  });

  it('reserves at least the maximum concurrency of every queue a function consumes', () => {
    for (const queue of QUEUES) {
      expect(synth.api.reservedConcurrency[queue.consumer]).toBeGreaterThanOrEqual(queue.maximumConcurrency);
    }
  });
});

describe('reserved concurrency options', () => {
  const build = (props: Partial<ConstructorParameters<typeof ConductorApiStack>[2]>) => {
    const { app, dispose } = scratchApp();
    try {
      const stateful = new ConductorStatefulStack(app, 'S', {
        stage: 'test',
        tables: tablesOf(PILLARS),
        queues: QUEUES,
      });
      const api = new ConductorApiStack(app, 'A', { stage: 'test', stateful, ...props });
      // Every function of the catalog, those of the pillars' nested stacks included.
      return flatTemplateOf(api);
    } finally {
      dispose();
    }
  };
  const reservations = (template: Template) =>
    Object.values(template.findResources('AWS::Lambda::Function')).map(
      (fn) => (fn as Resource).Properties.ReservedConcurrentExecutions,
    );

  it('reserves nothing with reservedConcurrency: false (a new account limited to 10, shared accounts)', () => {
    expect(reservations(build({ reservedConcurrency: false }))).toEqual(FUNCTIONS.map(() => undefined));
  });

  it('takes a function’s number from reservedConcurrency and keeps the rule for the others', () => {
    const template = build({ reservedConcurrency: { ops: 5 } });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'ops' }) },
      ReservedConcurrentExecutions: 5,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'router' }) },
      ReservedConcurrentExecutions: RESERVED_CONCURRENCY.tokenRoutes,
    });
  });

  it('refuses a reservation for a function the catalog does not have', () => {
    expect(() => build({ reservedConcurrency: { ledger: 5 } })).toThrow(/'ledger', which is not a function/);
  });

  it('refuses reservations that would leave less than 100 of the account quota unreserved', () => {
    expect(() => build({ accountConcurrency: 500 })).toThrow(
      /leaves less than 100 of the account's 500 unreserved/,
    );
    expect(() => build({ reservedConcurrency: { router: 900 } })).toThrow(/unreserved/);
    // 686 reserved today, and 100 left unreserved.
    expect(() => build({ accountConcurrency: 785 })).toThrow(/Reserved concurrency 686 .* 785 unreserved/);
    expect(reservations(build({ accountConcurrency: 786 }))).not.toContain(undefined);
  });
});

describe('ServiceFunction deployments', () => {
  const newFunction = (props: Partial<ConstructorParameters<typeof ServiceFunction>[2]> = {}) => {
    const { app, dispose } = scratchApp();
    const stack = new Stack(app, 'S');
    const fn = new ServiceFunction(stack, 'Probe', {
      entry: 'functions/meta/src/handler.ts',
      serviceName: 'probe',
      stage: 'test',
      ...props,
    });
    return { stack, fn, dispose };
  };

  it('takes another deployment configuration (e.g. linear, or all at once for a throwaway stage)', () => {
    const { stack, dispose } = newFunction({
      deploymentConfig: LambdaDeploymentConfig.LINEAR_10PERCENT_EVERY_1MINUTE,
    });
    try {
      Template.fromStack(stack).hasResourceProperties('AWS::CodeDeploy::DeploymentGroup', {
        DeploymentConfigName: 'CodeDeployDefault.LambdaLinear10PercentEvery1Minute',
      });
    } finally {
      dispose();
    }
  });

  it('adds rollback alarms, each readable by the deployment role, up to CodeDeploy’s ten', () => {
    const { stack, fn, dispose } = newFunction();
    try {
      const extra = Array.from({ length: 9 }, (_, i) => {
        const alarm = new Alarm(stack, `Extra${i}`, {
          metric: new Metric({ namespace: 'Test', metricName: `M${i}` }),
          threshold: 1,
          evaluationPeriods: 1,
        });
        fn.addRollbackAlarm(alarm);
        return alarm;
      });
      const template = Template.fromStack(stack);
      const group = Object.values(template.findResources('AWS::CodeDeploy::DeploymentGroup'))[0] as Resource;
      expect((group.Properties.AlarmConfiguration as { Alarms: unknown[] }).Alarms).toHaveLength(10);
      const json = JSON.stringify(template.findResources('AWS::IAM::Policy'));
      for (const alarm of extra) {
        expect(json).toContain(
          JSON.stringify({ 'Fn::GetAtt': [stack.getLogicalId(alarm.node.defaultChild as never), 'Arn'] }),
        );
      }
      const eleventh = new Alarm(stack, 'Eleventh', {
        metric: new Metric({ namespace: 'Test', metricName: 'M' }),
        threshold: 1,
        evaluationPeriods: 1,
      });
      expect(() => fn.addRollbackAlarm(eleventh)).toThrow(/at most 10 rollback alarms/);
    } finally {
      dispose();
    }
  });

  it('reserves concurrency by prop, and refuses zero or a fraction', () => {
    const { stack, fn, dispose } = newFunction({ reservedConcurrency: 7 });
    try {
      expect((fn.function.node.defaultChild as CfnFunction).reservedConcurrentExecutions).toBe(7);
      expect(() => fn.reserveConcurrency(0)).toThrow(/positive integer/);
      expect(() => fn.reserveConcurrency(1.5)).toThrow(/positive integer/);
      Template.fromStack(stack).hasResourceProperties('AWS::Lambda::Function', {
        ReservedConcurrentExecutions: 7,
      });
    } finally {
      dispose();
    }
  });
});
