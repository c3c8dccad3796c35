import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { makeDocumentClient } from '#shared/adapters/dynamodb-client.js';
import { standIns } from '#shared/ports/stand-ins.js';
import { systemClock } from '#shared/ports/system.js';

/**
 * A function for the API worker pool's tests (infra/local/test/api-workers.test.ts): what it does is
 * the event's `action`, so one module shows each path across the thread boundary.
 */
interface FixtureEvent {
  readonly action: 'echo' | 'now' | 'throw' | 'exit' | 'dynamo' | 'flow' | 'hang' | 'thread';
  readonly endpoint?: string;
  readonly table?: string;
  readonly id?: string;
}

/** A value each instance of this module draws once: two workers have two instances. */
const instance = Math.random();

export const handler = async (event: FixtureEvent, context: { functionName: string }) => {
  switch (event.action) {
    case 'echo':
      return { event, functionName: context.functionName };
    case 'now':
      return { now: systemClock.now().getTime() };
    case 'thread':
      return { instance };
    case 'throw':
      throw new Error('the fixture failed');
    case 'exit':
      process.exit(3);
      return undefined;
    case 'hang':
      return new Promise(() => undefined);
    case 'flow': {
      const flow = standIns().approvalFlow;
      if (!flow) throw new Error('no approval flow stand-in');
      return flow.start({ runbook: 'r1' }, `exec-${event.id}`);
    }
    case 'dynamo': {
      const doc = makeDocumentClient({ region: 'us-east-1', endpoint: event.endpoint });
      const key = { pk: `fixture#${event.id}`, sk: 'item' };
      await doc.send(
        new PutCommand({
          TableName: event.table,
          Item: { ...key, value: 42 },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      const read = await doc.send(new GetCommand({ TableName: event.table, Key: key, ConsistentRead: true }));
      let conditionFailed = false;
      try {
        await doc.send(
          new PutCommand({
            TableName: event.table,
            Item: key,
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      } catch (error) {
        conditionFailed = error instanceof ConditionalCheckFailedException;
      }
      return { item: read.Item, conditionFailed };
    }
  }
};
