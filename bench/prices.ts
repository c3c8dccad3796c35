/**
 * AWS list prices of ONE region (us-east-1, US East N. Virginia), for `npm run bench:cost`
 * (bench/cost.ts), and the function that turns a CallMeter's lines (#shared/adapters/call-meter.js)
 * into dollars per component. Units live in the meter (`UNITS`); prices live only here.
 *
 * Checked on 2026-12-06 against the stored copies of the pages named on each price (`source`). AWS's
 * own pricing pages render their rate tables from price tokens, so the stored copies of most of them
 * carry no numbers; where the figure could not be read on an AWS page or AWS document, `confirmed` is
 * false, the figure used is the one third-party pages agree on, and `note` says so. Free tiers and
 * volume tiers are ignored: first-tier list prices only. Data transfer, storage (DynamoDB, S3, logs
 * retention) and per-key KMS charges are not per request and are left out.
 */
import type { CallLine } from '#shared/adapters/call-meter.js';
import { DEFAULT_FUNCTION_MEMORY_MB } from '#shared/pillar.js';

export const PRICES_REGION = 'us-east-1';
export const PRICES_CHECKED = '2026-12-06';

export interface ListPrice {
  /** Dollars for `per` units. */
  readonly usd: number;
  readonly per: number;
  readonly unit: string;
  readonly source: string;
  /** Whether the figure itself was read on an AWS page or AWS document (not only on third-party pages). */
  readonly confirmed: boolean;
  readonly note?: string;
}

