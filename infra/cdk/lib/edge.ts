import {
  ArnFormat,
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Token,
  Validations,
} from 'aws-cdk-lib';
import {
  ApiMapping,
  DomainName,
  EndpointType,
  type HttpApi,
  type HttpStage,
  SecurityPolicy,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HttpVersion,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  SecurityPolicyProtocol,
  SSLMethod,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { CfnLoggingConfiguration, CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import { Construct } from 'constructs';

/**
 * The edge in front of the HTTP API, all optional: a custom domain (an API Gateway regional domain
 * name; the default `execute-api` endpoint is then disabled) and a CloudFront distribution with an
 * AWS WAF web ACL. A CloudFront web ACL must live in us-east-1, so it is not built here but in its
 * own small stack, `ConductorEdgeWafStack` (always us-east-1), and handed to the API stack by ARN:
 * CDK's cross-region references would need pinned regions on both stacks (the app may be
 * environment-agnostic), are still experimental, and add a custom-resource Lambda to each stack.
 */

/** The only region where CloudFront's certificates and web ACLs can live. */
export const CLOUDFRONT_REGION = 'us-east-1';

/** Requests per client IP address per `WAF_RATE_WINDOW_SECONDS` before the web ACL answers 429. */
export const DEFAULT_WAF_RATE_LIMIT = 15_000;
/**
 * The rate rule's window. 15 000 per 5 minutes is 50 requests a second from one address: above one
 * tenant's steady use at its own per-minute limits (router.route 600 + router.reward 1 200 a minute is
 * 30 a second), well under the stage throttle (500 a second), so one address cannot take the stage.
 */
export const WAF_RATE_WINDOW_SECONDS = 300;

/** AWS managed rule groups of the web ACL, in priority order after the rate rule. */
export const WAF_MANAGED_RULE_GROUPS = [
  // Addresses Amazon threat intelligence lists (bots, scanners, known attackers): cheapest first.
  'AWSManagedRulesAmazonIpReputationList',
  // OWASP-style common rule set: bad bots' user agents, LFI/RFI, XSS, size limits.
  'AWSManagedRulesCommonRuleSet',
  // Request patterns known to be malicious (Log4j, Java deserialization, localhost host headers).
  'AWSManagedRulesKnownBadInputsRuleSet',
] as const;

/**
 * Rules of the common rule set that only count: SizeRestrictions_BODY blocks bodies over 8 KB, but
 * routes accept up to 256 KB (policy dry-runs, route requests) and answer larger ones with the
 * uniform 413 themselves.
 */
export const WAF_COUNT_ONLY_RULES = ['SizeRestrictions_BODY'] as const;

/** The body of the rate rule's 429: the uniform error shape, without a trace id (no function ran). */
export const WAF_RATE_LIMITED_BODY = JSON.stringify({
  code: 'rate_limited',
  message: 'Too many requests from this address; retry after a minute.',
});

/** The optional edge of the API stack (`ConductorApiStackProps.edge`). */
export interface EdgeSettings {
  /**
   * The API's own host name, e.g. `api.example.com`: an API Gateway regional custom domain, and the
   * CloudFront alias when `webAclArn` is given. The default `execute-api` endpoint is then disabled,
   * so the API answers only here. Needs `certificateArn`. DNS is yours: point the name at the stack
   * output `EdgeDnsTarget`.
   *
   * @default - no custom domain: the `execute-api` endpoint (or CloudFront's domain) is the API URL
   */
  readonly domainName?: string;
  /**
   * ACM certificate for `domainName` in the API stack's region (API Gateway's regional domain).
   *
   * @default - required with `domainName`
   */
  readonly certificateArn?: string;
  /**
   * ARN of a WAFv2 web ACL with CLOUDFRONT scope (us-east-1), e.g. the `WebAclArn` output of
   * ConductorEdgeWafStack: puts a CloudFront distribution with that web ACL in front of the API.
   *
   * @default - no CloudFront distribution
   */
  readonly webAclArn?: string;
  /**
   * ACM certificate for `domainName` in us-east-1, for the CloudFront alias.
   *
   * @default - `certificateArn` when that one is in us-east-1; otherwise required with `webAclArn`
   *   and `domainName`
   */
  readonly distributionCertificateArn?: string;
}

const HOST_NAME = /^(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const ACM_CERTIFICATE_ARN = /^arn:aws(?:-[a-z]+)*:acm:([a-z0-9-]+):\d{12}:certificate\/[0-9a-f-]{36}$/;
const CLOUDFRONT_WEB_ACL_ARN =
  /^arn:aws(?:-[a-z]+)*:wafv2:us-east-1:\d{12}:global\/webacl\/[A-Za-z0-9_-]{1,128}\/[0-9a-f-]{36}$/;

/** The region of an ACM certificate ARN (checked against ACM_CERTIFICATE_ARN first). */
const regionOfCertificate = (arn: string): string => ACM_CERTIFICATE_ARN.exec(arn)?.[1] ?? '';

/**
 * Checks the edge settings at synth, with the reason in the message: a wrong region or a typo in an
 * ARN would otherwise fail half-way through a deploy.
 */
export const assertEdgeSettings = (settings: EdgeSettings, apiRegion: string): void => {
  const { domainName, certificateArn, webAclArn, distributionCertificateArn } = settings;
  if (domainName === undefined && webAclArn === undefined) {
    throw new Error('edge: give a domainName (with its certificateArn), a webAclArn, or both');
  }
  if (domainName !== undefined && !HOST_NAME.test(domainName)) {
    throw new Error(`edge: domainName '${domainName}' is not a lower-case host name like api.example.com`);
  }
  if ((domainName === undefined) !== (certificateArn === undefined)) {
    throw new Error('edge: domainName and certificateArn go together (the certificate must cover the name)');
  }
  for (const [name, arn] of [
    ['certificateArn', certificateArn],
    ['distributionCertificateArn', distributionCertificateArn],
  ] as const) {
    if (arn !== undefined && !ACM_CERTIFICATE_ARN.test(arn)) {
      throw new Error(`edge: ${name} '${arn}' is not an ACM certificate ARN`);
    }
  }
  if (certificateArn !== undefined && !Token.isUnresolved(apiRegion)) {
    if (regionOfCertificate(certificateArn) !== apiRegion) {
      throw new Error(
        `edge: certificateArn is in ${regionOfCertificate(certificateArn)}, but API Gateway's regional domain needs a certificate in the API's region ${apiRegion}`,
      );
    }
  }
  if (webAclArn !== undefined && !CLOUDFRONT_WEB_ACL_ARN.test(webAclArn)) {
    throw new Error(
      `edge: webAclArn '${webAclArn}' is not a CLOUDFRONT-scope WAFv2 web ACL ARN (arn:aws:wafv2:us-east-1:<account>:global/webacl/<name>/<id>)`,
    );
  }
  if (distributionCertificateArn !== undefined) {
    if (webAclArn === undefined || domainName === undefined) {
      throw new Error(
        'edge: distributionCertificateArn only serves a CloudFront alias (webAclArn and domainName)',
      );
    }
    if (regionOfCertificate(distributionCertificateArn) !== CLOUDFRONT_REGION) {
      throw new Error(
        `edge: distributionCertificateArn must be in ${CLOUDFRONT_REGION} (CloudFront's certificates)`,
      );
    }
  }
  if (
    webAclArn !== undefined &&
    domainName !== undefined &&
    distributionCertificateOf(settings) === undefined
  ) {
    throw new Error(
      `edge: CloudFront needs a certificate for ${domainName} in ${CLOUDFRONT_REGION}: give distributionCertificateArn`,
    );
  }
};

const distributionCertificateOf = (settings: EdgeSettings): string | undefined =>
  settings.distributionCertificateArn ??
  (settings.certificateArn !== undefined && regionOfCertificate(settings.certificateArn) === CLOUDFRONT_REGION
    ? settings.certificateArn
    : undefined);

export interface ApiEdgeProps extends EdgeSettings {
  readonly stage: string;
  readonly api: HttpApi;
  readonly httpStage: HttpStage;
}

/**
 * The API's edge from `EdgeSettings`: the custom domain (regional, TLS 1.2, mapped to the stage) and
 * the CloudFront distribution with the web ACL. CloudFront caches nothing and forwards every header
 * (Authorization included, which CloudFront allows when caching is off), query string and cookie; to
 * a custom domain it forwards the viewer's Host too, since API Gateway picks the API by it.
 */
export class ApiEdge extends Construct {
  /** The custom domain; undefined without `domainName`. */
  readonly domainName?: DomainName;
  /** The CloudFront distribution; undefined without `webAclArn`. */
  readonly distribution?: Distribution;
  /** The base URL clients call (the API lives under API_BASE). */
  readonly url: string;
  /** Where DNS must point `domainName` (CloudFront's domain, or the regional domain's); undefined without one. */
  readonly dnsTarget?: string;

  constructor(scope: Construct, id: string, props: ApiEdgeProps) {
    super(scope, id);
    const stack = Stack.of(this);
    assertEdgeSettings(props, stack.region);
    if (props.domainName !== undefined && props.certificateArn !== undefined) {
      this.domainName = new DomainName(this, 'DomainName', {
        domainName: props.domainName,
        certificate: Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn),
        endpointType: EndpointType.REGIONAL,
        securityPolicy: SecurityPolicy.TLS_1_2,
      });
      new ApiMapping(this, 'ApiMapping', {
        api: props.api,
        domainName: this.domainName,
        stage: props.httpStage,
      });
    }
    if (props.webAclArn !== undefined) {
      this.distribution = this.createDistribution(props, props.webAclArn);
    }
    const host = props.domainName ?? this.distribution?.distributionDomainName;
    this.url = host === undefined ? props.httpStage.url : `https://${host}/`;
    this.dnsTarget =
      props.domainName === undefined
        ? undefined
        : (this.distribution?.distributionDomainName ?? this.domainName?.regionalDomainName);
  }

  private createDistribution(props: ApiEdgeProps, webAclArn: string): Distribution {
    const stack = Stack.of(this);
    // To a custom domain, through its regional name with the viewer's Host; otherwise to execute-api
    // with its own Host (API Gateway answers 403 to a Host it does not know).
    const origin = this.domainName
      ? this.domainName.regionalDomainName
      : `${props.api.apiId}.execute-api.${stack.region}.${stack.urlSuffix}`;
    const certificateArn = distributionCertificateOf(props);
    const distribution = new Distribution(this, 'Distribution', {
      comment: `Conductor ${props.stage} API edge`,
      defaultBehavior: {
        origin: new HttpOrigin(origin, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [OriginSslPolicy.TLS_V1_2],
          readTimeout: Duration.seconds(30),
        }),
        // An API: nothing is cached, every method passes, and plain HTTP is refused rather than
        // redirected (a redirected POST would already have sent its token in the clear).
        allowedMethods: AllowedMethods.ALLOW_ALL,
        cachePolicy: CachePolicy.CACHING_DISABLED,
        originRequestPolicy: this.domainName
          ? OriginRequestPolicy.ALL_VIEWER
          : OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
      },
      webAclId: webAclArn,
      httpVersion: HttpVersion.HTTP2_AND_3,
      enableIpv6: true,
      ...(props.domainName !== undefined && certificateArn !== undefined
        ? {
            domainNames: [props.domainName],
            certificate: Certificate.fromCertificateArn(this, 'DistributionCertificate', certificateArn),
            minimumProtocolVersion: SecurityPolicyProtocol.TLS_V1_2_2021,
            sslSupportMethod: SSLMethod.SNI,
          }
        : {}),
    });
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR1',
      reason:
        'No geo restriction: the API serves tenants wherever they are; the web ACL filters by reputation and rate instead of by country.',
    });
    Validations.of(distribution).acknowledge({
      id: 'AwsSolutions-CFR3',
      reason:
        'Nothing is cached, so every request CloudFront lets through reaches the API stage, whose JSON access logs (one year) record it; requests the web ACL blocks or counts are in its WAF log (ConductorEdgeWafStack).',
    });
    if (props.domainName === undefined) {
      Validations.of(distribution).acknowledge({
        id: 'AwsSolutions-CFR4',
        reason:
          "Without a domainName the distribution answers on its *.cloudfront.net name with CloudFront's default certificate, whose security policy CloudFront fixes; give domainName and a certificate for TLS 1.2 only.",
      });
    }
    return distribution;
  }
}

