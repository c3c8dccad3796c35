import type { S3Client } from '@aws-sdk/client-s3';
import { meterClient } from './call-meter.js';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

/** The S3 client, with the SDK loaded on first use (see worm.ts: only archive paths need it). */
export const makeS3Client = async (options: ClientOptions): Promise<S3Client> => {
  const { S3Client } = await import('@aws-sdk/client-s3');
  return instrumented(
    options,
    meterClient(
      new S3Client({ ...sdkConfig(options), forcePathStyle: Boolean(options.endpoint) }),
      's3',
      () => ({
        requests: 1,
      }),
    ),
  );
};
