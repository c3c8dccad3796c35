import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliHarness, type CliRunOptions, jsonOf as json, startCliHarness } from './cli-harness.js';

/**
 * `conductor budgets` and `conductor jobs`, run as child processes against the embedded runtime:
 * what they send, what they print for people and for machines, and how they fail.
 */
let cli: CliHarness;

const conductor = (args: readonly string[], options?: CliRunOptions) => cli.run(args, options);
const setBudget = (as: string, ...args: string[]) => conductor(['budgets', 'set', '--as', as, ...args]);
const enqueue = (args: readonly string[], options?: CliRunOptions) =>
  conductor(['jobs', 'enqueue', ...args], options);
const SCHEDULER_QUEUES = ['high', 'jobs', 'low'].map((name) => `conductor-scheduler-${name}`);
const drainJobs = async (): Promise<void> => {
  for (const queue of SCHEDULER_QUEUES) await cli.harness.conductor.mappings.get(queue)?.drain();
};
/** The environment of a user of another tenant, with a token minted for it. */
const asMinted = async (tenant: string, roles: string[]): Promise<Record<string, string>> => ({
  CONDUCTOR_API: cli.harness.conductor.apiUrl,
  CONDUCTOR_TOKEN: await cli.harness.conductor.issuer.mint({
    subject: `cli-${tenant}-${roles.join('-')}`,
    tenant,
    roles,
    amr: ['pwd', 'mfa'],
  }),
});
const jobCount = async (token: string | undefined): Promise<number> => {
  const reply = await cli.harness.call('GET', '/scheduler/jobs?limit=100', { token });
  expect(reply.status, reply.text).toBe(200);
  return reply.json.items.length;
};

beforeAll(async () => {
  cli = await startCliHarness();
});

afterAll(async () => {
  await cli?.stop();
});

describe('conductor budgets', () => {
  it('sets a budget as the tenant admin and shows it, with the policy defaults the API filled in', async () => {
    // Prepare
    const args = ['--window', 'monthly', '--limit', '1000', '--grace', '10', '--time-zone', 'Europe/Berlin'];
    const thresholds = ['--thresholds', '80,50'];

    // Act
    const answer = json(await setBudget('acme-admin', ...args, ...thresholds, '--json'));
    const human = await setBudget('acme-admin', ...args, ...thresholds);

    // Assess
    expect(answer).toMatchObject({
      ok: true,
      budget: {
        tenantId: 'acme',
        window: 'monthly',
        limitUsd: 1000,
        timeZone: 'Europe/Berlin',
        policy: { gracePercent: 10, burstPercent: 0, mode: 'throttle', alertThresholds: [50, 80] },
        version: 1,
      },
    });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^limit\s+\$1000\.00$/m);
    expect(human.stdout).toMatch(/^grace\s+10 %$/m);
    expect(human.stdout).toMatch(/^thresholds\s+50 %, 80 %$/m);
    expect(human.stdout).toMatch(/^version\s+2$/m);
  });

  it('reads the state as a table for people and as the API’s JSON with --json', async () => {
    const table = await conductor(['budgets', 'state', '--as', 'acme-viewer']);
    const data = json(
      await conductor(['budgets', 'state', '--as', 'acme-viewer', '--window', 'monthly', '--json']),
    );
    const none = await conductor(['budgets', 'state', '--as', 'acme-viewer', '--window', 'daily']);

    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(
      /^WINDOW\s+WINDOW ID\s+STATE\s+SPENT\s+RESERVED\s+PROJECTED\s+CAP\s+REMAINING\n/,
    );
    expect(table.stdout).toMatch(/^monthly\s+monthly:\d{4}-\d{2}\s+ok\s+\$\d+\.\d{2}.*\$1100\.00/m);
    expect(data).toMatchObject({
      tenantId: 'acme',
      budgets: [{ window: 'monthly', timeZone: 'Europe/Berlin', limitUsd: 1000, capUsd: 1100, state: 'ok' }],
    });
    expect(data.budgets).toHaveLength(1);
    expect(none.code, none.stderr).toBe(0);
    expect(none.stdout.trim()).toBe(`no daily budget for acme (set one with 'conductor budgets set')`);
  });

  it('refuses a window kind the API does not have before calling it (exit 2), changing nothing', async () => {
    const before = json(await conductor(['budgets', 'state', '--as', 'acme-viewer', '--json']));

    const run = await setBudget('acme-admin', '--window', 'hourly', '--limit', '10');

    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`--window must be one of daily, weekly, monthly, got 'hourly'`);
    expect(run.stderr).toContain(`run 'conductor budgets set --help' for usage`);
    expect(json(await conductor(['budgets', 'state', '--as', 'acme-viewer', '--json']))).toEqual(before);
  });

  it('prints the API’s 400 for a negative limit, naming the field (exit 1)', async () => {
    const run = await setBudget('acme-admin', '--window', 'daily', '--limit=-5');

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^error: 400 validation_failed: /);
    expect(run.stderr).toContain('body.limit');
    expect(run.stderr).toMatch(/trace: [0-9a-f-]{36}/);
  });

  it('prints the API’s 403 when an operator sets a budget (exit 1, the uniform error as JSON with --json)', async () => {
    const run = await setBudget('acme-operator', '--window', 'daily', '--limit', '5', '--json');

    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(JSON.parse(run.stderr)).toEqual({
      status: 403,
      code: 'policy_denied',
      message: expect.stringContaining('not allowed for your roles'),
      traceId: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
  });
});