export interface EdgeWebAclProps {
  readonly stage: string;
  /**
   * Requests per client IP address per 5 minutes (WAF_RATE_WINDOW_SECONDS); over it, 429.
   *
   * @default DEFAULT_WAF_RATE_LIMIT
   */
  readonly rateLimit?: number;
  /**
   * What happens to the WAF log group when it leaves the stack.
   *
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The CloudFront web ACL: a per-IP rate rule (429 with the uniform error body) and the AWS managed
 * rule groups of WAF_MANAGED_RULE_GROUPS, everything else allowed. Requests it blocks or counts are
 * logged (Authorization redacted) to `aws-waf-logs-conductor-<stage>` for three months; allowed
 * ones are in the API's access logs already. Must be built in a us-east-1 stack.
 */
export class EdgeWebAcl extends Construct {
  readonly webAcl: CfnWebACL;
  readonly webAclArn: string;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: EdgeWebAclProps) {
    super(scope, id);
    const stack = Stack.of(this);
    if (!Token.isUnresolved(stack.region) && stack.region !== CLOUDFRONT_REGION) {
      throw new Error(
        `EdgeWebAcl: a CloudFront web ACL must be created in ${CLOUDFRONT_REGION}, not ${stack.region}`,
      );
    }
    const rateLimit = props.rateLimit ?? DEFAULT_WAF_RATE_LIMIT;
    if (!Number.isInteger(rateLimit) || rateLimit < 10 || rateLimit > 2_000_000_000) {
      throw new Error(`EdgeWebAcl: rateLimit must be an integer from 10 to 2000000000, got ${rateLimit}`);
    }
    const name = `conductor-${props.stage}-edge`;
    const visibility = (metricName: string) => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName,
    });
    const managed = WAF_MANAGED_RULE_GROUPS.map((group, index) => ({
      name: group,
      priority: index + 1,
      overrideAction: { none: {} },
      statement: {
        managedRuleGroupStatement: {
          vendorName: 'AWS',
          name: group,
          ...(group === 'AWSManagedRulesCommonRuleSet'
            ? {
                ruleActionOverrides: WAF_COUNT_ONLY_RULES.map((rule) => ({
                  name: rule,
                  actionToUse: { count: {} },
                })),
              }
            : {}),
        },
      },
      visibilityConfig: visibility(group),
    }));
    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      name,
      description: `Conductor ${props.stage}: rate per IP and AWS managed rules in front of the API`,
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      customResponseBodies: {
        'rate-limited': { contentType: 'APPLICATION_JSON', content: WAF_RATE_LIMITED_BODY },
      },
      rules: [
        {
          // First, so every request counts toward its address's rate, whatever a later rule decides.
          name: 'RatePerIp',
          priority: 0,
          action: {
            block: {
              customResponse: {
                responseCode: 429,
                customResponseBodyKey: 'rate-limited',
                responseHeaders: [{ name: 'retry-after', value: '60' }],
              },
            },
          },
          statement: {
            rateBasedStatement: {
              aggregateKeyType: 'IP',
              limit: rateLimit,
              evaluationWindowSec: WAF_RATE_WINDOW_SECONDS,
            },
          },
          visibilityConfig: visibility('RatePerIp'),
        },
        ...managed,
      ],
      visibilityConfig: visibility(name),
    });
    this.webAclArn = this.webAcl.attrArn;

    this.logGroup = new LogGroup(this, 'Logs', {
      // WAF writes only to log groups whose name starts with aws-waf-logs-.
      logGroupName: `aws-waf-logs-conductor-${props.stage}`,
      retention: RetentionDays.THREE_MONTHS,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    });
    const logging = new CfnLoggingConfiguration(this, 'Logging', {
      resourceArn: this.webAcl.attrArn,
      // The log group's ARN without the `:*` suffix of its Arn attribute, as WAF expects it.
      logDestinationConfigs: [
        stack.formatArn({
          service: 'logs',
          resource: 'log-group',
          resourceName: this.logGroup.logGroupName,
          arnFormat: ArnFormat.COLON_RESOURCE_NAME,
        }),
      ],
      // Never a token in the logs.
      redactedFields: [{ singleHeader: { Name: 'authorization' } }, { singleHeader: { Name: 'cookie' } }],
      // Blocked and counted requests only: allowed ones reach the API and its access logs.
      loggingFilter: {
        DefaultBehavior: 'DROP',
        Filters: [
          {
            Behavior: 'KEEP',
            Requirement: 'MEETS_ANY',
            Conditions: [{ ActionCondition: { Action: 'BLOCK' } }, { ActionCondition: { Action: 'COUNT' } }],
          },
        ],
      },
    });
    logging.node.addDependency(this.logGroup);
  }
}

