import type { Server } from 'node:http';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveInProcess } from '#shared/adapters/clients.js';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { makeSqsClient } from '#shared/adapters/sqs-client.js';
import { type TableSpec, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { type RunningAwsEndpoint, startAwsEndpoint } from '../aws-endpoint.js';
import { LocalEventBus } from '../bus.js';
import { ensureTables, type LocalDynamo, localTableName, startLocalDynamo } from '../dynamodb.js';
import { InProcessHttpHandler } from '../in-process-transport.js';
import { LocalQueue } from '../queue.js';

const TABLE = tablesOf(PILLARS)[0] as TableSpec;
const tableName = localTableName(TABLE);
let dynamo: LocalDynamo;
let aws: RunningAwsEndpoint;
const bus = new LocalEventBus({ name: 'conductor' });
const queue = new LocalQueue({ name: 'transport-jobs' });
/** TCP connections each stand-in's server accepted: the in-process transport opens none. */
const connections = { dynamo: 0, aws: 0 };

const countConnections = (server: Server, key: keyof typeof connections) =>
  server.on('connection', () => {
    connections[key] += 1;
  });

beforeAll(async () => {
  dynamo = await startLocalDynamo({});
  await ensureTables(dynamo.endpoint, [TABLE]);
  aws = await startAwsEndpoint({ bus, queues: new Map([[queue.name, queue]]) });
  countConnections(dynamo.server, 'dynamo');
  countConnections(aws.server, 'aws');
});
afterAll(async () => {
  queue.close();
  await bus.stop();
  await aws.close();
  await dynamo.close();
});

const item = (sk: string) => ({
  pk: 'acme#DOC',
  sk,
  text: 'héllo wörld',
  n: 42,
  nested: { list: [1, 'two', { three: true }], blob: 'x'.repeat(20_000) },
});

describe('the in-process transport to the local stand-ins', () => {
  it('serves the real SDK clients without a socket: items, typed errors and queries as over HTTP', async () => {
    const stop = serveInProcess(dynamo.endpoint, new InProcessHttpHandler(dynamo.server));
    const before = connections.dynamo;
    try {
      const client = makeDocumentClient({ region: 'us-east-1', endpoint: dynamo.endpoint });
      await client.send(new PutCommand({ TableName: tableName, Item: item('a') }));
      const read = await client.send(
        new GetCommand({ TableName: tableName, Key: { pk: 'acme#DOC', sk: 'a' } }),
      );
      expect(read.Item).toEqual(item('a'));

      const again = client.send(
        new PutCommand({
          TableName: tableName,
          Item: item('a'),
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      await expect(again).rejects.toBeInstanceOf(ConditionalCheckFailedException);
      expect(connections.dynamo).toBe(before);

      // The same query over loopback HTTP (a client created while nothing is served in process).
      stop();
      await client.send(new PutCommand({ TableName: tableName, Item: item('b') }));
      const overHttp = makeDocumentClient({ region: 'us-east-1', endpoint: dynamo.endpoint });
      const query = new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': 'acme#DOC' },
      });
      const viaHttp = await overHttp.send(query);
      expect(connections.dynamo).toBeGreaterThan(before);
      const viaProcess = await client.send(query);
      expect(viaProcess.Items).toEqual(viaHttp.Items);
      expect(viaProcess.Items).toHaveLength(2);
    } finally {
      stop();
    }
  });

  it('serves the SQS protocol of the local AWS endpoint, errors included', async () => {
    const stop = serveInProcess(aws.url, new InProcessHttpHandler(aws.server));
    const before = connections.aws;
    try {
      const sqs = makeSqsClient({ region: 'us-east-1', endpoint: aws.url });
      const QueueUrl = aws.queueUrl(queue.name);
      const sent = await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: '{"job":1}' }));
      expect(sent.MessageId).toBeTruthy();
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1 }));
      expect(got.Messages?.[0]?.Body).toBe('{"job":1}');

      const missing = sqs.send(
        new SendMessageCommand({ QueueUrl: aws.queueUrl('no-such-queue'), MessageBody: 'x' }),
      );
      await expect(missing).rejects.toMatchObject({ name: expect.stringMatching(/QueueDoesNotExist/) });
      expect(connections.aws).toBe(before);
    } finally {
      stop();
    }
  });

  it('stops serving a client created after its endpoint is withdrawn', async () => {
    const stop = serveInProcess(dynamo.endpoint, new InProcessHttpHandler(dynamo.server));
    stop();
    const before = connections.dynamo;
    const client = makeDocumentClient({ region: 'us-east-1', endpoint: dynamo.endpoint });
    await client.send(new GetCommand({ TableName: tableName, Key: { pk: 'acme#DOC', sk: 'a' } }));
    expect(connections.dynamo).toBeGreaterThan(before);
  });
});
