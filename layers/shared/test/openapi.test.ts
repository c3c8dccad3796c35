import { describe, expect, it } from 'vitest';
import { API_BASE, TENANT_HEADER, TRACE_HEADER, VERSION_HEADER } from '#shared/http/http.js';
import { buildOpenApi } from '#shared/http/openapi.js';
import { routesOf } from '#shared/pillar.js';
import { PILLARS } from '../../../functions/catalog.js';

const ALL_ROUTES = routesOf(PILLARS);

/** Just enough of an OpenAPI 3.1 document's shape to walk it in assertions. */
interface Schema {
  readonly $ref?: string;
  readonly type?: string;
  readonly additionalProperties?: unknown;
  readonly required?: readonly string[];
  readonly properties?: Readonly<Record<string, Schema>>;
}
interface Parameter {
  readonly $ref?: string;
  readonly name: string;
  readonly in: string;
  readonly required?: boolean;
  readonly example?: unknown;
}
interface Header {
  readonly $ref?: string;
  readonly required?: boolean;
  readonly example?: unknown;
}
interface Operation {
  readonly operationId: string;
  readonly security?: readonly Record<string, readonly string[]>[];
  readonly parameters?: readonly Parameter[];
  readonly requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  readonly responses: Readonly<
    Record<
      string,
      {
        headers?: Record<string, Header>;
        content?: Record<string, { schema: Schema; example?: { code?: string } }>;
      }
    >
  >;
  readonly 'x-conductor-action'?: string;
}
interface Document {
  readonly openapi: string;
  readonly info: { readonly version: string; readonly license?: { name: string; identifier?: string } };
  readonly servers?: readonly { url: string; variables?: Record<string, { default: string }> }[];
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
  readonly components: {
    readonly schemas: Readonly<Record<string, Schema>>;
    readonly securitySchemes: Readonly<Record<string, Record<string, unknown>>>;
    readonly headers: Readonly<Record<string, Header>>;
    readonly parameters: Readonly<Record<string, Parameter>>;
  };
}

const document = JSON.parse(JSON.stringify(buildOpenApi(ALL_ROUTES, '1.2.3'))) as Document;

const resolve = (schema: Schema): Schema => {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const target = document.components.schemas[name];
  if (!target) throw new Error(`dangling $ref ${schema.$ref}`);
  return resolve(target);
};

/** A header or parameter, through its component when it is a $ref. */
const component = <T extends { $ref?: string }>(item: T | undefined): T | undefined => {
  if (!item?.$ref) return item;
  const [, , kind, name] = item.$ref.split('/');
  const found = (document.components as unknown as Record<string, Record<string, T>>)[kind ?? '']?.[
    name ?? ''
  ];
  if (!found) throw new Error(`dangling $ref ${item.$ref}`);
  return found;
};

const headerParameters = (operation: Operation | undefined) =>
  (operation?.parameters ?? []).map((parameter) => component(parameter)).filter((p) => p?.in === 'header');

const operationOf = (route: (typeof ALL_ROUTES)[number]): Operation | undefined =>
  document.paths[`${API_BASE}${route.path}`]?.[route.method.toLowerCase()];

const jwtRoutes = ALL_ROUTES.filter((route) => route.auth === 'jwt');
const publicRoutes = ALL_ROUTES.filter((route) => route.auth === 'public');
const bodyRoutes = ALL_ROUTES.filter((route) => route.body !== undefined);