export interface ConductorEdgeWafStackProps extends StackProps {
  readonly stage: string;
  /** @default DEFAULT_WAF_RATE_LIMIT */
  readonly rateLimit?: number;
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * `Conductor-<stage>-EdgeWaf`: the web ACL of the API's CloudFront distribution, always in
 * us-east-1 (whatever region `env` names; its account is kept). Deploy it first; its output
 * `WebAclArn` is the API stack's `edge.webAclArn`.
 */
export class ConductorEdgeWafStack extends Stack {
  readonly webAcl: EdgeWebAcl;

  constructor(scope: Construct, id: string, props: ConductorEdgeWafStackProps) {
    super(scope, id, {
      ...props,
      env: {
        ...(props.env?.account === undefined ? {} : { account: props.env.account }),
        region: CLOUDFRONT_REGION,
      },
    });
    this.webAcl = new EdgeWebAcl(this, 'EdgeWebAcl', {
      stage: props.stage,
      ...(props.rateLimit === undefined ? {} : { rateLimit: props.rateLimit }),
      ...(props.removalPolicy === undefined ? {} : { removalPolicy: props.removalPolicy }),
    });
    new CfnOutput(this, 'WebAclArn', {
      value: this.webAcl.webAclArn,
      description: 'The API stack edge.webAclArn (context webAclArn)',
    });
  }
}
