import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parseAndValidate } from '../src/policy/cedar.js';
import { type EvaluablePolicy, OPA_ENTRYPOINT, OpaPolicyEngine } from '../src/policy/opa.js';
import {
  buildOpaWasm,
  extractFromTarGz,
  findOpa,
  OPA_INSTALL_URL,
  OpaNotFoundError,
} from '../src/policy/opa-build.js';
import { defaultPolicyDir, readPolicySources } from '../src/policy/source.js';
import type { AuthzRequest } from '../src/ports/policy.js';

const request: AuthzRequest = {
  principal: { subject: 'u-acme-viewer', tenantId: 'acme', roles: ['viewer'] },
  action: 'experts:list',
  resource: { tenantId: 'acme', kind: 'experts', id: 'e-1' },
  context: { mfa: false, grantedTenants: ['globex'] },
};

/** A stand-in for opa-wasm's LoadedPolicy: answers whatever it is told to, records its calls. */
const fakePolicy = (answer: () => unknown) => {
  const calls: { input: unknown; entrypoint: unknown }[] = [];
  const policy: EvaluablePolicy = {
    entrypoints: { [OPA_ENTRYPOINT]: 0 },
    evaluate: (input, entrypoint) => {
      calls.push({ input, entrypoint });
      return answer();
    },
  };
  return { policy, calls };
};
const engineAnswering = (answer: () => unknown) => new OpaPolicyEngine(fakePolicy(answer).policy, 'opa-test');
const resultSet = (result: unknown) => [{ result }];
const allowMasked = {
  allow: true,
  obligations: [],
  masks: ['endpoint'],
  reasons: ['viewer-reads-experts-masked', 'read-own-or-granted-tenant'],
};

const temps: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'conductor-opa-test-'));
  temps.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

