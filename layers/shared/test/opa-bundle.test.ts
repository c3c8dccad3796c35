import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  OpaBundleIntegrityError,
  OpaPolicyEngine,
  opaPolicyVersionOf,
  readOpaBundle,
} from '#shared/policy/opa.js';
import { defaultOpaBundleDir } from '#shared/policy/source.js';
import { loadOpaEngine } from '#shared/service-kit.js';

/** The committed bundle's integrity: the engine loads only a wasm whose sha256 its manifest declares. */
const dirs: string[] = [];
const copyOfBundle = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'conductor-opa-bundle-'));
  dirs.push(dir);
  cpSync(defaultOpaBundleDir(), dir, { recursive: true });
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

const question = {
  principal: { subject: 'u-1', tenantId: 'acme', roles: ['operator'] },
  action: 'router:route',
  resource: { tenantId: 'acme', kind: 'router' },
  context: { mfa: false, grantedTenants: [] },
};

describe('an OPA bundle', () => {
  it('loads when its wasm matches its manifest, and every decision carries the wasm digest as policy version', async () => {
    const { wasm } = await readOpaBundle(defaultOpaBundleDir());
    const engine = await OpaPolicyEngine.loadBundle(defaultOpaBundleDir());
    expect(engine.policyVersion).toBe(opaPolicyVersionOf(wasm));
    expect(engine.decide(question)).toMatchObject({ allow: true, policyVersion: engine.policyVersion });
  });

  it('is refused when its wasm was changed after it was built', async () => {
    const dir = copyOfBundle();
    const wasm = readFileSync(join(dir, 'policy.wasm'));
    wasm[wasm.length - 1] = (wasm[wasm.length - 1] ?? 0) ^ 0xff;
    writeFileSync(join(dir, 'policy.wasm'), wasm);
    await expect(OpaPolicyEngine.loadBundle(dir)).rejects.toThrow(OpaBundleIntegrityError);
    await expect(OpaPolicyEngine.loadBundle(dir)).rejects.toThrow('refusing it');
  });

  it('is refused when its manifest names another entry point or no digest', async () => {
    const dir = copyOfBundle();
    const manifest = JSON.parse(readFileSync(join(dir, 'bundle.json'), 'utf8'));
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ ...manifest, entrypoint: 'other/rule' }));
    await expect(OpaPolicyEngine.loadBundle(dir)).rejects.toThrow(OpaBundleIntegrityError);
    writeFileSync(join(dir, 'bundle.json'), JSON.stringify({ ...manifest, wasmSha256: undefined }));
    await expect(OpaPolicyEngine.loadBundle(dir)).rejects.toThrow(OpaBundleIntegrityError);
  });

  it('that is refused leaves a function an engine that denies everything (fail closed), and says why', async () => {
    const dir = copyOfBundle();
    writeFileSync(join(dir, 'policy.wasm'), Buffer.from('not the policy'));
    const errors: unknown[] = [];
    const engine = await loadOpaEngine(dir, (error) => errors.push(error));
    expect(engine.decide(question)).toMatchObject({ allow: false, reasons: ['fail-closed'] });
    expect(errors[0]).toBeInstanceOf(OpaBundleIntegrityError);
  });
});
