import type { RouteSpec } from '#shared/http/http.js';
import { authorizeRoutes } from '../../authorize/src/routes.js';
import { routerRoutes } from '../../router/src/routes.js';
import { metaRoutes } from './routes.js';

/**
 * The API catalog: which function serves which routes and which tables it uses. The CDK app builds
 * one Lambda and its API routes per entry; the embedded runtime serves the same table; the OpenAPI
 * document is generated from it. A function's `routes.ts` is its public contract and the only
 * module of another function this catalog imports.
 */
export interface FunctionEntry {
  /** Stable name: construct ids, log groups and the function folder derive from it. */
  readonly name: string;
  readonly description: string;
  /** Handler module, relative to the repository root; exports `handler`. */
  readonly entry: string;
  readonly routes: readonly RouteSpec[];
  /** Pillar tables this function reads and writes (see infra/tables.ts). */
  readonly tables: readonly string[];
  /**
   * Folders of the evidence (Object Lock) bucket this function writes once and reads, e.g.
   * `decisions/`; it gets EVIDENCE_BUCKET_NAME and no other right on the bucket.
   */
  readonly evidence?: readonly string[];
  /** Serves API Gateway's `$default` route: uniform 404/405 for anything unmatched. */
  readonly servesDefaultRoute?: boolean;
  /**
   * Publishes on the event bus without serving token routes (those that do always may): it gets
   * EVENT_BUS_NAME and events:PutEvents on the bus.
   */
  readonly publishesEvents?: boolean;
}

export const FUNCTIONS: readonly FunctionEntry[] = [
  {
    name: 'meta',
    description: 'Health, the OpenAPI document, and uniform 404/405 answers',
    entry: 'functions/meta/src/handler.ts',
    routes: metaRoutes,
    tables: [],
    servesDefaultRoute: true,
  },
  {
    name: 'router',
    description: 'Experts registry (routing candidates); routing and rationale',
    entry: 'functions/router/src/handler.ts',
    routes: routerRoutes,
    tables: ['router', 'policy'],
  },
  {
    name: 'authorize',
    description:
      'Policy decisions for other services (single and batch), cross-tenant grants, the decision log and its WORM archiver (SQS), policy dry-run',
    entry: 'functions/authorize/src/handler.ts',
    routes: authorizeRoutes,
    tables: ['policy'],
    // The decision-archive queue's consumer writes the decision log's WORM archive here.
    evidence: ['decisions/'],
  },
  {
    name: 'reward',
    description:
      'The rewards queue consumer: joins rewards to route decisions and learns them into the model states',
    entry: 'functions/reward/src/handler.ts',
    routes: [],
    tables: ['router'],
    publishesEvents: true,
  },
];

export const ALL_ROUTES: readonly RouteSpec[] = FUNCTIONS.flatMap((fn) => fn.routes);

/** API-wide settings shared by the CDK stage and the embedded gateway. */
export const API_SETTINGS = {
  /** Stage throttling (API Gateway default-route throttle): steady requests per second and burst. */
  stageThrottle: { rateLimit: 500, burstLimit: 1000 },
  /** JWT audience the authorizer accepts (the Cognito app client id on AWS). */
  localAudience: 'conductor',
} as const;
