import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedulesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { type Synthesized, synthConductor } from './synth.js';

/**
 * The functions trust the claims API Gateway's JWT authorizer passes them and do not verify the
 * token again (docs/authorization.md, "Who may invoke the functions"): so nothing but this API may
 * invoke a function with routes (and EventBridge only the functions a schedule names). The
 * resource-based policies of the functions say so; no identity policy of the app grants
 * lambda:InvokeFunction to anyone.
 */
describe('who may invoke the functions', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor();
  });
  afterAll(() => synth?.dispose());

  type Resource = { Type: string; Properties: Record<string, unknown> };
  const resources = () => synth.apiTemplate.toJSON().Resources as Record<string, Resource>;

  it('grants invoke only to API Gateway, for this API, and to EventBridge for scheduled functions', () => {
    const scheduled = new Set(schedulesOf(PILLARS).map((s) => s.function));
    const apiId = synth.api.getLogicalId(synth.api.api.node.defaultChild as never);
    const permissions = Object.values(resources()).filter((r) => r.Type === 'AWS::Lambda::Permission');
    expect(permissions.length).toBeGreaterThan(0);
    for (const permission of permissions) {
      const { Principal, Action, SourceArn } = permission.Properties;
      expect(Action).toBe('lambda:InvokeFunction');
      if (Principal === 'apigateway.amazonaws.com') {
        // execute-api:<region>:<account>:<this api id>/...
        expect(JSON.stringify(SourceArn)).toContain(JSON.stringify({ Ref: apiId }).slice(1, -1));
      } else {
        expect(Principal).toBe('events.amazonaws.com');
        expect(scheduled.size).toBeGreaterThan(0);
        expect(SourceArn).toBeDefined();
      }
    }
  });

  it('gives no role of the app the right to invoke a function', () => {
    const statements = Object.values(resources())
      .filter((r) => ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::Role'].includes(r.Type))
      .flatMap((r) => {
        const documents = [
          r.Properties.PolicyDocument,
          ...((r.Properties.Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map(
            (p) => p.PolicyDocument,
          ),
        ];
        return documents.flatMap(
          (d) => (d as { Statement?: { Action: string | string[] }[] } | undefined)?.Statement ?? [],
        );
      });
    const invoking = statements.filter((s) =>
      (Array.isArray(s.Action) ? s.Action : [s.Action]).some(
        (a) => a === 'lambda:InvokeFunction' || a === 'lambda:*',
      ),
    );
    expect(invoking).toEqual([]);
  });
});
