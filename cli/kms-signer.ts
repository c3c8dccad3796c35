import { UsageError } from './command.js';

/**
 * The runbooks' KmsSigner of `keyIdOrAlias` (an RSA key making RSASSA_PSS_SHA_256 signatures; an
 * alias resolved once), with the caller's AWS credentials and region (`env`), loaded only when asked
 * for. A missing region or a key KMS refuses is a usage error naming `--kms-key`.
 */
export const kmsSignerOf = async (
  keyIdOrAlias: string,
  env: Readonly<Record<string, string | undefined>>,
) => {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError('--kms-key needs AWS_REGION (and AWS credentials) in the environment');
  const [{ makeKmsClient }, { KmsSigner }] = await Promise.all([
    import('#shared/adapters/kms-client.js'),
    import('../functions/runbooks/src/adapters/kms-signer.js'),
  ]);
  try {
    return await KmsSigner.forKey(makeKmsClient({ region }), keyIdOrAlias);
  } catch (error) {
    throw new UsageError(
      `--kms-key ${keyIdOrAlias}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
};
