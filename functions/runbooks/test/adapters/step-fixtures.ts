import type { AwsApiStep, ScopedAwsCredentials } from '../../src/adapters/step-runners.js';
import type { StepContext } from '../../src/domain/steps.js';

/** What a step's `credentialsFor` answers in the runner tests: recognisable in a client or a signature. */
export const SCOPED_CREDENTIALS: ScopedAwsCredentials = {
  accessKeyId: 'ASIASTEPSCOPED',
  secretAccessKey: 'step-secret',
  sessionToken: 'step-token',
};

export const stepContext = (fields: Partial<StepContext> = {}): StepContext => ({
  tenantId: 'acme',
  executionId: 'exec-1',
  runbookId: 'key-rotation',
  timeoutMs: 2_000,
  ...fields,
});

/** The shipped key rotation's first AWS call, as it runs. */
export const CREATE_KEY_STEP: AwsApiStep = {
  id: 'create-key',
  name: 'Create the new signing key',
  type: 'aws-api',
  privileged: true,
  service: 'kms',
  action: 'kms:CreateKey',
  input: { KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY', Description: 'rotated under SEC-7' },
};
