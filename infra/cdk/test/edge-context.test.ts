import { App, Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { buildApp, parseReservedConcurrency, propsFromContext } from '../lib/app.js';

const nodeWith = (context: Record<string, unknown>) => new Stack(new App({ context }), 'Probe').node;

/** The edge and deployment keys of `-c key=value` (infra/cdk/README.md, "Edge", "Gradual deployments"). */
describe('edge and concurrency context', () => {
  it('reads the edge keys into edge settings, and none of them into none', () => {
    const props = propsFromContext(
      nodeWith({
        stage: 'dev',
        domainName: 'API.Example.com',
        certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
        webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/conductor/1',
      }),
    );
    expect(props.edge).toEqual({
      domainName: 'api.example.com',
      certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc',
      webAclArn: 'arn:aws:wafv2:us-east-1:123456789012:global/webacl/conductor/1',
    });
    expect(propsFromContext(nodeWith({ stage: 'dev' })).edge).toBeUndefined();
  });

  it('reads edgeWaf with its rate limit, reservedConcurrency and accountConcurrency, refusing malformed values', () => {
    const props = propsFromContext(
      nodeWith({
        stage: 'dev',
        edgeWaf: 'true',
        wafRateLimit: '3000',
        reservedConcurrency: 'false',
        accountConcurrency: '2000',
      }),
    );
    expect(props).toMatchObject({
      edgeWaf: { rateLimit: 3000 },
      reservedConcurrency: false,
      accountConcurrency: 2000,
    });
    expect(parseReservedConcurrency('router=50, ops=5')).toEqual({ router: 50, ops: 5 });
    for (const bad of ['router', 'router=0', 'Router=5', 'router=5;ops=1']) {
      expect(() => parseReservedConcurrency(bad), bad).toThrow(/reservedConcurrency/);
    }
    expect(() => propsFromContext(nodeWith({ edgeWaf: 'yes' }))).toThrow(/edgeWaf/);
    expect(() => propsFromContext(nodeWith({ accountConcurrency: 'lots' }))).toThrow(/accountConcurrency/);
  });

  it('builds the web ACL stack in us-east-1 only when edgeWaf is asked', () => {
    const withWaf = buildApp(new App(), { stage: 'dev', nag: false, edgeWaf: { rateLimit: 3000 } });
    const without = buildApp(new App(), { stage: 'dev', nag: false });
    expect(withWaf.edgeWaf?.stackName).toBe('Conductor-dev-EdgeWaf');
    expect(withWaf.edgeWaf?.region).toBe('us-east-1');
    expect(without.edgeWaf).toBeUndefined();
  });
});
