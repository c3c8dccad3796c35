import { SFNClient } from '@aws-sdk/client-sfn';
import { meterClient } from './call-meter.js';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

export const makeSfnClient = (options: ClientOptions): SFNClient =>
  instrumented(
    options,
    meterClient(new SFNClient(sdkConfig(options)), 'sfn', () => ({ requests: 1 })),
  );
