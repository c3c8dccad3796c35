/**
 * Matches a method and path against route templates the way API Gateway HTTP API does:
 * `{name}` matches one segment, literal segments must be equal. Used by the embedded gateway to
 * pick a route, and by the `$default` route to tell 404 from 405.
 */
export interface RouteTemplate {
  readonly method: string;
  /** Full path template, e.g. `/api/conductor/v1/experts/{expertId}`. */
  readonly path: string;
}

interface Compiled<R> {
  readonly route: R;
  readonly method: string;
  readonly regex: RegExp;
  readonly names: readonly string[];
  readonly literalSegments: number;
}

export type MatchResult<R> =
  | { kind: 'match'; route: R; params: Record<string, string> }
  | { kind: 'method-not-allowed'; allowed: string[] }
  | { kind: 'not-found' };

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class RouteMatcher<R extends RouteTemplate> {
  readonly #compiled: Compiled<R>[];

  constructor(routes: readonly R[]) {
    this.#compiled = routes
      .map((route) => {
        const names: string[] = [];
        const segments = route.path.split('/').filter((segment) => segment.length > 0);
        const pattern = segments
          .map((segment) => {
            const param = /^\{([A-Za-z0-9_]+)\}$/.exec(segment);
            if (param?.[1]) {
              names.push(param[1]);
              return '/([^/]+)';
            }
            return `/${escapeRegex(segment)}`;
          })
          .join('');
        return {
          route,
          method: route.method.toUpperCase(),
          regex: new RegExp(`^${pattern}/?$`),
          names,
          literalSegments: segments.length - names.length,
        };
      })
      // Literal segments win over parameters (`/experts/search` before `/experts/{id}`), as in API Gateway.
      .sort((a, b) => b.literalSegments - a.literalSegments);
  }

  match(method: string, path: string): MatchResult<R> {
    const wanted = method.toUpperCase();
    const allowed = new Set<string>();
    for (const candidate of this.#compiled) {
      const found = candidate.regex.exec(path);
      if (!found) continue;
      if (candidate.method !== wanted && !(wanted === 'HEAD' && candidate.method === 'GET')) {
        allowed.add(candidate.method);
        continue;
      }
      const params: Record<string, string> = {};
      candidate.names.forEach((name, index) => {
        const raw = found[index + 1] ?? '';
        try {
          params[name] = decodeURIComponent(raw);
        } catch {
          params[name] = raw;
        }
      });
      return { kind: 'match', route: candidate.route, params };
    }
    return allowed.size > 0
      ? { kind: 'method-not-allowed', allowed: [...allowed].sort() }
      : { kind: 'not-found' };
  }
}
