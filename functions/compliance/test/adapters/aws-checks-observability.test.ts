import { ApiGatewayV2Client, GetRoutesCommand } from '@aws-sdk/client-apigatewayv2';
import { CloudWatchClient, DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient, DescribeLogGroupsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { apiRoutesAuthorized, dlqAlarmed, logRetention } from '../../src/adapters/aws-checks.js';

const logs = mockClient(CloudWatchLogsClient);
const apigateway = mockClient(ApiGatewayV2Client);
const cloudwatch = mockClient(CloudWatchClient);
const sqs = mockClient(SQSClient);
const now = new Date('2026-12-07T00:00:00Z');

beforeEach(() => {
  logs.reset();
  apigateway.reset();
  cloudwatch.reset();
  sqs.reset();
});

describe('aws.log-retention (the acceptance scenario: SOC2 CC6.1 needs log-retention evidence)', () => {
  it('reads every page of each prefix, and fails a group kept too briefly or forever, naming it', async () => {
    logs
      .on(DescribeLogGroupsCommand, { logGroupNamePrefix: '/aws/lambda/conductor-prod-' })
      .resolvesOnce({
        logGroups: [{ logGroupName: '/aws/lambda/conductor-prod-router', retentionInDays: 30 }],
        nextToken: 'p2',
      })
      .resolvesOnce({
        logGroups: [{ logGroupName: '/aws/lambda/conductor-prod-reward', retentionInDays: 7 }],
      });
    logs
      .on(DescribeLogGroupsCommand, { logGroupNamePrefix: 'Conductor-prod-Api-AccessLogs' })
      .resolves({ logGroups: [{ logGroupName: 'Conductor-prod-Api-AccessLogs1' }] });

    const outcome = await logRetention(logs as never, [
      '/aws/lambda/conductor-prod-',
      'Conductor-prod-Api-AccessLogs',
    ]).run({
      now,
    });

    expect(outcome.status).toBe('fail');
    expect(outcome.summary).toBe(
      '3 log groups: /aws/lambda/conductor-prod-reward keeps logs 30 days or more, not forever; Conductor-prod-Api-AccessLogs1 keeps logs 30 days or more, not forever',
    );
    expect(logs.commandCalls(DescribeLogGroupsCommand)[1]?.args[0].input).toMatchObject({ nextToken: 'p2' });
  });

  it('fails when it finds no log group at all (a wrong prefix is not a pass)', async () => {
    logs.on(DescribeLogGroupsCommand).resolves({ logGroups: [] });
    expect((await logRetention(logs as never, ['/aws/lambda/nothing-']).run({ now })).status).toBe('fail');
  });
});

describe('aws.api-routes-authorized', () => {
  it('passes JWT routes and the declared public ones, and names an open route', async () => {
    apigateway.on(GetRoutesCommand).resolves({
      Items: [
        { RouteKey: 'POST /api/conductor/v1/router/route', AuthorizationType: 'JWT' },
        { RouteKey: 'GET /api/conductor/v1/health', AuthorizationType: 'NONE' },
        { RouteKey: 'GET /api/conductor/v1/experts', AuthorizationType: 'NONE' },
      ],
    });

    const outcome = await apiRoutesAuthorized(apigateway as never, 'api123', [
      'GET /api/conductor/v1/health',
    ]).run({ now });

    expect(outcome).toMatchObject({
      status: 'fail',
      summary: '3 routes of API api123: GET /api/conductor/v1/experts is not behind the JWT authorizer',
    });
    expect(apigateway.commandCalls(GetRoutesCommand)[0]?.args[0].input).toEqual({ ApiId: 'api123' });
  });
});

describe('aws.dlq-alarmed', () => {
  it('needs an enabled alarm with actions on each DLQ’s visible messages, and reports the depth', async () => {
    cloudwatch.on(DescribeAlarmsCommand).resolves({
      MetricAlarms: [
        {
          AlarmName: 'conductor-prod-rewards-dlq-not-empty',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: 'conductor-prod-rewards-dlq' }],
          ActionsEnabled: true,
          AlarmActions: ['arn:aws:sns:eu-west-1:123456789012:conductor-prod-tickets'],
        },
        {
          AlarmName: 'silent',
          MetricName: 'ApproximateNumberOfMessagesVisible',
          Dimensions: [{ Name: 'QueueName', Value: 'conductor-prod-jobs-dlq' }],
          ActionsEnabled: false,
          AlarmActions: [],
        },
      ],
    });
    sqs.on(GetQueueAttributesCommand).resolves({ Attributes: { ApproximateNumberOfMessages: '2' } });

    const outcome = await dlqAlarmed(cloudwatch as never, sqs as never, [
      { name: 'conductor-prod-rewards-dlq', url: 'https://sqs/rewards-dlq' },
      { name: 'conductor-prod-jobs-dlq', url: 'https://sqs/jobs-dlq' },
    ]).run({ now });

    expect(outcome).toMatchObject({
      status: 'fail',
      summary: '2 dead-letter queues: conductor-prod-jobs-dlq has an alarm that notifies',
      observations: {
        queues: [
          { name: 'conductor-prod-rewards-dlq', depth: 2, alarm: 'conductor-prod-rewards-dlq-not-empty' },
          { name: 'conductor-prod-jobs-dlq', depth: 2, alarm: null },
        ],
      },
    });
  });
});
