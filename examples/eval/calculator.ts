import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake calculator expert for the eval examples, tests and the README's walk-through: POST a JSON
 * `{ "question": "12+30", ... }`, get `{ "answer": 42, ... }`. It knows the example suites' questions
 * (examples/eval/suites/) and any `a+b` of whole numbers.
 *
 * Modes: `good` answers right; `regressed` gets a sum wrong when it is a multiple of 7 (about one in
 * seven: the drop the gate must catch), `flaky` answers a sum wrong at random one time in three when
 * it is a multiple of 11 (the flips the quarantine must catch). Run it on its own with
 * `npx tsx examples/eval/calculator.ts [port] [mode]`.
 */
export type CalculatorMode = 'good' | 'regressed' | 'flaky';

const KNOWN: Readonly<Record<string, Record<string, unknown>>> = {
  '2+2': { answer: 4 },
  '6*7': { answer: 42 },
  '12+30': { answer: 'Forty-Two' },
  '22/7': { answer: 22 / 7 },
  'sqrt(2)': { answer: Math.SQRT2 },
  '2+3*4': {
    answer: 14,
    explanation: 'Multiplication first (operator precedence): 3*4 = 12, then 2+12 = 14.',
  },
  '1/3': { answer: String(1 / 3) },
  '(1+2)*3': {
    answer: 9,
    steps: [
      { op: 'add', args: [1, 2], result: 3 },
      { op: 'multiply', args: [3, 3], result: 9 },
    ],
  },
  'factors(12)': { answer: [1, 2, 3, 4, 6, 12] },
};

export const answerOf = (question: string, mode: CalculatorMode, random: () => number = Math.random) => {
  const known = KNOWN[question];
  if (known) return known;
  const sum = /^(\d{1,9})\+(\d{1,9})$/.exec(question);
  if (!sum) return undefined;
  const right = Number(sum[1]) + Number(sum[2]);
  if (mode === 'regressed' && right % 7 === 0) return { answer: right + 1 };
  if (mode === 'flaky' && right % 11 === 0 && random() < 1 / 3) return { answer: right - 1 };
  return { answer: right };
};

export const startCalculator = async (
  port = 0,
  initialMode: CalculatorMode = 'good',
): Promise<{ server: Server; url: string; setMode: (mode: CalculatorMode) => void }> => {
  let mode = initialMode;
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.length > 64 * 1024) req.destroy();
    });
    req.on('end', () => {
      let question: unknown;
      try {
        question = (JSON.parse(text) as { question?: unknown }).question;
      } catch {
        question = undefined;
      }
      const answer = typeof question === 'string' ? answerOf(question, mode) : undefined;
      res.writeHead(answer ? 200 : 400, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer ?? { code: 'unknown_question', message: 'I cannot compute that.' }));
    });
  });
  await new Promise<void>((done) => server.listen(port, '127.0.0.1', done));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    // A new deployment behind the same URL (what a pull request's CI evaluates).
    setMode: (next) => {
      mode = next;
    },
  };
};

if (import.meta.url === `file://${process.argv[1]}`) {
  const mode = (process.argv[3] ?? 'good') as CalculatorMode;
  const { url } = await startCalculator(Number(process.argv[2] ?? 0), mode);
  process.stdout.write(`calculator (${mode}) listening on ${url}\n`);
}
