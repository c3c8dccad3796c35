import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '../../errors.js';
import { type HttpEvent, headerValue } from '../conventions.js';
import { type KernelMiddleware, routeOf, stateOf } from './request-state.js';

/** Default request body limit; API Gateway's own hard limit is 10 MB. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;

const JSON_MEDIA_TYPE = /^application\/([a-z.+-]*\+)?json\b/i;

const decodeBody = (event: HttpEvent): string | undefined => {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
};

/**
 * The request body: refused over the route's limit in UTF-8 bytes (413), whatever the route; on
 * routes that take one, required (400), JSON by media type (415) and by content (400).
 */
export const jsonBody = (): KernelMiddleware => ({
  name: 'conductorJsonBody',
  before: ({ event, context }) => {
    const state = stateOf(context);
    const { spec } = routeOf(state);
    const raw = decodeBody(event);
    const limit = spec.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    if (raw !== undefined && Buffer.byteLength(raw, 'utf8') > limit) throw new PayloadTooLargeError(limit);
    if (!spec.body) return;
    const contentType = headerValue(event, 'content-type');
    if (raw !== undefined && contentType && !JSON_MEDIA_TYPE.test(contentType)) {
      throw new UnsupportedMediaTypeError();
    }
    if (raw === undefined) {
      throw new ValidationError(
        'Request body is required.',
        [{ path: 'body', message: 'required' }],
        'body_required',
      );
    }
    let protoPaths: string[] = [];
    try {
      ({ value: state.body, protoPaths } = parseJson(raw));
    } catch {
      throw new ValidationError(
        'Request body is not valid JSON.',
        [{ path: 'body', message: 'malformed JSON' }],
        'malformed_json',
      );
    }
    if (protoPaths.length > 0) {
      throw new ValidationError(
        'Request body must not use "__proto__" as a key.',
        protoPaths.map((path) => ({ path, message: 'reserved key "__proto__"' })),
      );
    }
  },
});

/**
 * `JSON.parse`, noting every `"__proto__"` key (however it is escaped in the text): it is an own
 * property after parsing, but schemas that rebuild objects drop or re-parent it, so a client's data
 * would vanish silently; it is refused instead (400), as a defence against prototype pollution too.
 */
const parseJson = (raw: string): { value: unknown; protoPaths: string[] } => {
  const protoPaths: string[] = [];
  const value: unknown = JSON.parse(raw, (key: string, item: unknown) => {
    if (key === '__proto__') protoPaths.push('body.__proto__');
    return item;
  });
  return { value, protoPaths };
};
