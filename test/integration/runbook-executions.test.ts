import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionKey } from '#shared/adapters/tenant-store.js';
import { LocalRsaSigner, parseRunbook, type Runbook, signRunbook } from '../../functions/runbooks/offline.js';
import { expectUniformError, type Harness, type Reply, startHarness } from './harness.js';

/**
 * Runbook executions over HTTP on the embedded runtime, through the approval flow CDK deploys (run
 * by the local Step Functions interpreter): execute -> approval stages -> steps -> timeline, and
 * every refusal the issue names (tampered runbook, self-approval, a changed parameter, rejection,
 * timeout, M-of-N, bad input, another tenant).
 */
let h: Harness;
let signer: LocalRsaSigner;
let server: Server;
let restarts: { path: string; body: string }[] = [];
type Who = 'admin' | 'requester' | 'approver' | 'approver2' | 'orgAdmin' | 'viewer' | 'notStepped' | 'globex';
const tokens = {} as Record<Who, string>;

const until = async (check: () => Promise<boolean>, what: string, timeoutMs = 15_000) => {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
};

const runbook = (overrides: Partial<Runbook> & { id: string }, url: string): Runbook =>
  parseRunbook(
    JSON.stringify({
      apiVersion: 'conductor.runbook/v1',
      version: 1,
      description: 'Restart a service, then confirm it is healthy',
      parameters: {
        type: 'object',
        required: ['service'],
        additionalProperties: false,
        properties: {
          service: { type: 'string', enum: ['billing', 'search'] },
          drain: { type: 'boolean', default: true },
        },
      },
      approvals: [{ name: 'on-call', roles: ['operator', 'admin'], minApprovers: 1, timeoutSeconds: 3600 }],
      steps: [
        {
          id: 'restart',
          name: 'Restart',
          type: 'http',
          privileged: true,
          method: 'POST',
          url: `${url}/services/\${params.service}/restart`,
          // biome-ignore lint/suspicious/noTemplateCurlyInString: a runbook placeholder, not a JS template.
          body: { drain: '${params.drain}' },
        },
        {
          id: 'announce',
          name: 'Announce',
          type: 'notify',
          channel: 'slack:#ops',
          // biome-ignore lint/suspicious/noTemplateCurlyInString: runbook placeholders, not a JS template.
          message: 'restarted ${params.service}: ${steps.restart.output.body.state}',
        },
      ],
      ...overrides,
    }),
    `${overrides.id}.json`,
  );

const publish = async (value: Runbook) => {
  const reply = await h.call('POST', '/runbooks/registry', {
    token: tokens.admin,
    body: { runbook: value, signature: await signRunbook(value, signer, new Date()) },
  });
  expect(reply.status, reply.text).toBe(201);
};

const execute = (body: unknown, token = tokens.requester) =>
  h.call('POST', '/runbooks/execute', { token, body });
const timeline = (id: string, token = tokens.viewer) =>
  h.call('GET', `/runbooks/executions/${id}`, { token });
const decide = (requestId: string, body: unknown, token: string) =>
  h.call('POST', `/approvals/requests/${requestId}/decision`, { token, body });

