import { describe, expect, it } from 'vitest';
import { AppError } from '#shared/errors.js';
import { canonicalJson, sha256Hex } from '#shared/ports/canonical-json.js';
import { testSubjectHasher } from '#shared/testing/fakes.js';
import { refusal } from '#shared/testing/refusal.js';
import { bindingDigestOf, type ExecutionRecord, requestIdOf } from '../../src/domain/executions.js';
import { versionRecordId } from '../../src/domain/registry.js';
import { outputDigest, StepFailedError } from '../../src/domain/steps.js';
import { headOf, type TrailEntry } from '../../src/domain/trail.js';
import { trailRecordId } from '../../src/domain/trail-log.js';
import { FLOW_ERRORS } from '../../src/workflow/flow-contract.js';
import { approverPolicy, type ExecutionsHarness, executionsHarness } from '../support/executions-fakes.js';

const T0 = '2026-03-01T09:00:00.000Z';
const MINUTE = 60_000;

type Json = Record<string, unknown>;

/** One stage (on-call, 1 approver); an http call, a lambda using its answer, a wait, a notification. */
const restart: Json = {
  apiVersion: 'conductor.runbook/v1',
  id: 'restart',
  version: 1,
  description: 'Restart a service, record it, let it settle, tell the channel.',
  parameters: {
    type: 'object',
    required: ['service'],
    additionalProperties: false,
    properties: {
      service: { type: 'string', enum: ['billing', 'search'] },
      drain: { type: 'boolean', default: true },
      reason: { type: 'string', minLength: 5 },
    },
  },
  approvals: [{ name: 'on-call', roles: ['operator', 'admin'], minApprovers: 1, timeoutSeconds: 3600 }],
  steps: [
    {
      id: 'restart',
      name: 'Restart the service',
      type: 'http',
      privileged: true,
      timeoutSeconds: 20,
      method: 'POST',
      url: `https://ops.example.com/services/\${params.service}/restart`,
      body: { drain: `\${params.drain}` },
    },
    {
      id: 'record',
      name: 'Record the restart',
      type: 'lambda',
      functionName: 'record-restart',
      payload: { state: `\${steps.restart.output.body.state}`, answer: `\${steps.restart.output}` },
    },
    { id: 'settle', name: 'Let it settle', type: 'wait', seconds: 30 },
    {
      id: 'announce',
      name: 'Announce',
      type: 'notify',
      channel: 'slack:#ops',
      message: `\${params.service} is \${steps.restart.output.body.state} (\${steps.record.output.ticket})`,
    },
  ],
};

/** Two stages: security (2 distinct approvers, admins), then owners (1 operator). */
const dual: Json = {
  apiVersion: 'conductor.runbook/v1',
  id: 'dual',
  version: 1,
  description: 'Create a key under dual control.',
  parameters: { type: 'object', properties: { ticket: { type: 'string' } } },
  approvals: [
    { name: 'security', roles: ['admin', 'org-admin'], minApprovers: 2, timeoutSeconds: 86_400 },
    { name: 'owners', roles: ['operator'], minApprovers: 1, timeoutSeconds: 600 },
  ],
  steps: [
    {
      id: 'create-key',
      name: 'Create the key',
      type: 'aws-api',
      privileged: true,
      service: 'kms',
      action: 'kms:CreateKey',
      input: { Description: `rotated under \${params.ticket}` },
    },
  ],
};

/** No approvals: a manual check (10 minutes), then a notification. */
const check: Json = {
  apiVersion: 'conductor.runbook/v1',
  id: 'check',
  version: 1,
  description: 'Have someone look at the dashboard.',
  parameters: { type: 'object', properties: { service: { type: 'string', default: 'search' } } },
  steps: [
    {
      id: 'look',
      name: 'Look at the dashboard',
      type: 'manual',
      timeoutSeconds: 600,
      instructions: `Is \${params.service} green?`,
    },
    { id: 'tell', name: 'Tell the channel', type: 'notify', channel: 'slack:#ops', message: 'checked' },
  ],
};

const setup = () => executionsHarness({ runbooks: [restart, dual, check] });

/** What the restart step's endpoint answers in these tests. */
const RESTARTED = { status: 200, body: { state: 'restarted', pods: [1, 2] } };

/** The first execution of `restart` (service search), its on-call stage reached and approved by otto. */
const approvedRestart = async (h: ExecutionsHarness) => {
  const { execution } = await h.execute('restart', { service: 'search' });
  await h.reachStage(execution.id, 0);
  await h.decide(execution.id, 0, 'otto');
  return execution.id;
};

/** The error a promise rejected with (fails the test when it resolves). */
const rejection = async (promise: Promise<unknown>): Promise<unknown> => {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to be refused');
};

const kinds = (entries: readonly TrailEntry[]) => entries.map((entry) => entry.kind);

