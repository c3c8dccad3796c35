import { S3Client } from '@aws-sdk/client-s3';
import { type ClientOptions, instrumented, sdkConfig } from './clients.js';

export const makeS3Client = (options: ClientOptions): S3Client =>
  instrumented(options, new S3Client({ ...sdkConfig(options), forcePathStyle: Boolean(options.endpoint) }));
