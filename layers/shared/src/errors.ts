/**
 * Domain and transport errors. Every error that reaches a client is one of these, mapped to the
 * uniform body `{ code, message, traceId }` in one place (see http.ts). Anything else is a 500 with
 * a generic message: internals never leave the process.
 */
export interface FieldIssue {
  readonly path: string;
  readonly message: string;
}

export class AppError extends Error {
  readonly statusCode: number;
  readonly code: string;
  readonly details?: Readonly<Record<string, unknown>>;
  readonly headers?: Readonly<Record<string, string>>;

  constructor(
    statusCode: number,
    code: string,
    message: string,
    extra: { details?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = new.target.name;
    this.statusCode = statusCode;
    this.code = code;
    if (extra.details) this.details = extra.details;
    if (extra.headers) this.headers = extra.headers;
  }
}

export class ValidationError extends AppError {
  constructor(message: string, issues: readonly FieldIssue[] = [], code = 'validation_failed') {
    super(400, code, message, { details: { issues } });
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid bearer token is required.') {
    super(401, 'unauthorized', message, { headers: { 'WWW-Authenticate': 'Bearer' } });
  }
}

export class ForbiddenError extends AppError {
  constructor(
    message = 'This operation is not allowed.',
    obligations: readonly string[] = [],
    code = 'forbidden',
  ) {
    super(403, code, message, obligations.length > 0 ? { details: { obligations } } : {});
  }
}

export class NotFoundError extends AppError {
  constructor(message = 'Not found.', code = 'not_found') {
    super(404, code, message);
  }
}

export class MethodNotAllowedError extends AppError {
  constructor(allowed: readonly string[]) {
    super(405, 'method_not_allowed', `Method not allowed here; allowed: ${allowed.join(', ')}.`, {
      headers: { Allow: allowed.join(', ') },
    });
  }
}

export class ConflictError extends AppError {
  constructor(message: string, code = 'conflict') {
    super(409, code, message);
  }
}

export class PayloadTooLargeError extends AppError {
  constructor(limitBytes: number, what = 'Request body') {
    super(413, 'payload_too_large', `${what} exceeds the limit of ${limitBytes} bytes.`);
  }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor() {
    super(415, 'unsupported_media_type', 'Request body must be application/json.');
  }
}

export class UnprocessableError extends AppError {
  constructor(message: string, code = 'unprocessable') {
    super(422, code, message);
  }
}

export class TooManyRequestsError extends AppError {
  /**
   * @param headers more headers of the refusal, e.g. the per-tenant limiter's `X-RateLimit-*`
   *   (`Retry-After` is always set, from `retryAfterSeconds`).
   */
  constructor(
    retryAfterSeconds: number,
    message = 'Rate limit exceeded; retry later.',
    headers: Readonly<Record<string, string>> = {},
  ) {
    super(429, 'rate_limited', message, {
      headers: { ...headers, 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}

/**
 * Back-pressure: the request was not served because something it must leave on record could not be
 * written (e.g. the decision log or its archive). Nothing was done; the caller retries after
 * `Retry-After`.
 */
export class ServiceUnavailableError extends AppError {
  constructor(
    message = 'Temporarily unavailable; retry later.',
    code = 'unavailable',
    retryAfterSeconds = 1,
  ) {
    super(503, code, message, {
      headers: { 'Retry-After': String(Math.max(1, Math.ceil(retryAfterSeconds))) },
    });
  }
}

/** A failure of a dependency (expert endpoint, downstream service) that is not the caller's fault. */
export class UpstreamError extends AppError {
  constructor(message = 'An upstream dependency failed.', code = 'upstream_failed') {
    super(502, code, message);
  }
}

export const isAppError = (error: unknown): error is AppError => error instanceof AppError;
