import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type StepContext, StepFailedError, type StepRunner } from '../domain/steps.js';
import { DEFAULT_RUNBOOK_KEY_DIR, LocalRsaSigner } from './local-signer.js';
import { type AwsApiStep, checkAllowedAction } from './step-runners.js';

/** The alias file in the key folder: `{ "<AliasName>": { "AliasName", "TargetKeyId" } }`. */
export const LOCAL_ALIASES_FILE = 'aliases.json';

export interface LocalAlias {
  readonly AliasName: string;
  readonly TargetKeyId: string;
}

export interface LocalAwsApiOptions {
  /** The local runbook-signing key folder. @default `.conductor/runbook-signing` */
  readonly directory?: string;
  /** `service:Action` names steps may call; absent: not checked (as at publish). */
  readonly allowedActions?: readonly string[];
}

/**
 * The `aws-api` runner of the embedded runtime (no AWS): a stand-in for the two KMS actions the
 * shipped key rotation (`runbooks/key-rotation.json`) uses, on the local signing key folder.
 *
 * - `kms:CreateKey` (KeySpec RSA_2048, KeyUsage SIGN_VERIFY only): a new version of the local key
 *   ({@link LocalRsaSigner.rotate}). KMS's new key is a new local version, so `KeyId` is the local
 *   key id (what signatures record) and `Arn` is `<keyId>:<version>`, naming the version; older
 *   versions' signatures stay verifiable, as an old KMS key's do.
 * - `kms:UpdateAlias`: records `{ AliasName, TargetKeyId }` in `aliases.json` (created if need be:
 *   unlike KMS, a missing alias is not an error) and answers `{}`.
 *
 * Anything else fails the step: it runs only on AWS.
 */
export class LocalAwsApi implements StepRunner<AwsApiStep> {
  readonly #directory: string;

  constructor(private readonly options: LocalAwsApiOptions = {}) {
    this.#directory = options.directory ?? DEFAULT_RUNBOOK_KEY_DIR;
  }

  async run(step: AwsApiStep, _context: StepContext): Promise<unknown> {
    checkAllowedAction(step, this.options.allowedActions);
    switch (step.action) {
      case 'kms:CreateKey':
        return this.#createKey(step);
      case 'kms:UpdateAlias':
        return this.#updateAlias(step);
      default:
        throw new StepFailedError(
          step.id,
          `${step.action} runs only on AWS: the embedded runtime has no stand-in for it`,
        );
    }
  }

  async #createKey(step: AwsApiStep): Promise<unknown> {
    const input = step.input ?? {};
    if (input.KeySpec !== 'RSA_2048' || input.KeyUsage !== 'SIGN_VERIFY')
      throw new StepFailedError(
        step.id,
        'kms:CreateKey on the embedded runtime makes only KeySpec RSA_2048 with KeyUsage SIGN_VERIFY (a runbook-signing key)',
      );
    const signer = await (await LocalRsaSigner.open(this.#directory)).rotate();
    return {
      KeyMetadata: {
        KeyId: signer.keyId,
        Arn: localKeyArnOf(signer.keyId, signer.version),
        KeySpec: 'RSA_2048',
        KeyUsage: 'SIGN_VERIFY',
        KeyState: 'Enabled',
        Description: typeof input.Description === 'string' ? input.Description : '',
      },
    };
  }

  async #updateAlias(step: AwsApiStep): Promise<unknown> {
    const { AliasName, TargetKeyId } = step.input ?? {};
    if (typeof AliasName !== 'string' || !/^alias\/[A-Za-z0-9/_-]{1,250}$/.test(AliasName))
      throw new StepFailedError(step.id, 'kms:UpdateAlias needs an AliasName "alias/<name>"');
    if (typeof TargetKeyId !== 'string' || TargetKeyId === '')
      throw new StepFailedError(step.id, 'kms:UpdateAlias needs a TargetKeyId');
    await mkdir(this.#directory, { recursive: true, mode: 0o700 });
    const aliases = await readAliases(this.#directory);
    aliases[AliasName] = { AliasName, TargetKeyId };
    await writeAtomically(join(this.#directory, LOCAL_ALIASES_FILE), `${JSON.stringify(aliases, null, 2)}\n`);
    return {};
  }
}

/** The local stand-in of a key ARN: the local key id and the version, `local:<hex>:<version>`. */
export const localKeyArnOf = (keyId: string, version: number): string => `${keyId}:${version}`;

const readAliases = async (directory: string): Promise<Record<string, LocalAlias>> => {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(directory, LOCAL_ALIASES_FILE), 'utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, LocalAlias>)
      : {};
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return {};
    throw error;
  }
};

/** Never half-written: a temporary file beside it, renamed over it. */
const writeAtomically = async (path: string, content: string): Promise<void> => {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temporary, content, { mode: 0o600, flag: 'wx' });
  await rename(temporary, path);
};
