import { relative } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { FLOW_ERRORS, flowOutcome } from '../../src/workflow/flow-contract.js';

describe('the flow contract', () => {
  it('bundles alone, so a Lambda that imports it pulls neither aws-cdk-lib nor the local interpreter', async () => {
    // Prepare
    const entry = new URL('../../src/workflow/flow-contract.ts', import.meta.url).pathname;

    // Act
    const { metafile } = await build({
      entryPoints: [entry],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });

    // Assess
    expect(Object.keys(metafile.inputs)).toEqual([relative(process.cwd(), entry)]);
  });
});

describe('flowOutcome', () => {
  it('reads a run, a success, a rejection, a stage timeout, an execution timeout and any other failure', () => {
    expect(flowOutcome('RUNNING')).toBe('started');
    expect(flowOutcome('SUCCEEDED')).toBe('succeeded');
    expect(flowOutcome('FAILED', FLOW_ERRORS.rejected)).toBe('rejected');
    expect(flowOutcome('FAILED', FLOW_ERRORS.timedOut)).toBe('timed_out');
    expect(flowOutcome('TIMED_OUT', 'States.Timeout')).toBe('timed_out');
    expect(flowOutcome('FAILED', FLOW_ERRORS.stepsFailed)).toBe('failed');
    expect(flowOutcome('ABORTED')).toBe('failed');
  });
});
