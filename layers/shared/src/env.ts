import * as z from 'zod';

export class ConfigurationError extends Error {}

/**
 * Parses the environment once, at init, with a zod schema. A missing or malformed variable fails
 * the cold start loudly (naming the variable) rather than failing some later request obscurely.
 */
export const parseEnv = <S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv = process.env,
): z.output<S> => {
  const result = schema.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues
      .map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`)
      .join('; ');
    throw new ConfigurationError(`Invalid environment: ${problems}`);
  }
  return result.data;
};

/** Variables every function understands. Endpoints are only set locally (stand-ins) or in tests. */
export const baseEnvSchema = z.object({
  AWS_REGION: z.string().min(1).default('us-east-1'),
  POWERTOOLS_SERVICE_NAME: z.string().min(1).default('conductor'),
  CONDUCTOR_STAGE: z.string().min(1).default('local'),
  /** The EventBridge bus; unset means events are not published (unit tests). */
  EVENT_BUS_NAME: z.string().min(1).optional(),
  AWS_ENDPOINT_URL_DYNAMODB: z.url().optional(),
  AWS_ENDPOINT_URL_SQS: z.url().optional(),
  AWS_ENDPOINT_URL_EVENTBRIDGE: z.url().optional(),
  AWS_ENDPOINT_URL_KMS: z.url().optional(),
  AWS_ENDPOINT_URL_S3: z.url().optional(),
  AWS_ENDPOINT_URL_SFN: z.url().optional(),
});
export type BaseEnv = z.output<typeof baseEnvSchema>;