export const PRICES = {
  apiGatewayHttpRequest: {
    usd: 1.0,
    per: 1_000_000,
    unit: 'HTTP API requests, first 300 million a month, metered per 512 KB of request',
    source:
      'https://aws.amazon.com/api-gateway/pricing/ (the page’s worked HTTP API example: $1.00/million for the first 300 million, as transcribed in api-evangelist/amazon-web-services plans/amazon-web-services-plans-pricing.yml); 512 KB metering: https://docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/cost-optimization.html',
    confirmed: true,
  },
  lambdaRequest: {
    usd: 0.2,
    per: 1_000_000,
    unit: 'Lambda invocations (same price on arm64 and x86)',
    source:
      'https://aws.amazon.com/lambda/pricing/ (rate table not in the stored text); figure from https://git.mcrn.ar/mariano/lambda_local_runner (docs/lambdas-md/lambda-13-cost.md) and https://cloudchipr.com/blog/aws-lambda-pricing',
    confirmed: false,
    note: 'Not confirmed on an AWS page (the AWS rate table renders from price tokens); used $0.20 per million, the figure every source agrees on.',
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    per: 1,
    unit: 'GB-seconds of Lambda duration on arm64, first 7.5 billion GB-s a month',
    source:
      'https://aws.amazon.com/lambda/pricing/ (rate table not in the stored text); figure from https://cloudchipr.com/blog/aws-lambda-pricing and https://git.mcrn.ar/mariano/lambda_local_runner (lambda-13-cost.md), and artillery@2.0.28 lib/platform/aws-lambda/prices.js (arm64 base 1333340 × 1e-11)',
    confirmed: false,
    note: 'Not confirmed on an AWS page; used $0.0000133334 per GB-second (arm64 first tier), which three independent sources give.',
  },
  dynamoWriteRequestUnit: {
    usd: 0.625,
    per: 1_000_000,
    unit: 'DynamoDB on-demand write request units (standard table class)',
    source:
      'https://aws.amazon.com/dynamodb/pricing/on-demand/ (units defined there, rates not in the stored text); figure from https://airbyte.com/data-engineering-resources/dynamodb-pricing; the November 2024 cut from https://www.jusdb.com/blog/dynamodb-cost-optimization-a-comprehensive-guide-by-jusdb',
    confirmed: false,
    note: 'Not confirmed on an AWS page. The sources say on-demand throughput prices were cut by 50 % effective 1 November 2024 ($1.25 → $0.625 per million WRU); pages that still say $1.25 predate the cut. Used $0.625.',
  },
  dynamoReadRequestUnit: {
    usd: 0.125,
    per: 1_000_000,
    unit: 'DynamoDB on-demand read request units (standard table class)',
    source:
      'https://aws.amazon.com/dynamodb/pricing/on-demand/ (rates not in the stored text); figure from https://airbyte.com/data-engineering-resources/dynamodb-pricing (after the November 2024 cut)',
    confirmed: false,
    note: 'Not confirmed on an AWS page; after the 50 % cut of 1 November 2024 ($0.25 → $0.125 per million RRU). Used $0.125.',
  },
  sqsRequest: {
    usd: 0.4,
    per: 1_000_000,
    unit: 'SQS standard queue requests, each 64 KB chunk of a payload billed as one request',
    source:
      'https://aws.amazon.com/sqs/pricing/ (rates not in the stored text); figure and the 64 KB rule from https://cloudburn.io/blog/amazon-sqs-pricing and https://unanswered.io/guide/aws-sqs-pricing-and-cost-optimization',
    confirmed: false,
    note: 'Not confirmed on an AWS page; used $0.40 per million (standard queue, first 100 billion a month).',
  },
  eventBridgeCustomEvent: {
    usd: 1.0,
    per: 1_000_000,
    unit: 'EventBridge custom events (PutEvents entries), each 64 KB chunk billed as one event',
    source:
      'https://cloudburn.io/blog/amazon-eventbridge-pricing and https://blog.awsfundamentals.com/aws-eventbridge-pricing-guide; 64 KB chunks: the usage type "PutEvents region-Event(-64K-Chunks)" in https://aws.amazon.com/premiumsupport/knowledge-center/eventbridge-reduce-charges/',
    confirmed: false,
    note: 'The dollar figure is not confirmed on an AWS page; used $1.00 per million custom events.',
  },
  s3PutRequest: {
    usd: 0.005,
    per: 1_000,
    unit: 'S3 Standard PUT, COPY, POST, LIST requests',
    source:
      'https://aws.amazon.com/s3/pricing/ (rates not in the stored text); figure from https://c3x.dev/blog/s3-request-fees-explained and https://www.cloudkaramchari.com/blog/understanding-per-1000-put-copy-post-or-list-requests-in-amazon-s3-pricing/',
    confirmed: false,
    note: 'Not confirmed on an AWS page; used $0.005 per 1,000. Object Lock adds no request charge of its own.',
  },
  s3GetRequest: {
    usd: 0.0004,
    per: 1_000,
    unit: 'S3 Standard GET, SELECT and HEAD requests',
    source:
      'https://aws.amazon.com/s3/pricing/ (rates not in the stored text); figure from https://c3x.dev/blog/s3-request-fees-explained (GET, HEAD, SELECT: $0.0004 per 1,000)',
    confirmed: false,
    note: 'Not confirmed on an AWS page; used $0.0004 per 1,000, for HEAD as for GET.',
  },
  logsIngestGb: {
    usd: 0.5,
    per: 2 ** 30,
    unit: 'bytes ingested by CloudWatch Logs (standard log class), priced per GB (taken as 2^30 bytes)',
    source:
      'https://c3x.dev/blog/cloudwatch-logs-cost-optimization and https://hykell.com/knowledge-base/aws-cloudwatch-logs-pricing (US East: $0.50 per GB collected)',
    confirmed: false,
    note: 'Not confirmed on an AWS page; used $0.50 per GB. Storage ($0.03 per GB-month) is left out.',
  },
  kmsRequest: {
    usd: 0.03,
    per: 10_000,
    unit: 'KMS symmetric-key API requests',
    source:
      'https://aws.amazon.com/kms/pricing/ (key and free-tier text stored, the request rate not); figure from https://www.wring.co/blog/aws-kms-pricing-guide and https://www.factualminds.com/blog/aws-kms-pricing-keys-requests-multi-region/',
    confirmed: false,
    note: 'Not confirmed on an AWS page; used $0.03 per 10,000 requests. The $1 per key-month is not per request and is left out.',
  },
  stepFunctionsStateTransition: {
    usd: 0.025,
    per: 1_000,
    unit: 'Step Functions Standard workflow state transitions (each state entered, each retry)',
    source:
      'https://aws.amazon.com/step-functions/pricing/ (the state transitions pricing table: US East (N. Virginia) $0.0250 per 1,000; "Step Functions counts a state transition each time a step of your workflow is executed … including retries")',
    confirmed: true,
    note: 'Read on the stored AWS page on 2026-12-08 (after PRICES_CHECKED). StartExecution, SendTaskSuccess and SendTaskFailure carry no charge of their own: a Standard workflow is billed per state transition only.',
  },
  xrayTraceRecorded: {
    usd: 5.0,
    per: 1_000_000,
    unit: 'X-Ray traces recorded',
    source:
      'https://aws.amazon.com/de/xray/pricing/ ("5 USD pro Million (0,000005 USD pro Ablaufverfolgung)") and the worked example of https://aws.amazon.com/cn/xray/pricing/ (48,800 traces × 0.000005 USD)',
    confirmed: true,
  },
} as const satisfies Record<string, ListPrice>;