describe('OpaPolicyEngine.decide', () => {
  it('evaluates the decision entrypoint with the request as the Rego reads it, and maps the result', () => {
    const { policy, calls } = fakePolicy(() => resultSet(allowMasked));
    const decision = new OpaPolicyEngine(policy, 'opa-test').decide(request);

    expect(calls).toEqual([
      {
        entrypoint: 'conductor/authz/decision',
        input: {
          principal: { subject: 'u-acme-viewer', tenantId: 'acme', roles: ['viewer'] },
          action: 'experts:list',
          resource: { tenantId: 'acme', kind: 'experts' },
          context: { mfa: false, grantedTenants: ['globex'] },
        },
      },
    ]);
    expect(decision).toEqual({
      allow: true,
      obligations: [],
      masks: ['endpoint'],
      reasons: ['read-own-or-granted-tenant', 'viewer-reads-experts-masked'],
      policyVersion: 'opa-test',
    });
  });

  it('passes the resource classification in input.resource when present, and leaves it out when absent', () => {
    const { policy, calls } = fakePolicy(() => resultSet(allowMasked));
    const engine = new OpaPolicyEngine(policy, 'opa-test');

    engine.decide({ ...request, resource: { ...request.resource, classification: 'restricted' } });
    engine.decide({ ...request, resource: { ...request.resource, classification: undefined } });

    const resources = calls.map((call) => (call.input as { resource: unknown }).resource);
    expect(resources).toEqual([
      { tenantId: 'acme', kind: 'experts', classification: 'restricted' },
      { tenantId: 'acme', kind: 'experts' },
    ]);
    expect(Object.keys(resources[1] as object)).not.toContain('classification');
  });

  it('returns a deny with its obligations', () => {
    const decision = engineAnswering(() =>
      resultSet({
        allow: false,
        obligations: ['step_up', 'request_approval'],
        masks: [],
        reasons: ['sensitive-needs-step-up', 'cross-tenant-needs-approved-grant'],
      }),
    ).decide(request);
    expect(decision).toEqual({
      allow: false,
      obligations: ['request_approval', 'step_up'],
      masks: [],
      reasons: ['cross-tenant-needs-approved-grant', 'sensitive-needs-step-up'],
      policyVersion: 'opa-test',
    });
  });

  it('returns a deny without reasons when no policy matches', () => {
    const decision = engineAnswering(() =>
      resultSet({ allow: false, obligations: [], masks: [], reasons: [] }),
    ).decide(request);
    expect(decision).toEqual({
      allow: false,
      obligations: [],
      masks: [],
      reasons: [],
      policyVersion: 'opa-test',
    });
  });

  const malformed: [string, unknown, string][] = [
    ['an undefined decision (empty result set)', [], 'undefined for this input'],
    ['a result set that is not an array', { result: allowMasked }, 'not an array'],
    ['two results', [{ result: allowMasked }, { result: allowMasked }], '2 results'],
    ['a result that is not an object', [{ result: true }], 'not an object'],
    ['a result set entry without result', [{ value: allowMasked }], 'not an object'],
    ['a missing allow', resultSet({ obligations: [], masks: [], reasons: ['x'] }), 'allow'],
    ['a string allow', resultSet({ ...allowMasked, allow: 'true' }), 'allow'],
    ['a numeric allow', resultSet({ ...allowMasked, allow: 1 }), 'allow'],
    ['missing obligations', resultSet({ allow: true, masks: [], reasons: ['x'] }), 'obligations'],
    ['obligations that are not strings', resultSet({ ...allowMasked, obligations: [1] }), 'obligations'],
    ['missing masks', resultSet({ allow: true, obligations: [], reasons: ['x'] }), 'masks'],
    ['masks as a string', resultSet({ ...allowMasked, masks: 'endpoint' }), 'masks'],
    ['missing reasons', resultSet({ allow: true, obligations: [], masks: [] }), 'reasons'],
    ['an allow without a determining policy', resultSet({ ...allowMasked, reasons: [] }), 'determining'],
    ['masks on a deny', resultSet({ ...allowMasked, allow: false }), 'masks on a deny'],
  ];
  for (const [what, output, why] of malformed) {
    it(`fails closed on ${what}`, () => {
      const decision = engineAnswering(() => output).decide(request);
      expect(decision).toMatchObject({
        allow: false,
        obligations: [],
        masks: [],
        reasons: ['fail-closed'],
        policyVersion: 'opa-test',
      });
      expect(decision.error).toContain('opa: malformed decision');
      expect(decision.error).toContain(why);
    });
  }

  it('fails closed when the Rego reports an error (an undeclared action)', () => {
    const decision = engineAnswering(() =>
      resultSet({
        allow: false,
        obligations: [],
        masks: [],
        reasons: [],
        error: 'the action is not declared for requests in the Cedar schema',
      }),
    ).decide({ ...request, action: 'experts:purge' });
    expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed'] });
    expect(decision.error).toBe(
      'opa: the action is not declared for requests in the Cedar schema (action "experts:purge")',
    );
  });

  it('fails closed when evaluate throws an Error', () => {
    const decision = engineAnswering(() => {
      throw new Error('opa_abort: var assignment conflict');
    }).decide(request);
    expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed'] });
    expect(decision.error).toBe('opa: evaluation failed: opa_abort: var assignment conflict');
  });

  it('fails closed when evaluate throws a string, as opa-wasm does for an unknown entrypoint', () => {
    const decision = engineAnswering(() => {
      throw 'entrypoint conductor/authz/decision is not valid in this instance';
    }).decide(request);
    expect(decision.allow).toBe(false);
    expect(decision.error).toBe(
      'opa: evaluation failed: entrypoint conductor/authz/decision is not valid in this instance',
    );
  });

  const badRequests: [string, unknown][] = [
    ['roles that are not a list', { ...request, principal: { ...request.principal, roles: 'admin' } }],
    ['a role that is not a string', { ...request, principal: { ...request.principal, roles: [1] } }],
    ['a missing tenant', { ...request, principal: { subject: 'u', roles: ['admin'] } }],
    ['a non-boolean mfa', { ...request, context: { mfa: 'yes', grantedTenants: [] } }],
    ['missing granted tenants', { ...request, context: { mfa: true } }],
    ['a missing resource', { ...request, resource: undefined }],
    [
      'a classification that is not a string',
      { ...request, resource: { ...request.resource, classification: 1 } },
    ],
    ['a null classification', { ...request, resource: { ...request.resource, classification: null } }],
    ['a numeric action', { ...request, action: 7 }],
  ];
  for (const [what, bad] of badRequests) {
    it(`fails closed without evaluating on ${what}`, () => {
      const { policy, calls } = fakePolicy(() => resultSet(allowMasked));
      const decision = new OpaPolicyEngine(policy, 'opa-test').decide(bad as AuthzRequest);
      expect(calls).toEqual([]);
      expect(decision).toMatchObject({ allow: false, reasons: ['fail-closed'] });
      expect(decision.error).toMatch(/^opa: malformed /);
    });
  }
});

