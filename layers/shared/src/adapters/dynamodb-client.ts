import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

/** A DynamoDB document client: plain JS values in and out, undefined attributes dropped. */
export const makeDocumentClient = (options: ClientOptions): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(instrumented(options, new DynamoDBClient(sdkConfig(options))), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });

export const makeDynamoDbClient = (options: ClientOptions): DynamoDBClient =>
  instrumented(options, new DynamoDBClient(sdkConfig(options)));
