/**
 * The manifests' workflows on AWS (the runbook approval flow today): the state machine CDK deploys is
 * the definition the embedded runtime interprets, its task functions are invoked by it alone, its
 * starters get exactly start, describe and task-token rights, the status changes reach their function
 * through an EventBridge rule with retries and a DLQ, its alarms and dashboard exist, and the step
 * role of `runbookStepRole` functions allows exactly the deployment's allow-lists, to that function
 * alone.
 */
import { App, Stack } from 'aws-cdk-lib';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  functionsOf,
  type PillarManifest,
  RUNBOOK_ALLOWED_AWS_APIS_ENV,
  RUNBOOK_ALLOWED_LAMBDAS_ENV,
  RUNBOOK_STEP_ROLE_ENV,
  receivesRunbookAllowLists,
  workflowKeyOf,
  workflowsOf,
} from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { runbooksPillar } from '../../../functions/runbooks/pillar.js';
import {
  approvalFlowDefinition,
  PLACEHOLDER_FUNCTION_ARNS,
  resolveIntrinsics,
} from '../../../functions/runbooks/src/workflow/approval-flow.js';
import { WORKFLOWS } from '../../workflows.js';
import { RESERVED_CONCURRENCY } from '../lib/api-stack.js';
import { buildApp, propsFromContext } from '../lib/app.js';
import { STATUS_CHANGE_DETAIL_TYPE, WORKFLOW_END_STATUSES } from '../lib/workflow.js';
import { LEDGER } from './ledger-pillar.js';
import {
  actionsOf,
  allPolicyStatements,
  flatTemplateOf,
  type PolicyStatement,
  resourcesOf,
  type Synthesized,
  synthConductor,
  synthPillars,
} from './synth.js';

const FUNCTIONS = functionsOf(PILLARS);
const [APPROVAL_FLOW] = runbooksPillar.workflows;
const KEY = workflowKeyOf(runbooksPillar, APPROVAL_FLOW);
const MACHINE_NAME = 'conductor-prod-runbooks-approval-flow';
const TASK_FUNCTIONS = Object.values(APPROVAL_FLOW.tasks);

const ALLOWED_LAMBDAS = ['ops-restart-service', 'ops-drain-node'];
const ALLOWED_AWS_APIS = ['ecs:UpdateService', 'autoscaling:SetDesiredCapacity'];

type Resources = Record<string, { Type: string; Properties: Record<string, unknown> }>;
type Statement = PolicyStatement & { readonly Condition?: unknown; readonly Principal?: unknown };

/** A scratch app (no bundling, no cdk-nag) for tests that only build. */
const quickBuild = (props: Parameters<typeof buildApp>[1] = {}) =>
  buildApp(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), { nag: false, ...props });

