import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { findOpa, OPA_INSTALL_COMMAND } from '#shared/policy/opa-build.js';

/**
 * Part of `npm run lint`: `opa check --strict` on policies/rego (unused variables and imports,
 * deprecated built-ins, shadowing...) and `opa fmt`'s formatting. Without opa it says so and passes, unless
 * CONDUCTOR_REQUIRE_OPA=1 (CI), where a missing opa is an error.
 */
const regoDir = fileURLToPath(new URL('../policies/rego', import.meta.url));
const opa = findOpa();
if (!opa) {
  const message = `opa check --strict: SKIPPED, opa is not installed (${OPA_INSTALL_COMMAND}, needs Go)`;
  if (process.env.CONDUCTOR_REQUIRE_OPA === '1') {
    console.error(`${message}; CONDUCTOR_REQUIRE_OPA=1 makes this an error`);
    process.exit(1);
  }
  console.warn(message);
  process.exit(0);
}
try {
  execFileSync(opa, ['check', '--strict', regoDir], { stdio: 'inherit' });
  // Formatting as `opa fmt` writes it (lists the files it would change and fails).
  execFileSync(opa, ['fmt', '--list', '--fail', regoDir], { stdio: 'inherit' });
  console.log(`opa check --strict and opa fmt ${regoDir}: ok`);
} catch {
  console.error('Rego lint failed: fix the findings above (opa fmt -w policies/rego formats).');
  process.exit(1);
}