/**
 * X-Ray's default sampling: "By default, the X-Ray SDK records the first request each second, and
 * five percent of any additional requests" (https://docs.aws.amazon.com/xray/latest/devguide/xray-console-sampling.html).
 * The reservoir applies to all services using the rule collectively (the SamplingRule API reference),
 * so traces are counted on the whole API request stream, one trace per sampled API request (an
 * SQS-triggered consumer continues the trace of the message it reads, it does not start one).
 */
export const XRAY_DEFAULT_SAMPLING = { reservoirPerSecond: 1, fixedRate: 0.05 } as const;

/** The request rate the per-request X-Ray figures are priced at (requests per second on the API). */
export const XRAY_STATED_RATE = 150;

/** Traces recorded per second at `requestsPerSecond`, e.g. 150 → 1 + 0.05 × 149 = 8.45. */
export const xrayTracesPerSecond = (requestsPerSecond: number): number => {
  const { reservoirPerSecond, fixedRate } = XRAY_DEFAULT_SAMPLING;
  const reservoir = Math.min(requestsPerSecond, reservoirPerSecond);
  return reservoir + fixedRate * Math.max(0, requestsPerSecond - reservoir);
};

/** The share of requests traced at `requestsPerSecond` (150 → 5.6 %). */
export const xraySampledShare = (requestsPerSecond: number): number =>
  requestsPerSecond > 0 ? xrayTracesPerSecond(requestsPerSecond) / requestsPerSecond : 0;

const EXAMPLE_REQUEST_ID = 'c793869b-ee49-115b-a5b6-4fd21e8dedac';

/**
 * What Lambda itself writes to the function's log group per invocation (text log format, the
 * ServiceFunction default): a START, an END and a REPORT line. The lines follow the documented
 * examples (https://docs.aws.amazon.com/lambda/latest/dg/nodejs-logging.html, and the REPORT fields
 * in https://docs.baselime.io/advanced/discovered-keys/), with a 36-character request id, a published
 * version number (ServiceFunction invokes an alias) and short warm-invocation figures. An estimate:
 * durations, memory and version change a few bytes; a cold start adds `Init Duration: … ms` (cold
 * starts are not counted here).
 */
export const LAMBDA_PLATFORM_LOG_LINES = [
  `START RequestId: ${EXAMPLE_REQUEST_ID} Version: 12\n`,
  `END RequestId: ${EXAMPLE_REQUEST_ID}\n`,
  `REPORT RequestId: ${EXAMPLE_REQUEST_ID}\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: ${DEFAULT_FUNCTION_MEMORY_MB} MB\tMax Memory Used: 98 MB\t\n`,
] as const;

export const LAMBDA_PLATFORM_LOG_BYTES = LAMBDA_PLATFORM_LOG_LINES.reduce(
  (sum, line) => sum + Buffer.byteLength(line),
  0,
);