const waitingStage = async (executionId: string, index: number) => {
  await until(
    async () => (await timeline(executionId)).json.stages[index]?.status === 'waiting',
    `stage ${index} waiting`,
  );
};
const finished = async (executionId: string): Promise<Reply> => {
  let last: Reply | undefined;
  await until(async () => {
    last = await timeline(executionId);
    return ['succeeded', 'failed', 'rejected', 'timed_out'].includes(last.json.status);
  }, `execution ${executionId} to end`);
  return last as Reply;
};
const events = (type: string) =>
  h.conductor.bus
    .history(1000)
    .map((entry) => entry.event)
    .filter((event) => event['detail-type'] === type)
    .map((event) => event.detail as Record<string, unknown>);

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      restarts.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ state: 'restarted' }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A minute's stage timeout becomes about a second here (the timeout test waits for it).
  h = await startHarness({ allowPrivateEndpoints: true, approvalTimeoutScale: 1 / 60 });
  signer = await LocalRsaSigner.open(h.conductor.runbookKeyDir);
  const mint = (subject: string, tenant: string, roles: string[], mfa = true) =>
    h.conductor.issuer.mint({ subject, tenant, roles, ...(mfa ? { amr: ['pwd', 'mfa'] } : {}) });
  tokens.admin = await mint('ada', 'acme', ['admin']);
  tokens.requester = await mint('rita', 'acme', ['operator']);
  tokens.approver = await mint('otto', 'acme', ['operator']);
  tokens.approver2 = await mint('olga', 'acme', ['admin']);
  tokens.orgAdmin = await mint('oscar', 'acme', ['org-admin']);
  tokens.viewer = await mint('vera', 'acme', ['viewer']);
  tokens.notStepped = await mint('nils', 'acme', ['operator'], false);
  tokens.globex = await mint('gus', 'globex', ['admin']);
  await publish(runbook({ id: 'restart' }, url));
  await publish(
    runbook(
      {
        id: 'two-stages',
        approvals: [
          { name: 'on-call', roles: ['operator'], minApprovers: 1, timeoutSeconds: 3600 },
          { name: 'owners', roles: ['admin'], minApprovers: 1, timeoutSeconds: 3600 },
        ],
      },
      url,
    ),
  );
  await publish(
    runbook(
      {
        id: 'dual',
        approvals: [
          { name: 'security', roles: ['operator', 'admin'], minApprovers: 2, timeoutSeconds: 3600 },
        ],
      },
      url,
    ),
  );
  await publish(
    runbook(
      {
        id: 'quick-timeout',
        approvals: [{ name: 'on-call', roles: ['operator'], minApprovers: 1, timeoutSeconds: 60 }],
      },
      url,
    ),
  );
  await publish(
    runbook(
      {
        id: 'manual',
        approvals: [],
        steps: [
          {
            id: 'look',
            name: 'Look at the dashboard',
            type: 'manual',
            privileged: false,
            instructions: 'Is it green?',
          },
        ],
      },
      url,
    ),
  );
});
afterAll(async () => {
  // Executions still waiting for a decision are left behind (their timers end with the process).
  await h.conductor.stop();
  server.close();
});

describe('POST runbooks/execute -> approval -> steps -> timeline', () => {
  it('runs the steps once the stage is approved, and the timeline is a verified hash chain', async () => {
    // Prepare
    restarts = [];

    // Act
    const started = await execute({ runbookId: 'restart', params: { service: 'search' } });
    const id = started.json.executionId as string;
    await waitingStage(id, 0);
    const request = await h.call('POST', '/approvals/requests', {
      token: tokens.requester,
      body: { executionId: id, stage: 'on-call' },
    });
    const approved = await decide(
      request.json.requestId,
      { decision: 'approve', digest: started.json.digest },
      tokens.approver,
    );
    const end = await finished(id);

    // Assess
    expect(started.status, started.text).toBe(202);
    expect(started.json).toMatchObject({
      status: 'awaiting_approval',
      params: { service: 'search', drain: true },
    });
    expect(request.status, request.text).toBe(200);
    expect(request.json).toMatchObject({ stage: 'on-call', status: 'waiting', digest: started.json.digest });
    expect(approved.status, approved.text).toBe(200);
    expect(approved.json).toMatchObject({ status: 'approved', approvals: 1 });
    expect(end.json.status, JSON.stringify(end.json)).toBe('succeeded');
    expect(restarts).toEqual([{ path: '/services/search/restart', body: JSON.stringify({ drain: 'true' }) }]);
    expect(end.json.trail.map((entry: { kind: string }) => entry.kind)).toEqual([
      'requested',
      'verified',
      'approval_requested',
      'approved',
      'step_started',
      'step_finished',
      'step_started',
      'step_finished',
      'succeeded',
    ]);
    expect(end.json.trailCheck).toEqual({ ok: true });
    expect(end.json.trailHead.seq).toBe(8);
    expect(events('runbook_executed')).toContainEqual(
      expect.objectContaining({ executionId: id, status: 'succeeded', durationMs: expect.any(Number) }),
    );
    expect(events('approval_requested')).toContainEqual(
      expect.objectContaining({ executionId: id, stage: 'on-call', requestId: `${id}.0` }),
    );
    expect(events('runbook_notification')).toContainEqual(
      expect.objectContaining({ executionId: id, message: 'restarted search: restarted' }),
    );
  });

  it('refuses a tampered stored runbook at execute (422), quarantines it and fires unsigned_runbook', async () => {
    // Prepare: someone edits the stored version behind the registry's back.
    const doc = DynamoDBDocumentClient.from(
      new DynamoDBClient({ region: 'us-east-1', endpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB }),
    );
    const key = { pk: partitionKey('acme', 'RUNBOOK_VERSION'), sk: 'restart@0000000001' };
    const table = process.env.RUNBOOKS_TABLE_NAME;
    const item = (await doc.send(new GetCommand({ TableName: table, Key: key }))).Item ?? {};
    const tampered = String(item.document).replace('/restart', '/wipe');
    await doc.send(new PutCommand({ TableName: table, Item: { ...item, document: tampered } }));
    restarts = [];

    // Act
    const refused = await execute({ runbookId: 'restart', params: { service: 'billing' } });
    const stored = await h.call('GET', '/runbooks/registry/restart', { token: tokens.viewer });

    // Assess
    expectUniformError(refused, 422, 'runbook_signature_invalid');
    expect(stored.json.status).toBe('quarantined');
    expect(events('unsigned_runbook')).toContainEqual(
      expect.objectContaining({ runbookId: 'restart', at: 'execute', reason: 'digest_mismatch' }),
    );
    expect(restarts).toEqual([]);
  });
});

