import { KMSClient } from '@aws-sdk/client-kms';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

export const makeKmsClient = (options: ClientOptions): KMSClient =>
  instrumented(options, new KMSClient(sdkConfig(options)));
