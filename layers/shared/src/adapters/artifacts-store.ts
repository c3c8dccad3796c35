import { standIns } from '../ports/stand-ins.js';
import type { WormStore } from '../ports/worm.js';
import { makeS3Client } from './s3-client.js';
import { S3WormStore } from './s3-worm-store.js';

type S3Env = { readonly AWS_REGION: string; readonly AWS_ENDPOINT_URL_S3?: string | undefined };
type Instrument = Parameters<typeof makeS3Client>[0]['instrument'];

/** The embedded runtime's stand-in when it gave one, else the named bucket through S3, write-once. */
const writeOnceStore = async (
  local: WormStore | undefined,
  env: S3Env,
  bucket: { readonly envVar: string; readonly name: string | undefined },
  instrument: Instrument,
  purpose: string,
): Promise<WormStore> => {
  if (local) return local;
  if (!bucket.name) {
    throw new Error(`Invalid environment: ${bucket.envVar}: required (${purpose} are written there)`);
  }
  const s3 = await makeS3Client({ region: env.AWS_REGION, endpoint: env.AWS_ENDPOINT_URL_S3, instrument });
  return new S3WormStore(s3, bucket.name);
};

/**
 * The artifacts store of a function the manifest gives `artifacts` folders (eval reports, edge
 * snapshots): the embedded runtime's stand-in when it gave one, else the artifacts bucket
 * (write-once puts, as the evidence store; the bucket has Object Lock enabled without a default
 * retention). `purpose` names what is kept there, for the error of a missing bucket name.
 */
export const artifactsStore = (
  env: S3Env & { readonly ARTIFACTS_BUCKET_NAME?: string | undefined },
  instrument: Instrument,
  purpose: string,
): Promise<WormStore> =>
  writeOnceStore(
    standIns().artifacts,
    env,
    { envVar: 'ARTIFACTS_BUCKET_NAME', name: env.ARTIFACTS_BUCKET_NAME },
    instrument,
    purpose,
  );

/**
 * The evidence store of a function the manifest gives `evidence` folders: the embedded runtime's
 * WORM stand-in when it gave one, else the evidence (Object Lock, COMPLIANCE) bucket.
 */
export const evidenceStore = (
  env: S3Env & { readonly EVIDENCE_BUCKET_NAME?: string | undefined },
  instrument: Instrument,
  purpose: string,
): Promise<WormStore> =>
  writeOnceStore(
    standIns().worm,
    env,
    { envVar: 'EVIDENCE_BUCKET_NAME', name: env.EVIDENCE_BUCKET_NAME },
    instrument,
    purpose,
  );