/**
 * With active tracing (every ServiceFunction has it), a traced invocation's REPORT line carries the
 * X-Ray fields too (documented "for traced requests": XRAY TraceId, SegmentId, Sampled); priced on
 * the sampled share of invocations at the stated rate.
 */
export const LAMBDA_XRAY_REPORT_SUFFIX =
  'XRAY TraceId: 1-61c86fa4-59b3c6d959653c527fd10966\tSegmentId: 107ea78a5750a811\tSampled: true\t';
export const LAMBDA_XRAY_REPORT_BYTES = Buffer.byteLength(LAMBDA_XRAY_REPORT_SUFFIX);

/** Dollars per component (of whatever the lines count: a phase, or one request after dividing). */
export interface CostBreakdown {
  readonly apiGateway: number;
  readonly lambdaRequests: number;
  readonly lambdaDuration: number;
  readonly dynamodb: number;
  readonly sqs: number;
  readonly eventBridge: number;
  readonly s3: number;
  readonly kms: number;
  /** State transitions of Standard workflows (the runbook approval flow). */
  readonly stepFunctions: number;
  /** Handler logs and EMF metric lines (measured bytes) plus Lambda's own lines per invocation. */
  readonly logs: number;
  readonly xray: number;
  readonly total: number;
  /** The API Gateway request plus the Lambda request charge of the one invocation it needs. */
  readonly floor: number;
}

export const COST_COMPONENTS = [
  ['apiGateway', 'API Gateway'],
  ['lambdaRequests', 'Lambda requests'],
  ['lambdaDuration', 'Lambda duration'],
  ['dynamodb', 'DynamoDB'],
  ['sqs', 'SQS'],
  ['eventBridge', 'EventBridge'],
  ['s3', 'S3'],
  ['kms', 'KMS'],
  ['stepFunctions', 'Step Functions'],
  ['logs', 'CloudWatch Logs'],
  ['xray', 'X-Ray'],
] as const satisfies readonly (readonly [Exclude<keyof CostBreakdown, 'total' | 'floor'>, string])[];

export interface PricedLines {
  readonly cost: CostBreakdown;
  /** Lines no price here covers (`service.Operation`), so nothing is dropped silently. */
  readonly unpriced: readonly string[];
  /** Bytes priced as CloudWatch Logs: measured handler bytes and Lambda's own estimated bytes. */
  readonly logBytes: { readonly measured: number; readonly lambdaPlatform: number };
}

const dollars = (price: ListPrice, units: number): number => (units / price.per) * price.usd;

// S3's request classes (https://aws.amazon.com/s3/pricing/): PUT, COPY, POST, LIST and the object's
// settings (legal hold) at the PUT price; GET and the rest of the reads at the GET price; DELETE free.
const S3_PUT_OPERATIONS = new Set([
  'PutObject',
  'CopyObject',
  'ListObjects',
  'ListObjectsV2',
  'PutObjectLegalHold',
]);
const S3_GET_OPERATIONS = new Set(['GetObject', 'HeadObject', 'GetObjectLegalHold']);
const S3_FREE_OPERATIONS = new Set(['DeleteObject']);

/**
 * Prices a CallMeter's lines. `requestsPerSecond` is the API request rate X-Ray sampling is taken at
 * (it prices the traces and the X-Ray fields of the REPORT lines): XRAY_STATED_RATE by default.
 */
