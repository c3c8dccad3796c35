import { describe, expect, it } from 'vitest';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import type { RunbookStep } from '../../src/domain/runbook.js';
import {
  interpolate,
  interpolateDeep,
  outputDigest,
  resolveStep,
  StepFailedError,
  type StepOutput,
} from '../../src/domain/steps.js';

const params = {
  service: 'search',
  replicas: 3,
  drain: true,
  limits: { cpu: '2', memory: '4Gi' },
  nothing: null,
};

const outputs = new Map<string, StepOutput>([
  ['restart', { status: 200, body: { state: 'restarted', pods: ['a', 'b'], ready: false } }],
  ['create-key', { KeyMetadata: { Arn: 'arn:aws:kms:us-east-1:123456789012:key/k-1' } }],
  ['echo', 'plain text'],
  ['empty', undefined],
]);

describe('interpolate', () => {
  it('fills in parameters: strings as they are, anything else as JSON', () => {
    // Act / Assess
    expect(interpolate(`https://ops.example.com/\${params.service}/restart`, params, outputs)).toBe(
      'https://ops.example.com/search/restart',
    );
    expect(interpolate(`\${params.replicas} replicas, drain=\${params.drain}`, params, outputs)).toBe(
      '3 replicas, drain=true',
    );
    expect(interpolate(`limits: \${params.limits}`, params, outputs)).toBe(
      'limits: {"cpu":"2","memory":"4Gi"}',
    );
    expect(interpolate(`[\${params.nothing}]`, params, outputs)).toBe('[null]');
  });

  it('fills in a missing parameter as empty', () => {
    // Act / Assess
    expect(interpolate(`reason: "\${params.reason}"`, params, outputs)).toBe('reason: ""');
  });

  it("fills in a nested value of an earlier step's output", () => {
    // Act / Assess
    expect(interpolate(`state=\${steps.restart.output.body.state}`, params, outputs)).toBe('state=restarted');
    expect(interpolate(`\${steps.create-key.output.KeyMetadata.Arn}`, params, outputs)).toBe(
      'arn:aws:kms:us-east-1:123456789012:key/k-1',
    );
    expect(interpolate(`second pod: \${steps.restart.output.body.pods.1}`, params, outputs)).toBe(
      'second pod: b',
    );
    expect(interpolate(`ready=\${steps.restart.output.body.ready}`, params, outputs)).toBe('ready=false');
    expect(interpolate(`\${steps.restart.output.body.pods}`, params, outputs)).toBe('["a","b"]');
  });

  it("fills in a step's whole output as JSON, or as it is when it is a string", () => {
    // Act / Assess
    expect(interpolate(`answer: \${steps.restart.output}`, params, outputs)).toBe(
      `answer: ${JSON.stringify(outputs.get('restart'))}`,
    );
    expect(interpolate(`said \${steps.echo.output}`, params, outputs)).toBe('said plain text');
  });

  it('fills in a missing step, output or path as empty', () => {
    // Act / Assess
    expect(interpolate(`[\${steps.never-ran.output}]`, params, outputs)).toBe('[]');
    expect(interpolate(`[\${steps.empty.output}]`, params, outputs)).toBe('[]');
    expect(interpolate(`[\${steps.restart.output.body.missing.deeper}]`, params, outputs)).toBe('[]');
    expect(interpolate(`[\${steps.echo.output.length}]`, params, outputs)).toBe('[]');
  });

  // BUG: steps.ts pathOf reads `current[key]` without checking the key is the value's own property,
  // so a path through an inherited member resolves it: `${steps.a.output.constructor}` gives
  // JSON.stringify(Object) === undefined, which String.replace writes as the text "undefined"
  // (`__proto__` gives "{}"). A path the output does not hold should fill in as empty, as documented.
  it('fills in a path through an inherited member as empty, not "undefined"', () => {
    // Act / Assess
    expect(interpolate(`[\${steps.restart.output.constructor}]`, params, outputs)).toBe('[]');
  });

  it('writes $${ as a literal ${ and leaves the text after it alone', () => {
    // Act / Assess
    expect(interpolate(`echo $\${params.service} is \${params.service}`, params, outputs)).toBe(
      `echo \${params.service} is search`,
    );
    expect(interpolate(`$\${HOME}/bin`, params, outputs)).toBe(`\${HOME}/bin`);
  });

  it('never expands a placeholder that a filled-in value brings', () => {
    // Prepare
    const sneaky = { reason: `\${params.secret}`, secret: 'hunter2' };
    const answer = new Map<string, StepOutput>([['lookup', { next: `\${params.secret}` }]]);

    // Act / Assess
    expect(interpolate(`why: \${params.reason}`, sneaky, answer)).toBe(`why: \${params.secret}`);
    expect(interpolate(`\${steps.lookup.output.next}`, sneaky, answer)).toBe(`\${params.secret}`);
  });

  it('leaves text without placeholders, and a placeholder of nothing it knows, as it is', () => {
    // Act / Assess
    expect(interpolate('plain text, $5 and {braces}', params, outputs)).toBe('plain text, $5 and {braces}');
    expect(interpolate(`\${env.HOME}`, params, outputs)).toBe(`\${env.HOME}`);
  });
});

