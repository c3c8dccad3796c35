import type { KeyObject } from 'node:crypto';
import type { WormStore } from './worm.js';

/**
 * Stand-ins the embedded runtime gives the composition roots for AWS behaviour no local emulator
 * has (no S3 emulator honours Object Lock): set once by the runtime before it imports any handler,
 * read by a handler where it would otherwise build the AWS adapter. On Lambda nothing is set, so
 * every handler builds its AWS adapters; production code never imports the runtime (`infra/local`).
 */
export interface StandIns {
  /** The WORM store in place of the evidence bucket. */
  readonly worm?: WormStore;
  /** A write-once store in place of the artifacts bucket (eval reports and suite documents). */
  readonly artifacts?: WormStore;
  /**
   * The public keys of the local runbook signing key (its versions), in place of the KMS key's: the
   * runbooks pillar verifies signatures `conductor runbook sign` made with the same key folder.
   */
  readonly runbookKeys?: { get(keyId: string, keyVersion: string): Promise<KeyObject | undefined> };
  /** The local runbook signing key's folder (the key-rotation runbook's KMS stand-in works in it). */
  readonly runbookKeyDir?: string;
  /**
   * The file of the local HMAC key with which data subject requests hash a person's id, in place of
   * the KMS HMAC key (`DSR_SUBJECT_KEY_ENV`): created on first use.
   */
  readonly dsrSubjectKeyFile?: string;
  /**
   * The runbook approval flow on the local Step Functions interpreter, in place of StartExecution
   * and SendTaskSuccess/SendTaskFailure (the same ASL CDK deploys).
   */
  readonly approvalFlow?: {
    start(input: Readonly<Record<string, unknown>>, name: string): Promise<{ readonly executionArn: string }>;
    sendTaskSuccess(input: { readonly taskToken: string; readonly output: string }): Promise<void>;
    sendTaskFailure(input: {
      readonly taskToken: string;
      readonly error?: string;
      readonly cause?: string;
    }): Promise<void>;
  };
}

const KEY = Symbol.for('conductor.stand-ins');
const holder = globalThis as { [KEY]?: StandIns };

export const provideStandIns = (standIns: StandIns): void => {
  holder[KEY] = { ...holder[KEY], ...standIns };
};

export const standIns = (): StandIns => holder[KEY] ?? {};
