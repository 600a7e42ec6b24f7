/**
 * multipart/form-data requests: each file part streams into its own file in the server's private temp directory
 * (the decoder then reads it from there, so a request is never held in memory whole), fields are collected as
 * strings. Every limit ends the request with 413 as soon as it is passed: total upload bytes, file parts, fields,
 * bytes per field, parts and header pairs (a multipart bomb of many tiny parts is cut off at the parts limit).
 * @module
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';

import type { FastifyRequest } from 'fastify';

import { ByteLimit } from '../mediaSource';
import { HttpError } from './errors';
import type { RequestWork } from './work';

/** Limits of one multipart request. */
export interface MultipartLimits {
  /** Bytes of all file parts together. */
  maxUploadBytes: number;
  /** File parts. */
  maxFiles: number;
  /** Non-file fields. */
  maxFields: number;
  /** Bytes of one field's value. */
  maxFieldBytes: number;
}

/** One uploaded file, on disk in the temp directory until the request's work has settled. */
export interface UploadedFile {
  /** The part's filename as the client sent it, if any (never used for the path on disk). */
  filename: string | undefined;
  path: string;
  bytes: number;
}

export interface MultipartBody {
  files: UploadedFile[];
  /** Field values in the order they came, per field name. */
  fields: Map<string, string[]>;
}

/** What a route accepts: the name of its file parts and of its fields (anything else is a 400). */
export interface MultipartShape {
  fileField: string;
  fieldNames: readonly string[];
}

/** Header pairs per part: a part needs two or three (disposition, type, encoding). */
const MAX_HEADER_PAIRS = 16;
const MAX_FIELD_NAME_BYTES = 64;

/**
 * Reads a multipart request into temp files and fields, deleting the files once `work` finishes (also when this
 * fails midway).
 * @example
 * const { files, fields } = await receiveMultipart(request, work, tempDir, limits, { fileField: 'file', fieldNames: ['labels'] });
 */
export async function receiveMultipart(request: FastifyRequest, work: RequestWork, dir: string, limits: MultipartLimits, shape: MultipartShape): Promise<MultipartBody> {
  const out: MultipartBody = { files: [], fields: new Map() };
  let total = 0;
  const parts = request.parts({
    limits: {
      fileSize: limits.maxUploadBytes,
      files: limits.maxFiles,
      fields: limits.maxFields,
      fieldSize: limits.maxFieldBytes,
      fieldNameSize: MAX_FIELD_NAME_BYTES,
      parts: limits.maxFiles + limits.maxFields,
      headerPairs: MAX_HEADER_PAIRS,
    },
  });
  const tooLarge = (what: string): HttpError => new HttpError('PAYLOAD_TOO_LARGE', what);
  for await (const part of parts) {
    if (work.signal.aborted) throw work.signal.reason;
    if (part.type === 'file') {
      if (part.fieldname !== shape.fileField) {
        part.file.resume();
        throw new HttpError('INVALID_INPUT', `unexpected file part "${part.fieldname}": send videos as "${shape.fileField}" parts`);
      }
      const file = path.join(dir, `upload-${randomUUID()}`);
      work.onFinish(() => fs.promises.rm(file, { force: true }));
      const budget = limits.maxUploadBytes - total;
      const limit = new ByteLimit(budget, () => tooLarge(`the upload is larger than the limit of ${limits.maxUploadBytes} bytes`));
      await pipeline(part.file, limit, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }), { signal: work.signal });
      if (part.file.truncated) throw tooLarge(`the upload is larger than the limit of ${limits.maxUploadBytes} bytes`);
      total += limit.bytes;
      out.files.push({ filename: part.filename || undefined, path: file, bytes: limit.bytes });
    } else {
      if (!shape.fieldNames.includes(part.fieldname)) {
        throw new HttpError('INVALID_INPUT', `unexpected field "${part.fieldname}": expected ${shape.fieldNames.map((n) => `"${n}"`).join(', ')} and "${shape.fileField}" files`);
      }
      if (part.valueTruncated || part.fieldnameTruncated) throw tooLarge(`field "${part.fieldname}" is longer than ${limits.maxFieldBytes} bytes`);
      const value = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
      const list = out.fields.get(part.fieldname) ?? [];
      list.push(value);
      out.fields.set(part.fieldname, list);
    }
  }
  return out;
}

/** The value of a field that may appear at most once. */
export function oneField(body: MultipartBody, name: string): string | undefined {
  const v = body.fields.get(name);
  if (v && v.length > 1) throw new HttpError('INVALID_INPUT', `field "${name}" given ${v.length} times`);
  return v?.[0];
}

/** A field that may appear at most once and holds `true` or `false`. */
export function booleanField(body: MultipartBody, name: string): boolean | undefined {
  const v = oneField(body, name);
  if (v === undefined) return undefined;
  if (v !== 'true' && v !== 'false') throw new HttpError('INVALID_INPUT', `${name} must be "true" or "false" but is ${JSON.stringify(v)}`);
  return v === 'true';
}

/**
 * A list of texts sent as one field holding a JSON array, or as the field repeated once per text (a single value
 * that starts with "[" is read as JSON).
 */
export function textListField(body: MultipartBody, name: string, maxItems: number, maxChars: number): string[] {
  const given = body.fields.get(name) ?? [];
  if (given.length === 0) throw new HttpError('INVALID_INPUT', `${name} are required: a JSON array in one "${name}" field, or one "${name}" field each`);
  let list: unknown = given;
  if (given.length === 1 && given[0].trimStart().startsWith('[')) {
    try {
      list = JSON.parse(given[0]);
    } catch {
      throw new HttpError('INVALID_INPUT', `the "${name}" field starts with "[" but is not a JSON array`);
    }
  }
  if (!Array.isArray(list) || list.length === 0 || list.length > maxItems || list.some((t) => typeof t !== 'string' || t.length === 0 || t.length > maxChars)) {
    throw new HttpError('INVALID_INPUT', `${name} must be 1 to ${maxItems} strings of 1 to ${maxChars} characters`);
  }
  return list as string[];
}
