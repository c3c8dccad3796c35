import {
  assertBodyTenant,
  bind,
  HttpReply,
  httpApp,
  type KernelDeps,
  kernelOptionsOf,
} from '#shared/http/http.js';
import type { DecideMany } from '#shared/ports/policy.js';
import {
  addTrustedKey,
  confirmRunbookStep,
  decideApprovalRequest,
  executeRunbook,
  getRunbook,
  getRunbookExecution,
  getRunbookVersion,
  listRunbookExecutions,
  listRunbookRegistry,
  listRunbookVersions,
  listTrustedKeys,
  openApprovalRequest,
  publishRunbook,
  retireTrustedKey,
  revokeRunbookVersion,
} from '../contract.js';
import { type Executions, executionView } from './domain/executions.js';
import type { RunbookRecord, RunbookRegistry, RunbookVersionRecord } from './domain/registry.js';
import type { RunbookSignature } from './domain/signing.js';
import type { TenantKeyRecord, TenantKeys } from './domain/tenant-keys.js';

export interface RunbooksAppDeps extends KernelDeps {
  readonly registry: Pick<RunbookRegistry, 'publish' | 'list' | 'latest' | 'version' | 'versions' | 'revoke'>;
  readonly executions: Pick<
    Executions,
    'execute' | 'list' | 'timeline' | 'confirmStep' | 'openRequest' | 'decide'
  >;
  readonly tenantKeys: Pick<TenantKeys, 'add' | 'list' | 'retire'>;
  /** The kernel's decideMany, for the resource-level `runbooks:approvals:decide`. */
  readonly decideMany: DecideMany;
}

const versionView = (record: RunbookVersionRecord) => ({
  runbookId: record.runbookId,
  version: record.runbookVersion,
  description: (JSON.parse(record.document) as { description: string }).description,
  digest: record.digest,
  status: record.status,
  ...(record.quarantineReason === undefined ? {} : { quarantineReason: record.quarantineReason }),
  ...(record.revokedAt === undefined
    ? {}
    : { revokedAt: record.revokedAt, revokedBy: record.revokedBy, revokeReason: record.revokeReason }),
  signature: { ...record.signature },
  runbook: JSON.parse(record.document) as Record<string, unknown>,
  publishedAt: record.publishedAt,
  publishedBy: record.publishedBy,
});

const keyView = (record: TenantKeyRecord) => ({
  keyId: record.id,
  keyVersion: record.keyVersion,
  fingerprint: record.fingerprint,
  publicKey: record.publicKeyPem,
  ...(record.description === undefined ? {} : { description: record.description }),
  status: record.status,
  addedBy: record.addedBy,
  addedAt: record.createdAt,
  ...(record.retiredAt === undefined ? {} : { retiredAt: record.retiredAt, retiredBy: record.retiredBy }),
});

const summaryView = (record: RunbookRecord) => ({
  runbookId: record.id,
  latestVersion: record.latestVersion,
  description: record.description,
  digest: record.digest,
  status: record.status,
  privilegedSteps: record.privilegedSteps,
  approvalStages: [...record.approvalStages],
  publishedAt: record.publishedAt,
  publishedBy: record.publishedBy,
});

/** The runbooks pillar's HTTP app: its routes bound to the domain on the kernel's middy stack. */
export const makeRunbooksApp = (deps: RunbooksAppDeps) =>
  httpApp({
    ...kernelOptionsOf(deps),
    routes: [
      bind(publishRunbook, async ({ tenantId, body, principal, traceId }) => {
        const { version, created } = await deps.registry.publish(
          tenantId,
          { runbook: body.runbook, signature: body.signature as RunbookSignature },
          principal.subject,
          traceId,
        );
        return new HttpReply(created ? 201 : 200, versionView(version));
      }),
      bind(listRunbookRegistry, async ({ tenantId, query }) => {
        assertBodyTenant(query.tenantId, tenantId);
        const page = await deps.registry.list(tenantId, { limit: query.limit, cursor: query.cursor });
        return {
          items: page.items.map(summaryView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(getRunbook, async ({ tenantId, params }) =>
        versionView(await deps.registry.latest(tenantId, params.runbookId)),
      ),
      bind(listRunbookVersions, async ({ tenantId, params, query }) => {
        // A runbook has few versions: read them all, page here (the cursor is the next offset).
        const all = await deps.registry.versions(tenantId, params.runbookId);
        const offset = Number(query.cursor ?? 0) || 0;
        const items = all.slice(offset, offset + query.limit).map(versionView);
        const next = offset + query.limit;
        return { items, ...(next < all.length ? { nextCursor: String(next) } : {}) };
      }),
      bind(getRunbookVersion, async ({ tenantId, params }) =>
        versionView(await deps.registry.version(tenantId, params.runbookId, params.version)),
      ),
      bind(revokeRunbookVersion, async ({ tenantId, params, body, principal }) =>
        versionView(
          await deps.registry.revoke(
            tenantId,
            params.runbookId,
            params.version,
            principal.subject,
            body.reason,
          ),
        ),
      ),
      bind(addTrustedKey, async ({ tenantId, body, principal }) => {
        const { key, created } = await deps.tenantKeys.add(tenantId, body, principal.subject);
        return new HttpReply(created ? 201 : 200, keyView(key));
      }),
      bind(listTrustedKeys, async ({ tenantId, query }) => {
        const page = await deps.tenantKeys.list(tenantId, { limit: query.limit, cursor: query.cursor });
        return {
          items: page.items.map(keyView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(retireTrustedKey, async ({ tenantId, body, principal }) =>
        keyView(await deps.tenantKeys.retire(tenantId, body.keyId, principal.subject)),
      ),
      bind(executeRunbook, async ({ tenantId, body, principal, traceId }) => {
        const { execution, created } = await deps.executions.execute(
          tenantId,
          body,
          principal.subject,
          traceId,
        );
        return new HttpReply(created ? 202 : 200, executionView(execution));
      }),
      bind(listRunbookExecutions, async ({ tenantId, query }) => {
        const page = await deps.executions.list(tenantId, { limit: query.limit, cursor: query.cursor });
        return {
          items: page.items.map(executionView),
          ...(page.nextCursor === undefined ? {} : { nextCursor: page.nextCursor }),
        };
      }),
      bind(getRunbookExecution, async ({ tenantId, params }) => {
        const { record, entries, check } = await deps.executions.timeline(tenantId, params.executionId);
        return {
          ...executionView(record),
          trail: entries.map(({ executionId: _e, tenantId: _t, ...entry }) => entry),
          trailCheck: check
            ? check.ok
              ? { ok: true }
              : { ok: false, reason: check.reason, at: check.at }
            : { ok: entries.length === 0 },
        };
      }),
      bind(confirmRunbookStep, async ({ tenantId, params, principal }) =>
        executionView(
          await deps.executions.confirmStep(tenantId, params.executionId, params.stepId, principal.subject),
        ),
      ),
      bind(openApprovalRequest, async ({ tenantId, body, traceId }) =>
        deps.executions.openRequest(tenantId, body, traceId),
      ),
      bind(decideApprovalRequest, async ({ tenantId, params, body, principal, traceId, decideMany }) =>
        deps.executions.decide(
          tenantId,
          params.requestId,
          body,
          principal.subject,
          async (resource) => {
            const [answer] = await (decideMany ?? deps.decideMany)([
              { principal, action: 'runbooks:approvals:decide', resource, traceId },
            ]);
            return answer ?? { allow: false, reasons: ['no decision'], obligations: [] };
          },
          traceId,
        ),
      ),
    ],
  });