describe('conductor budgets what-if', () => {
  const DEMAND = Array.from({ length: 10 }, (_, i) => ({
    at: new Date(Date.parse('2026-12-01T08:00:00Z') + i * 600_000).toISOString(),
    priority: 'high',
    estimatedCostUsd: 1,
  }));
  const writeTrace = (name: string, content: string): string => {
    writeFileSync(join(cli.workDir, name), content);
    return name;
  };
  const whatIf = (...args: string[]) =>
    conductor(['budgets', 'what-if', '--as', 'acme-viewer', '--window', 'daily', '--limit', '5', ...args]);

  it('replays a trace file (a path relative to the working directory) and prints the outcome and each window', async () => {
    const file = writeTrace('demand.json', JSON.stringify(DEMAND));

    const human = await whatIf('--grace', '10', '--trace', file);
    const data = json(await whatIf('--grace', '10', '--trace', file, '--json'));

    expect(data).toMatchObject({ jobs: 10, admitted: 5, throttled: 5, delayed: 0, spentUsd: 5 });
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^admitted\s+5$/m);
    expect(human.stdout).toMatch(/^throttled\s+5 \(refused for good\)$/m);
    expect(human.stdout).toMatch(/^delayed\s+0 \(admitted after a 429; mean delay 0 s\)$/m);
    expect(human.stdout).toMatch(/^spent\s+\$5\.00$/m);
    expect(human.stdout).toMatch(/^high\s+5\s+0\s+5$/m);
    expect(human.stdout).toMatch(/^WINDOW ID\s+ADMITTED\s+REFUSED\s+SPENT\s+BREACHED AT$/m);
    expect(human.stdout).toMatch(/^daily:2026-12-01\s+5\s+5\s+\$5\.00\s+2026-12-01T/m);
  });

  it('plays a client that retries after Retry-After with --retry: refused jobs become delayed', async () => {
    // Ten $1 jobs in the last hour of a day: the five the $5 budget refuses fit into the next day.
    const lateDemand = DEMAND.map((job, i) => ({
      ...job,
      at: new Date(Date.parse('2026-12-01T23:00:00Z') + i * 300_000).toISOString(),
    }));
    const file = writeTrace('demand-late.json', JSON.stringify(lateDemand));

    const once = json(await whatIf('--trace', file, '--json'));
    const retried = json(await whatIf('--trace', file, '--retry', '--json'));
    const human = await whatIf('--trace', file, '--retry');

    expect(once).toMatchObject({ admitted: 5, delayed: 0, throttled: 5 });
    expect(retried).toMatchObject({ admitted: 10, delayed: 5, throttled: 0 });
    expect(retried.meanDelaySeconds).toBeGreaterThan(0);
    expect(human.stdout).toMatch(/^delayed\s+5 \(admitted after a 429; mean delay \d+ (s|min)\)$/m);
  });

  it('replays the tenant’s recorded jobs from --recorded-from to now', async () => {
    // Prepare: globex records two jobs of $2 (no other test enqueues in globex).
    const from = new Date(Date.now() - 60_000).toISOString();
    for (const n of [1, 2])
      json(
        await enqueue([
          '--as',
          'globex-admin',
          '--payload',
          `{"recorded":${n}}`,
          '--estimate',
          '2',
          '--json',
        ]),
      );

    // Act: a $3 daily limit would have let one of them through.
    const data = json(
      await conductor([
        'budgets',
        'what-if',
        '--as',
        'globex-viewer',
        '--window',
        'daily',
        '--limit',
        '3',
        '--recorded-from',
        from,
        '--json',
      ]),
    );

    // Assess
    expect(data).toMatchObject({ jobs: 2, admitted: 1, throttled: 1, spentUsd: 2 });
  });

  it('refuses a bad trace file before calling the API, saying what is wrong with it (exit 2)', async () => {
    const cases: [string[], string][] = [
      [['--trace', 'missing.json'], '--trace: cannot read missing.json (ENOENT)'],
      [['--trace', writeTrace('not-json.json', '{at: 1')], '--trace: not-json.json is not JSON'],
      [
        ['--trace', writeTrace('object.json', '{"at":"2026-12-01T00:00:00Z"}')],
        '--trace: object.json must hold a JSON array of {at, priority?, estimatedCostUsd',
      ],
      [
        [
          '--trace',
          writeTrace(
            'no-cost.json',
            '[{"at":"2026-12-01T00:00:00Z","estimatedCostUsd":1},{"at":"2026-12-01T01:00:00Z"}]',
          ),
        ],
        '--trace: item 1 of no-cost.json has no numeric "estimatedCostUsd"',
      ],
      [
        [
          '--trace',
          writeTrace(
            'priority.json',
            '[{"at":"2026-12-01T00:00:00Z","estimatedCostUsd":1,"priority":"urgent"}]',
          ),
        ],
        '--trace: item 0 of priority.json has "priority" "urgent", not one of high, normal, low',
      ],
      [
        ['--trace', 'demand.json', '--recorded-from', '2026-12-01T00:00:00Z'],
        'give --trace <file> or --recorded-from <iso-time>, not both',
      ],
      [[], 'give the demand: --trace <file> or --recorded-from <iso-time>'],
      [
        ['--trace', 'demand.json', '--mode', 'panic'],
        `--mode must be one of soft, throttle, downgrade, got 'panic'`,
      ],
    ];

    for (const [args, message] of cases) {
      const run = await whatIf(...args);

      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toContain(`error: ${message}`);
    }
  });

  it('prints the API’s 400 for a trace whose values are wrong (exit 1)', async () => {
    const file = writeTrace('negative.json', '[{"at":"2026-12-01T00:00:00Z","estimatedCostUsd":-1}]');

    const run = await whatIf('--trace', file);

    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^error: 400 validation_failed: /);
    expect(run.stderr).toContain('body.trace.0.estimatedCostUsd');
  });
});