describe('OpaPolicyEngine.load', () => {
  const wasmFile = () => {
    const path = join(tempDir(), 'policy.wasm');
    writeFileSync(path, Buffer.from('\0asm fake policy bytes'));
    return path;
  };

  it('loads the file through the loader; the version is opa- and 12 hex of its sha256', async () => {
    const path = wasmFile();
    const loaded: Uint8Array[] = [];
    const engine = await OpaPolicyEngine.load(path, async (wasm) => {
      loaded.push(wasm);
      return fakePolicy(() => resultSet(allowMasked)).policy;
    });
    const bytes = readFileSync(path);
    expect(Buffer.from(loaded[0] ?? [])).toEqual(bytes);
    expect(engine.name).toBe('opa');
    expect(engine.policyVersion).toBe(`opa-${createHash('sha256').update(bytes).digest('hex').slice(0, 12)}`);
    expect(engine.policyVersion).toMatch(/^opa-[0-9a-f]{12}$/);
    expect(engine.decide(request).allow).toBe(true);
  });

  it('refuses a policy compiled without the decision entrypoint', async () => {
    const loader = async (): Promise<EvaluablePolicy> => ({
      entrypoints: { 'conductor/authz/allow': 0 },
      evaluate: () => [],
    });
    await expect(OpaPolicyEngine.load(wasmFile(), loader)).rejects.toThrow(
      'has no entrypoint conductor/authz/decision',
    );
  });

  it('rejects bytes that are not wasm with the real opa-wasm loader', async () => {
    await expect(OpaPolicyEngine.load(wasmFile())).rejects.toThrow(/WebAssembly|wasm/i);
  });

  it('rejects a missing file', async () => {
    await expect(OpaPolicyEngine.load(join(tempDir(), 'missing.wasm'))).rejects.toThrow(/ENOENT/);
  });
});

describe('findOpa and buildOpaWasm', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  const fakeOpaDir = () => {
    const dir = tempDir();
    const opa = join(dir, 'opa');
    // Never run: findOpa only looks for it.
    writeFileSync(opa, '#!/bin/sh\necho "fake opa must not run" >&2\nexit 97\n');
    chmodSync(opa, 0o755);
    return { dir, opa };
  };

  it('finds an executable opa in a PATH folder without running it', () => {
    const { dir, opa } = fakeOpaDir();
    const empty = tempDir();
    vi.stubEnv('PATH', ['', empty, dir].join(delimiter));
    expect(findOpa(undefined, empty)).toBe(opa);
    expect(findOpa([empty, dir].join(delimiter), empty)).toBe(opa);
  });

  it('takes the first PATH folder that has one', () => {
    const first = fakeOpaDir();
    const second = fakeOpaDir();
    expect(findOpa([first.dir, second.dir].join(delimiter), tempDir())).toBe(first.opa);
  });

  it('ignores a non-executable file and a folder named opa', () => {
    const plain = tempDir();
    writeFileSync(join(plain, 'opa'), 'not executable');
    chmodSync(join(plain, 'opa'), 0o644);
    const folder = tempDir();
    mkdirSync(join(folder, 'opa'));
    expect(findOpa([plain, folder].join(delimiter), tempDir())).toBeUndefined();
    expect(findOpa('', tempDir())).toBeUndefined();
  });

  it("falls back to the project's own opa (.tools/bin, where npm run opa:install puts it) after PATH", () => {
    const project = fakeOpaDir();
    const onPath = fakeOpaDir();
    expect(findOpa(tempDir(), project.dir)).toBe(project.opa);
    expect(findOpa(onPath.dir, project.dir)).toBe(onPath.opa);
  });

  it('buildOpaWasm without opa on PATH throws OpaNotFoundError with the install hint', () => {
    vi.stubEnv('PATH', tempDir());
    const outDir = join(tempDir(), 'out');
    let thrown: unknown;
    try {
      buildOpaWasm('policies/rego', outDir, { projectDir: tempDir() });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(OpaNotFoundError);
    expect((thrown as Error).message).toBe(
      `The OPA compiler (opa) is not on PATH: install it from ${OPA_INSTALL_URL} to use policyEngine=opa, or use the default Cedar engine.`,
    );
    expect(OPA_INSTALL_URL).toBe('https://www.openpolicyagent.org/docs/latest/#running-opa');
  });
});

