import { SUITE_API_VERSION } from '../../src/domain/suite.js';

/** The second operand of sum `a`: spread over 0-99, so the sums are not all alike. */
const secondOperand = (a: number): number => (a * 37) % 100;

/**
 * A `conductor.suite/v1` document of `count` sums (`sum-001`: "1+37", expected 38, ...), scored
 * exactly at `answer`, as a calculator expert answers them.
 */
export const sumsSuite = (
  options: { id?: string; version?: string; count?: number; trials?: number; tolerance?: number } = {},
) => ({
  apiVersion: SUITE_API_VERSION,
  id: options.id ?? 'sums',
  version: options.version ?? '1',
  description: 'Sums of whole numbers',
  expertType: 'calculator',
  timeoutMs: 5_000,
  gate: { tolerance: options.tolerance ?? 0.05, confidence: 0.99 },
  defaults: { scorer: { type: 'exact' }, outputPath: 'answer', trials: options.trials ?? 1 },
  tasks: Array.from({ length: options.count ?? 20 }, (_, index) => {
    const a = index + 1;
    const b = secondOperand(a);
    return { id: `sum-${String(a).padStart(3, '0')}`, input: { question: `${a}+${b}` }, expected: a + b };
  }),
});

/** A suite with one rubric task judged by `judgeExpertId` beside two sums. */
export const rubricSuite = (judgeExpertId = 'judge-1') => ({
  apiVersion: SUITE_API_VERSION,
  id: 'explained-sums',
  version: '1',
  defaults: { outputPath: 'answer' },
  tasks: [
    { id: 'sum-1', input: { question: '1+2' }, expected: 3, scorer: { type: 'exact' } },
    { id: 'sum-2', input: { question: '2+2' }, expected: 4, scorer: { type: 'numeric', tolerance: 0.5 } },
    {
      id: 'sum-3-explained',
      input: { question: '3+4' },
      scorer: { type: 'rubric', judgeExpertId, rubric: 'The answer is the sum, and nothing else.' },
      trials: 2,
    },
  ],
});