describe('conductor jobs', () => {
  it('enqueues a job, then gets it completed with its cost and finds it in the list', async () => {
    // Act
    const accepted = json(
      await enqueue([
        '--as',
        'acme-operator',
        '--queue',
        'interactive',
        '--payload',
        '{"report":"weekly-costs"}',
        '--estimate',
        '0.25',
        '--key',
        'cli-weekly-costs',
        '--json',
      ]),
    );
    await drainJobs();
    const job = json(await conductor(['jobs', 'get', accepted.jobId, '--as', 'acme-viewer', '--json']));
    const shown = await conductor(['jobs', 'get', accepted.jobId, '--as', 'acme-viewer']);
    const page = json(await conductor(['jobs', 'list', '--as', 'acme-viewer', '--limit', '100', '--json']));
    const listed = await conductor(['jobs', 'list', '--as', 'acme-viewer', '--limit', '100']);
    const spent = json(await conductor(['budgets', 'state', '--as', 'acme-viewer', '--json']));

    // Assess
    expect(accepted).toEqual({
      jobId: expect.stringMatching(/^job_/),
      status: 'queued',
      priority: 'high',
      budgetState: 'ok',
    });
    expect(job).toMatchObject({
      jobId: accepted.jobId,
      queue: 'interactive',
      status: 'completed',
      priority: 'high',
      payload: { report: 'weekly-costs' },
      estimatedCostUsd: 0.25,
      costUsd: 0.25,
      idempotencyKey: 'cli-weekly-costs',
      budgetWindows: [expect.stringMatching(/^monthly:\d{4}-\d{2}$/)],
    });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^status\s+completed$/m);
    expect(shown.stdout).toMatch(/^cost\s+\$0\.25$/m);
    expect(shown.stdout).toMatch(/^payload\s+\{"report":"weekly-costs"\}$/m);
    expect(page.items.map((item: { jobId: string }) => item.jobId)).toContain(accepted.jobId);
    expect(listed.stdout).toMatch(/^JOB\s+QUEUE\s+STATUS\s+PRIORITY\s+ESTIMATE\s+COST\s+CREATED$/m);
    expect(listed.stdout).toMatch(
      new RegExp(`^${accepted.jobId}\\s+interactive\\s+completed\\s+high\\s+\\$0\\.25`, 'm'),
    );
    expect(spent.budgets[0].spentUsd).toBeGreaterThanOrEqual(0.25);
  });

  it('prints a job for people: its id, status, priority and the budget state', async () => {
    const run = await enqueue(['--as', 'acme-operator', '--queue', 'batch', '--payload', '{"n":1}']);

    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^job\s+job_\S+$/m);
    expect(run.stdout).toMatch(/^status\s+queued$/m);
    expect(run.stdout).toMatch(/^priority\s+low$/m);
    expect(run.stdout).toMatch(/^budget state\s+ok$/m);
  });

  it('pages through the jobs, pointing at the next page', async () => {
    const first = await conductor(['jobs', 'list', '--as', 'acme-viewer', '--limit', '1']);
    const cursor = /more: --cursor (\S+)/.exec(first.stdout)?.[1];
    const second = json(
      await conductor([
        'jobs',
        'list',
        '--as',
        'acme-viewer',
        '--limit',
        '1',
        '--cursor',
        cursor ?? '',
        '--json',
      ]),
    );

    expect(first.code, first.stderr).toBe(0);
    expect(cursor).toEqual(expect.any(String));
    expect(second.items).toHaveLength(1);
    expect(first.stdout).not.toContain(second.items[0].jobId);
  });

  it('refuses a payload that is not JSON before calling the API (exit 2), queueing nothing', async () => {
    const before = await jobCount(cli.harness.tokens.acmeViewer);

    const run = await enqueue(['--as', 'acme-operator', '--payload', 'report=weekly']);
    const array = await enqueue(['--as', 'acme-operator', '--payload', '[1,2]']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('error: --payload is not JSON');
    expect(array.code).toBe(2);
    expect(array.stderr).toContain('error: --payload must be a JSON object');
    expect(await jobCount(cli.harness.tokens.acmeViewer)).toBe(before);
  });

  it('sends --expert and --route as the job’s target: an unknown expert is the API’s 422, both at once a usage error', async () => {
    const before = await jobCount(cli.harness.tokens.acmeViewer);

    const unknown = await enqueue(['--as', 'acme-operator', '--payload', '{}', '--expert', 'exp_nobody']);
    const unrouted = await enqueue([
      '--as',
      'acme-operator',
      '--payload',
      '{}',
      '--route',
      'exp_nobody,exp_nothing',
      '--context',
      '{"lang":"en"}',
    ]);
    const both = await enqueue(['--as', 'acme-operator', '--payload', '{}', '--expert', 'a', '--route', 'b']);

    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('error: 422 unknown_expert');
    expect(unrouted.code).toBe(1);
    expect(unrouted.stderr).toMatch(/error: 4\d\d /);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('give --expert or --route, not both');
    expect(await jobCount(cli.harness.tokens.acmeViewer)).toBe(before);
  });

  it('prints the API’s 404 for a job of another tenant (exit 1)', async () => {
    const accepted = json(
      await enqueue(['--as', 'acme-operator', '--payload', '{"private":true}', '--json']),
    );

    const run = await conductor(['jobs', 'get', accepted.jobId, '--as', 'globex-viewer']);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('error: 404 job_not_found');
  });

  it('prints the server’s message and Retry-After of a 429 budget_throttled, and exits 1', async () => {
    // Prepare: a tenant of its own whose $10 monthly budget one high job fills (breached: low work waits).
    const admin = await asMinted('initech', ['tenant-admin']);
    const operator = await asMinted('initech', ['operator']);
    json(
      await conductor(['budgets', 'set', '--window', 'monthly', '--limit', '10', '--json'], { env: admin }),
    );
    const filling = json(
      await enqueue(['--queue', 'interactive', '--payload', '{"fill":true}', '--estimate', '10', '--json'], {
        env: operator,
      }),
    );

    // Act
    const human = await enqueue(['--queue', 'batch', '--payload', '{"low":1}'], { env: operator });
    const machine = await enqueue(['--queue', 'batch', '--payload', '{"low":2}', '--json'], {
      env: operator,
    });

    // Assess
    expect(filling.budgetState).toBe('budget-throttled');
    expect(human.code).toBe(1);
    expect(human.stdout).toBe('');
    expect(human.stderr).toMatch(
      /^error: 429 budget_throttled: The monthly budget is breached .*: low jobs wait; nothing was queued\.\n {2}retry after: \d+ s\n/,
    );
    expect(machine.code).toBe(1);
    const error = JSON.parse(machine.stderr);
    expect(error).toMatchObject({
      status: 429,
      code: 'budget_throttled',
      details: { window: 'monthly', priority: 'low', state: 'budget-throttled' },
    });
    expect(error.retryAfterSeconds).toBeGreaterThan(0);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(300);
  });
});
