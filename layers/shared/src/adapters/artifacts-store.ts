import { standIns } from '../ports/stand-ins.js';
import type { WormStore } from '../ports/worm.js';
import { makeS3Client } from './s3-client.js';
import { S3WormStore } from './s3-worm-store.js';

/**
 * The artifacts store of a function the manifest gives `artifacts` folders (eval reports, edge
 * snapshots): the embedded runtime's stand-in when it gave one, else the artifacts bucket
 * (write-once puts, as the evidence store; the bucket has Object Lock enabled without a default
 * retention). `purpose` names what is kept there, for the error of a missing bucket name.
 */
export const artifactsStore = async (
  env: {
    readonly AWS_REGION: string;
    readonly AWS_ENDPOINT_URL_S3?: string | undefined;
    readonly ARTIFACTS_BUCKET_NAME?: string | undefined;
  },
  instrument: Parameters<typeof makeS3Client>[0]['instrument'],
  purpose: string,
): Promise<WormStore> => {
  const local = standIns().artifacts;
  if (local) return local;
  if (!env.ARTIFACTS_BUCKET_NAME) {
    throw new Error(`Invalid environment: ARTIFACTS_BUCKET_NAME: required (${purpose} are written there)`);
  }
  const s3 = await makeS3Client({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_S3, instrument });
  return new S3WormStore(s3, env.ARTIFACTS_BUCKET_NAME);
};
