import { SQSClient } from '@aws-sdk/client-sqs';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

export const makeSqsClient = (options: ClientOptions): SQSClient =>
  instrumented(options, new SQSClient(sdkConfig(options)));
