import type { Kind, PillarKinds } from './kind.js';

/**
 * The evaluation pillar's main request, priced by `npm run bench:cost`:
 *
 * - `eval run, 10 cases`: one `POST /eval/run` `{ suiteId, expertIds: [one] }` (the body
 *   `conductor-eval remote` sends, its defaults: concurrency 8, one retry) of a registered 10-case
 *   suite (exact scorer on `answer`, expected `pong`) against one expert of the tenant at the bench's
 *   local expert, which answers every case right. The submission resolves the expert through the
 *   router's `GET /experts/{id}`, reads the suite, writes the run and sends it to the eval queue; the
 *   drain runs the eval worker: it reads the suite document and the previous run's report (the
 *   flaky quarantine), makes 10 expert calls (plain HTTP, no AWS call), scores them, writes the
 *   report to the artifacts bucket and stores the run's results and the suite's quarantine record.
 *   The two policy decisions (eval:run, the expert's look-up) go to the decision archive's queue.
 *
 * Tenant `bench-eval`, set up unmetered: the expert (POST /experts) and the suite (PUT
 * /eval/suites). After each phase (`verify`, unmetered) every run it accepted is read back: each
 * must have completed with 10 scored trials, all passed, and a report of 10 results.
 */

const TENANT = 'bench-eval';
const SUITE_ID = 'bench-eval-ten';
const CASES = 10;

interface RunResult {
  readonly status?: string;
  readonly metrics?: readonly {
    readonly passRate: number;
    readonly tasks: number;
    readonly scoredTrials: number;
    readonly errorTrials: number;
  }[];
}
interface RunReport {
  readonly results?: readonly {
    readonly trials: readonly { readonly kind: string; readonly pass?: boolean }[];
  }[];
}

export const evalCostKinds: PillarKinds = async ({ token, call, expertBase }) => {
  const [admin, operator] = await Promise.all([
    token(TENANT, `${TENANT}-admin`, ['tenant-admin'], true),
    token(TENANT, `${TENANT}-operator`, ['operator']),
  ]);
  const expert = await call(
    'POST',
    '/experts',
    admin,
    { name: `${TENANT}-expert`, type: 'model', costPerCallUsd: 0.0004, endpoint: `${expertBase}/eval` },
    201,
  );
  await call(
    'PUT',
    `/eval/suites/${SUITE_ID}`,
    operator,
    {
      apiVersion: 'conductor.suite/v1',
      id: SUITE_ID,
      version: '1',
      defaults: { scorer: { type: 'exact' }, outputPath: 'answer' },
      tasks: Array.from({ length: CASES }, (_, i) => ({
        id: `case-${i}`,
        input: { question: `case ${i}` },
        expected: 'pong',
      })),
    },
    200,
  );

  /** Runs accepted and not yet read back. */
  const accepted: string[] = [];
  const expectFinished = async (runId: string) => {
    const run = (await call('GET', `/eval/results/${runId}`, operator, undefined, 200)) as RunResult;
    const [metric] = run.metrics ?? [];
    if (
      run.status !== 'completed' ||
      metric?.tasks !== CASES ||
      metric.scoredTrials !== CASES ||
      metric.errorTrials !== 0 ||
      metric.passRate !== 1
    )
      throw new Error(`eval run ${runId} did not finish with ${CASES} passed: ${JSON.stringify(run)}`);
    const report = (await call(
      'GET',
      `/eval/results/${runId}/report`,
      operator,
      undefined,
      200,
    )) as RunReport;
    const trials = (report.results ?? []).flatMap((result) => result.trials);
    if (trials.length !== CASES || !trials.every((trial) => trial.kind === 'scored' && trial.pass))
      throw new Error(`eval run ${runId}: its report does not hold ${CASES} passed trials`);
  };

  const run: Kind = {
    name: `eval run, ${CASES} cases`,
    method: 'POST',
    path: '/eval/run',
    token: operator,
    status: 202,
    note:
      `One POST /eval/run of a ${CASES}-case suite against one expert, and the eval worker's run of it ` +
      `(${CASES} expert calls, scoring, report and results stored): one case costs this price / ${CASES}. ` +
      'Polling GET /eval/results/{runId} (as conductor-eval remote does) is not included.',
    body: () => ({ suiteId: SUITE_ID, expertIds: [expert.id] }),
    verify: async () => {
      for (const runId of accepted.splice(0)) await expectFinished(runId);
    },
    check: (reply) => {
      const { runId, status } = reply as { runId?: unknown; status?: unknown };
      if (typeof runId !== 'string' || !runId.startsWith('run_') || status !== 'queued')
        throw new Error('expected a queued run');
      accepted.push(runId);
    },
  };
  return [run];
};
