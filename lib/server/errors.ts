/**
 * The server's one error shape, `{"error": {"code", "message"}}`, and the one table from error codes to HTTP
 * statuses. Package failures keep their XClipError code; what only HTTP has (auth, sizes, content types, overload,
 * timeouts) gets a code of its own here.
 * @module
 */
import type { XClipErrorCode } from '../errors';

/** Codes only the server produces. */
export type HttpOnlyCode =
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'OVERLOADED'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'CANCELLED';

/** Every code a response of the server may carry. */
export type ServerErrorCode = XClipErrorCode | HttpOnlyCode;

/**
 * HTTP status of each code; the package's input codes are the client's fault, failures of the server's own setup
 * are 503. A Record over every code: a code added to the package does not compile until it has a status here.
 */
const STATUS: Record<ServerErrorCode, number> = {
  INVALID_INPUT: 400,
  NON_FINITE_INPUT: 400,
  UNAUTHORIZED: 401,
  SOURCE_FORBIDDEN: 403,
  NOT_FOUND: 404,
  PAYLOAD_TOO_LARGE: 413,
  SOURCE_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  FILE_NOT_FOUND: 422,
  VIDEO_OPEN_FAILED: 422,
  VIDEO_NO_STREAM: 422,
  VIDEO_DECODE_FAILED: 422,
  VIDEO_UNSUPPORTED: 422,
  VIDEO_TOO_LARGE: 422,
  VIDEO_TIMEOUT: 422,
  SOURCE_FAILED: 422,
  // The client went away: nobody reads this status, but logs and metrics do (nginx's 499).
  CANCELLED: 499,
  INTERNAL: 500,
  OVERLOADED: 503,
  UNAVAILABLE: 503,
  DISPOSED: 503,
  CONFIG_INVALID: 503,
  IO_ERROR: 503,
  WEIGHTS_CORRUPT: 503,
  WEIGHTS_MISMATCH: 503,
  DEVICE_UNAVAILABLE: 503,
  TOKENIZER_ERROR: 503,
  HUB_NOT_FOUND: 503,
  HUB_UNAUTHORIZED: 503,
  HUB_OFFLINE: 503,
  HUB_DOWNLOAD_FAILED: 503,
  HUB_INTEGRITY: 503,
  INDEX_MODEL_MISMATCH: 503,
  INDEX_CORRUPT: 503,
  ADDON_LOAD_FAILED: 503,
  TIMEOUT: 504,
  SOURCE_TIMEOUT: 504,
};

/** The HTTP status for a code. */
export function statusOf(code: ServerErrorCode): number {
  return STATUS[code];
}

/**
 * An error with its HTTP meaning, thrown by routes and hooks; `headers` go on the response (e.g. `Retry-After`).
 * @example
 * throw new HttpError('OVERLOADED', 'the queue is full', { 'retry-after': '2' });
 */
export class HttpError extends Error {
  readonly code: ServerErrorCode;
  readonly statusCode: number;
  readonly headers: Record<string, string>;

  constructor(code: ServerErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.code = code;
    this.statusCode = statusOf(code);
    this.headers = headers;
  }
}

/** The body of every error response. */
export interface ErrorBody {
  error: { code: ServerErrorCode; message: string };
}

/** What a failure means over HTTP. */
export interface HttpFailure {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

/** Fastify's and @fastify/multipart's own errors, by their codes. */
const FRAMEWORK: Record<string, HttpOnlyCode | 'INVALID_INPUT'> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_FIELDS_LIMIT: 'PAYLOAD_TOO_LARGE',
  FST_PROTO_VIOLATION: 'INVALID_INPUT',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_INPUT',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'INVALID_INPUT',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_INPUT',
};

const KNOWN = new Set(Object.keys(STATUS));

/**
 * Maps anything a request can throw to a status and an error body: HttpError and XClipError by their code,
 * TypeError/RangeError from the package's argument checks and schema failures as `INVALID_INPUT`, framework
 * errors by their code or 4xx status, anything else as `INTERNAL` (500, message hidden: it may name server paths).
 */
export function toHttpFailure(err: unknown): HttpFailure {
  const e = (err ?? {}) as { code?: unknown; message?: unknown; statusCode?: unknown; validation?: unknown; headers?: unknown; name?: unknown };
  const message = typeof e.message === 'string' ? e.message : String(err);
  let code: ServerErrorCode;
  if (err instanceof HttpError) code = err.code;
  else if (typeof e.code === 'string' && KNOWN.has(e.code)) code = e.code as ServerErrorCode;
  else if (typeof e.code === 'string' && e.code in FRAMEWORK) code = FRAMEWORK[e.code];
  else if (e.validation !== undefined || err instanceof TypeError || err instanceof RangeError || err instanceof SyntaxError) code = 'INVALID_INPUT';
  else if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    code = e.statusCode === 401 ? 'UNAUTHORIZED' : e.statusCode === 404 ? 'NOT_FOUND' : e.statusCode === 413 ? 'PAYLOAD_TOO_LARGE' : e.statusCode === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID_INPUT';
  } else code = 'INTERNAL';
  const headers = err instanceof HttpError ? err.headers : {};
  return { status: statusOf(code), body: { error: { code, message: code === 'INTERNAL' && !(err instanceof HttpError) && !KNOWN.has(String(e.code)) ? 'internal error' : message } }, headers };
}

/** JSON schema of the error body, for the OpenAPI document. */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error response. `code` is one of the package\'s error codes (README "Error codes") or of the server\'s (README "Server").',
  properties: {
    error: {
      type: 'object',
      properties: { code: { type: 'string' }, message: { type: 'string' } },
      required: ['code', 'message'],
    },
  },
  required: ['error'],
} as const;