describe('revoked versions', () => {
  it('refuses to execute a revoked version (409) and refuses a replay of its signed content (409)', async () => {
    // Prepare
    const value = runbook({ id: 'revocable' }, 'https://ops.example.com');
    const signature = await signRunbook(value, signer, new Date());
    const first = await h.call('POST', '/runbooks/registry', {
      token: tokens.admin,
      body: { runbook: value, signature },
    });

    // Act
    const notStepped = await h.call('POST', '/runbooks/registry/revocable/versions/1/revoke', {
      token: tokens.notStepped,
      body: { reason: 'wrong drain default' },
    });
    const revoked = await h.call('POST', '/runbooks/registry/revocable/versions/1/revoke', {
      token: tokens.admin,
      body: { reason: 'wrong drain default' },
    });
    const executed = await execute({ runbookId: 'revocable', params: { service: 'search' } });
    const replayed = await h.call('POST', '/runbooks/registry', {
      token: tokens.admin,
      body: { runbook: value, signature },
    });

    // Assess
    expect(first.status, first.text).toBe(201);
    expect(notStepped.status).toBe(403);
    expect(revoked.status, revoked.text).toBe(200);
    expect(revoked.json).toMatchObject({
      status: 'revoked',
      revokedBy: 'ada',
      revokeReason: 'wrong drain default',
    });
    expectUniformError(executed, 409, 'runbook_revoked');
    expectUniformError(replayed, 409, 'runbook_version_revoked');
  });
});