describe('the runbook approval flow on AWS', () => {
  let synth: Synthesized;
  let resources: Resources;

  beforeAll(() => {
    // With allow-lists; Template.fromStack runs cdk-nag and throws on any unacknowledged finding.
    synth = synthConductor({
      props: { runbookAllowedLambdas: ALLOWED_LAMBDAS, runbookAllowedAwsApis: ALLOWED_AWS_APIS },
    });
    resources = synth.flatApiTemplate.toJSON().Resources as Resources;
  });
  afterAll(() => synth?.dispose());

  const workflow = () => {
    const found = synth.api.pillars.runbooks?.workflows[APPROVAL_FLOW.id];
    if (!found) throw new Error('no approval flow');
    return found;
  };
  const logicalIdOf = (construct: { node: { defaultChild?: unknown } }) =>
    synth.logicalIdOf(construct.node.defaultChild as never);
  const machineId = () => logicalIdOf(workflow().stateMachine);
  const fnOf = (name: string) => {
    const fn = synth.api.functions[name];
    if (!fn) throw new Error(`no function ${name}`);
    return fn;
  };
  const aliasIdOf = (name: string) => logicalIdOf(fnOf(name).alias);
  const roleIdOf = (name: string) => logicalIdOf(fnOf(name).role);
  const variablesOf = (name: string): Record<string, unknown> => {
    const resource = resources[synth.logicalIdOf(fnOf(name).function.node.defaultChild as CfnFunction)];
    if (!resource) throw new Error(`no Lambda resource for ${name}`);
    return (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  };
  /** Every statement of the policies attached to a role (by its logical id). */
  const statementsOfRole = (roleId: string): Statement[] =>
    Object.values(resources)
      .filter(
        (r) =>
          r.Type === 'AWS::IAM::Policy' &&
          (r.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === `{"Ref":"${roleId}"}`),
      )
      .flatMap((r) => (r.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  const mentions = (statement: PolicyStatement, logicalId: string) =>
    JSON.stringify(resourcesOf(statement)).includes(`"${logicalId}"`);

  describe('the definition', () => {
    it('is the one the embedded runtime interprets: the DefinitionString deep-equals WORKFLOWS[runbooks/approval-flow].definition(), ARNs normalised', () => {
      // Prepare: each task's live alias stands for the placeholder ARN of its role.
      const refs = Object.fromEntries(
        Object.entries(APPROVAL_FLOW.tasks).map(([role, name]) => [
          aliasIdOf(name),
          PLACEHOLDER_FUNCTION_ARNS[role as keyof typeof PLACEHOLDER_FUNCTION_ARNS],
        ]),
      );

      // Act
      const synthesized = JSON.parse(
        String(resolveIntrinsics(resources[machineId()]?.Properties.DefinitionString, refs)),
      );

      // Assess
      expect(synthesized).toEqual(WORKFLOWS[KEY]?.definition());
      expect(WORKFLOWS[KEY]?.definition()).toEqual(approvalFlowDefinition());
    });

    it('invokes each task function through its live alias, never $LATEST', () => {
      const text = JSON.stringify(resources[machineId()]?.Properties.DefinitionString);
      for (const name of TASK_FUNCTIONS) {
        expect(text, name).toContain(`{"Ref":"${aliasIdOf(name)}"}`);
        expect(text, name).not.toContain(
          synth.logicalIdOf(fnOf(name).function.node.defaultChild as CfnFunction),
        );
      }
    });

    it('has a definition for every workflow of the catalog, whose roles are the manifest’s tasks', () => {
      const workflows = workflowsOf(PILLARS);
      expect(workflows.map((w) => `${w.pillar}/${w.id}`)).toEqual([KEY]);
      for (const spec of workflows) {
        expect([...(WORKFLOWS[`${spec.pillar}/${spec.id}`]?.roles ?? [])].sort()).toEqual(
          Object.keys(spec.tasks).sort(),
        );
      }
    });
  });

  describe('the state machine', () => {
    it('is STANDARD, named conductor-<stage>-<pillar>-<id>, traced, and logs every event without execution data to its own log group', () => {
      const machine = resources[machineId()];
      const logsId = logicalIdOf(workflow().logGroup);
      expect(machine?.Type).toBe('AWS::StepFunctions::StateMachine');
      expect(machine?.Properties).toMatchObject({
        StateMachineName: MACHINE_NAME,
        StateMachineType: 'STANDARD',
        TracingConfiguration: { Enabled: true },
        LoggingConfiguration: {
          Level: 'ALL',
          // The task payloads carry task tokens.
          IncludeExecutionData: false,
          Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logsId, 'Arn'] } } }],
        },
      });
      expect(resources[logsId]?.Properties).toMatchObject({
        LogGroupName: `/aws/vendedlogs/states/${MACHINE_NAME}`,
        RetentionInDays: 30,
      });
    });

    it('alone may invoke the task functions: its role has lambda:InvokeFunction on their aliases, no other statement or resource policy names them', () => {
      const machineRoleId = logicalIdOf(workflow().stateMachine.role);
      const taskTargets = TASK_FUNCTIONS.flatMap((name) => [
        aliasIdOf(name),
        synth.logicalIdOf(fnOf(name).function.node.defaultChild as CfnFunction),
      ]);
      const invoking = allPolicyStatements(synth.flatApiTemplate).filter(
        ({ statement }) =>
          statement.Effect === 'Allow' &&
          actionsOf(statement).some((a) => a === 'lambda:InvokeFunction' || a === 'lambda:*' || a === '*') &&
          taskTargets.some((id) => mentions(statement, id)),
      );
      expect(invoking.map(({ where }) => where)).toEqual([
        expect.stringMatching(/^RunbooksApprovalFlowWorkflowStateMachineRole/),
      ]);
      const [only] = invoking;
      expect(resourcesOf(only?.statement as PolicyStatement)).toEqual(
        TASK_FUNCTIONS.map((name) => ({ Ref: aliasIdOf(name) })),
      );
      expect(statementsOfRole(machineRoleId).flatMap(actionsOf)).not.toContain('states:StartExecution');
      // No resource-based permission lets anyone else (a service, another account) invoke them.
      const permissions = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::Permission' &&
          taskTargets.some((id) => JSON.stringify(r.Properties.FunctionName).includes(`"${id}"`)),
      );
      expect(permissions).toEqual([]);
    });

    it('the API function cannot invoke the task functions, nor any function', () => {
      for (const name of FUNCTIONS.map((fn) => fn.name)) {
        const actions = statementsOfRole(roleIdOf(name)).flatMap(actionsOf);
        expect(
          actions.filter((a) => a.startsWith('lambda:Invoke')),
          name,
        ).toEqual([]);
      }
    });
  });

  describe('the starters', () => {
    it('give the runbooks function APPROVAL_FLOW_ARN and exactly StartExecution on the machine, DescribeExecution on its executions, SendTaskSuccess/Failure on * (no resource-level permission exists for them)', () => {
      expect(APPROVAL_FLOW.startedBy).toEqual(['runbooks']);
      expect(variablesOf('runbooks')[APPROVAL_FLOW.envVar]).toEqual({ Ref: machineId() });
      const states = statementsOfRole(roleIdOf('runbooks')).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('states:')),
      );
      expect(states).toEqual([
        { Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: machineId() } },
        {
          Action: 'states:DescribeExecution',
          Effect: 'Allow',
          Resource: {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':states:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                `:execution:${MACHINE_NAME}:*`,
              ],
            ],
          },
        },
        { Action: ['states:SendTaskFailure', 'states:SendTaskSuccess'], Effect: 'Allow', Resource: '*' },
      ]);
    });

    it('gives no other role of either stack any states: action, and no other function the machine ARN', () => {
      const withStates = [
        ...allPolicyStatements(synth.flatApiTemplate),
        ...allPolicyStatements(synth.statefulTemplate),
      ]
        .filter(({ statement }) => actionsOf(statement).some((a) => a.startsWith('states:') || a === '*'))
        .map(({ where }) => where);
      expect(withStates).toEqual([
        expect.stringMatching(/^RunbooksRoleDefaultPolicy/),
        expect.stringMatching(/^RunbooksRoleDefaultPolicy/),
        expect.stringMatching(/^RunbooksRoleDefaultPolicy/),
      ]);
      const starters: readonly string[] = APPROVAL_FLOW.startedBy;
      for (const fn of FUNCTIONS.filter((f) => !starters.includes(f.name))) {
        expect(variablesOf(fn.name)[APPROVAL_FLOW.envVar], fn.name).toBeUndefined();
      }
    });
  });

  describe('the status changes', () => {
    it('reach runbooks-flow-events through a rule on the default bus: aws.states, the status change detail type, this machine, its four end statuses', () => {
      // On the default bus (the subscriptions' rules are on Conductor's bus).
      const rules = Object.values(resources).filter(
        (r) => r.Type === 'AWS::Events::Rule' && r.Properties.EventPattern && !r.Properties.EventBusName,
      );
      expect(rules).toHaveLength(1);
      const [rule] = rules;
      expect(rule?.Properties.EventBusName).toBeUndefined();
      expect(rule?.Properties.EventPattern).toEqual({
        source: ['aws.states'],
        'detail-type': [STATUS_CHANGE_DETAIL_TYPE],
        detail: { stateMachineArn: [{ Ref: machineId() }], status: [...WORKFLOW_END_STATUSES] },
      });
      expect(STATUS_CHANGE_DETAIL_TYPE).toBe('Step Functions Execution Status Change');
      expect(WORKFLOW_END_STATUSES).toEqual(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED']);
      const dlqId = logicalIdOf(workflow().statusDeadLetterQueue as never);
      expect(rule?.Properties.Targets).toEqual([
        {
          Id: 'Target0',
          Arn: { Ref: aliasIdOf('runbooks-flow-events') },
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 86400 },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlqId, 'Arn'] } },
        },
      ]);
    });

    it('put what the function failed on three times on the same DLQ (the alias’s on-failure destination), which only EventBridge (for this rule) and the function may send to', () => {
      const dlqId = logicalIdOf(workflow().statusDeadLetterQueue as never);
      const configs = Object.values(resources).filter(
        (r) =>
          r.Type === 'AWS::Lambda::EventInvokeConfig' &&
          JSON.stringify(r.Properties.Qualifier).includes(aliasIdOf('runbooks-flow-events')),
      );
      expect(configs).toHaveLength(1);
      expect(configs[0]?.Properties).toMatchObject({
        MaximumRetryAttempts: 2,
        MaximumEventAgeInSeconds: 6 * 3600,
        DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlqId, 'Arn'] } } },
      });
      expect(JSON.stringify(configs[0]?.Properties.Qualifier)).toContain(aliasIdOf('runbooks-flow-events'));
      const sending = allPolicyStatements(synth.flatApiTemplate).filter(
        ({ statement }) =>
          statement.Effect === 'Allow' &&
          mentions(statement, dlqId) &&
          actionsOf(statement).includes('sqs:SendMessage'),
      );
      expect(sending.map(({ where }) => where).sort()).toEqual([
        expect.stringMatching(/^RunbooksApprovalFlowWorkflowStatusChangesDeadLetterQueuePolicy/),
        expect.stringMatching(/^RunbooksFlowEventsRoleDefaultPolicy/),
      ]);
      const fromFunction = sending.find(({ where }) => where.startsWith('RunbooksFlowEvents'));
      expect(actionsOf(fromFunction?.statement as PolicyStatement)).toEqual(['sqs:SendMessage']);
      const fromRule = sending.find(({ where }) => where.includes('QueuePolicy'))?.statement as Statement;
      expect(fromRule.Principal).toEqual({ Service: 'events.amazonaws.com' });
      expect(JSON.stringify(fromRule.Condition)).toContain('aws:SourceArn');
    });

    it('may invoke runbooks-flow-events: the one resource permission on its alias, for events.amazonaws.com from this rule, under a logical id without the pillar construct', () => {
      const ruleId = logicalIdOf(workflow().statusChanges as never);
      const permissions = Object.entries(resources).filter(
        ([, r]) =>
          r.Type === 'AWS::Lambda::Permission' &&
          JSON.stringify(r.Properties.FunctionName) ===
            JSON.stringify({ Ref: aliasIdOf('runbooks-flow-events') }),
      );
      expect(permissions).toEqual([
        [
          `${ruleId}InvokePermission`,
          {
            Type: 'AWS::Lambda::Permission',
            Properties: {
              Action: 'lambda:InvokeFunction',
              FunctionName: { Ref: aliasIdOf('runbooks-flow-events') },
              Principal: 'events.amazonaws.com',
              SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
            },
          },
        ],
      ]);
    });

    it('keep the DLQ 14 days, encrypted (SSE-SQS) and TLS only', () => {
      const dlqId = logicalIdOf(workflow().statusDeadLetterQueue as never);
      expect(resources[dlqId]?.Properties).toMatchObject({
        SqsManagedSseEnabled: true,
        MessageRetentionPeriod: 1_209_600,
      });
      const policy = Object.values(resources).find(
        (r) => r.Type === 'AWS::SQS::QueuePolicy' && JSON.stringify(r.Properties.Queues).includes(dlqId),
      );
      expect(JSON.stringify(policy?.Properties.PolicyDocument)).toContain('"aws:SecureTransport":"false"');
    });
  });

  describe('alarms and dashboard', () => {
    const alarmsByName = () =>
      Object.fromEntries(
        Object.values(resources)
          .filter((r) => r.Type === 'AWS::CloudWatch::Alarm')
          .map((r) => [String(r.Properties.AlarmName), r.Properties]),
      );

    it('ticket timed-out, aborted and throttled executions on the state machine’s metrics, and the status DLQ', () => {
      const alarms = alarmsByName();
      const onMachine = {
        Namespace: 'AWS/States',
        Dimensions: [{ Name: 'StateMachineArn', Value: { Ref: machineId() } }],
      };
      expect(alarms[`${MACHINE_NAME}-executions-timed-out`]).toMatchObject({
        ...onMachine,
        MetricName: 'ExecutionsTimedOut',
        Threshold: 1,
        Period: 300,
      });
      expect(alarms[`${MACHINE_NAME}-executions-aborted`]).toMatchObject({
        ...onMachine,
        MetricName: 'ExecutionsAborted',
        Threshold: 1,
      });
      expect(alarms[`${MACHINE_NAME}-executions-throttled`]).toMatchObject({
        ...onMachine,
        MetricName: 'ExecutionThrottled',
        Threshold: 10,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 2,
      });
      const dlqName = {
        Name: 'QueueName',
        Value: { 'Fn::GetAtt': [logicalIdOf(workflow().statusDeadLetterQueue as never), 'QueueName'] },
      };
      expect(alarms[`${MACHINE_NAME}-status-dlq-not-empty`]).toMatchObject({
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [dlqName],
        Threshold: 1,
      });
      expect(alarms[`${MACHINE_NAME}-status-dlq-oldest-message-age`]).toMatchObject({
        MetricName: 'ApproximateAgeOfOldestMessage',
        Threshold: 7 * 24 * 3600,
      });
      for (const suffix of ['timed-out', 'aborted', 'throttled']) {
        expect(JSON.stringify(alarms[`${MACHINE_NAME}-executions-${suffix}`]?.AlarmActions)).toContain(
          'TicketTopic',
        );
      }
    });

    it('ticket RunbookExecutionFailed of runbooks-flow-events (the failures that are faults; rejections are outcomes)', () => {
      expect(alarmsByName()['conductor-prod-runbooks-runbook-execution-failed']).toMatchObject({
        Namespace: 'Conductor',
        MetricName: 'RunbookExecutionFailed',
        Dimensions: [{ Name: 'service', Value: 'runbooks-flow-events' }],
        Threshold: 1,
        Period: 60,
      });
    });

    it('graph executions started, succeeded, failed, timed out and aborted, throttles and the status DLQ on the runbooks dashboard', () => {
      const dashboard = Object.values(resources).find(
        (r) =>
          r.Type === 'AWS::CloudWatch::Dashboard' && r.Properties.DashboardName === 'conductor-prod-runbooks',
      );
      const body = JSON.stringify(dashboard?.Properties.DashboardBody);
      for (const text of [
        `Workflows: ${MACHINE_NAME}`,
        'ExecutionsStarted',
        'ExecutionsSucceeded',
        'ExecutionsFailed',
        'ExecutionsTimedOut',
        'ExecutionsAborted',
        'ExecutionThrottled',
        'Status DLQ visible messages (Maximum): approval-flow',
        // The alarm status widget shows the workflow's alarms.
        'ObservabilityRunbooksApprovalFlowExecutionsTimedOutAlarm',
        'ObservabilityRunbooksApprovalFlowStatusDeadLetterQueueNotEmptyAlarm',
      ]) {
        expect(body, text).toContain(text);
      }
    });
  });

  describe('reserved concurrency', () => {
    it('reserves 10 for each task function (a throttle fails the state) and 2 for the status-change function', () => {
      expect(RESERVED_CONCURRENCY.workflowTask).toBe(10);
      expect(synth.api.reservedConcurrency['runbooks-approval-request']).toBe(10);
      expect(synth.api.reservedConcurrency['runbooks-run-steps']).toBe(10);
      expect(synth.api.reservedConcurrency['runbooks-flow-events']).toBe(
        RESERVED_CONCURRENCY.workflowStatusChanges,
      );
      expect(Object.values(synth.api.reservedConcurrency).reduce((a, b) => a + b, 0)).toBe(686);
    });
  });

  describe('the step role', () => {
    const stepRoleId = () => {
      const role = synth.api.pillars.runbooks?.stepRoles['runbooks-run-steps'];
      if (!role) throw new Error('no step role');
      return logicalIdOf(role);
    };

    it('trusts the runbooks-run-steps role only', () => {
      expect(resources[stepRoleId()]?.Properties.AssumeRolePolicyDocument).toEqual({
        Version: '2012-10-17',
        Statement: [
          {
            Action: 'sts:AssumeRole',
            Effect: 'Allow',
            Principal: { AWS: { 'Fn::GetAtt': [roleIdOf('runbooks-run-steps'), 'Arn'] } },
          },
        ],
      });
    });

    it('may be assumed by runbooks-run-steps alone (sts:AssumeRole on that role only), with no sts:TagSession anywhere', () => {
      const assuming = allPolicyStatements(synth.flatApiTemplate).filter(({ statement }) =>
        actionsOf(statement).some((a) => a.startsWith('sts:')),
      );
      expect(assuming.map(({ where, statement }) => [where.replace(/[A-F0-9]{8}$/, ''), statement])).toEqual([
        [
          'RunbooksRunStepsRoleDefaultPolicy',
          { Action: 'sts:AssumeRole', Effect: 'Allow', Resource: { 'Fn::GetAtt': [stepRoleId(), 'Arn'] } },
        ],
      ]);
      expect(variablesOf('runbooks-run-steps')[RUNBOOK_STEP_ROLE_ENV]).toEqual({
        'Fn::GetAtt': [stepRoleId(), 'Arn'],
      });
      for (const fn of FUNCTIONS.filter((f) => !f.runbookStepRole)) {
        expect(variablesOf(fn.name)[RUNBOOK_STEP_ROLE_ENV], fn.name).toBeUndefined();
      }
    });

    it('allows exactly the allow-lists: lambda:InvokeFunction on the listed functions of this account and region, the listed actions on *', () => {
      const arn = (name: string) => ({
        'Fn::Join': [
          '',
          [
            'arn:',
            { Ref: 'AWS::Partition' },
            ':lambda:',
            { Ref: 'AWS::Region' },
            ':',
            { Ref: 'AWS::AccountId' },
            `:function:${name}`,
          ],
        ],
      });
      // CDK sorts the resources and actions of a statement.
      expect(statementsOfRole(stepRoleId())).toEqual([
        { Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: [...ALLOWED_LAMBDAS].sort().map(arn) },
        { Action: [...ALLOWED_AWS_APIS].sort(), Effect: 'Allow', Resource: '*' },
      ]);
      expect(resources[stepRoleId()]?.Properties.ManagedPolicyArns).toBeUndefined();
      expect(resources[stepRoleId()]?.Properties.Policies).toBeUndefined();
    });

    it('gives the allow-lists (comma-separated) to the functions that check runbooks or run their steps, and to no other', () => {
      for (const fn of FUNCTIONS) {
        const variables = variablesOf(fn.name);
        const receives = receivesRunbookAllowLists(fn);
        expect(variables[RUNBOOK_ALLOWED_LAMBDAS_ENV], fn.name).toEqual(
          receives ? ALLOWED_LAMBDAS.join(',') : undefined,
        );
        expect(variables[RUNBOOK_ALLOWED_AWS_APIS_ENV], fn.name).toEqual(
          receives ? ALLOWED_AWS_APIS.join(',') : undefined,
        );
      }
      expect(FUNCTIONS.filter(receivesRunbookAllowLists).map((fn) => fn.name)).toEqual([
        'runbooks',
        'runbooks-run-steps',
      ]);
    });
  });
});

