import { createHash } from 'node:crypto';
import { AppError, ServiceUnavailableError, UnprocessableError } from '#shared/errors.js';
import { type OwnApiCallOptions, ownApiRequest } from '#shared/http/own-api.js';
import type { ResolvedExpert } from '../domain/runs.js';

/** The router's masking of endpoints for roles that may not see them. */
const MASKED = '[masked]';

interface ExpertAnswer {
  readonly id: string;
  readonly endpoint: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
  readonly code?: string;
  readonly message?: string;
}

/**
 * Resolves a run's experts (and its suite's judges) through the router pillar's API with the
 * caller's own token (DESIGN §4: pillars reach each other through their APIs): `GET experts/{id}`.
 * Another tenant's expert, or one the caller may not read, is not found: 422 `unknown_expert`. The
 * fingerprint is the endpoint and the metadata (where a model's version label lives): a changed
 * endpoint or label is "something changed" for the flaky quarantine; a health mark is not.
 */
export const routerExperts =
  (options: OwnApiCallOptions) =>
  async (expertIds: readonly string[]): Promise<Map<string, ResolvedExpert>> => {
    const request = ownApiRequest(
      options,
      () =>
        new ServiceUnavailableError(
          'The router could not be asked about the run’s experts; retry.',
          'experts_unresolved',
        ),
    );
    const resolved = new Map<string, ResolvedExpert>();
    for (const expertId of expertIds) {
      const { status, json } = await request<ExpertAnswer>('GET', `/experts/${encodeURIComponent(expertId)}`);
      if (status === 404 || status === 400 || (status === 200 && json?.endpoint === MASKED)) {
        throw new UnprocessableError(
          `No expert ${expertId} in this tenant that the caller may call.`,
          'unknown_expert',
        );
      }
      if (status !== 200 || !json) {
        throw new AppError(
          status,
          json?.code ?? 'experts_refused',
          `The router refused expert ${expertId}: ${json?.message ?? `HTTP ${status}`}`,
        );
      }
      const fingerprint = createHash('sha256')
        .update(`${json.endpoint}\u0000${JSON.stringify(json.metadata ?? {})}`)
        .digest('hex')
        .slice(0, 16);
      resolved.set(expertId, { endpoint: json.endpoint, fingerprint });
    }
    return resolved;
  };