describe('buildOpenApi over the API catalog', () => {
  it('is an OpenAPI 3.1.0 document of the given version', () => {
    // Assess
    expect(document.openapi).toBe('3.1.0');
    expect(document.info.version).toBe('1.2.3');
  });

  it('documents exactly one operation per catalog route, public and jwt alike', () => {
    // Act
    const documented = Object.values(document.paths).flatMap((item) => Object.values(item));

    // Assess
    expect(jwtRoutes.length).toBeGreaterThan(0);
    expect(publicRoutes.length).toBeGreaterThan(0);
    expect(documented).toHaveLength(ALL_ROUTES.length);
  });

  it.each(ALL_ROUTES.map((route) => [route.operationId, route] as const))(
    'documents %s at its path and method, with its operationId and action',
    (operationId, route) => {
      // Act
      const operation = operationOf(route);

      // Assess
      expect(operation?.operationId).toBe(operationId);
      expect(operation?.['x-conductor-action']).toBe(route.action);
      expect(operation?.responses).toHaveProperty(String(route.success.status));
    },
  );

  it('gives every operation a unique operationId', () => {
    // Act
    const ids = ALL_ROUTES.map((route) => operationOf(route)?.operationId);

    // Assess
    expect(new Set(ids).size).toBe(ALL_ROUTES.length);
  });

  it.each(
    ALL_ROUTES.filter((route) => route.path.includes('{')).map(
      (route) => [route.operationId, route] as const,
    ),
  )('declares every path parameter of %s as a required path parameter', (_, route) => {
    // Prepare
    const names = [...route.path.matchAll(/\{([^}]+)\}/g)].map((found) => found[1]);

    // Act
    const declared = (operationOf(route)?.parameters ?? []).filter((parameter) => parameter.in === 'path');

    // Assess
    expect(declared.map((parameter) => parameter.name).sort()).toEqual([...names].sort());
    expect(declared.every((parameter) => parameter.required === true)).toBe(true);
  });

  it('defines the uniform Error component with code, message and traceId required', () => {
    // Act
    const error = document.components.schemas.Error;

    // Assess
    expect(error?.type).toBe('object');
    expect(error?.required).toEqual(expect.arrayContaining(['code', 'message', 'traceId']));
    expect(Object.keys(error?.properties ?? {})).toEqual(
      expect.arrayContaining(['code', 'message', 'traceId', 'details']),
    );
  });

  it.each(ALL_ROUTES.map((route) => [route.operationId, route] as const))(
    'answers every error of %s with the Error component and the version and trace headers',
    (_, route) => {
      // Act
      const errors = Object.entries(operationOf(route)?.responses ?? {}).filter(
        ([status]) => Number(status) >= 400,
      );

      // Assess
      expect(errors.length).toBeGreaterThan(0);
      for (const [, response] of errors) {
        expect(response.content?.['application/json']?.schema.$ref).toBe('#/components/schemas/Error');
        expect(Object.keys(response.headers ?? {})).toEqual(
          expect.arrayContaining([VERSION_HEADER, TRACE_HEADER]),
        );
      }
    },
  );

  it('defines the bearerAuth scheme as a JWT bearer token', () => {
    // Assess
    expect(document.components.securitySchemes.bearerAuth).toEqual({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
    });
  });

  it.each(jwtRoutes.map((route) => [route.operationId, route] as const))(
    'requires bearerAuth on %s and documents its 401, 403, 429 and 503',
    (_, route) => {
      // Act
      const operation = operationOf(route);

      // Assess
      expect(operation?.security).toEqual([{ bearerAuth: [] }]);
      expect(Object.keys(operation?.responses ?? {})).toEqual(
        expect.arrayContaining(['401', '403', '429', '500', '503']),
      );
    },
  );

  it.each(publicRoutes.map((route) => [route.operationId, route] as const))(
    'requires no security on the public %s, overriding any global default',
    (_, route) => {
      // Act
      const operation = operationOf(route);

      // Assess
      expect(operation?.security).toEqual([]);
      expect(operation?.responses).not.toHaveProperty('401');
    },
  );

  it.each(bodyRoutes.map((route) => [route.operationId, route] as const))(
    'documents a required JSON body for %s that rejects unknown fields',
    (_, route) => {
      // Act
      const body = operationOf(route)?.requestBody;
      const schema = resolve(body?.content['application/json']?.schema ?? {});

      // Assess
      expect(body?.required).toBe(true);
      expect(schema.type).toBe('object');
      expect(schema.additionalProperties).toBe(false);
    },
  );

  it('names a license and servers a client can reach: the embedded runtime and a deployment', () => {
    // Assess
    expect(document.info.license).toEqual({ name: 'Apache-2.0', identifier: 'Apache-2.0' });
    expect(document.servers?.map((server) => server.url)).toEqual([
      'http://127.0.0.1:{port}',
      'https://{apiId}.execute-api.{region}.amazonaws.com',
    ]);
    expect(document.servers?.[0]?.variables?.port?.default).toBe('4000');
  });

  it.each(jwtRoutes.map((route) => [route.operationId, route] as const))(
    'lets a client of %s name the tenant to act in, and tells it its rate-limit budget',
    (_, route) => {
      // Act
      const operation = operationOf(route);
      const success = operation?.responses[String(route.success.status)];

      // Assess
      expect(headerParameters(operation)).toContainEqual(
        expect.objectContaining({ name: TENANT_HEADER, in: 'header', required: false }),
      );
      expect(Object.keys(success?.headers ?? {})).toEqual(
        expect.arrayContaining(['X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset']),
      );
      expect(Object.keys(operation?.responses['429']?.headers ?? {})).toEqual(
        expect.arrayContaining([
          'Retry-After',
          'X-RateLimit-Limit',
          'X-RateLimit-Remaining',
          'X-RateLimit-Reset',
        ]),
      );
    },
  );

  it.each(ALL_ROUTES.map((route) => [route.operationId, route] as const))(
    'documents the throttle’s 429 and the overload 503 of %s with a required Retry-After',
    (_, route) => {
      // Act
      const responses = operationOf(route)?.responses ?? {};

      // Assess
      for (const status of ['429', '503']) {
        expect(component(responses[status]?.headers?.['Retry-After'])?.required).toBe(true);
      }
    },
  );

  it('declares If-Match exactly on the routes that take it, with the 409 it can cause', () => {
    // Act
    const declaring = ALL_ROUTES.filter((route) =>
      headerParameters(operationOf(route)).some((parameter) => parameter?.name === 'If-Match'),
    ).map((route) => route.operationId);

    // Assess
    expect(declaring).toEqual(ALL_ROUTES.filter((route) => route.ifMatch).map((route) => route.operationId));
    expect(declaring).toEqual(expect.arrayContaining(['updateExpert', 'setExpertHealth', 'deleteExpert']));
    for (const route of ALL_ROUTES.filter((candidate) => candidate.ifMatch)) {
      expect(operationOf(route)?.responses).toHaveProperty('409');
    }
  });

  it('declares ETag on the success of exactly the routes that answer it', () => {
    // Act
    const answering = ALL_ROUTES.filter(
      (route) => operationOf(route)?.responses[String(route.success.status)]?.headers?.ETag,
    ).map((route) => route.operationId);

    // Assess
    expect(answering).toEqual(ALL_ROUTES.filter((route) => route.etag).map((route) => route.operationId));
    expect(answering).toEqual(
      expect.arrayContaining(['createExpert', 'getExpert', 'updateExpert', 'setExpertHealth']),
    );
  });

  it('gives every reusable header and parameter an example', () => {
    // Act
    const components = [
      ...Object.values(document.components.headers),
      ...Object.values(document.components.parameters),
    ];

    // Assess
    expect(components.length).toBeGreaterThan(0);
    for (const item of components) expect(item.example).toBeDefined();
  });

  it.each(ALL_ROUTES.map((route) => [route.operationId, route] as const))(
    'gives every error of %s an example body in the uniform shape',
    (_, route) => {
      // Act
      const errors = Object.entries(operationOf(route)?.responses ?? {}).filter(
        ([status]) => Number(status) >= 400,
      );

      // Assess
      for (const [status, response] of errors) {
        const example = response.content?.['application/json']?.example;
        expect(example, status).toEqual({
          code: expect.any(String),
          message: expect.any(String),
          traceId: expect.any(String),
        });
      }
    },
  );
});