/** One ustar entry, as Go's archive/tar (and so `opa build`) writes it. */
const tarEntry = (name: string, data: Buffer, type = '0'): Buffer => {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write('0000644\0', 100, 'ascii');
  header.write('0000000\0', 108, 'ascii');
  header.write('0000000\0', 116, 'ascii');
  header.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124, 'ascii');
  header.write('00000000000\0', 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write(type, 156, 'ascii');
  header.write('ustar\0', 257, 'ascii');
  header.write('00', 263, 'ascii');
  const checksum = header.reduce((sum, byte) => sum + byte, 0);
  header.write(`${checksum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  const padding = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([header, data, padding]);
};

describe('extractFromTarGz', () => {
  const wasm = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, ...Buffer.alloc(700, 7)]);

  it('finds /policy.wasm among the entries of an OPA bundle', () => {
    const tarGz = gzipSync(
      Buffer.concat([
        tarEntry('/data.json', Buffer.from('{}')),
        tarEntry('/policies/rego/conductor.rego', Buffer.from('package conductor.authz\n')),
        tarEntry('/policy.wasm', wasm),
        tarEntry('/.manifest', Buffer.from('{"revision":""}')),
        Buffer.alloc(1024),
      ]),
    );
    expect(extractFromTarGz(tarGz, '/policy.wasm')).toEqual(wasm);
    expect(extractFromTarGz(tarGz, 'policy.wasm')).toEqual(wasm);
    expect(extractFromTarGz(tarGz, '/missing.wasm')).toBeUndefined();
  });

  it('understands GNU long names and PAX paths', () => {
    const longName = `/${'d'.repeat(120)}/policy.wasm`;
    const paxRecord = (key: string, value: string) => {
      const body = ` ${key}=${value}\n`;
      let length = body.length + 1;
      while (`${length}${body}`.length !== length) length += 1;
      return `${length}${body}`;
    };
    const tarGz = gzipSync(
      Buffer.concat([
        tarEntry('././@LongLink', Buffer.from(`${longName}\0`), 'L'),
        tarEntry('truncated-name', Buffer.from('gnu')),
        tarEntry('PaxHeaders/x', Buffer.from(paxRecord('path', '/pax/policy.wasm')), 'x'),
        tarEntry('pax-truncated', Buffer.from('pax')),
        Buffer.alloc(1024),
      ]),
    );
    expect(extractFromTarGz(tarGz, longName)?.toString()).toBe('gnu');
    expect(extractFromTarGz(tarGz, '/pax/policy.wasm')?.toString()).toBe('pax');
    expect(extractFromTarGz(tarGz, 'truncated-name')).toBeUndefined();
  });

  it('reads a tarball written by the system tar', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'policy.wasm'), wasm);
    writeFileSync(join(dir, 'data.json'), '{}');
    const out = join(tempDir(), 'bundle.tar.gz');
    execFileSync('tar', ['-czf', out, '-C', dir, 'data.json', 'policy.wasm']);
    expect(extractFromTarGz(readFileSync(out), '/policy.wasm')).toEqual(wasm);
  });
});

describe('the Rego mirrors the Cedar policies and schema (checked without an OPA compiler)', () => {
  const rego = readFileSync(
    fileURLToPath(new URL('../../../policies/rego/conductor.rego', import.meta.url)),
    'utf8',
  );
  const sources = readPolicySources(defaultPolicyDir());
  const policies = parseAndValidate(sources);

  /** `action_groups := { "a": {"g", ...}, ... }` of the Rego, as action -> sorted groups. */
  const regoActionGroups = (): Record<string, string[]> => {
    const block = /^action_groups := \{\n([\s\S]*?)\n\}$/m.exec(rego)?.[1];
    expect(block).toBeDefined();
    const groups: Record<string, string[]> = {};
    for (const line of (block ?? '').split('\n')) {
      const entry = /^\t"([^"]+)": \{((?:"[^"]+"(?:, )?)+)\},$/.exec(line);
      expect(entry, `unexpected line in action_groups: ${line}`).not.toBeNull();
      groups[entry?.[1] ?? ''] = [...(entry?.[2] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1] ?? '').sort();
    }
    return groups;
  };

  /** The schema's `action "x", "y" in ["g", ...]` declarations, as action -> sorted groups. */
  const schemaActionGroups = (): { members: Record<string, string[]>; declared: string[] } => {
    const members: Record<string, string[]> = {};
    const declared: string[] = [];
    for (const m of sources.schema.matchAll(
      /action\s+((?:"[^"]+"\s*,\s*)*"[^"]+")\s*(?:in\s*\[([^\]]*)\])?/g,
    )) {
      const names = [...(m[1] ?? '').matchAll(/"([^"]+)"/g)].map((n) => n[1] ?? '');
      declared.push(...names);
      if (m[2] === undefined) continue;
      const groups = [...m[2].matchAll(/"([^"]+)"/g)].map((g) => g[1] ?? '').sort();
      for (const name of names) members[name] = groups;
    }
    return { members, declared };
  };

  it('is package conductor.authz in Rego v1 syntax', () => {
    expect(rego).toMatch(/^package conductor\.authz$/m);
    expect(rego).toMatch(/^import rego\.v1$/m);
    expect(rego).toMatch(/^decision := \{/m);
    expect(rego).not.toMatch(/^import future\./m);
  });

  it('has one rule of the same effect per Cedar policy id, tagged with the id', () => {
    expect(policies.length).toBeGreaterThan(0);
    for (const policy of policies) {
      const set = policy.effect === 'forbid' ? 'forbids' : 'permits';
      expect(rego, `${policy.id} (${policy.effect})`).toContain(`${set} contains "${policy.id}" if {`);
      expect(rego).toContain(`# @id("${policy.id}")`);
    }
    const regoIds = [...rego.matchAll(/^(forbids|permits) contains "([^"]+)" if \{$/gm)].map((m) => m[2]);
    expect(regoIds.sort()).toEqual(policies.map((p) => p.id).sort());
  });

  it('carries the Cedar @obligation and @mask annotations', () => {
    const annotationMap = (name: string) => {
      const block = new RegExp(`^${name} := \\{([\\s\\S]*?)\\}$`, 'm').exec(rego)?.[1] ?? '';
      return Object.fromEntries([...block.matchAll(/"([^"]+)": "([^"]+)"/g)].map((m) => [m[1], m[2]]));
    };
    const cedarAnnotation = (key: string) =>
      Object.fromEntries(
        policies.filter((p) => p.annotations[key]).map((p) => [p.id, p.annotations[key] ?? '']),
      );
    expect(annotationMap('obligation_of')).toEqual(cedarAnnotation('obligation'));
    expect(annotationMap('mask_of')).toEqual(cedarAnnotation('mask'));
  });

  it('encodes exactly the action groups of the Cedar schema', () => {
    const { members, declared } = schemaActionGroups();
    const groups = regoActionGroups();
    expect(Object.keys(members).length).toBeGreaterThan(0);
    expect(groups).toEqual(members);
    // Every action of the schema, requestable or group, appears in the Rego's action-group data.
    const mentioned = new Set([...Object.keys(groups), ...Object.values(groups).flat()]);
    expect(declared.filter((action) => !mentioned.has(action))).toEqual([]);
  });

  it('names in its rules only groups that the data declares', () => {
    const used = [...rego.matchAll(/action_in\("([^"]+)"\)/g)].map((m) => m[1] ?? '');
    const groups = new Set(Object.values(regoActionGroups()).flat());
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((g) => !groups.has(g))).toEqual([]);
  });

  it('has balanced brackets and quotes outside comments (a cheap syntax check)', () => {
    const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
    const stack: string[] = [];
    rego.split('\n').forEach((line, index) => {
      const code = line.replace(/"(?:[^"\\]|\\.)*"/g, 'S').replace(/#.*$/, '');
      expect(code.includes('"'), `unterminated string on line ${index + 1}`).toBe(false);
      for (const char of code) {
        if ('([{'.includes(char)) stack.push(char);
        else if (char in pairs) expect(stack.pop(), `line ${index + 1}`).toBe(pairs[char]);
      }
    });
    expect(stack).toEqual([]);
  });
});

