import type { DecisionRecord } from '#shared/ports/policy.js';
import type { Page } from '#shared/ports/records.js';

export interface DecisionFilter {
  /** Only allows or only denies. */
  readonly decision?: 'allow' | 'deny' | undefined;
  /** Only decisions about this action. */
  readonly action?: string | undefined;
}

export interface DecisionListOptions extends DecisionFilter {
  readonly limit: number;
  readonly cursor?: string | undefined;
}

/** Port: a tenant's logged decisions, newest first. Cursors are bound to the tenant's partition. */
export interface DecisionLogReader {
  list(tenantId: string, options: DecisionListOptions): Promise<Page<DecisionRecord>>;
  /** The tenant's last `count` decisions, newest first. */
  recent(tenantId: string, count: number): Promise<DecisionRecord[]>;
}

/**
 * A logged decision as the API shows it. The input names tenants as Cedar's attributes do
 * (`tenant`), not `tenantId`: a decision in a tenant's log may be about a principal or resource of
 * another tenant (a route's cross-tenant attempt is logged on both sides, a question asked through
 * the API in the asker's tenant only), and `tenantId` in a response is
 * reserved for the tenant the record belongs to (the kernel's egress guard checks it).
 */
export interface DecisionView {
  readonly decisionId: string;
  readonly tenantId: string;
  readonly at: string;
  readonly traceId: string;
  readonly engine: string;
  readonly policyVersion: string;
  readonly source: 'route' | 'api';
  readonly input: {
    readonly principal: { readonly subject: string; readonly tenant: string; readonly roles: string[] };
    readonly action: string;
    readonly resource: {
      readonly tenant: string;
      readonly kind: string;
      readonly id?: string;
      readonly classification?: string;
    };
    readonly context: { readonly mfa: boolean; readonly grantedTenants: string[] };
  };
  readonly allow: boolean;
  readonly obligations: string[];
  readonly masks: string[];
  readonly reasons: string[];
  readonly latencyMs: number;
  readonly error?: string;
}

export const decisionView = (record: DecisionRecord): DecisionView => {
  const { principal, resource, context } = record.input;
  return {
    decisionId: record.decisionId,
    tenantId: record.tenantId,
    at: record.at,
    traceId: record.traceId,
    engine: record.engine,
    policyVersion: record.policyVersion,
    source: record.source,
    input: {
      principal: { subject: principal.subject, tenant: principal.tenantId, roles: [...principal.roles] },
      action: record.input.action,
      resource: {
        tenant: resource.tenantId,
        kind: resource.kind,
        ...(resource.id !== undefined ? { id: resource.id } : {}),
        ...(resource.classification !== undefined ? { classification: resource.classification } : {}),
      },
      context: { mfa: context.mfa, grantedTenants: [...context.grantedTenants] },
    },
    allow: record.allow,
    obligations: [...record.obligations],
    masks: [...record.masks],
    reasons: [...record.reasons],
    latencyMs: record.latencyMs,
    ...(record.error !== undefined ? { error: record.error } : {}),
  };
};

/** The acting tenant's decision log, a page at a time, newest first. */
export class DecisionLogService {
  constructor(private readonly reader: DecisionLogReader) {}

  async list(tenantId: string, options: DecisionListOptions): Promise<Page<DecisionView>> {
    const page = await this.reader.list(tenantId, options);
    return {
      items: page.items.map(decisionView),
      ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}),
    };
  }
}
