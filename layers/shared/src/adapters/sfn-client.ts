import { SFNClient } from '@aws-sdk/client-sfn';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

export const makeSfnClient = (options: ClientOptions): SFNClient =>
  instrumented(options, new SFNClient(sdkConfig(options)));
