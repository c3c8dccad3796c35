/**
 * What `conductor runbook` (cli/commands/runbook.ts) uses of the runbooks pillar offline: the
 * format, signing and verifying with the local RSA signer (the embedded runtime's stand-in for the
 * KMS key), and the offline check of an execution trail. The pillar's public entry for it.
 */
export { LocalPublicKeys, LocalRsaSigner } from './src/adapters/local-signer.js';
export { parseRunbook, type Runbook } from './src/domain/runbook.js';
export {
  type RunbookSignature,
  runbookSignatureSchema,
  signRunbook,
  verifyRunbook,
} from './src/domain/signing.js';
export { parseTrail, verifyTrailFile } from './src/domain/trail-file.js';