describe('the step role without allow-lists', () => {
  it('has no policy at all (cdk-nag asks nothing of an empty role), and the functions get empty lists', () => {
    const { api } = quickBuild();
    const role = api.pillars.runbooks?.stepRoles['runbooks-run-steps'];
    if (!role) throw new Error('no step role');
    // Wherever the runbooks pillar is built: the logical ids of its stack, the API as one template.
    const idOf = (element: unknown) => Stack.of(role).getLogicalId(element as never);
    const roleId = idOf(role.node.defaultChild);
    const template = flatTemplateOf(api).toJSON() as { Resources: Resources };
    const attached = Object.values(template.Resources).filter(
      (r) => r.Type === 'AWS::IAM::Policy' && JSON.stringify(r.Properties.Roles).includes(`"${roleId}"`),
    );
    expect(attached).toEqual([]);
    const runSteps =
      template.Resources[idOf(api.functions['runbooks-run-steps']?.function.node.defaultChild)];
    if (!runSteps) throw new Error('no runbooks-run-steps function');
    const variables = (runSteps.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
    expect(variables[RUNBOOK_ALLOWED_LAMBDAS_ENV]).toBe('');
    expect(variables[RUNBOOK_ALLOWED_AWS_APIS_ENV]).toBe('');
  });
});

describe('the allow-lists from context', () => {
  const contextOf = (context: Record<string, unknown>) => propsFromContext(new App({ context }).node);

  it('reads comma-separated text and cdk.json lists, trimmed, without duplicates', () => {
    expect(
      contextOf({ runbookAllowedLambdas: ' a-fn , b_fn,a-fn', runbookAllowedAwsApis: ['ecs:UpdateService'] }),
    ).toMatchObject({
      runbookAllowedLambdas: ['a-fn', 'b_fn'],
      runbookAllowedAwsApis: ['ecs:UpdateService'],
    });
    expect(contextOf({})).not.toHaveProperty('runbookAllowedLambdas');
  });

  it('refuses an ARN or a qualifier for a function, and a wildcard or a bare service for an action, naming the key', () => {
    expect(() =>
      quickBuild({ runbookAllowedLambdas: ['arn:aws:lambda:eu-west-1:123456789012:function:x'] }),
    ).toThrow(/runbookAllowedLambdas 'arn:aws:lambda:.*' is not a Lambda function name/);
    expect(() => quickBuild({ runbookAllowedLambdas: ['fn:live'] })).toThrow(/runbookAllowedLambdas/);
    for (const action of ['ecs:*', '*', 'ecs', 's3:Get*']) {
      expect(() => quickBuild({ runbookAllowedAwsApis: [action] }), action).toThrow(
        /runbookAllowedAwsApis .* no wildcard/,
      );
    }
    expect(() => contextOf({ runbookAllowedAwsApis: 3 })).toThrow(/runbookAllowedAwsApis/);
  });
});

describe('a workflow with no definition', () => {
  it('fails synth, naming the workflow and the known ones', () => {
    const pillar: PillarManifest = {
      ...LEDGER,
      workflows: [
        { id: 'audit', description: 'x', envVar: 'AUDIT_FLOW_ARN', tasks: { only: 'ledger' }, startedBy: [] },
      ],
    };
    expect(() => synthPillars([...PILLARS, pillar])).toThrow(
      "Workflow 'ledger/audit' has no definition in infra/workflows.ts; known: runbooks/approval-flow",
    );
  });
});