describe('approval flows', () => {
  it('rejected at stage 2: the steps never run and the execution ends rejected', async () => {
    // Prepare
    restarts = [];
    const started = await execute({ runbookId: 'two-stages', params: { service: 'billing' } });
    const id = started.json.executionId as string;
    const digest = started.json.digest as string;

    // Act
    await waitingStage(id, 0);
    const first = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.approver);
    await waitingStage(id, 1);
    const second = await decide(
      `${id}.1`,
      { decision: 'reject', digest, comment: 'not now' },
      tokens.approver2,
    );
    const end = await finished(id);

    // Assess
    expect(first.json.status).toBe('approved');
    expect(second.json.status).toBe('rejected');
    expect(end.json.status).toBe('rejected');
    expect(end.json.failure).toContain('owners');
    expect(restarts).toEqual([]);
    expect(events('runbook_executed')).toContainEqual(
      expect.objectContaining({ executionId: id, status: 'rejected' }),
    );
    expect(end.json.trailCheck).toEqual({ ok: true });
  });

  it('timed out at stage 1: the execution fails with status timed_out and nothing runs', async () => {
    // Act
    const started = await execute({ runbookId: 'quick-timeout', params: { service: 'billing' } });
    const id = started.json.executionId as string;
    const end = await finished(id);
    const late = await decide(
      `${id}.0`,
      { decision: 'approve', digest: started.json.digest },
      tokens.approver,
    );

    // Assess
    expect(end.json.status).toBe('timed_out');
    expect(end.json.stages[0].status).toBe('timed_out');
    expect(end.json.trail.at(-1).kind).toBe('timed_out');
    expectUniformError(late, 409, 'execution_finished');
  });

  it('refuses self-approval (403 self_approval) and a decision naming another digest (409), changing nothing', async () => {
    // Prepare
    const other = await execute({ runbookId: 'dual', params: { service: 'billing' } });
    const changed = await execute({ runbookId: 'dual', params: { service: 'search' } });
    const id = other.json.executionId as string;
    await waitingStage(id, 0);

    // Act
    const self = await decide(
      `${id}.0`,
      { decision: 'approve', digest: other.json.digest },
      tokens.requester,
    );
    const stale = await decide(
      `${id}.0`,
      { decision: 'approve', digest: changed.json.digest },
      tokens.approver,
    );
    const view = await timeline(id);

    // Assess
    expectUniformError(self, 403, 'self_approval');
    expectUniformError(stale, 409, 'approval_digest_mismatch');
    expect(other.json.digest).not.toBe(changed.json.digest);
    expect(view.json.stages[0]).toMatchObject({ status: 'waiting', decisions: [] });
  });

  it('counts M-of-N distinct approvers: one person twice is one approval', async () => {
    // Prepare
    const started = await execute({ runbookId: 'dual', params: { service: 'search' } });
    const id = started.json.executionId as string;
    const digest = started.json.digest as string;
    await waitingStage(id, 0);

    // Act
    const one = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.approver);
    const again = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.approver);
    const two = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.approver2);
    const end = await finished(id);

    // Assess
    expect(one.json).toMatchObject({ status: 'waiting', approvals: 1 });
    expect(again.json).toMatchObject({ status: 'waiting', approvals: 1 });
    expect(two.json).toMatchObject({ status: 'approved', approvals: 2 });
    expect(end.json.status).toBe('succeeded');
  });

  it('refuses a person without a role of the stage (403 not_an_approver) and one not stepped up', async () => {
    // Prepare
    const started = await execute({ runbookId: 'two-stages', params: { service: 'search' } });
    const id = started.json.executionId as string;
    await waitingStage(id, 0);
    const digest = started.json.digest as string;

    // Act: stage on-call is for operators; an admin-only person and a viewer are not.
    const admin = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.approver2);
    const viewer = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.viewer);
    const notStepped = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.notStepped);

    // Assess
    expect(admin.status).toBe(403);
    expect(viewer.status).toBe(403);
    expect(notStepped.status).toBe(403);
    expect(notStepped.json.details?.obligations ?? []).toContain('step_up');
    expect((await timeline(id)).json.stages[0].decisions).toEqual([]);
  });
});

describe('manual steps', () => {
  it('waits for a person to confirm, then finishes', async () => {
    // Prepare
    const started = await execute({ runbookId: 'manual', params: { service: 'search' } });
    const id = started.json.executionId as string;
    await until(
      async () => (await timeline(id)).json.steps[0]?.status === 'awaiting_confirmation',
      'the manual step to wait',
    );

    // Act
    const early = await h.call('POST', `/runbooks/executions/${id}/steps/nope/confirm`, {
      token: tokens.approver,
      body: {},
    });
    const confirmed = await h.call('POST', `/runbooks/executions/${id}/steps/look/confirm`, {
      token: tokens.approver,
      body: {},
    });
    const end = await finished(id);

    // Assess
    expectUniformError(early, 404, 'step_not_found');
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(end.json.status).toBe('succeeded');
    expect(end.json.steps[0]).toMatchObject({ status: 'succeeded', confirmedBy: 'otto' });
  });
});

