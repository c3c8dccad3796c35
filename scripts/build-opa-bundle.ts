import { fileURLToPath } from 'node:url';
import { buildOpaBundle } from '#shared/policy/opa-build.js';

/**
 * `npm run opa:build`: compiles policies/rego with the pinned opa (`npm run opa:install`) into the
 * committed bundle policies/opa/ (policy.wasm and bundle.json). Run it after changing the Rego; a
 * test fails while the committed bundle is older than its source.
 */
const regoDir = fileURLToPath(new URL('../policies/rego', import.meta.url));
const outDir = fileURLToPath(new URL('../policies/opa', import.meta.url));
const { wasmPath, manifest } = buildOpaBundle(regoDir, outDir);
console.log(
  `wrote ${wasmPath} (opa ${manifest.opaVersion}, source ${manifest.sourceDigest.slice(0, 12)}, wasm ${manifest.wasmSha256.slice(0, 12)})`,
);