describe('interpolateDeep', () => {
  it('fills in every string inside arrays and objects, keeping keys, numbers, booleans and null', () => {
    // Prepare
    const key = `\${params.service}`;
    const value = {
      [key]: `\${params.service}`,
      list: [`\${params.replicas}`, 7, false, null, { deep: `\${steps.echo.output}` }],
    };

    // Act
    const filled = interpolateDeep(value, params, outputs);

    // Assess
    expect(filled).toEqual({
      [key]: 'search',
      list: ['3', 7, false, null, { deep: 'plain text' }],
    });
    expect(value.list[0]).toBe(`\${params.replicas}`);
  });
});

describe('resolveStep', () => {
  it('fills in every string field of the step, nested ones included', () => {
    // Prepare
    const step: RunbookStep = {
      id: 'restart',
      name: `Restart \${params.service}`,
      type: 'http',
      privileged: true,
      timeoutSeconds: 30,
      method: 'POST',
      url: `https://ops.example.com/services/\${params.service}/restart`,
      headers: { 'x-replicas': `\${params.replicas}` },
      body: { drain: `\${params.drain}`, pods: [`\${steps.restart.output.body.pods.0}`] },
    };

    // Act
    const resolved = resolveStep(step, params, outputs);

    // Assess
    expect(resolved).toEqual({
      id: 'restart',
      name: 'Restart search',
      type: 'http',
      privileged: true,
      timeoutSeconds: 30,
      method: 'POST',
      url: 'https://ops.example.com/services/search/restart',
      headers: { 'x-replicas': '3' },
      body: { drain: 'true', pods: ['a'] },
    });
    expect(step.url).toBe(`https://ops.example.com/services/\${params.service}/restart`);
  });

  it('keeps the id and the type exactly as written', () => {
    // Prepare: an id that would change if it were filled in like the other fields
    const step = {
      id: `notify$\${params.service}`,
      name: 'Tell',
      type: 'notify',
      privileged: false,
      channel: `slack:#\${params.service}`,
      message: `\${params.service} restarted`,
    } as RunbookStep;

    // Act
    const resolved = resolveStep(step, params, outputs);

    // Assess
    expect(resolved).toMatchObject({
      id: `notify$\${params.service}`,
      type: 'notify',
      channel: 'slack:#search',
      message: 'search restarted',
    });
  });
});

describe('outputDigest', () => {
  it("is the SHA-256 of the output's canonical JSON, whatever its key order", () => {
    // Act / Assess
    const output = { b: 1, a: { d: [1, 2], c: 'x' } };
    expect(outputDigest(output)).toBe(sha256Hex(canonicalJson(output)));
    expect(outputDigest({ a: { c: 'x', d: [1, 2] }, b: 1 })).toBe(outputDigest(output));
    expect(outputDigest({ ...output, b: 2 })).not.toBe(outputDigest(output));
  });

  it('digests no output as null', () => {
    // Act / Assess
    expect(outputDigest(undefined)).toBe(sha256Hex('null'));
    expect(outputDigest(null)).toBe(outputDigest(undefined));
  });
});

describe('StepFailedError', () => {
  it('names the step and keeps the reason apart for the trail', () => {
    // Act
    const error = new StepFailedError('restart', 'answered 503');

    // Assess
    expect(error).toMatchObject({ name: 'StepFailedError', stepId: 'restart', reason: 'answered 503' });
    expect(error.message).toBe('step restart failed: answered 503');
  });
});