describe('Executions', () => {
  describe('execute', () => {
    it('verifies the stored version, records the request and the verification, and starts the flow', async () => {
      // Prepare
      const h = await setup();
      const stored = await h.registry.latest('acme', 'restart');

      // Act
      const { execution, created } = await h.execute('restart', { service: 'search' });

      // Assess
      const params = { service: 'search', drain: true };
      const bindingDigest = bindingDigestOf(stored.digest, params);
      expect(created).toBe(true);
      expect(execution).toMatchObject({
        tenantId: 'acme',
        id: 'rbx_000001',
        runbookId: 'restart',
        runbookVersion: 1,
        runbookDigest: stored.digest,
        params,
        paramsDigest: sha256Hex(canonicalJson(params)),
        bindingDigest,
        requestedBy: 'requester',
        requestedAt: T0,
        status: 'awaiting_approval',
        flowExecutionArn: 'arn:aws:states:us-east-1:123456789012:execution:runbook-approval:rbx_000001',
      });
      expect(execution.stages).toEqual([
        {
          name: 'on-call',
          roles: ['operator', 'admin'],
          minApprovers: 1,
          timeoutSeconds: 3600,
          status: 'pending',
          decisions: [],
        },
      ]);
      expect(execution.steps.map((step) => [step.id, step.type, step.privileged, step.status])).toEqual([
        ['restart', 'http', true, 'pending'],
        ['record', 'lambda', false, 'pending'],
        ['settle', 'wait', false, 'pending'],
        ['announce', 'notify', false, 'pending'],
      ]);
      expect(await h.get(execution.id)).toEqual(execution);
      const trail = await h.trailOf(execution.id);
      // The trail (mirrored to WORM evidence) names people by their keyed hash; the record keeps names.
      expect(trail.map((entry) => [entry.kind, entry.actor, entry.detail])).toEqual([
        [
          'requested',
          await testSubjectHasher.hash('requester'),
          {
            runbookId: 'restart',
            version: 1,
            runbookDigest: stored.digest,
            paramsDigest: execution.paramsDigest,
            bindingDigest,
          },
        ],
        [
          'verified',
          undefined,
          {
            digest: stored.signature.digest,
            keyId: 'local:trusted',
            keyVersion: '1',
            algorithm: stored.signature.algorithm,
          },
        ],
      ]);
      expect(execution.trailHead).toEqual(headOf(trail[1] as TrailEntry));
      expect(h.flow.starts).toEqual([
        {
          name: 'rbx_000001',
          input: {
            executionId: 'rbx_000001',
            runbookId: 'restart',
            digest: bindingDigest,
            tenantId: 'acme',
            traceId: 'trace-1',
            stages: [{ name: 'on-call', timeoutSeconds: 3600, tenantId: 'acme', traceId: 'trace-1' }],
          },
        },
      ]);
      expect(h.registryEvents.published).toEqual([]);
    });

    it('runs a named version, and one without approval stages starts running with no stage in the flow', async () => {
      // Prepare
      const h = await setup();

      // Act
      const { execution } = await h.execute('check', {}, { version: 1 });

      // Assess
      expect(execution).toMatchObject({ status: 'running', params: { service: 'search' }, stages: [] });
      expect(h.flow.starts[0]?.input.stages).toEqual([]);
    });

    it('fills in parameter defaults and binds the digest to the runbook and every parameter', async () => {
      // Prepare
      const h = await setup();
      const { digest } = await h.registry.latest('acme', 'restart');

      // Act
      const defaults = await h.execute('restart', { service: 'search' });
      const spelledOut = await h.execute('restart', { service: 'search', drain: true });
      const noDrain = await h.execute('restart', { service: 'search', drain: false });
      const billing = await h.execute('restart', { service: 'billing' });
      const withReason = await h.execute('restart', { service: 'search', reason: 'stuck queue' });

      // Assess
      expect(defaults.execution.params).toEqual({ service: 'search', drain: true });
      expect(spelledOut.execution.bindingDigest).toBe(defaults.execution.bindingDigest);
      expect(defaults.execution.bindingDigest).toBe(
        bindingDigestOf(digest, { service: 'search', drain: true }),
      );
      const digests = [defaults, noDrain, billing, withReason].map((r) => r.execution.bindingDigest);
      expect(new Set(digests).size).toBe(4);
      expect(bindingDigestOf('0'.repeat(64), { service: 'search', drain: true })).not.toBe(
        defaults.execution.bindingDigest,
      );
    });

    it('refuses parameters the schema refuses with 400 invalid_parameters naming their paths, storing nothing', async () => {
      // Prepare
      const h = await setup();

      // Act
      const error = await refusal(h.execute('restart', { service: 'mail', reason: 'no', extra: 1 }));

      // Assess
      expect(error.statusCode).toBe(400);
      expect(error.code).toBe('invalid_parameters');
      const issues = (error.details?.issues ?? []) as { path: string }[];
      expect(issues.map((issue) => issue.path).sort()).toEqual([
        'params.extra',
        'params.reason',
        'params.service',
      ]);
      expect(h.records.all()).toEqual([]);
      expect(h.trailRecords.all()).toEqual([]);
      expect(h.flow.starts).toEqual([]);
    });

    it('refuses a missing required parameter with its path', async () => {
      // Prepare
      const h = await setup();

      // Act
      const error = await refusal(h.execute('restart', undefined));

      // Assess
      expect(error.code).toBe('invalid_parameters');
      expect(error.details).toEqual({ issues: [{ path: 'params.service', message: 'is required' }] });
      expect(h.flow.starts).toEqual([]);
    });

    it('refuses a stored version changed behind the registry: 422, quarantined, unsigned_runbook at execute, no flow', async () => {
      // Prepare
      const h = await setup();
      await h.tamper('restart', 1, (stored) => ({
        document: stored.document.replace('ops.example.com', 'evil.example.com'),
      }));

      // Act
      const error = await refusal(h.execute('restart', { service: 'search' }));

      // Assess
      expect(error.statusCode).toBe(422);
      expect(error.code).toBe('runbook_signature_invalid');
      expect(error.details).toEqual({ reason: 'digest_mismatch' });
      expect(await h.versions.get('acme', versionRecordId('restart', 1))).toMatchObject({
        status: 'quarantined',
        quarantineReason: 'digest_mismatch',
      });
      expect(await h.runbooks.get('acme', 'restart')).toMatchObject({ status: 'quarantined' });
      expect(h.registryEvents.published).toEqual([
        {
          type: 'unsigned_runbook',
          detail: {
            tenantId: 'acme',
            traceId: 'trace-1',
            occurredAt: T0,
            runbookId: 'restart',
            version: 1,
            at: 'execute',
            reason: 'digest_mismatch',
          },
        },
      ]);
      expect(h.unsigned).toEqual([{ tenantId: 'acme', runbookId: 'restart', reason: 'digest_mismatch' }]);
      expect(h.flow.starts).toEqual([]);
      expect(h.records.all()).toEqual([]);
      expect(h.trailRecords.all()).toEqual([]);
    });

    it('keeps refusing a quarantined version, even once its document is put back', async () => {
      // Prepare
      const h = await setup();
      const original = await h.versions.get('acme', versionRecordId('restart', 1));
      await h.tamper('restart', 1, (stored) => ({ document: stored.document.replace('search', 'serch') }));
      await refusal(h.execute('restart', { service: 'search' }));
      await h.tamper('restart', 1, () => ({ document: original?.document as string }));

      // Act
      const error = await refusal(h.execute('restart', { service: 'search' }));

      // Assess
      expect(error.code).toBe('runbook_signature_invalid');
      expect(h.flow.starts).toEqual([]);
    });

    it('answers the same request under the same idempotencyKey with the same execution, created: false', async () => {
      // Prepare
      const h = await setup();
      const first = await h.execute('restart', { service: 'search' }, { idempotencyKey: 'deploy-42' });
      h.clock.advance(MINUTE);

      // Act
      const again = await h.execute(
        'restart',
        { service: 'search', drain: true },
        { idempotencyKey: 'deploy-42' },
      );

      // Assess
      expect(first.created).toBe(true);
      expect(first.execution.idempotencyKey).toBe('deploy-42');
      expect(again).toEqual({ execution: first.execution, created: false });
      expect(h.records.all()).toHaveLength(1);
      expect(h.flow.starts).toHaveLength(1);
      expect(await h.trailOf(first.execution.id)).toHaveLength(2);
    });

    it('refuses the key with other parameters with 409 idempotency_key_reused', async () => {
      // Prepare
      const h = await setup();
      await h.execute('restart', { service: 'search' }, { idempotencyKey: 'deploy-42' });

      // Act
      const error = await refusal(
        h.execute('restart', { service: 'billing' }, { idempotencyKey: 'deploy-42' }),
      );

      // Assess
      expect(error.statusCode).toBe(409);
      expect(error.code).toBe('idempotency_key_reused');
      expect(h.records.all()).toHaveLength(1);
      expect(h.flow.starts).toHaveLength(1);
    });

    it("keeps one requester's idempotencyKey apart from another's", async () => {
      // Prepare
      const h = await setup();
      const rita = await h.execute('restart', { service: 'search' }, { idempotencyKey: 'k', actor: 'rita' });

      // Act
      const otto = await h.execute('restart', { service: 'billing' }, { idempotencyKey: 'k', actor: 'otto' });

      // Assess
      expect(otto.created).toBe(true);
      expect(otto.execution.id).not.toBe(rita.execution.id);
      expect(h.flow.starts).toHaveLength(2);
    });

    it('starts one execution when the same keyed request arrives twice at once', async () => {
      // Prepare
      const h = await setup();

      // Act
      const [a, b] = await Promise.all([
        h.execute('restart', { service: 'search' }, { idempotencyKey: 'twice' }),
        h.execute('restart', { service: 'search' }, { idempotencyKey: 'twice' }),
      ]);

      // Assess
      expect([a.created, b.created].sort()).toEqual([false, true]);
      expect(a.execution.id).toBe(b.execution.id);
      expect(h.records.all()).toHaveLength(1);
      expect(h.flow.starts).toHaveLength(1);
    });

    // BUG: executions.ts execute() uses `stored.digest` (the version record's own `digest` field) as the
    // execution's runbookDigest and in its bindingDigest, but registry.ts verifyStored() checks the
    // document against `signature.digest` only and never compares the record's `digest` field with
    // it. Someone with table access can change that field alone: the version still verifies, and the
    // execution (its `requested` trail entry, the digest every approver signs off) names a digest no
    // signature covers. Either verifyStored should refuse the mismatch (quarantine, 422) or execute
    // should bind to the signed digest.
    it("binds the execution to the digest the signature covers, not the record's own digest field", async () => {
      // Prepare
      const h = await setup();
      const signed = (await h.registry.latest('acme', 'restart')).signature.digest;
      await h.tamper('restart', 1, () => ({ digest: 'd'.repeat(64) }));

      // Act
      const outcome = await h.execute('restart', { service: 'search' }).then(
        ({ execution }) => execution.runbookDigest,
        (error: AppError) => error.code,
      );

      // Assess
      expect([signed, 'runbook_signature_invalid']).toContain(outcome);
    });

    // BUG: executions.ts execute(): when the flow does not start, the execution is recorded `failed`
    // under the id its idempotencyKey names, and the 503 says "Try again" (Retry-After: 5). The retry
    // a client makes with the same key, as idempotency keys are meant to be used, finds that record
    // and answers it (`created: false`, status failed): the flow is never started and the key is
    // spent. A retry after flow_unavailable should start the execution.
    it('starts the execution when a keyed request is retried after 503 flow_unavailable', async () => {
      // Prepare
      const h = await setup();
      h.flow.failing = new Error('ThrottlingException');
      await refusal(h.execute('restart', { service: 'search' }, { idempotencyKey: 'deploy-42' }));
      h.flow.failing = undefined;

      // Act
      const retried = await h.execute('restart', { service: 'search' }, { idempotencyKey: 'deploy-42' });

      // Assess
      expect(h.flow.starts).toHaveLength(1);
      expect(retried.execution.status).toBe('awaiting_approval');
    });

    // BUG: executions.ts execute() resolves "the latest version" and validates the parameters before
    // it looks the idempotencyKey up, then compares binding digests. A client that retries the very
    // same request (no version named) after a new version was published gets 409
    // idempotency_key_reused instead of the execution its first attempt started. The key should be
    // matched on the request as sent (runbookId, version as given, params), or looked up first.
    it('answers a retried request the execution it started, even after a newer version was published', async () => {
      // Prepare
      const h = await setup();
      const first = await h.execute('restart', { service: 'search' }, { idempotencyKey: 'deploy-42' });
      await h.publishSigned({ ...restart, version: 2, description: 'Restart a service, second edition.' });

      // Act
      const retried = await h.execute('restart', { service: 'search' }, { idempotencyKey: 'deploy-42' });

      // Assess
      expect(retried).toEqual({ execution: first.execution, created: false });
    });

    it('answers 503 flow_unavailable when the flow does not start, and records the execution failed (no end entry, no event)', async () => {
      // Prepare
      const h = await setup();
      h.flow.failing = new Error('ThrottlingException');
      h.clock.advance(1500);

      // Act
      const error = await refusal(h.execute('restart', { service: 'search' }));

      // Assess
      expect(error.statusCode).toBe(503);
      expect(error.code).toBe('flow_unavailable');
      expect(error.headers).toEqual({ 'Retry-After': '5' });
      expect(error.message).not.toContain('ThrottlingException');
      const [record] = h.records.all();
      expect(record).toMatchObject({
        status: 'failed',
        failure: 'the approval flow could not be started',
      });
      // Nothing was asked of anyone and nothing ran: no end entry and no event, so that the same
      // idempotencyKey can still start it (see the retry test).
      const trail = await h.trailOf(record?.id as string);
      expect(kinds(trail)).toEqual(['requested', 'verified']);
      expect(record?.trailHead).toEqual(headOf(trail[1] as TrailEntry));
      expect(h.eventsOf('runbook_executed')).toEqual([]);
      expect(h.ended).toEqual([]);
    });
  });

  describe('stageReached', () => {
    it('records the task token, the stage waiting until its timeout, one trail entry and one approval_requested', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      h.clock.advance(MINUTE);

      // Act
      await h.reachStage(execution.id, 0, 'token-a');

      // Assess
      const record = await h.get(execution.id);
      const reachedAt = '2026-03-01T09:01:00.000Z';
      const expiresAt = '2026-03-01T10:01:00.000Z';
      expect(record.stages[0]).toMatchObject({
        status: 'waiting',
        taskToken: 'token-a',
        requestedAt: reachedAt,
        expiresAt,
      });
      const trail = await h.trailOf(execution.id);
      expect(kinds(trail)).toEqual(['requested', 'verified', 'approval_requested']);
      expect(trail[2]?.detail).toEqual({
        stage: 'on-call',
        stageIndex: 0,
        roles: ['operator', 'admin'],
        minApprovers: 1,
        expiresAt,
        digest: execution.bindingDigest,
      });
      expect(record.trailHead).toEqual(headOf(trail[2] as TrailEntry));
      expect(h.eventsOf('approval_requested')).toEqual([
        {
          tenantId: 'acme',
          traceId: 'trace-1',
          occurredAt: reachedAt,
          runbookId: 'restart',
          executionId: execution.id,
          requestId: requestIdOf(execution.id, 0),
          stage: 'on-call',
          roles: ['operator', 'admin'],
          minApprovers: 1,
          expiresAt,
          requestedBy: 'requester',
        },
      ]);
    });

    it('keeps one trail entry, the first deadline and the latest token when the task is retried', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0, 'token-a');
      h.clock.advance(MINUTE);

      // Act
      await h.reachStage(execution.id, 0, 'token-b');

      // Assess
      const record = await h.get(execution.id);
      expect(record.stages[0]).toMatchObject({
        status: 'waiting',
        taskToken: 'token-b',
        requestedAt: T0,
        expiresAt: '2026-03-01T10:00:00.000Z',
      });
      expect(kinds(await h.trailOf(execution.id))).toEqual(['requested', 'verified', 'approval_requested']);
      expect(h.eventsOf('approval_requested')).toHaveLength(1);
    });

    it('refuses a stage the execution does not have', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      const start = h.flow.starts[0];

      // Act / Assess
      await expect(
        h.service.stageReached({
          taskToken: 't',
          executionId: execution.id,
          runbookId: 'restart',
          digest: execution.bindingDigest,
          stageIndex: 0,
          stage: { ...start?.input.stages[0], name: 'owners', timeoutSeconds: 60 },
        }),
      ).rejects.toThrow('has no stage 0 named owners');
    });
  });

  describe('openRequest', () => {
    it('tells the approvers of the waiting stage again (a reminder) and answers the request', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0);

      // Act
      const view = await h.service.openRequest(
        'acme',
        { executionId: execution.id, stage: 'on-call' },
        'trace-remind',
      );

      // Assess
      expect(view).toMatchObject({
        requestId: requestIdOf(execution.id, 0),
        status: 'waiting',
        approvals: 0,
        digest: execution.bindingDigest,
      });
      expect(h.eventsOf('approval_requested').map((event) => event.reminder)).toEqual([undefined, true]);
      expect(kinds(await h.trailOf(execution.id))).toHaveLength(3);
    });

    it('refuses an unknown stage with 404 stage_not_found and a later stage with 409 stage_not_reached', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0);

      // Act
      const unknown = await refusal(
        h.service.openRequest('acme', { executionId: execution.id, stage: 'nobody' }, 't'),
      );
      const later = await refusal(
        h.service.openRequest('acme', { executionId: execution.id, stage: 'owners' }, 't'),
      );

      // Assess
      expect([unknown.statusCode, unknown.code]).toEqual([404, 'stage_not_found']);
      expect([later.statusCode, later.code]).toEqual([409, 'stage_not_reached']);
    });
  });

  describe('decide', () => {
    it('refuses a decision before the flow reached the stage with 409 request_not_open', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });

      // Act
      const error = await refusal(h.decide(execution.id, 0, 'otto'));

      // Assess
      expect([error.statusCode, error.code]).toEqual([409, 'request_not_open']);
    });

    it('refuses another digest with 409 approval_digest_mismatch before asking the policy, recording nothing', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0);
      const before = await h.get(execution.id);
      const policy = approverPolicy('otto', ['operator']);
      const other = bindingDigestOf(execution.runbookDigest, { service: 'billing', drain: true });

      // Act
      const error = await refusal(
        h.service.decide(
          'acme',
          requestIdOf(execution.id, 0),
          { decision: 'approve', digest: other },
          'otto',
          policy,
          't',
        ),
      );

      // Assess
      expect([error.statusCode, error.code]).toEqual([409, 'approval_digest_mismatch']);
      expect(policy.asked).toEqual([]);
      expect(await h.get(execution.id)).toEqual(before);
      expect(await h.trailOf(execution.id)).toHaveLength(3);
      expect(h.callbacks.succeeded).toEqual([]);
    });

    it('refuses the requester with 403 self_approval', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0);

      // Act
      const error = await refusal(h.decide(execution.id, 0, 'requester'));

      // Assess
      expect([error.statusCode, error.code]).toEqual([403, 'self_approval']);
      expect((await h.get(execution.id)).stages[0]?.decisions).toEqual([]);
    });

    it('refuses someone the policy does not allow with 403 not_an_approver, passing its obligations through', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0);
      const policy = approverPolicy('vera', ['viewer'], { obligations: ['step_up'] });

      // Act
      const error = await refusal(
        h.service.decide(
          'acme',
          requestIdOf(execution.id, 0),
          { decision: 'approve', digest: execution.bindingDigest },
          'vera',
          policy,
          't',
        ),
      );

      // Assess
      expect([error.statusCode, error.code]).toEqual([403, 'not_an_approver']);
      expect(error.details).toEqual({ obligations: ['step_up'] });
      expect(error.message).toContain('stepped up');
      expect(policy.asked).toEqual([
        {
          tenantId: 'acme',
          kind: 'approval-requests',
          id: requestIdOf(execution.id, 0),
          approverRoles: ['operator', 'admin'],
          requestedBy: 'requester',
        },
      ]);
      expect((await h.get(execution.id)).stages[0]?.decisions).toEqual([]);
    });

    it('passes an M-of-N stage at the M-th distinct approver, and tells the flow who approved what', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', { ticket: 'SEC-7' });
      await h.reachStage(execution.id, 0, 'token-security');

      // Act
      const first = await h.decide(execution.id, 0, 'ada', 'approve', { comment: 'looks right' });
      const toldAfterFirst = h.callbacks.succeeded.length;
      const afterFirst = await h.get(execution.id);
      const again = await h.decide(execution.id, 0, 'ada');
      const afterAgain = await h.get(execution.id);
      const second = await h.decide(execution.id, 0, 'olga');

      // Assess
      expect(first).toMatchObject({ status: 'waiting', approvals: 1, minApprovers: 2 });
      expect(toldAfterFirst).toBe(0);
      expect(again).toMatchObject({ status: 'waiting', approvals: 1 });
      expect(afterAgain).toEqual(afterFirst);
      expect(second).toMatchObject({ status: 'approved', approvals: 2 });
      expect(second.decisions).toEqual([
        {
          actor: 'ada',
          decision: 'approve',
          digest: execution.bindingDigest,
          at: T0,
          comment: 'looks right',
        },
        { actor: 'olga', decision: 'approve', digest: execution.bindingDigest, at: T0 },
      ]);
      expect(h.callbacks.succeeded).toHaveLength(1);
      expect(h.callbacks.succeeded[0]?.taskToken).toBe('token-security');
      expect(JSON.parse(h.callbacks.succeeded[0]?.output ?? '')).toEqual({
        stage: 'security',
        digest: execution.bindingDigest,
        approvers: ['ada', 'olga'],
      });
      const trail = await h.trailOf(execution.id);
      expect(trail.slice(3).map((entry) => [entry.kind, entry.actor, entry.detail.approvals])).toEqual([
        ['approved', await testSubjectHasher.hash('ada'), 1],
        ['approved', await testSubjectHasher.hash('olga'), 2],
      ]);
      expect((await h.get(execution.id)).trailHead).toEqual(headOf(trail.at(-1) as TrailEntry));
    });

    it('tells nobody before the M-th approval', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0);

      // Act
      await h.decide(execution.id, 0, 'ada');

      // Assess
      expect(h.callbacks.succeeded).toEqual([]);
      expect(h.callbacks.failed).toEqual([]);
    });

    it('fails the stage at the first rejection and tells the flow ApprovalRejected', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0, 'token-security');
      await h.decide(execution.id, 0, 'ada');

      // Act
      const view = await h.decide(execution.id, 0, 'olga', 'reject', { comment: 'wrong key' });

      // Assess
      expect(view.status).toBe('rejected');
      expect(h.callbacks.succeeded).toEqual([]);
      expect(h.callbacks.failed).toEqual([
        {
          taskToken: 'token-security',
          error: FLOW_ERRORS.rejected,
          cause: 'Stage security was rejected by olga',
        },
      ]);
      expect((await h.trailOf(execution.id)).at(-1)).toMatchObject({
        kind: 'rejected',
        actor: await testSubjectHasher.hash('olga'),
        detail: { stage: 'security', comment: 'wrong key' },
      });
    });

    it('refuses a changed decision with 409 already_decided', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0);
      await h.decide(execution.id, 0, 'ada');

      // Act
      const error = await refusal(h.decide(execution.id, 0, 'ada', 'reject'));

      // Assess
      expect([error.statusCode, error.code]).toEqual([409, 'already_decided']);
    });

    it('answers 409 request_expired when the flow no longer holds the stage token', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0, 'token-late');
      h.callbacks.gone.add('token-late');

      // Act
      const error = await refusal(h.decide(execution.id, 0, 'otto'));

      // Assess
      expect([error.statusCode, error.code]).toEqual([409, 'request_expired']);
      expect(h.callbacks.succeeded).toEqual([]);
    });

    it('refuses a decided stage with 409 stage_decided and a stage not reached with 409 stage_not_reached', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0);
      await h.decide(execution.id, 0, 'ada');
      const early = await refusal(h.decide(execution.id, 1, 'otto', 'approve', { roles: ['operator'] }));
      await h.decide(execution.id, 0, 'olga');

      // Act
      const decided = await refusal(h.decide(execution.id, 0, 'gus'));

      // Assess
      expect([early.statusCode, early.code]).toEqual([409, 'stage_not_reached']);
      expect([decided.statusCode, decided.code]).toEqual([409, 'stage_decided']);
    });

    it('refuses a decision on a finished execution with 409 execution_finished', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0);
      await h.service.flowEnded('acme', execution.id, 'FAILED', FLOW_ERRORS.timedOut, 't');

      // Act
      const error = await refusal(h.decide(execution.id, 0, 'otto'));

      // Assess
      expect([error.statusCode, error.code]).toEqual([409, 'execution_finished']);
    });

    it('answers 404 approval_request_not_found for a request id of nothing', async () => {
      // Prepare
      const h = await setup();

      const { execution } = await h.execute('restart', { service: 'search' });
      const decide = (requestId: string) =>
        h.service.decide(
          'acme',
          requestId,
          { decision: 'approve', digest: execution.bindingDigest },
          'otto',
          approverPolicy('otto', ['operator']),
          't',
        );

      // Act
      const refusals = await Promise.all(
        ['rbx_404.0', requestIdOf(execution.id, 1), 'not-a-request'].map((id) => refusal(decide(id))),
      );

      // Assess
      expect(refusals.map((error) => [error.statusCode, error.code])).toEqual([
        [404, 'approval_request_not_found'],
        [404, 'approval_request_not_found'],
        [404, 'approval_request_not_found'],
      ]);
    });

    it('lands two people deciding at once (the record is re-read and the decision retried)', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0, 'token-security');

      // Act
      await Promise.all([h.decide(execution.id, 0, 'ada'), h.decide(execution.id, 0, 'olga')]);

      // Assess
      const stage = (await h.get(execution.id)).stages[0];
      expect(stage?.status).toBe('approved');
      expect(stage?.decisions.map((d) => d.actor).sort()).toEqual(['ada', 'olga']);
      expect(h.callbacks.succeeded).toHaveLength(1);
      expect(JSON.parse(h.callbacks.succeeded[0]?.output ?? '').approvers.sort()).toEqual(['ada', 'olga']);
      const trail = await h.trailOf(execution.id);
      expect(kinds(trail)).toEqual(['requested', 'verified', 'approval_requested', 'approved', 'approved']);
      const { check: trailCheck } = await h.service.timeline('acme', execution.id);
      expect(trailCheck).toMatchObject({ ok: true, length: 5 });
    });

    it('lands the same person clicking twice at once as one decision', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0);

      // Act
      await Promise.all([h.decide(execution.id, 0, 'ada'), h.decide(execution.id, 0, 'ada')]);

      // Assess
      expect((await h.get(execution.id)).stages[0]?.decisions).toHaveLength(1);
      expect(kinds(await h.trailOf(execution.id)).filter((kind) => kind === 'approved')).toHaveLength(1);
    });

    // BUG: executions.ts decide() writes the decision (and the stage's new status) before #settle
    // tells the flow. When SendTaskSuccess fails for a passing reason (throttling, a network error),
    // the stage stays `approved` in the record while the flow still waits; the approver's retry of
    // the same decision then takes the early return at the top of decide() ("a retried decision that
    // already settled the stage": stage.status !== 'waiting') and never calls #settle again, so the
    // flow is never told and the execution times out although it was approved. A retry of a decision
    // whose settlement did not go through should settle the stage again.
    it('tells the flow again when the approver retries after SendTaskSuccess failed', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0, 'token-a');
      h.callbacks.failNext = new Error('ThrottlingException');
      await expect(h.decide(execution.id, 0, 'otto')).rejects.toThrow('ThrottlingException');

      // Act
      await h.decide(execution.id, 0, 'otto');

      // Assess
      expect(h.callbacks.succeeded.map((s) => s.taskToken)).toEqual(['token-a']);
    });

    // BUG: executions.ts decide()/#settle: on TaskTokenNotFoundError (the flow timed the stage out)
    // the decision has already been stored with the stage `approved`, and request_expired is thrown
    // after the write. The record then says the stage passed although the flow ended in
    // ApprovalTimedOut: flowEnded finds no stage `waiting`/`pending` (reason "stage ? got no decision
    // in time") and #finish marks no stage timed_out (the first stage not approved is -1). The
    // decision that came too late should not stand: the stage should end timed_out.
    it('leaves the stage timed out, not approved, when the decision came after the flow let go', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0, 'token-late');
      h.callbacks.gone.add('token-late');
      await refusal(h.decide(execution.id, 0, 'otto'));

      // Act
      const ended = await h.service.flowEnded('acme', execution.id, 'FAILED', FLOW_ERRORS.timedOut, 't');

      // Assess
      expect(ended.stages[0]?.status).toBe('timed_out');
      expect(ended.failure).toBe('stage on-call got no decision in time');
    });

    // BUG: same root cause as above, seen by the approver: after 409 request_expired, retrying the
    // same decision answers 200 with the stage `approved` (the early return in decide() for a
    // decision that "already settled the stage"), although the flow never took it.
    it('keeps answering request_expired to a retry of the decision the flow did not take', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0, 'token-late');
      h.callbacks.gone.add('token-late');
      await refusal(h.decide(execution.id, 0, 'otto'));

      // Act
      const error = await refusal(h.decide(execution.id, 0, 'otto'));

      // Assess
      expect(error.code).toBe('request_expired');
    });
  });

  describe('runSteps', () => {
    it('runs the steps in order, each with its placeholders filled from the parameters and earlier outputs', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => RESTARTED;
      h.runners.lambda.answer = () => ({ ticket: 'CHG-1' });

      // Act
      const result = await h.service.runSteps(h.runStepsPayload(id));

      // Assess
      expect(h.runners.order).toEqual(['restart', 'record', 'announce']);
      expect(h.sleeps).toEqual([30_000]);
      const context = { tenantId: 'acme', executionId: id, runbookId: 'restart' };
      expect(h.runners.http.calls).toEqual([
        {
          step: {
            id: 'restart',
            name: 'Restart the service',
            type: 'http',
            privileged: true,
            timeoutSeconds: 20,
            method: 'POST',
            url: 'https://ops.example.com/services/search/restart',
            body: { drain: 'true' },
          },
          context: { ...context, timeoutMs: 20_000 },
        },
      ]);
      expect(h.runners.lambda.calls).toEqual([
        {
          step: {
            id: 'record',
            name: 'Record the restart',
            type: 'lambda',
            privileged: false,
            functionName: 'record-restart',
            payload: { state: 'restarted', answer: JSON.stringify(RESTARTED) },
          },
          context: { ...context, timeoutMs: 60_000 },
        },
      ]);
      expect(h.runners.notify.calls[0]?.step.message).toBe('search is restarted (CHG-1)');
      const record = await h.get(id);
      expect(record.status).toBe('running');
      expect(record.steps.map((step) => [step.id, step.status, step.outputDigest])).toEqual([
        ['restart', 'succeeded', outputDigest(RESTARTED)],
        ['record', 'succeeded', outputDigest({ ticket: 'CHG-1' })],
        ['settle', 'succeeded', outputDigest(undefined)],
        ['announce', 'succeeded', outputDigest(undefined)],
      ]);
      expect(result).toEqual({
        executionId: id,
        steps: record.steps.map((step) => ({
          id: step.id,
          status: 'succeeded',
          outputDigest: step.outputDigest,
        })),
      });
      const trail = await h.trailOf(id);
      expect(trail.slice(4).map((entry) => [entry.kind, entry.detail.stepId])).toEqual([
        ['step_started', 'restart'],
        ['step_finished', 'restart'],
        ['step_started', 'record'],
        ['step_finished', 'record'],
        ['step_started', 'settle'],
        ['step_finished', 'settle'],
        ['step_started', 'announce'],
        ['step_finished', 'announce'],
      ]);
      expect(trail[5]?.detail.outputDigest).toBe(outputDigest(RESTARTED));
      expect(trail[9]?.detail.durationMs).toBe(30_000);
      expect(record.trailHead).toEqual(headOf(trail.at(-1) as TrailEntry));
    });

    it('runs nothing when a stage is not approved by M distinct people, recording verification_failed', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0);
      await h.decide(execution.id, 0, 'ada');

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(execution.id)));

      // Assess
      const reason = 'stage security is not approved by 2 people for this digest';
      expect(error).toBeInstanceOf(StepFailedError);
      expect(error).toMatchObject({ reason });
      expect(h.runners.order).toEqual([]);
      const trail = await h.trailOf(execution.id);
      expect(trail.at(-1)).toMatchObject({ kind: 'verification_failed', detail: { reason } });
      const record = await h.get(execution.id);
      expect(record.steps.every((step) => step.status === 'pending')).toBe(true);
      expect(record.trailHead).toEqual(headOf(trail.at(-1) as TrailEntry));
    });

    it.each([
      ['one person twice', ['ada', 'ada']],
      ['the requester', ['ada', 'requester']],
    ])('does not count %s, even on a record that says the stages passed', async (_case, actors) => {
      // Prepare: the record edited to claim every stage approved by `actors`
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      const forged: ExecutionRecord['stages'] = execution.stages.map((stage) => ({
        ...stage,
        status: 'approved',
        decisions: actors.map((actor) => ({
          actor,
          decision: 'approve' as const,
          digest: execution.bindingDigest,
          at: T0,
        })),
      }));
      const current = await h.get(execution.id);
      await h.records.replace({ ...current, version: current.version + 1, stages: forged }, current.version);

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(execution.id)));

      // Assess
      expect(error).toMatchObject({ reason: 'stage security is not approved by 2 people for this digest' });
      expect(h.runners.order).toEqual([]);
    });

    it('does not count approvals of another digest, even on a record that says the stages passed', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      const current = await h.get(execution.id);
      const stages: ExecutionRecord['stages'] = current.stages.map((stage) => ({
        ...stage,
        status: 'approved',
        decisions: ['ada', 'olga'].map((actor) => ({
          actor,
          decision: 'approve' as const,
          digest: 'e'.repeat(64),
          at: T0,
        })),
      }));
      await h.records.replace({ ...current, version: current.version + 1, stages }, current.version);

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(execution.id)));

      // Assess
      expect(error).toMatchObject({ reason: 'stage security is not approved by 2 people for this digest' });
      expect(h.runners.order).toEqual([]);
    });

    it('runs nothing when the flow carries another digest', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);

      // Act
      const error = await rejection(h.service.runSteps({ ...h.runStepsPayload(id), digest: 'f'.repeat(64) }));

      // Assess
      expect(error).toMatchObject({ reason: 'the flow carries another digest than the execution' });
      expect(h.runners.order).toEqual([]);
      expect((await h.trailOf(id)).at(-1)?.kind).toBe('verification_failed');
    });

    it('runs nothing when the runbook was changed after the approvals, and quarantines it', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      await h.tamper('restart', 1, (stored) => ({
        document: stored.document.replace('ops.example.com', 'evil.example.com'),
      }));

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(id)));

      // Assess
      expect(error).toMatchObject({
        reason: 'the runbook no longer matches its signature (digest_mismatch)',
      });
      expect(h.runners.order).toEqual([]);
      expect((await h.trailOf(id)).at(-1)).toMatchObject({ kind: 'verification_failed' });
      expect(await h.versions.get('acme', versionRecordId('restart', 1))).toMatchObject({
        status: 'quarantined',
      });
      expect(h.registryEvents.published).toEqual([
        expect.objectContaining({
          type: 'unsigned_runbook',
          detail: expect.objectContaining({ at: 'execute' }),
        }),
      ]);
    });

    it('runs the steps at most once: a second invocation runs nothing and records nothing', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => RESTARTED;
      await h.service.runSteps(h.runStepsPayload(id));
      const trail = await h.trailOf(id);
      const record = await h.get(id);

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(id)));

      // Assess
      expect(error).toBeInstanceOf(StepFailedError);
      expect((error as StepFailedError).reason).toContain('at most once');
      expect(h.runners.http.calls).toHaveLength(1);
      expect(await h.trailOf(id)).toEqual(trail);
      expect(await h.get(id)).toEqual(record);
    });

    // BUG: executions.ts runSteps() checks "every step pending" on the record it read, then moves the
    // record to `running` through #update, whose change function does not check again; #update
    // retries a version conflict on the fresh record and applies it anyway. Two invocations that
    // overlap (a Lambda retry or a redelivered task while the first still runs) both pass the check
    // and both run every step: the privileged http call is made twice. The claim of the steps should
    // be a conditional write that only one invocation can win.
    it('runs the steps once when two invocations overlap', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => RESTARTED;
      const payload = h.runStepsPayload(id);

      // Act
      await Promise.allSettled([h.service.runSteps(payload), h.service.runSteps(payload)]);

      // Assess
      expect(h.runners.http.calls).toHaveLength(1);
    });

    // BUG: executions.ts runSteps() verifies the stored version in #notCovered (registry.version, then
    // verifyStored, which returns the verified runbook), then reads the version record AGAIN
    // (`const stored = await this.deps.registry.version(...)`) and runs runbookOf() of that second,
    // unverified read. A document changed between the two reads runs unverified. It should run the
    // runbook verifyStored returned.
    it('runs the steps of the document it verified, not of a later read', async () => {
      // Prepare: the document is changed right after the verification
      const h = await setup();
      const id = await approvedRestart(h);
      const verifyStored = h.registry.verifyStored.bind(h.registry);
      h.registry.verifyStored = async (...args) => {
        const verified = await verifyStored(...args);
        await h.tamper('restart', 1, (stored) => ({
          document: stored.document.replace('ops.example.com', 'evil.example.com'),
        }));
        return verified;
      };

      // Act
      await h.service.runSteps(h.runStepsPayload(id));

      // Assess
      expect(h.runners.http.calls[0]?.step.url).toBe('https://ops.example.com/services/search/restart');
    });

    it('stops at a failing step: step_failed recorded with its reason, the error thrown, later steps not run', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => RESTARTED;
      h.runners.lambda.answer = () => {
        throw new StepFailedError('record', 'the function answered 500');
      };

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(id)));

      // Assess
      expect(error).toBeInstanceOf(StepFailedError);
      expect(error).toMatchObject({ stepId: 'record', reason: 'the function answered 500' });
      expect(h.runners.order).toEqual(['restart', 'record']);
      expect(h.sleeps).toEqual([]);
      const record = await h.get(id);
      expect(record.steps.map((step) => [step.id, step.status])).toEqual([
        ['restart', 'succeeded'],
        ['record', 'failed'],
        ['settle', 'pending'],
        ['announce', 'pending'],
      ]);
      expect(record.steps[1]).toMatchObject({ error: 'the function answered 500', finishedAt: T0 });
      expect((await h.trailOf(id)).at(-1)).toMatchObject({
        kind: 'step_failed',
        detail: { stepId: 'record', reason: 'the function answered 500' },
      });
    });

    it('records an unexpected runner error without its message, as a StepFailedError of that step', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => {
        throw new Error('ECONNRESET 10.0.0.12:443 secret-internal-host');
      };

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(id)));

      // Assess
      expect(error).toBeInstanceOf(StepFailedError);
      expect(error).toMatchObject({ stepId: 'restart', reason: 'the step failed unexpectedly' });
      expect(JSON.stringify(await h.trailOf(id))).not.toContain('secret-internal-host');
      expect(h.runners.order).toEqual(['restart']);
    });

    it('waits a wait step for its seconds', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => RESTARTED;

      // Act
      await h.service.runSteps(h.runStepsPayload(id));

      // Assess
      expect(h.sleeps).toEqual([30_000]);
      const settle = (await h.get(id)).steps[2];
      expect(settle).toMatchObject({ startedAt: T0, finishedAt: '2026-03-01T09:00:30.000Z' });
    });

    it('waits at a manual step until someone confirms it, then goes on, naming who confirmed', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('check', {});
      const seen: string[] = [];
      h.hooks.onSleep = async () => {
        if (h.sleeps.length === 3) {
          seen.push((await h.get(execution.id)).steps[0]?.status ?? '');
          await h.service.confirmStep('acme', execution.id, 'look', 'nina');
        }
      };

      // Act
      await h.service.runSteps(h.runStepsPayload(execution.id));

      // Assess
      expect(seen).toEqual(['awaiting_confirmation']);
      expect(h.sleeps).toEqual([2000, 2000, 2000]);
      expect(h.runners.order).toEqual(['tell']);
      const record = await h.get(execution.id);
      expect(record.steps[0]).toMatchObject({
        status: 'succeeded',
        confirmedBy: 'nina',
        outputDigest: outputDigest(undefined),
      });
      const finished = (await h.trailOf(execution.id)).find((entry) => entry.kind === 'step_finished');
      expect(finished?.detail).toMatchObject({
        stepId: 'look',
        confirmedBy: await testSubjectHasher.hash('nina'),
        durationMs: 6000,
      });
      expect(JSON.stringify(await h.trailOf(execution.id))).not.toContain('"nina"');
    });

    it('fails a manual step nobody confirms within its timeout, saying so', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('check', {});

      // Act
      const error = await rejection(h.service.runSteps(h.runStepsPayload(execution.id)));

      // Assess
      expect(error).toMatchObject({ stepId: 'look', reason: 'nobody confirmed it within 600 s' });
      expect(h.sleeps.reduce((sum, ms) => sum + ms, 0)).toBe(600_000);
      expect(h.clock.now().toISOString()).toBe('2026-03-01T09:10:00.000Z');
      expect(h.runners.order).toEqual([]);
      const record = await h.get(execution.id);
      expect(record.steps[0]).toMatchObject({ status: 'failed', error: 'nobody confirmed it within 600 s' });
      const late = await refusal(h.service.confirmStep('acme', execution.id, 'look', 'nina'));
      expect([late.statusCode, late.code]).toEqual([409, 'step_not_awaiting_confirmation']);
    });
  });

  describe('confirmStep', () => {
    it('refuses an unknown step (404), a step that is not manual (409), and one not yet waiting (409)', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('check', {});

      // Act
      const unknown = await refusal(h.service.confirmStep('acme', execution.id, 'nope', 'nina'));
      const notManual = await refusal(h.service.confirmStep('acme', execution.id, 'tell', 'nina'));
      const early = await refusal(h.service.confirmStep('acme', execution.id, 'look', 'nina'));

      // Assess
      expect([unknown.statusCode, unknown.code]).toEqual([404, 'step_not_found']);
      expect([notManual.statusCode, notManual.code]).toEqual([409, 'not_a_manual_step']);
      expect([early.statusCode, early.code]).toEqual([409, 'step_not_awaiting_confirmation']);
    });
  });

  describe('flowEnded', () => {
    it('ends a succeeded flow succeeded, with its last trail entry as the head and runbook_executed', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => RESTARTED;
      await h.service.runSteps(h.runStepsPayload(id));
      h.clock.advance(MINUTE);

      // Act
      const ended = await h.service.flowEnded('acme', id, 'SUCCEEDED', undefined, 'trace-end');

      // Assess
      const durationMs = 30_000 + MINUTE;
      expect(ended).toMatchObject({
        status: 'succeeded',
        finishedAt: '2026-03-01T09:01:30.000Z',
        durationMs,
      });
      expect(ended.failure).toBeUndefined();
      expect(await h.get(id)).toEqual(ended);
      const trail = await h.trailOf(id);
      expect(trail.at(-1)).toMatchObject({ kind: 'succeeded', detail: { status: 'succeeded', durationMs } });
      expect(ended.trailHead).toEqual(headOf(trail.at(-1) as TrailEntry));
      expect(h.eventsOf('runbook_executed')).toEqual([
        {
          tenantId: 'acme',
          traceId: 'trace-end',
          occurredAt: '2026-03-01T09:01:30.000Z',
          runbookId: 'restart',
          executionId: id,
          status: 'succeeded',
          version: 1,
          durationMs,
        },
      ]);
      expect(h.ended).toEqual([]);
    });

    it('ends a rejected flow rejected, naming the stage', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      await h.reachStage(execution.id, 0);
      await h.decide(execution.id, 0, 'otto', 'reject');

      // Act
      const ended = await h.service.flowEnded('acme', execution.id, 'FAILED', FLOW_ERRORS.rejected, 't');

      // Assess
      expect(ended).toMatchObject({ status: 'rejected', failure: 'stage on-call was rejected' });
      expect((await h.trailOf(execution.id)).at(-1)).toMatchObject({
        kind: 'failed',
        detail: { status: 'rejected', reason: 'stage on-call was rejected' },
      });
      expect(h.eventsOf('runbook_executed').map((event) => event.status)).toEqual(['rejected']);
      expect(h.ended).toEqual([]);
    });

    it('ends a flow that timed out at a stage timed_out, with that stage timed out', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('dual', {});
      await h.reachStage(execution.id, 0);
      await h.decide(execution.id, 0, 'ada');
      h.clock.advance(86_400_000);

      // Act
      const ended = await h.service.flowEnded('acme', execution.id, 'FAILED', FLOW_ERRORS.timedOut, 't');

      // Assess
      expect(ended).toMatchObject({
        status: 'timed_out',
        failure: 'stage security got no decision in time',
        durationMs: 86_400_000,
      });
      expect(ended.stages.map((stage) => stage.status)).toEqual(['timed_out', 'pending']);
      expect((await h.trailOf(execution.id)).at(-1)).toMatchObject({
        kind: 'timed_out',
        detail: { status: 'timed_out' },
      });
      expect(h.eventsOf('runbook_executed').map((event) => event.status)).toEqual(['timed_out']);
    });

    it('ends a flow whose steps failed failed, with the step’s reason, and tells onEnded', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => {
        throw new StepFailedError('restart', 'answered 503');
      };
      await rejection(h.service.runSteps(h.runStepsPayload(id)));

      // Act
      const ended = await h.service.flowEnded('acme', id, 'FAILED', FLOW_ERRORS.stepsFailed, 't');

      // Assess
      expect(ended).toMatchObject({ status: 'failed', failure: 'answered 503' });
      expect(h.ended).toEqual([{ tenantId: 'acme', outcome: 'failed' }]);
      expect(h.eventsOf('runbook_executed').map((event) => event.status)).toEqual(['failed']);
    });

    it('changes nothing and publishes nothing on a second report, nor on RUNNING', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });
      const running = await h.service.flowEnded('acme', execution.id, 'RUNNING', undefined, 't');
      expect(running).toEqual(await h.get(execution.id));
      const first = await h.service.flowEnded('acme', execution.id, 'ABORTED', undefined, 't');
      const trail = await h.trailOf(execution.id);
      h.clock.advance(MINUTE);

      // Act
      const second = await h.service.flowEnded('acme', execution.id, 'SUCCEEDED', undefined, 't');

      // Assess
      expect(first).toMatchObject({ status: 'failed', failure: 'the flow failed' });
      expect(second).toEqual(first);
      expect(await h.get(execution.id)).toEqual(first);
      expect(await h.trailOf(execution.id)).toEqual(trail);
      expect(h.eventsOf('runbook_executed')).toHaveLength(1);
    });

    // BUG: executions.ts flowEnded() checks FINAL on the record it read, then #finish appends and
    // writes through #update, whose change function does not check FINAL again. Two deliveries of
    // the same status change at once (EventBridge delivers at least once) both pass the check: the
    // trail append of the second is a replay, but both writes land and runbook_executed is published
    // twice (and onEnded told twice for a failure, double-counting the alarm's metric).
    it('publishes runbook_executed once when the end is reported twice at once', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });

      // Act
      await Promise.all([
        h.service.flowEnded('acme', execution.id, 'ABORTED', undefined, 't'),
        h.service.flowEnded('acme', execution.id, 'ABORTED', undefined, 't'),
      ]);

      // Assess
      expect(h.eventsOf('runbook_executed')).toHaveLength(1);
    });
  });

  describe('timeline', () => {
    it('verifies an untouched trail against the record’s head', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      h.runners.http.answer = () => RESTARTED;
      await h.service.runSteps(h.runStepsPayload(id));
      await h.service.flowEnded('acme', id, 'SUCCEEDED', undefined, 't');

      // Act
      const { record, entries, check: trailCheck } = await h.service.timeline('acme', id);

      // Assess
      expect(record).toEqual(await h.get(id));
      expect(entries).toEqual(await h.trailOf(id));
      expect(entries).toHaveLength(13);
      expect(trailCheck).toEqual({ ok: true, length: 13, lastHash: record.trailHead?.hash });
    });

    it('reports a trail record edited in the table as not ok, at that entry', async () => {
      // Prepare
      const h = await setup();
      const id = await approvedRestart(h);
      const stored = await h.trailRecords.get('acme', trailRecordId(id, 3));
      if (!stored) throw new Error('no approval entry');
      await h.trailRecords.replace(
        { ...stored, version: stored.version + 1, actor: 'someone-else' },
        stored.version,
      );

      // Act
      const { check: trailCheck } = await h.service.timeline('acme', id);

      // Assess
      expect(trailCheck).toEqual({ ok: false, at: 3, reason: 'hash_mismatch' });
    });

    it('answers 404 execution_not_found for another tenant’s execution', async () => {
      // Prepare
      const h = await setup();
      const { execution } = await h.execute('restart', { service: 'search' });

      // Act
      const error = await refusal(h.service.timeline('globex', execution.id));

      // Assess
      expect(error).toBeInstanceOf(AppError);
      expect([error.statusCode, error.code]).toEqual([404, 'execution_not_found']);
    });
  });
});
