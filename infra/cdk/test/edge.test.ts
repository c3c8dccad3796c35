/**
 * The edge: the custom domain (execute-api disabled), the CloudFront distribution with its WAF web
 * ACL, and the web ACL's own us-east-1 stack; absent unless asked for.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Environment, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CfnDistribution } from 'aws-cdk-lib/aws-cloudfront';
import { AwsSolutionsChecks, NagRuleCompliance, rules } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queuesOf, tablesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';
import { ConductorApiStack } from '../lib/api-stack.js';
import {
  assertEdgeSettings,
  ConductorEdgeWafStack,
  DEFAULT_WAF_RATE_LIMIT,
  type EdgeSettings,
  EdgeWebAcl,
  WAF_MANAGED_RULE_GROUPS,
  WAF_RATE_LIMITED_BODY,
  WAF_RATE_WINDOW_SECONDS,
} from '../lib/edge.js';
import { REPO_ROOT } from '../lib/service-function.js';
import { ConductorStatefulStack } from '../lib/stateful-stack.js';
import { type Synthesized, synthConductor } from './synth.js';

const ACCOUNT = '123456789012';
const WEB_ACL_ARN = `arn:aws:wafv2:us-east-1:${ACCOUNT}:global/webacl/conductor-prod-edge/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d`;
const CERT_EU = `arn:aws:acm:eu-west-1:${ACCOUNT}:certificate/11111111-2222-4333-8444-555555555555`;
const CERT_US = `arn:aws:acm:us-east-1:${ACCOUNT}:certificate/66666666-7777-4888-9999-000000000000`;
const EU: Environment = { account: ACCOUNT, region: 'eu-west-1' };

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };

/** An App with cdk.json's context, no bundling and cdk-nag on, as `cdk synth` runs it. */
const newApp = (): { app: App; dispose: () => void } => {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk.out-edge-'));
  const { context } = JSON.parse(readFileSync(join(REPO_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  const app = new App({ outdir, context: { ...context, 'aws:cdk:bundling-stacks': [] } });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, dispose: () => rmSync(outdir, { recursive: true, force: true }) };
};

/** The API stack with an edge (Template.fromStack runs cdk-nag: it throws on any finding). */
const synthEdge = (edge: EdgeSettings, env?: Environment) => {
  const { app, dispose } = newApp();
  try {
    const stateful = new ConductorStatefulStack(app, 'Conductor-prod-Stateful', {
      stage: 'prod',
      ...(env ? { env } : {}),
      tables: tablesOf(PILLARS),
      queues: queuesOf(PILLARS),
    });
    const api = new ConductorApiStack(app, 'Conductor-prod-Api', {
      stage: 'prod',
      ...(env ? { env } : {}),
      stateful,
      edge,
    });
    const template = Template.fromStack(api);
    const nag = new AwsSolutionsChecks(app).validateScope(app);
    const findings = nag.violations.map(
      (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
    );
    return { api, template, findings, resources: template.toJSON().Resources as Record<string, Resource> };
  } finally {
    dispose();
  }
};

const ofType = (resources: Record<string, Resource>, type: string): [string, Resource][] =>
  Object.entries(resources).filter(([, r]) => r.Type === type);
const httpApiOf = (resources: Record<string, Resource>): Resource => {
  const apis = ofType(resources, 'AWS::ApiGatewayV2::Api');
  expect(apis).toHaveLength(1);
  return apis[0]?.[1] as Resource;
};

describe('no edge (the default app)', () => {
  let synth: Synthesized;
  beforeAll(() => {
    synth = synthConductor();
  });
  afterAll(() => synth?.dispose());

  it('has no distribution, web ACL, custom domain or mapping, and keeps the execute-api endpoint', () => {
    for (const type of [
      'AWS::CloudFront::Distribution',
      'AWS::WAFv2::WebACL',
      'AWS::ApiGatewayV2::DomainName',
      'AWS::ApiGatewayV2::ApiMapping',
    ]) {
      synth.apiTemplate.resourceCountIs(type, 0);
    }
    const resources = synth.apiTemplate.toJSON().Resources as Record<string, Resource>;
    expect(httpApiOf(resources).Properties).not.toHaveProperty('DisableExecuteApiEndpoint');
    expect(synth.api.edge).toBeUndefined();
    expect(Object.keys(synth.apiTemplate.findOutputs('EdgeDnsTarget'))).toEqual([]);
  });
});

describe('a custom domain without CloudFront', () => {
  let synth: ReturnType<typeof synthEdge>;
  beforeAll(() => {
    synth = synthEdge({ domainName: 'api.example.com', certificateArn: CERT_EU }, EU);
  });

  it('creates the regional domain (TLS 1.2) with the certificate and maps it to the $default stage', () => {
    const [domainId] = ofType(synth.resources, 'AWS::ApiGatewayV2::DomainName')[0] ?? [];
    expect(synth.resources[domainId ?? '']?.Properties).toEqual(
      expect.objectContaining({
        DomainName: 'api.example.com',
        DomainNameConfigurations: [
          { CertificateArn: CERT_EU, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' },
        ],
      }),
    );
    const mappings = ofType(synth.resources, 'AWS::ApiGatewayV2::ApiMapping');
    expect(mappings).toHaveLength(1);
    const apiId = ofType(synth.resources, 'AWS::ApiGatewayV2::Api')[0]?.[0];
    const stageId = ofType(synth.resources, 'AWS::ApiGatewayV2::Stage')[0]?.[0];
    expect(mappings[0]?.[1].Properties).toEqual(
      expect.objectContaining({ ApiId: { Ref: apiId }, DomainName: { Ref: domainId }, Stage: '$default' }),
    );
    // The stage is named, not referenced: the mapping waits for it explicitly.
    expect(mappings[0]?.[1].DependsOn).toEqual(expect.arrayContaining([stageId]));
    synth.template.resourceCountIs('AWS::CloudFront::Distribution', 0);
  });

  it('has zero unacknowledged cdk-nag findings', () => {
    expect(synth.findings).toEqual([]);
  });

  it('disables the execute-api endpoint, so the API answers only on its domain', () => {
    expect(httpApiOf(synth.resources).Properties.DisableExecuteApiEndpoint).toBe(true);
  });

  it('outputs the domain as the API URL and the regional domain name as the DNS target', () => {
    expect(synth.template.findOutputs('ApiUrl').ApiUrl?.Value).toBe('https://api.example.com/');
    const domainId = ofType(synth.resources, 'AWS::ApiGatewayV2::DomainName')[0]?.[0];
    expect(synth.template.findOutputs('EdgeDnsTarget').EdgeDnsTarget?.Value).toEqual({
      'Fn::GetAtt': [domainId, 'RegionalDomainName'],
    });
  });
});

describe('CloudFront with WAF, without a custom domain', () => {
  let synth: ReturnType<typeof synthEdge>;
  beforeAll(() => {
    synth = synthEdge({ webAclArn: WEB_ACL_ARN });
  });

  const config = () => {
    const distributions = ofType(synth.resources, 'AWS::CloudFront::Distribution');
    expect(distributions).toHaveLength(1);
    return distributions[0]?.[1].Properties.DistributionConfig as Record<string, unknown>;
  };

  it('has zero unacknowledged cdk-nag findings (CFR4 acknowledged: the default certificate)', () => {
    expect(synth.findings).toEqual([]);
  });

  it('puts the web ACL on the distribution', () => {
    expect(config().WebACLId).toBe(WEB_ACL_ARN);
  });

  it('sends everything to execute-api over TLS 1.2, caching nothing and forwarding all but Host', () => {
    const apiId = ofType(synth.resources, 'AWS::ApiGatewayV2::Api')[0]?.[0];
    const [origin] = config().Origins as Record<string, unknown>[];
    expect(JSON.stringify(origin?.DomainName)).toContain(JSON.stringify({ Ref: apiId }));
    expect(JSON.stringify(origin?.DomainName)).toContain('.execute-api.');
    expect(origin?.CustomOriginConfig).toMatchObject({
      OriginProtocolPolicy: 'https-only',
      OriginSSLProtocols: ['TLSv1.2'],
    });
    expect(config().DefaultCacheBehavior).toMatchObject({
      ViewerProtocolPolicy: 'https-only',
      AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
      // Managed policies: CachingDisabled and AllViewerExceptHostHeader.
      CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
      OriginRequestPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac',
    });
  });

  it('keeps execute-api (it is the origin) and outputs the distribution as the API URL', () => {
    expect(httpApiOf(synth.resources).Properties).not.toHaveProperty('DisableExecuteApiEndpoint');
    const distributionId = ofType(synth.resources, 'AWS::CloudFront::Distribution')[0]?.[0];
    expect(synth.template.findOutputs('ApiUrl').ApiUrl?.Value).toEqual({
      'Fn::Join': ['', ['https://', { 'Fn::GetAtt': [distributionId, 'DomainName'] }, '/']],
    });
  });
});

describe('CloudFront with WAF on a custom domain', () => {
  let synth: ReturnType<typeof synthEdge>;
  beforeAll(() => {
    synth = synthEdge(
      {
        domainName: 'api.example.com',
        certificateArn: CERT_EU,
        webAclArn: WEB_ACL_ARN,
        distributionCertificateArn: CERT_US,
      },
      EU,
    );
  });

  it('has zero unacknowledged cdk-nag findings, and needs no CFR4 acknowledgement', () => {
    expect(synth.findings).toEqual([]);
    // TLS 1.2 for viewers by the rule itself (without a domain it is acknowledged instead).
    const distribution = synth.api.edge?.distribution?.node.defaultChild as CfnDistribution;
    expect(rules.cloudfront.CloudFrontDistributionHttpsViewerNoOutdatedSSL(distribution)).toBe(
      NagRuleCompliance.COMPLIANT,
    );
  });

  it('serves the domain with the us-east-1 certificate, TLS 1.2 and SNI, behind the web ACL', () => {
    const [[, distribution] = []] = ofType(synth.resources, 'AWS::CloudFront::Distribution');
    const config = distribution?.Properties.DistributionConfig as Record<string, unknown>;
    expect(config).toMatchObject({
      Aliases: ['api.example.com'],
      WebACLId: WEB_ACL_ARN,
      ViewerCertificate: {
        AcmCertificateArn: CERT_US,
        MinimumProtocolVersion: 'TLSv1.2_2021',
        SslSupportMethod: 'sni-only',
      },
    });
  });

  it('reaches the API through its regional domain with the viewer’s Host, execute-api disabled', () => {
    const [[, distribution] = []] = ofType(synth.resources, 'AWS::CloudFront::Distribution');
    const config = distribution?.Properties.DistributionConfig as Record<string, unknown>;
    const domainId = ofType(synth.resources, 'AWS::ApiGatewayV2::DomainName')[0]?.[0];
    expect((config.Origins as Record<string, unknown>[])[0]?.DomainName).toEqual({
      'Fn::GetAtt': [domainId, 'RegionalDomainName'],
    });
    // AllViewer: the Host (api.example.com) is how API Gateway finds the API behind its domain.
    expect(config.DefaultCacheBehavior).toMatchObject({
      OriginRequestPolicyId: '216adef6-5c7f-47e4-b989-5492eafa07d3',
    });
    expect(httpApiOf(synth.resources).Properties.DisableExecuteApiEndpoint).toBe(true);
  });

  it('outputs the domain as the API URL and CloudFront as the DNS target', () => {
    const distributionId = ofType(synth.resources, 'AWS::CloudFront::Distribution')[0]?.[0];
    expect(synth.template.findOutputs('ApiUrl').ApiUrl?.Value).toBe('https://api.example.com/');
    expect(synth.template.findOutputs('EdgeDnsTarget').EdgeDnsTarget?.Value).toEqual({
      'Fn::GetAtt': [distributionId, 'DomainName'],
    });
  });
});

describe('edge settings are checked at synth', () => {
  const cases: [string, EdgeSettings, RegExp][] = [
    ['nothing asked', {}, /give a domainName/],
    ['a domain without its certificate', { domainName: 'api.example.com' }, /go together/],
    ['a certificate without a domain', { certificateArn: CERT_EU, webAclArn: WEB_ACL_ARN }, /go together/],
    [
      'a host name with capitals',
      { domainName: 'API.example.com', certificateArn: CERT_EU },
      /lower-case host name/,
    ],
    [
      'a certificate of another region',
      { domainName: 'api.example.com', certificateArn: CERT_US },
      /API's region eu-west-1/,
    ],
    [
      'not an ACM ARN',
      { domainName: 'api.example.com', certificateArn: 'arn:aws:iam::1:x' },
      /not an ACM certificate ARN/,
    ],
    [
      'a regional web ACL',
      { webAclArn: WEB_ACL_ARN.replace('us-east-1', 'eu-west-1').replace('global', 'regional') },
      /not a CLOUDFRONT-scope/,
    ],
    [
      'CloudFront on a domain with no us-east-1 certificate',
      { domainName: 'api.example.com', certificateArn: CERT_EU, webAclArn: WEB_ACL_ARN },
      /give distributionCertificateArn/,
    ],
    [
      'a CloudFront certificate outside us-east-1',
      {
        domainName: 'api.example.com',
        certificateArn: CERT_EU,
        webAclArn: WEB_ACL_ARN,
        distributionCertificateArn: CERT_EU,
      },
      /must be in us-east-1/,
    ],
  ];
  for (const [what, settings, message] of cases) {
    it(`refuses ${what}`, () => {
      expect(() => assertEdgeSettings(settings, 'eu-west-1')).toThrow(message);
    });
  }

  it('takes the domain certificate for CloudFront too when it is in us-east-1', () => {
    expect(() =>
      assertEdgeSettings(
        { domainName: 'api.example.com', certificateArn: CERT_US, webAclArn: WEB_ACL_ARN },
        'us-east-1',
      ),
    ).not.toThrow();
  });

  it('checks them before building anything in the API stack', () => {
    const { app, dispose } = newApp();
    try {
      const stateful = new ConductorStatefulStack(app, 'S', {
        stage: 'test',
        tables: tablesOf(PILLARS),
        queues: queuesOf(PILLARS),
      });
      expect(
        () =>
          new ConductorApiStack(app, 'A', {
            stage: 'test',
            stateful,
            edge: { domainName: 'api.example.com' },
          }),
      ).toThrow(/domainName and certificateArn go together/);
    } finally {
      dispose();
    }
  });
});

describe('ConductorEdgeWafStack (us-east-1)', () => {
  let stack: ConductorEdgeWafStack;
  let template: Template;
  let webAcl: Record<string, unknown>;
  let findings: string[];
  beforeAll(() => {
    const { app, dispose } = newApp();
    try {
      stack = new ConductorEdgeWafStack(app, 'Conductor-prod-EdgeWaf', { stage: 'prod', env: EU });
      template = Template.fromStack(stack);
      findings = new AwsSolutionsChecks(app)
        .validateScope(app)
        .violations.map(
          (v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.resourceLogicalId).join(', ')}`,
        );
      const acls = Object.values(template.findResources('AWS::WAFv2::WebACL')) as Resource[];
      expect(acls).toHaveLength(1);
      webAcl = acls[0]?.Properties ?? {};
    } finally {
      dispose();
    }
  });

  it('lives in us-east-1 whatever region it is given, in the given account, and outputs the ARN', () => {
    expect(stack.region).toBe('us-east-1');
    expect(stack.account).toBe(ACCOUNT);
    const aclId = Object.keys(template.findResources('AWS::WAFv2::WebACL'))[0];
    expect(template.findOutputs('WebAclArn').WebAclArn?.Value).toEqual({ 'Fn::GetAtt': [aclId, 'Arn'] });
  });

  it('has zero cdk-nag findings', () => {
    expect(findings).toEqual([]);
  });

  it('is a CLOUDFRONT web ACL that allows by default', () => {
    expect(webAcl).toMatchObject({
      Name: 'conductor-prod-edge',
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
    });
  });

  it('limits the rate per IP address first, answering 429 with the uniform error body', () => {
    const rules = webAcl.Rules as Record<string, unknown>[];
    expect(rules[0]).toMatchObject({
      Name: 'RatePerIp',
      Priority: 0,
      Statement: {
        RateBasedStatement: {
          AggregateKeyType: 'IP',
          Limit: DEFAULT_WAF_RATE_LIMIT,
          EvaluationWindowSec: WAF_RATE_WINDOW_SECONDS,
        },
      },
      Action: { Block: { CustomResponse: { ResponseCode: 429, CustomResponseBodyKey: 'rate-limited' } } },
    });
    expect(webAcl.CustomResponseBodies).toEqual({
      'rate-limited': { ContentType: 'APPLICATION_JSON', Content: WAF_RATE_LIMITED_BODY },
    });
    expect(JSON.parse(WAF_RATE_LIMITED_BODY)).toEqual({ code: 'rate_limited', message: expect.any(String) });
  });

  it('blocks with the AWS managed rule groups: IP reputation, common rule set, known bad inputs', () => {
    const rules = (webAcl.Rules as Record<string, unknown>[]).slice(1);
    expect(WAF_MANAGED_RULE_GROUPS).toEqual([
      'AWSManagedRulesAmazonIpReputationList',
      'AWSManagedRulesCommonRuleSet',
      'AWSManagedRulesKnownBadInputsRuleSet',
    ]);
    expect(
      rules.map(
        (rule) =>
          (rule.Statement as { ManagedRuleGroupStatement: { Name: string } }).ManagedRuleGroupStatement.Name,
      ),
    ).toEqual([...WAF_MANAGED_RULE_GROUPS]);
    for (const rule of rules) {
      expect(rule).toMatchObject({
        OverrideAction: { None: {} },
        Statement: { ManagedRuleGroupStatement: { VendorName: 'AWS' } },
        VisibilityConfig: { CloudWatchMetricsEnabled: true, SampledRequestsEnabled: true },
      });
    }
    // Bodies up to 256 KB are legitimate: the common rule set's 8 KB body limit only counts.
    expect(rules[1]).toMatchObject({
      Statement: {
        ManagedRuleGroupStatement: {
          RuleActionOverrides: [{ Name: 'SizeRestrictions_BODY', ActionToUse: { Count: {} } }],
        },
      },
    });
  });

  it('logs blocked and counted requests to aws-waf-logs-conductor-<stage>, without Authorization', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: 'aws-waf-logs-conductor-prod',
      RetentionInDays: 90,
    });
    const [logging] = Object.values(template.findResources('AWS::WAFv2::LoggingConfiguration')) as Resource[];
    expect(logging?.Properties).toMatchObject({
      RedactedFields: [{ SingleHeader: { Name: 'authorization' } }, { SingleHeader: { Name: 'cookie' } }],
      LoggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [
          {
            Behavior: 'KEEP',
            Conditions: [{ ActionCondition: { Action: 'BLOCK' } }, { ActionCondition: { Action: 'COUNT' } }],
          },
        ],
      },
    });
    // The log group's ARN without the `:*` its Arn attribute ends with.
    const groupId = Object.keys(template.findResources('AWS::Logs::LogGroup'))[0];
    expect(logging?.Properties.LogDestinationConfigs).toEqual([
      { 'Fn::Join': ['', [`arn:aws:logs:us-east-1:${ACCOUNT}:log-group:`, { Ref: groupId }]] },
    ]);
  });

  it('takes another rate limit, and refuses one WAF would not', () => {
    const { app, dispose } = newApp();
    try {
      const custom = new ConductorEdgeWafStack(app, 'W', { stage: 'test', rateLimit: 2000 });
      expect(JSON.stringify(Template.fromStack(custom).toJSON())).toContain('"Limit":2000');
      expect(() => new ConductorEdgeWafStack(app, 'X', { stage: 'test', rateLimit: 5 })).toThrow(/rateLimit/);
      const elsewhere = new Stack(app, 'Elsewhere', { env: EU });
      expect(() => new EdgeWebAcl(elsewhere, 'Acl', { stage: 'test' })).toThrow(
        /must be created in us-east-1/,
      );
    } finally {
      dispose();
    }
  });
});
