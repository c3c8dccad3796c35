import { describe, expect, it } from 'vitest';
import { appendEntry, type TrailEntry } from '../../src/domain/trail.js';
import { parseTrail, serializeTrail, TrailFileError } from '../../src/domain/trail-file.js';

const entries = (): TrailEntry[] => {
  const requested = appendEntry(undefined, {
    executionId: 'exec_1',
    tenantId: 'acme',
    at: '2026-03-01T10:00:00.000Z',
    kind: 'requested',
    actor: 'alice',
    detail: { runbookId: 'restart-api' },
  });
  const verified = appendEntry(requested, {
    executionId: 'exec_1',
    tenantId: 'acme',
    at: '2026-03-01T10:00:01.000Z',
    kind: 'verified',
    detail: {},
  });
  return [requested, verified];
};

const refusal = (text: string): TrailFileError => {
  try {
    parseTrail(text, 'exec_1.trail.jsonl');
  } catch (error) {
    if (error instanceof TrailFileError) return error;
    throw error;
  }
  throw new Error('the file was accepted');
};

describe('the trail file', () => {
  it('writes a header naming the execution and its head, then one canonical entry a line', () => {
    // Act
    const text = serializeTrail(entries());

    // Assess
    const lines = text.split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.at(-1)).toBe('');
    expect(JSON.parse(lines[0] as string)).toEqual({
      apiVersion: 'conductor.trail/v1',
      executionId: 'exec_1',
      tenantId: 'acme',
      head: { seq: 1, hash: entries()[1]?.hash },
    });
    expect(lines[1]?.startsWith('{"actor":"alice","at":')).toBe(true);
  });

  it('reads back what it wrote, also with CRLF line ends', () => {
    // Prepare
    const text = serializeTrail(entries());

    // Act / Assess
    expect(parseTrail(text, 'f').entries).toEqual(entries());
    expect(parseTrail(text.replaceAll('\n', '\r\n'), 'f').entries).toEqual(entries());
  });

  it('refuses to write an empty trail, which has no execution to name', () => {
    expect(() => serializeTrail([])).toThrow(RangeError);
  });

  it('refuses a file with a 400 invalid_trail naming the line and field of every problem', () => {
    // Prepare
    const [header, first, second] = serializeTrail(entries()).split('\n');
    const badSeq = JSON.stringify({ ...JSON.parse(second as string), seq: -1 });
    const extra = JSON.stringify({ ...JSON.parse(first as string), note: 'unhashed' });
    const text = [header, extra, badSeq, '{"kind":', ''].join('\n');

    // Act
    const error = refusal(text);

    // Assess
    expect(error).toMatchObject({ statusCode: 400, code: 'invalid_trail' });
    expect(error.issues).toEqual([
      { path: 'line 2: note', message: 'unknown field' },
      { path: 'line 3: seq', message: 'must be at least 0, got -1' },
      { path: 'line 4', message: 'invalid JSON at column 9: Unexpected end of input' },
    ]);
    expect(error.message.split('\n')[0]).toBe('exec_1.trail.jsonl: line 2: note: unknown field');
  });

  it('refuses an empty file, an empty line and a header of another format', () => {
    const [header, first] = serializeTrail(entries()).split('\n');
    expect(refusal('').issues).toEqual([{ path: 'line 1', message: expect.stringMatching(/header/) }]);
    expect(refusal(`${header}\n\n${first}\n`).issues).toEqual([{ path: 'line 2', message: 'empty line' }]);
    const v2 = (header as string).replace('conductor.trail/v1', 'conductor.trail/v2');
    expect(refusal(`${v2}\n${first}\n`).issues.map((issue) => issue.path)).toEqual(['line 1: apiVersion']);
  });
});
