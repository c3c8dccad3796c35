import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * What a newcomer does: `npm start`, paste the printed curl lines, Ctrl-C, start again. The runtime
 * runs as its own process here, exactly as `npm start` runs it (tsx infra/local/main.ts).
 */
const root = resolve(import.meta.dirname, '../..');
const dataDir = mkdtempSync(join(tmpdir(), 'conductor-start-'));
const run = promisify(execFile);

interface Started {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly api: string;
}

const start = async (extra: readonly string[] = []): Promise<Started> => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'infra/local/main.ts', '--port', '0', '--data-dir', dataDir, ...extra],
    {
      cwd: root,
      env: { ...process.env, NODE_NO_WARNINGS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
  });
  const deadline = Date.now() + 45_000;
  while (!out.includes('Press Ctrl-C to stop.')) {
    if (child.exitCode !== null) throw new Error(`npm start exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`npm start did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const api = /API\s+(http:\/\/\S+)/.exec(out)?.[1];
  if (!api) throw new Error(`no API line in:\n${out}`);
  return { child, output: () => out, api };
};

const stop = async (started: Started): Promise<number | null> => {
  const exited = new Promise<number | null>((r) => started.child.once('exit', (code) => r(code)));
  started.child.kill('SIGINT');
  return exited;
};

/** The curl commands of the "Try it" block, with their line continuations joined. */
const curlLines = (output: string): string[] =>
  output
    .slice(output.indexOf('Try it:'))
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('curl '))
    .map((line) => line.replace(/\s+#.*$/, ''));

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('npm start', () => {
  it('serves the API, prints curl lines that work, stops on Ctrl-C and keeps the data for the next start', async () => {
    const first = await start();
    // The first thing printed, before the runtime is loaded: a newcomer sees at once that it began.
    expect(first.output().split('\n')[0]).toMatch(
      /^Starting Conductor \(embedded runtime, port any free one, data in /,
    );
    const env = { ...process.env };
    for (const line of readFileSync(join(dataDir, 'tokens.env'), 'utf8').split('\n')) {
      const match = /^export (\w+)='(.*)'$/.exec(line);
      if (match?.[1] && match[2]) env[match[1]] = match[2];
    }
    // tokens.env carries the API of the port actually used (here a free one, not 4000).
    expect(env.API).toBe(first.api);

    const lines = curlLines(first.output());
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.some((line) => line.includes('/router/route') && line.includes('exp_'))).toBe(true);
    for (const line of lines) {
      const { stdout } = await run(
        'bash',
        ['-c', `${line.replace(/^curl -s/, 'curl -s -w "\\n%{http_code}"')}`],
        { env },
      );
      const status = Number(stdout.trim().split('\n').pop());
      expect(status, `${line}\n${stdout}`).toBeGreaterThanOrEqual(200);
      expect(status, `${line}\n${stdout}`).toBeLessThan(300);
    }

    const viewer = env.ACME_VIEWER_TOKEN ?? '';
    const before = await fetch(`${first.api}/experts?limit=100`, {
      headers: { authorization: `Bearer ${viewer}` },
    });
    const firstList = (await before.json()) as { items: { name: string }[] };
    // Three seeded demo experts plus the one the printed POST created.
    expect(firstList.items.map((e) => e.name).sort()).toEqual([
      'general_llm',
      'graph_ops',
      'rag_retrieval',
      'summarizer-large',
    ]);

    expect(await stop(first)).toBe(0);
    expect(first.output()).toContain('Stopped.');

    // The second start runs the API functions in a worker thread: the walk-through must not notice.
    const second = await start(['--api-workers', '1']);
    expect(second.output()).toContain('the API functions in 1 worker thread,');
    try {
      // The README's walk-through, verbatim but for the data folder and port.
      const readme = readFileSync(join(root, 'README.md'), 'utf8');
      const begin = readme.indexOf('```bash\nsource .conductor/tokens.env');
      expect(begin).toBeGreaterThan(0);
      const script = readme
        .slice(begin + '```bash\n'.length, readme.indexOf('```', begin + 10))
        .replaceAll('.conductor/tokens.env', join(dataDir, 'tokens.env'))
        .replaceAll('http://127.0.0.1:4000', second.api.replace(/\/api\/conductor\/v1$/, ''));
      const edgeDir = join(dataDir, 'edge');
      const { stdout } = await run('bash', [
        '-c',
        `set -euo pipefail\nexport CONDUCTOR_EDGE_DIR='${edgeDir}'\n${script}`,
      ]);
      expect(stdout).toContain('"status":"ok"');
      expect(stdout).toContain('"code":"policy_denied"');
      expect(stdout).toContain('"code":"endpoint_metadata_address"');
      expect(stdout).toContain('"obligations":["request_approval"]');
      expect(stdout).toContain('"status":"approved"');
      expect(stdout).toContain('"rationaleId"');
      expect(stdout).toContain('"propensity"');
      expect(stdout).toContain('"accepted":true');
      expect(stdout).toContain('"explorationCap":0.2');
      expect(stdout).toContain('"changedBy"');
      // Router part 2: the shadow's pick in the rationale, the replay job, an outcome with its arm.
      expect(stdout).toContain('"mode":"shadow"');
      expect(stdout).toContain('"name":"triage-thompson"');
      expect(stdout).toMatch(/"shadow":\{"expertId":"exp_/);
      expect(stdout).toMatch(/"jobId":"rpl_[^"]+","status":"queued"/);
      expect(stdout).toMatch(/"replay":\{"createdAt":"[^"]+","jobId":"rpl_[^"]+","status":"succeeded"/);
      expect(stdout).toMatch(
        /"taskId":"canary-1","decisionId":"dec_[^"]+","expertId":"exp_[^"]+","status":"ok","latencyMs":230,"experiment":"thompson-canary","arm":"(baseline|candidate)"/,
      );
      expect(stdout).toContain('"verdict":{"rollback":false');
      // Router part 3: the objective's terms in a rationale, the priors export, an invoke that fails clearly.
      expect(stdout).toMatch(/"objective":\{"lambda":[\d.e-]+,"latencyWeight":0,"chosen":\{"expertId":"exp_/);
      expect(stdout).toContain('"format":"conductor.priors/v1"');
      expect(stdout).toMatch(/"code":"expert_failed","message":"No expert answered the task: /);
      // The scheduler: the seeded budget's state, a job completed at its estimate, the what-if.
      expect(stdout).toMatch(
        /"tenantId":"acme","budgets":\[\{"window":"monthly","windowId":"monthly:\d{4}-\d{2}"/,
      );
      expect(stdout).toContain('"timeZone":"Europe/Berlin"');
      expect(stdout).toMatch(/"queue":"batch","status":"completed","priority":"low"/);
      expect(stdout).toContain('"costUsd":0.25');
      expect(stdout).toContain(
        '"jobs":10,"admitted":5,"demoted":0,"delayed":0,"meanDelaySeconds":0,"throttled":5,"spentUsd":5',
      );
      // Evaluation: the seeded suite, a run accepted, an unknown suite refused, another tenant's run hidden.
      expect(stdout).toContain('"suiteId":"sums"');
      expect(stdout).toContain('"code":"suite_not_found"');
      expect(stdout).toContain('"code":"run_not_found"');
      // Runbooks: the seeded signed runbook, and a tampered copy refused.
      expect(stdout).toMatch(/"runbookId":"restart-service","latestVersion":1/);
      expect(stdout).toContain('"code":"signature_invalid"');
      // An execution: the requester refused as approver, the on-call approval, the timeline.
      expect(stdout).toMatch(
        /"executionId":"rbx_[^"]+","runbookId":"restart-service","version":1,"status":"awaiting_approval"/,
      );
      expect(stdout).toContain('"code":"self_approval"');
      expect(stdout).toMatch(
        /"stage":"on-call","stageIndex":0,"status":"approved","roles":\["operator","admin"\]/,
      );
      expect(stdout).toContain(
        '{"status":"failed","trail":["requested","verified","approval_requested","approved","step_started","step_failed","failed"],"trailCheck":{"ok":true}}',
      );
      // Edge sync: the seeded work order, its sign-off conflict resolved, a node of one's own, the drill.
      expect(stdout).toMatch(/"documentId":"wo-1042","type":"work-order"/);
      expect(stdout).toMatch(/"field":"signOff","rule":"manual","status":"resolved"/);
      expect(stdout).toContain('node truck-17 registered');
      expect(stdout).toMatch(/pushed 1 ops \(0 already known\), pulled \d+, 1 conflicts found/);
      expect(stdout).toContain('"signOff": "lee"');
      expect(stdout).toContain('"hoursLogged": 10');
      expect(stdout).toContain('"converged": true');
      expect(stdout).toContain('"opsLost": 0');
      // Compliance: the seeded assessments keep SOC2 fresh, an on-demand run, the register.
      expect(stdout).toMatch(/"framework":"SOC2","fresh":(\d+),"total":\1,/);
      expect(stdout).toMatch(/"framework":"SOC2","scope":\["evidence-worm"\],"status":"completed"/);
      expect(stdout).toContain('"testId":"aws.evidence-bucket-lock","result":"not_applicable"');
      expect(stdout).toContain('{"framework":"SOC2","register":[{"controlId":');
      // A data subject request: the on-call's approval (redacted on erasure) and trail entries (kept).
      expect(stdout).toMatch(
        /\{"dsrId":"dsr_[^"]+","status":"completed","found":\["RUNBOOK_EXECUTION: 1 \(redact\)","TRAIL: \d+ \(keep\)"\],"retained":\["table:policy\/DECISION",/,
      );
      expect(stdout).toMatch(
        /\{"items":\[\{"dsrId":"dsr_[^"]+","type":"access","subjectHash":"hmac-sha256:[0-9a-f]{64}"/,
      );
      expect(stdout).not.toContain('"subject":"demo-acme-oncall","tenantIds"');
      expect(stdout).toMatch(
        /"testId":"platform.runbooks-signed-approved","result":"pass","summary":"runbooks: all 1 executions since [^ ]+ were verified and approved before their steps/,
      );
      expect(stdout).not.toContain('internal_error');

      const fresh = readFileSync(join(dataDir, 'tokens.env'), 'utf8');
      const token = /ACME_VIEWER_TOKEN='([^']+)'/.exec(fresh)?.[1] ?? '';
      const after = await fetch(`${second.api}/experts?limit=100`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const secondList = (await after.json()) as { items: { name: string }[] };
      // The data survived and the demo seed did not run twice (the README walk-through added one).
      expect(secondList.items.map((e) => e.name).sort()).toEqual(
        [...firstList.items.map((e) => e.name), 'summarizer'].sort(),
      );
    } finally {
      expect(await stop(second)).toBe(0);
    }
  }, 120_000);

  it('refuses a bad --api-workers before starting anything', async () => {
    const refused = async (args: readonly string[]) => {
      const failed = await run(
        process.execPath,
        ['--import', 'tsx', 'infra/local/main.ts', '--memory', ...args],
        {
          cwd: root,
          env: { ...process.env, NODE_NO_WARNINGS: '1' },
        },
      ).then(
        () => undefined,
        (error: { code?: number; stderr?: string }) => error,
      );
      return { code: failed?.code, stderr: failed?.stderr ?? '' };
    };
    const [word, many] = await Promise.all([
      refused(['--api-workers', 'two']),
      refused(['--api-workers', '65']),
    ]);
    expect(word).toEqual({
      code: 2,
      stderr: "--api-workers must be a whole number from 0 to 64 or auto, got 'two'\n",
    });
    expect(many).toEqual({
      code: 2,
      stderr: "--api-workers must be a whole number from 0 to 64 or auto, got '65'\n",
    });
  });
});
