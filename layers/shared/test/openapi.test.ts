import { describe, expect, it } from 'vitest';
import { API_BASE, TRACE_HEADER, VERSION_HEADER } from '#shared/http/http.js';
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
interface Operation {
  readonly operationId: string;
  readonly security?: readonly Record<string, readonly string[]>[];
  readonly parameters?: readonly { name: string; in: string; required?: boolean }[];
  readonly requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
  readonly responses: Readonly<
    Record<string, { headers?: Record<string, unknown>; content?: Record<string, { schema: Schema }> }>
  >;
  readonly 'x-conductor-action'?: string;
}
interface Document {
  readonly openapi: string;
  readonly info: { readonly version: string };
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>;
  readonly components: {
    readonly schemas: Readonly<Record<string, Schema>>;
    readonly securitySchemes: Readonly<Record<string, Record<string, unknown>>>;
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
});
