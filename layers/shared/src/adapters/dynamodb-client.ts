import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { meterClient } from './call-meter.js';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';
import { dynamoMeteredInput, dynamoUnits } from './dynamodb-units.js';

const makeBaseClient = (options: ClientOptions): DynamoDBClient =>
  instrumented(
    options,
    meterClient(new DynamoDBClient(sdkConfig(options)), 'dynamodb', dynamoUnits, dynamoMeteredInput),
  );

/** A DynamoDB document client: plain JS values in and out, undefined attributes dropped. */
export const makeDocumentClient = (options: ClientOptions): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(makeBaseClient(options), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });

export const makeDynamoDbClient = (options: ClientOptions): DynamoDBClient => makeBaseClient(options);
