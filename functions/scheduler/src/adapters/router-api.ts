import { AppError, ServiceUnavailableError, UnprocessableError } from '#shared/errors.js';
import { type OwnApiCallOptions, ownApiRequest } from '#shared/http/own-api.js';
import type { ResolvedTarget, TargetResolver } from '../domain/targets.js';

/**
 * Resolves a job's target through the router pillar's HTTP API (DESIGN §4: pillars reach each other
 * through their APIs), with the caller's own token: `GET experts/{expertId}` for an expert (another
 * tenant's, or one the caller may not read, is not found: 422 `unknown_expert`), `POST router/route`
 * for a routing request (the decision's taskId is the job id, so a retry of the same job is the same
 * decision). The router's own 4xx answers reach the caller as they are (status, code, message).
 */

/** What the router's API answers that this adapter reads. */
interface ExpertAnswer {
  readonly id: string;
  readonly endpoint: string;
  readonly costPerCallUsd: number;
}
interface RouteAnswer {
  readonly expertId: string;
  readonly decisionId: string;
}
interface ErrorAnswer {
  readonly code?: string;
  readonly message?: string;
}

/** `timeoutMs` defaults to 5000 here. */
export type RouterApiOptions = OwnApiCallOptions;

/** The router's masking of endpoints for roles that may not see them (viewers). */
const MASKED = '[masked]';

export const routerApiTargets = (options: RouterApiOptions): TargetResolver => {
  const request = ownApiRequest(
    options,
    () =>
      new ServiceUnavailableError(
        'The router could not resolve the job’s target; retry.',
        'target_unresolved',
      ),
  );

  const expert = async (expertId: string): Promise<ExpertAnswer> => {
    const { status, json } = await request<ExpertAnswer & ErrorAnswer>(
      'GET',
      `/experts/${encodeURIComponent(expertId)}`,
    );
    if (status === 404 || status === 400) {
      throw new UnprocessableError(`No expert ${expertId} in this tenant.`, 'unknown_expert');
    }
    if (status !== 200) throw passOn(status, json);
    if (json.endpoint === MASKED) {
      throw new UnprocessableError(`The caller may not see expert ${expertId}’s endpoint.`, 'unknown_expert');
    }
    return json;
  };

  return async (target, { taskId, preferCheaper }): Promise<ResolvedTarget> => {
    if ('expertId' in target) {
      const found = await expert(target.expertId);
      return { expertId: found.id, endpoint: found.endpoint, costPerCallUsd: found.costPerCallUsd };
    }
    let candidates = [...target.route.candidates];
    if (preferCheaper && candidates.length > 1) candidates = await cheaperHalf(candidates, expert);
    const { status, json } = await request<RouteAnswer & ErrorAnswer>('POST', '/router/route', {
      taskId,
      context: target.route.context,
      candidates,
    });
    if (status !== 200) throw passOn(status, json);
    const chosen = await expert(json.expertId);
    return {
      expertId: chosen.id,
      endpoint: chosen.endpoint,
      costPerCallUsd: chosen.costPerCallUsd,
      taskId,
      decisionId: json.decisionId,
    };
  };
};

/**
 * A breached `downgrade` budget: the candidates whose declared cost is at most the median of theirs
 * (at least one; unknown candidates are left to the router, which refuses them).
 */
const cheaperHalf = async (
  candidates: readonly string[],
  expert: (id: string) => Promise<ExpertAnswer>,
): Promise<string[]> => {
  const costs = await Promise.all(
    candidates.map(async (id) => ({ id, cost: await expert(id).then((e) => e.costPerCallUsd) })),
  );
  const sorted = costs.map((c) => c.cost).sort((a, b) => a - b);
  const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
  return costs.filter((c) => c.cost <= median).map((c) => c.id);
};

/** A 4xx of the router's API, as the caller's own error (its status, code and message). */
const passOn = (status: number, json: ErrorAnswer | undefined): AppError =>
  new AppError(
    status,
    json?.code ?? 'target_refused',
    `The job’s target was refused by the router: ${json?.message ?? `HTTP ${status}`}`,
  );
