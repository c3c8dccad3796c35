import { KMSClient } from '@aws-sdk/client-kms';
import { meterClient } from './call-meter.js';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

export const makeKmsClient = (options: ClientOptions): KMSClient =>
  instrumented(
    options,
    meterClient(new KMSClient(sdkConfig(options)), 'kms', () => ({ requests: 1 })),
  );