/**
 * Rego evaluates an expression whose built-in fails (`to_number("x")`, `1 / 0`, a regex that does not
 * compile...) as undefined, and opa-wasm has no strict mode that would raise it: a forbid rule that
 * errors silently does not match, and a permit allows (seen with opa 1.22.4 `-t wasm`: a forbid on
 * `to_number(input.x) > 0` is gone for x = "abc"). The engine cannot tell that from "no match", so
 * the Rego is kept to built-ins that cannot fail on the input shape opa.ts admits (strings, a
 * boolean, lists of strings): comparisons and membership, which Rego defines across all types,
 * and `count` and `sort` of the sets it builds. What does throw (an opa_abort, a conflict between two
 * values of one rule) is a fail-closed deny, tested above.
 */
describe('the Rego cannot lose a forbid to a built-in error (checked without an OPA compiler)', () => {
  const CANNOT_FAIL = new Set(['count', 'sort']);

  /** Built-ins called (other than CANNOT_FAIL) and arithmetic used, outside strings and comments. */
  const riskyExpressions = (rego: string): string[] => {
    const code = rego
      .split('\n')
      .map((line) => line.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/#.*$/, ''))
      .join('\n');
    const ownFunctions = new Set([...code.matchAll(/^([a-z_][a-z0-9_]*)\(/gm)].map((m) => m[1]));
    const calls = [...code.matchAll(/([A-Za-z_][A-Za-z0-9_.]*)\s*\(/g)]
      .map((m) => m[1] ?? '')
      .filter((name) => !ownFunctions.has(name) && !CANNOT_FAIL.has(name));
    const arithmetic = [...code.matchAll(/[-+*/%]/g)].map((m) => m[0]);
    return [...new Set([...calls, ...arithmetic])].sort();
  };

  it('calls only built-ins that cannot fail, and does no arithmetic', () => {
    const rego = readFileSync(
      fileURLToPath(new URL('../../../policies/rego/conductor.rego', import.meta.url)),
      'utf8',
    );
    expect(rego).toContain('forbids contains');
    expect(riskyExpressions(rego)).toEqual([]);
  });

  it('the check bites: a forbid on to_number, a division or a regex is reported', () => {
    const probe = [
      'forbids contains "a" if { to_number(input.x) > 0 } # count(x)',
      'forbids contains "b" if { 1 / input.z > 0 }',
      'forbids contains "c" if { regex.match(input.p, "s") }',
      'own(x) if { count(x) > 0 }',
      'forbids contains "d" if { own(input.q); "to_string(not a call)" == input.r }',
    ].join('\n');
    expect(riskyExpressions(probe)).toEqual(['/', 'regex.match', 'to_number']);
  });
});
