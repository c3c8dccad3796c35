import type { Context } from 'aws-lambda';
import type { HttpEvent, HttpResult } from '../http/http.js';
import { lambdaContext } from './events.js';

/** What a client would see of a Lambda's answer: status, headers (names lower-cased), parsed body. */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly text: string;
  // biome-ignore lint/suspicious/noExplicitAny: test replies are inspected field by field
  readonly body: any;
}

export type HttpHandler = (event: HttpEvent, context: Context) => Promise<HttpResult>;

/** Calls a handler as the Lambda runtime would and reads its answer as API Gateway would pass it on. */
export const invoke = async (handler: HttpHandler, event: HttpEvent): Promise<Reply> => {
  const result = await handler(event, lambdaContext());
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(result.headers ?? {}))
    headers[name.toLowerCase()] = String(value);
  const text = result.isBase64Encoded
    ? Buffer.from(result.body ?? '', 'base64').toString('utf8')
    : (result.body ?? '');
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: result.statusCode ?? 200, headers, text, body };
};
