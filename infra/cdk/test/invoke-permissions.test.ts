import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schedulesOf, workflowsOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { type Synthesized, synthConductor } from './synth.js';

/**
 * The functions trust the claims API Gateway's JWT authorizer passes them and do not verify the
 * token again (docs/authorization.md, "Who may invoke the functions"): so nothing but this API may
 * invoke a function with routes (and EventBridge only the functions a schedule or a workflow's status
 * changes name). The resource-based policies of the functions say so; no identity policy of the app
 * grants lambda:InvokeFunction to anyone but a workflow's state machine, on its task functions.
 */
describe('who may invoke the functions', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor();
  });
  afterAll(() => synth?.dispose());

  type Resource = { Type: string; Properties: Record<string, unknown> };
  const resources = () => synth.flatApiTemplate.toJSON().Resources as Record<string, Resource>;

  it('grants invoke only to API Gateway, for this API, and to EventBridge for scheduled functions and status changes', () => {
    const scheduled = new Set([
      ...schedulesOf(PILLARS).map((s) => s.function),
      ...workflowsOf(PILLARS).flatMap((w) => (w.statusChangesTo === undefined ? [] : [w.statusChangesTo])),
    ]);
    const apiId = synth.logicalIdOf(synth.api.api.node.defaultChild as never);
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

  it('gives no role of the app the right to invoke a function, but each workflow’s state machine role on its task functions’ aliases', () => {
    const machineRoles = new Set(
      Object.values(synth.api.pillars).flatMap((pillar) =>
        Object.values(pillar.workflows).map((workflow) =>
          synth.logicalIdOf(workflow.stateMachine.role.node.defaultChild as never),
        ),
      ),
    );
    const statements = Object.values(resources())
      .filter((r) => ['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::Role'].includes(r.Type))
      .filter(
        (r) =>
          !(
            r.Type === 'AWS::IAM::Policy' &&
            (r.Properties.Roles as { Ref: string }[]).some((role) => machineRoles.has(role.Ref))
          ),
      )
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
    // What a state machine role may invoke: exactly its workflow's task aliases.
    expect(machineRoles.size).toBe(workflowsOf(PILLARS).length);
    for (const services of Object.values(synth.api.pillars)) {
      for (const workflow of Object.values(services.workflows)) {
        const roleId = synth.logicalIdOf(workflow.stateMachine.role.node.defaultChild as never);
        const invokes = Object.values(resources())
          .filter(
            (r) =>
              r.Type === 'AWS::IAM::Policy' &&
              JSON.stringify(r.Properties.Roles) === JSON.stringify([{ Ref: roleId }]),
          )
          .flatMap(
            (r) =>
              (r.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown }[] })
                .Statement,
          )
          .filter((statement) => JSON.stringify(statement.Action).includes('lambda:'));
        expect(invokes).toEqual([
          {
            Action: 'lambda:InvokeFunction',
            Effect: 'Allow',
            Resource: Object.values(workflow.spec.tasks).map((name) => ({
              Ref: synth.logicalIdOf(services.functions[name]?.alias.node.defaultChild as never),
            })),
          },
        ]);
      }
    }
  });
});