export const priceCallLines = (
  lines: readonly CallLine[],
  options: {
    readonly requestsPerSecond?: number;
    /**
     * The deployment's telemetry settings (infra/cdk `tracing`, `platformLogs`): `pass-through`
     * traces no API request, `WARN` writes none of Lambda's own lines. @default active, INFO
     */
    readonly telemetry?: {
      readonly tracing?: 'active' | 'pass-through';
      readonly platformLogLevel?: 'INFO' | 'WARN';
    };
  } = {},
): PricedLines => {
  const sampled =
    options.telemetry?.tracing === 'pass-through'
      ? 0
      : xraySampledShare(options.requestsPerSecond ?? XRAY_STATED_RATE);
  const ownLines = options.telemetry?.platformLogLevel !== 'WARN';
  let apiRequests = 0;
  let apiGateway = 0;
  let invocations = 0;
  let lambdaDuration = 0;
  let dynamodb = 0;
  let sqs = 0;
  let eventBridge = 0;
  let s3 = 0;
  let kms = 0;
  let stepFunctions = 0;
  let measuredLogBytes = 0;
  const unpriced: string[] = [];
  for (const line of lines) {
    const units = line.units;
    const key = `${line.service}.${line.operation}`;
    switch (line.service) {
      case 'apigateway':
        apiRequests += line.calls;
        apiGateway += dollars(PRICES.apiGatewayHttpRequest, units.requests ?? line.calls);
        break;
      case 'lambda':
        invocations += line.calls;
        // mbMs = MB × ms; GB-s = mbMs / 1024 / 1000.
        lambdaDuration += ((units.mbMs ?? 0) / 1024 / 1000) * PRICES.lambdaArmGbSecond.usd;
        break;
      case 'dynamodb':
        dynamodb +=
          dollars(PRICES.dynamoReadRequestUnit, units.rru ?? 0) +
          dollars(PRICES.dynamoWriteRequestUnit, units.wru ?? 0);
        break;
      case 'sqs':
        sqs += dollars(PRICES.sqsRequest, units.requests ?? line.calls);
        break;
      case 'events':
        eventBridge += dollars(PRICES.eventBridgeCustomEvent, units.requests ?? 0);
        break;
      case 's3':
        if (S3_PUT_OPERATIONS.has(line.operation))
          s3 += dollars(PRICES.s3PutRequest, units.requests ?? line.calls);
        else if (S3_GET_OPERATIONS.has(line.operation))
          s3 += dollars(PRICES.s3GetRequest, units.requests ?? line.calls);
        else if (!S3_FREE_OPERATIONS.has(line.operation)) unpriced.push(key);
        break;
      case 'kms':
        kms += dollars(PRICES.kmsRequest, units.requests ?? line.calls);
        break;
      case 'sfn':
        // Billed per state transition; the API calls themselves (StartExecution, SendTask*) are free.
        if (line.operation === 'StateTransition')
          stepFunctions += dollars(PRICES.stepFunctionsStateTransition, line.calls);
        break;
      case 'logs':
        measuredLogBytes += units.bytes ?? 0;
        break;
      default:
        unpriced.push(key);
    }
  }
  const lambdaRequests = dollars(PRICES.lambdaRequest, invocations);
  const platformLogBytes = ownLines
    ? invocations * (LAMBDA_PLATFORM_LOG_BYTES + sampled * LAMBDA_XRAY_REPORT_BYTES)
    : 0;
  const logs = dollars(PRICES.logsIngestGb, measuredLogBytes + platformLogBytes);
  const xray = dollars(PRICES.xrayTraceRecorded, apiRequests * sampled);
  const total =
    apiGateway +
    lambdaRequests +
    lambdaDuration +
    dynamodb +
    sqs +
    eventBridge +
    s3 +
    kms +
    stepFunctions +
    logs +
    xray;
  const floor = apiGateway + dollars(PRICES.lambdaRequest, apiRequests);
  return {
    cost: {
      apiGateway,
      lambdaRequests,
      lambdaDuration,
      dynamodb,
      sqs,
      eventBridge,
      s3,
      kms,
      stepFunctions,
      logs,
      xray,
      total,
      floor,
    },
    unpriced,
    logBytes: { measured: measuredLogBytes, lambdaPlatform: platformLogBytes },
  };
};

/** Scales every component by `factor` (e.g. 1e6 / requests for dollars per million requests). */
export const scaleCost = (cost: CostBreakdown, factor: number): CostBreakdown =>
  Object.fromEntries(
    Object.entries(cost).map(([key, value]) => [key, value * factor]),
  ) as unknown as CostBreakdown;

/** Seconds in the month the monthly figures use (30 days). */
export const SECONDS_PER_MONTH = 2_592_000;
