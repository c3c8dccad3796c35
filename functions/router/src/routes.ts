import * as z from 'zod';
import type { RouteSpec } from '#shared/http.js';
import { EXPERT_TYPES } from './domain/experts.js';

/**
 * The router pillar's HTTP contract. This module is pure data and schemas: the CDK app, the embedded
 * runtime and the OpenAPI document read it; the handler binds it to the domain.
 */
const metadataValue = z.union([z.string().max(1024), z.number().refine(Number.isFinite), z.boolean()]);

export const expertInputSchema = z
  .strictObject({
    name: z.string().trim().min(1).max(100),
    type: z.enum(EXPERT_TYPES),
    costPerCallUsd: z.number().min(0).max(1000),
    endpoint: z.url({ protocol: /^https?$/ }).max(2048),
    metadata: z
      .record(z.string().min(1).max(64), metadataValue)
      .refine((value) => Object.keys(value).length <= 50, 'at most 50 metadata keys')
      .default({}),
    enabled: z.boolean().default(true),
  })
  .meta({ id: 'ExpertInput', description: 'The client-owned fields of an expert.' });

export const expertSchema = z
  .object({
    id: z.string(),
    tenantId: z.string(),
    name: z.string(),
    type: z.enum(EXPERT_TYPES),
    costPerCallUsd: z.number(),
    endpoint: z.string(),
    metadata: z.record(z.string(), metadataValue),
    enabled: z.boolean(),
    version: z.number().int(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .meta({
    id: 'Expert',
    description: 'A routing candidate: an expert backend (model, agent or tool) of one tenant.',
  });

export const expertPageSchema = z
  .object({ items: z.array(expertSchema), nextCursor: z.string().optional() })
  .meta({ id: 'ExpertPage' });

const expertParams = z.strictObject({
  expertId: z.string().regex(/^exp_[A-Za-z0-9-]{1,64}$/, 'not an expert id'),
});

export const listExpertsQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(25),
  cursor: z.string().max(2048).optional(),
});

export const createExpert = {
  operationId: 'createExpert',
  rateFamily: 'experts.write',
  method: 'POST',
  path: '/experts',
  summary: 'Register an expert backend (routing candidate) for the caller’s tenant',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'admin',
  action: 'experts:create',
  body: expertInputSchema,
  success: { status: 201, description: 'The created expert', schema: expertSchema },
  errors: [400, 413, 415, 422],
} as const satisfies RouteSpec;

export const listExperts = {
  operationId: 'listExperts',
  rateFamily: 'experts.read',
  method: 'GET',
  path: '/experts',
  summary: 'List the caller’s tenant’s experts, a page at a time',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'experts:list',
  query: listExpertsQuery,
  success: { status: 200, description: 'A page of experts', schema: expertPageSchema },
  errors: [400],
} as const satisfies RouteSpec;

export const getExpert = {
  operationId: 'getExpert',
  rateFamily: 'experts.read',
  method: 'GET',
  path: '/experts/{expertId}',
  summary: 'Read one expert',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'viewer',
  action: 'experts:get',
  params: expertParams,
  success: { status: 200, description: 'The expert', schema: expertSchema },
  errors: [400, 404],
} as const satisfies RouteSpec;

export const updateExpert = {
  operationId: 'updateExpert',
  rateFamily: 'experts.write',
  method: 'PUT',
  path: '/experts/{expertId}',
  summary: 'Replace an expert’s client-owned fields (send If-Match with its version to avoid lost updates)',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'admin',
  action: 'experts:update',
  params: expertParams,
  body: expertInputSchema,
  success: { status: 200, description: 'The updated expert', schema: expertSchema },
  errors: [400, 404, 409, 413, 415, 422],
} as const satisfies RouteSpec;

export const deleteExpert = {
  operationId: 'deleteExpert',
  rateFamily: 'experts.write',
  method: 'DELETE',
  path: '/experts/{expertId}',
  summary: 'Delete an expert',
  tag: 'experts',
  auth: 'jwt',
  minRole: 'admin',
  action: 'experts:delete',
  params: expertParams,
  success: { status: 204, description: 'Deleted' },
  errors: [400, 404, 409],
} as const satisfies RouteSpec;

export const routerRoutes = [createExpert, listExperts, getExpert, updateExpert, deleteExpert] as const;
