import type { ExpertPort } from './runner.js';
import { type JudgeRequest, ScorerError } from './scorers.js';

/**
 * The rubric scorer's judge over the same expert port as the experts under test (so the judge is
 * called through the guarded outbound client too): the judge expert is sent
 * `{ rubric, input, output, expected }` and answers a score in [0, 1] as `score` (or `output.score`)
 * in its JSON. No usable score is a scorer error, never a wrong answer of the expert under test.
 */
export const judgeThrough =
  (port: ExpertPort, timeoutMs: number) =>
  async (request: JudgeRequest): Promise<number> => {
    const attempt = await port.call(
      request.judgeExpertId,
      {
        rubric: request.rubric,
        input: request.input,
        output: request.output,
        ...(request.expected === undefined ? {} : { expected: request.expected }),
      },
      { timeoutMs, signal: AbortSignal.timeout(timeoutMs + 1000), taskId: 'judge', trial: 1 },
    );
    if (attempt.kind !== 'answer') {
      throw new ScorerError(`The judge ${request.judgeExpertId} gave no answer: ${attempt.message}`);
    }
    if (attempt.status < 200 || attempt.status >= 300) {
      throw new ScorerError(`The judge ${request.judgeExpertId} answered ${attempt.status}.`);
    }
    const body = attempt.body as { score?: unknown; output?: { score?: unknown } } | null;
    const score = body?.score ?? body?.output?.score;
    if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 1) {
      throw new ScorerError(`The judge ${request.judgeExpertId} answered no score in [0, 1].`);
    }
    return score;
  };
