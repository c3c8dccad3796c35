import { describe, expect, it } from 'vitest';
import { type MatchResult, RouteMatcher, type RouteTemplate } from '#shared/http/route-match.js';

interface NamedRoute extends RouteTemplate {
  readonly name: string;
}

const BASE = '/api/conductor/v1';
const route = (method: string, path: string, name: string): NamedRoute => ({
  method,
  path: `${BASE}${path}`,
  name,
});

const routes: NamedRoute[] = [
  route('GET', '/experts/{expertId}', 'getExpert'),
  route('PUT', '/experts/{expertId}', 'updateExpert'),
  route('DELETE', '/experts/{expertId}', 'deleteExpert'),
  route('GET', '/experts/search', 'searchExperts'),
  route('GET', '/experts', 'listExperts'),
  route('POST', '/experts', 'createExpert'),
  route('GET', '/eval/results/{runId}', 'getEvalResult'),
  route('GET', '/tenants/{tenantId}/experts/{expertId}', 'getTenantExpert'),
  route('GET', '/health', 'health'),
];

const matcher = new RouteMatcher(routes);

const matched = (result: MatchResult<NamedRoute>) => (result.kind === 'match' ? result : undefined);

describe('RouteMatcher', () => {
  it('matches a literal path to its route with no parameters', () => {
    // Act
    const result = matcher.match('GET', `${BASE}/experts`);

    // Assess
    expect(result).toEqual({ kind: 'match', route: routes[4], params: {} });
  });

  it('picks the route by method among routes on the same path', () => {
    // Act
    const result = matcher.match('POST', `${BASE}/experts`);

    // Assess
    expect(matched(result)?.route.name).toBe('createExpert');
  });

  it('extracts a path parameter', () => {
    // Act
    const result = matcher.match('GET', `${BASE}/eval/results/run-42`);

    // Assess
    expect(matched(result)).toMatchObject({ route: { name: 'getEvalResult' }, params: { runId: 'run-42' } });
  });

  it('extracts several path parameters by name', () => {
    // Act
    const result = matcher.match('GET', `${BASE}/tenants/acme/experts/exp_7`);

    // Assess
    expect(matched(result)?.params).toEqual({ tenantId: 'acme', expertId: 'exp_7' });
  });

  it('percent-decodes parameters, including an encoded slash, without letting it span segments', () => {
    // Act
    const result = matcher.match('GET', `${BASE}/experts/caf%C3%A9%2Fbar`);

    // Assess
    expect(matched(result)).toMatchObject({ route: { name: 'getExpert' }, params: { expertId: 'café/bar' } });
  });

  it('keeps a parameter that is not valid percent-encoding as it came', () => {
    // Act
    const result = matcher.match('GET', `${BASE}/experts/100%`);

    // Assess
    expect(matched(result)?.params).toEqual({ expertId: '100%' });
  });

  it('prefers a literal segment over a parameter, whatever the declaration order', () => {
    // Prepare
    const reversed = new RouteMatcher([...routes].reverse());

    // Act
    const results = [
      matcher.match('GET', `${BASE}/experts/search`),
      reversed.match('GET', `${BASE}/experts/search`),
    ];

    // Assess
    expect(results.map((result) => matched(result)?.route.name)).toEqual(['searchExperts', 'searchExperts']);
  });

  it('still matches the parameter route for other values next to a literal sibling', () => {
    // Act
    const result = matcher.match('GET', `${BASE}/experts/searching`);

    // Assess
    expect(matched(result)).toMatchObject({
      route: { name: 'getExpert' },
      params: { expertId: 'searching' },
    });
  });

  it('answers method-not-allowed with the sorted methods the path does allow', () => {
    // Act
    const result = matcher.match('PATCH', `${BASE}/experts/exp_1`);

    // Assess
    expect(result).toEqual({ kind: 'method-not-allowed', allowed: ['DELETE', 'GET', 'PUT'] });
  });

  it('answers method-not-allowed for a wrong method on a literal path', () => {
    // Act
    const result = matcher.match('DELETE', `${BASE}/experts`);

    // Assess
    expect(result).toEqual({ kind: 'method-not-allowed', allowed: ['GET', 'POST'] });
  });

  it('matches methods case-insensitively', () => {
    // Act
    const result = matcher.match('post', `${BASE}/experts`);

    // Assess
    expect(matched(result)?.route.name).toBe('createExpert');
  });

  it('serves HEAD from the GET route', () => {
    // Act
    const result = matcher.match('HEAD', `${BASE}/health`);

    // Assess
    expect(matched(result)?.route.name).toBe('health');
  });

  it.each([
    ['an unknown path', `${BASE}/nothing-here`],
    ['a path one segment too deep', `${BASE}/experts/exp_1/extra`],
    ['a path below another base', '/api/conductor/v2/experts'],
    ['an empty parameter segment', `${BASE}/eval/results/`],
    ['a path that differs only in case', `${BASE}/Experts`],
    ['the root', '/'],
  ])('answers not-found for %s', (_, path) => {
    // Act
    const result = matcher.match('GET', path);

    // Assess
    expect(result).toEqual({ kind: 'not-found' });
  });

  it('accepts one trailing slash, as API Gateway does', () => {
    // Act
    const results = [
      matcher.match('GET', `${BASE}/experts/`),
      matcher.match('GET', `${BASE}/experts/exp_1/`),
    ];

    // Assess
    expect(results.map((result) => matched(result)?.route.name)).toEqual(['listExperts', 'getExpert']);
    expect(matched(results[1] as MatchResult<NamedRoute>)?.params).toEqual({ expertId: 'exp_1' });
  });

  it('does not treat a doubled trailing slash as the route', () => {
    // Act
    const result = matcher.match('GET', `${BASE}/experts//`);

    // Assess
    expect(result.kind).not.toBe('match');
  });

  it('treats regex characters in a literal segment literally', () => {
    // Prepare
    const dotted = new RouteMatcher([{ method: 'GET', path: `${BASE}/openapi.json` }]);

    // Act
    const results = [
      dotted.match('GET', `${BASE}/openapi.json`),
      dotted.match('GET', `${BASE}/openapiXjson`),
    ];

    // Assess
    expect(results.map((result) => result.kind)).toEqual(['match', 'not-found']);
  });
});