describe('the key ceremony', () => {
  it('rehearses the shipped key rotation: two distinct approvers, a new key version, old signatures still verify', async () => {
    // Prepare
    const rotation = parseRunbook(
      readFileSync(new URL('../../runbooks/key-rotation.json', import.meta.url), 'utf8'),
      'key-rotation.json',
    );
    await publish(rotation);
    const oldSignature = await signRunbook(rotation, signer, new Date());
    const versionBefore = await signer.keyVersion();

    // Act
    const started = await execute({ runbookId: 'key-rotation', params: { ticket: 'SEC-42' } }, tokens.admin);
    const id = started.json.executionId as string;
    const digest = started.json.digest as string;
    await waitingStage(id, 0);
    const first = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.approver2);
    const second = await decide(`${id}.0`, { decision: 'approve', digest }, tokens.orgAdmin);
    await until(
      async () => (await timeline(id)).json.steps[3]?.status === 'awaiting_confirmation',
      'the retire-old-key confirmation',
    );
    const confirmed = await h.call('POST', `/runbooks/executions/${id}/steps/retire-old-key/confirm`, {
      token: tokens.approver2,
      body: {},
    });
    const end = await finished(id);
    const rotated = await LocalRsaSigner.open(h.conductor.runbookKeyDir);
    const next = { ...rotation, version: 2 };
    const publishedWithNewKey = await h.call('POST', '/runbooks/registry', {
      token: tokens.admin,
      body: { runbook: next, signature: await signRunbook(next, rotated, new Date()) },
    });
    const oldStillVerifies = await h.call('POST', '/runbooks/registry', {
      token: tokens.admin,
      body: { runbook: rotation, signature: oldSignature },
    });

    // Assess
    expect(first.json).toMatchObject({ status: 'waiting', approvals: 1 });
    expect(second.json).toMatchObject({ status: 'approved', approvals: 2 });
    expect(confirmed.status, confirmed.text).toBe(200);
    expect(end.json.status, JSON.stringify(end.json.steps)).toBe('succeeded');
    expect(Number(await rotated.keyVersion())).toBe(Number(versionBefore) + 1);
    expect(publishedWithNewKey.status, publishedWithNewKey.text).toBe(201);
    expect(publishedWithNewKey.json.signature.keyVersion).toBe(await rotated.keyVersion());
    expect(oldStillVerifies.status, oldStillVerifies.text).toBe(200);
    expect(
      events('runbook_notification')
        .filter((e) => e.executionId === id)
        .map((e) => e.message)
        .reverse(), // the bus's history is newest first
    ).toEqual([
      expect.stringContaining('Rotating alias/conductor-runbook-signing (SEC-42)'),
      expect.stringContaining('now points at'),
    ]);
  });
});

describe('bad input and other tenants', () => {
  it('answers clear 4xx for bad parameters, an unknown runbook, execution, stage or request', async () => {
    // Act
    const badParams = await execute({ runbookId: 'dual', params: { service: 'mainframe', extra: 1 } });
    const unknownRunbook = await execute({ runbookId: 'nope', params: {} });
    const unknownExecution = await h.call('GET', '/runbooks/executions/rbx_nope', { token: tokens.viewer });
    const started = await execute({ runbookId: 'dual', params: { service: 'search' } });
    const unknownStage = await h.call('POST', '/approvals/requests', {
      token: tokens.requester,
      body: { executionId: started.json.executionId, stage: 'nope' },
    });
    const unknownRequest = await decide(
      'rbx_nope.0',
      { decision: 'approve', digest: '0'.repeat(64) },
      tokens.approver,
    );
    const viewerExecutes = await execute({ runbookId: 'dual', params: { service: 'search' } }, tokens.viewer);
    const notStepped = await execute({ runbookId: 'dual', params: { service: 'search' } }, tokens.notStepped);

    // Assess
    expectUniformError(badParams, 400, 'invalid_parameters');
    expect(badParams.text).toContain('params.service');
    expect(badParams.text).toContain('params.extra');
    expectUniformError(unknownRunbook, 404, 'runbook_not_found');
    expectUniformError(unknownExecution, 404, 'execution_not_found');
    expectUniformError(unknownStage, 404, 'stage_not_found');
    expectUniformError(unknownRequest, 404, 'approval_request_not_found');
    expect(viewerExecutes.status).toBe(403);
    expect(notStepped.status).toBe(403);
  });

  it('shows another tenant nothing and lets it decide nothing', async () => {
    // Prepare
    const started = await execute({ runbookId: 'dual', params: { service: 'billing' } });
    const id = started.json.executionId as string;
    await waitingStage(id, 0);

    // Act
    const read = await timeline(id, tokens.globex);
    const decision = await decide(
      `${id}.0`,
      { decision: 'approve', digest: started.json.digest },
      tokens.globex,
    );
    const list = await h.call('GET', '/runbooks/executions', { token: tokens.globex });

    // Assess
    expectUniformError(read, 404, 'execution_not_found');
    expectUniformError(decision, 404, 'approval_request_not_found');
    expect(list.json.items).toEqual([]);
    expect((await timeline(id)).json.stages[0].decisions).toEqual([]);
  });
});
