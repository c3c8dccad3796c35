import { LocalRsaSigner, signRunbook } from '../../functions/runbooks/offline.js';
import { oneApprovalRunbook } from '../lib/runbook-fixture.js';
import type { Kind, PillarKinds } from './kind.js';

/**
 * The runbooks pillar's (M5) main request, priced by `npm run bench:cost`: one whole execution of a
 * signed runbook, in tenant `bench-runbooks`. The runbook `bench-cost` (published once, signed with
 * the runtime's local key as KMS signs on AWS) has one approval stage (`on-call`, role operator, one
 * approver) and one privileged http step POSTing to the bench's local expert (`context.expertBase`).
 *
 * "runbook execution": `POST /runbooks/execute` by an operator, stepped up, always with the same
 * parameters (so every execution has the digest the approver names). The request verifies the
 * stored version again, writes the execution and its first trail entries (each mirrored to the WORM
 * store), starts the approval flow (a Step Functions Standard workflow; locally the same ASL on the
 * interpreter) and answers 202. Priced with it, everything it sets off:
 * - the flow: Collect approvals, Wait for approval, Run the steps, Runbook done (4 billed transitions);
 * - the approval-request Lambda: the stage's token recorded, `approval_requested` appended, published;
 * - the approval, which the bench sends as the approver when it sees that event: `POST
 *   /approvals/requests/{id}/decision` by another operator, stepped up (the policy decides, the
 *   decision is recorded, SendTaskSuccess). So one "request" is two API requests; the floor counts both;
 * - the run-steps Lambda: the runbook and the approval checked again, the http step run through the
 *   guarded client, its trail entries;
 * - the flow-events Lambda on the machine's status change: the execution ended, `succeeded`
 *   appended, `runbook_executed` published;
 * - the compliance function on `runbook_executed` (its subscription): the control
 *   `platform.runbooks-signed-approved` re-run, which reads the WORM trail of the newest 200
 *   executions of the last 25 h. The 200 warm-up executions put it at that steady state (a platform
 *   running 200 executions a day or more); with fewer, an execution reads fewer.
 *
 * bench:cost's drain waits for the flows and the bus's deliveries as for the queues, so every
 * execution is priced to its end; `verify` then reads every execution back.
 */

const TENANT = 'bench-runbooks';
const RUNBOOK_ID = 'bench-cost';
const PARAMS = { service: 'search' };
const TRAIL = [
  'requested',
  'verified',
  'approval_requested',
  'approved',
  'step_started',
  'step_finished',
  'succeeded',
].join(',');

export const runbooksCostKinds: PillarKinds = async ({ conductor, token, call, expertBase }) => {
  const [admin, requester, approver] = await Promise.all([
    token(TENANT, `${TENANT}-admin`, ['admin'], true),
    token(TENANT, `${TENANT}-requester`, ['operator'], true),
    token(TENANT, `${TENANT}-approver`, ['operator'], true),
  ]);
  const runbook = oneApprovalRunbook({
    id: RUNBOOK_ID,
    description: 'One approval stage, then one http step to the local expert (bench:cost)',
    parameters: {
      type: 'object',
      required: ['service'],
      additionalProperties: false,
      properties: { service: { type: 'string', enum: ['search', 'billing'] } },
    },
    roles: ['operator'],
    url: `${expertBase}/runbook/restart/\${params.service}`,
    body: { requestedBy: 'conductor' },
  });
  const signer = await LocalRsaSigner.open(conductor.runbookKeyDir);
  const signature = await signRunbook(runbook, signer, new Date());
  await call('POST', '/runbooks/registry', admin, { runbook, signature }, 201);

  /** Executions answered and not yet read back; what the approver could not approve. */
  const started: string[] = [];
  const failures: string[] = [];
  /** The approver: approves each stage of the tenant as soon as it is requested (once the digest is known). */
  let knowDigest: (digest: string) => void = () => undefined;
  const digest = new Promise<string>((resolve) => {
    knowDigest = resolve;
  });
  conductor.bus.addRule({
    name: `${TENANT}-approver`,
    eventPattern: {
      source: ['conductor'],
      'detail-type': ['approval_requested'],
      detail: { tenantId: [TENANT] },
    },
    retryAttempts: 0,
    target: async (event) => {
      const { requestId } = event.detail as { requestId: string };
      try {
        const decided = await call(
          'POST',
          `/approvals/requests/${requestId}/decision`,
          approver,
          { decision: 'approve', digest: await digest },
          200,
        );
        if (decided.status !== 'approved') throw new Error(`stage ${decided.status}`);
      } catch (error) {
        failures.push(`${requestId}: ${(error as Error).message}`);
      }
    },
  });

  /**
   * Throws unless every execution started so far ended succeeded, its whole trail there and verified
   * against its WORM copies (run once the drain is done: no flow or delivery is left).
   */
  const verify = async () => {
    await conductor.approvalFlow.settled();
    if (failures.length > 0) throw new Error(`the approver failed: ${failures.splice(0).join('; ')}`);
    for (const id of started.splice(0)) {
      const view = await call('GET', `/runbooks/executions/${id}`, approver, undefined, 200);
      const trail = (view.trail as { kind: string }[]).map((entry) => entry.kind).join(',');
      if (view.status !== 'succeeded' || trail !== TRAIL || (view.trailCheck as { ok: boolean }).ok !== true)
        throw new Error(`execution ${id} did not run to its end: ${JSON.stringify(view)}`);
    }
  };

  // One execution first, unmetered: the digest every approval names (the approver waits for it).
  const body = { runbookId: RUNBOOK_ID, params: PARAMS };
  const first = await call('POST', '/runbooks/execute', requester, body, 202);
  knowDigest(first.digest as string);
  started.push(first.executionId as string);
  await verify();
  return [
    {
      name: 'runbook execution',
      method: 'POST',
      path: '/runbooks/execute',
      token: requester,
      status: 202,
      body: () => body,
      warmUp: 200,
      note: 'One whole execution: the execute and its approval decision (sent by the bench, as the approver, on approval_requested: two API requests, both in the floor); the approval flow (4 state transitions, 3 Lambda invocations), the http step to a local expert, and the compliance re-run on runbook_executed at its steady state (it reads the trails of the newest 200 executions; 200 ran first).',
      check: (reply) => {
        const { executionId, status, digest: answered } = reply as Record<string, unknown>;
        if (status !== 'awaiting_approval' || answered !== first.digest)
          throw new Error('expected an execution awaiting approval, with the digest of every other');
        started.push(executionId as string);
      },
      verify,
    },
  ] satisfies Kind[];
};
