// Talking to a real xclip-node server on 127.0.0.1: start one in-process, build multipart bodies, and send requests
// over plain node:http (one connection per request, nothing pooled), including uploads whose body the test holds
// back (a request "in flight" for as long as the test wants).
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

import type { FastifyInstance } from 'fastify';

import { buildServer, type ServerOptions } from '../../lib/server/app';
import { fixturesDir } from './fixtures';

export const E2E_MODEL = path.join(fixturesDir(), 'e2e', 'xclip-e2e-a');
export const VIDEOS = path.join(fixturesDir(), 'videos');
export const videoPath = (f: string): string => path.join(VIDEOS, f);
export const videoBytes = (f: string): Buffer => fs.readFileSync(videoPath(f));
export const LABELS3 = ['playing sports', 'eating spaghetti', 'go shopping'];

/** A recorded HF case of the e2e fixture (e2e/cases.json): its labels, `logits_per_video` row and probabilities. */
export function recordedCase(video: string, labelSet = 'labels3'): { labels: string[]; logits_per_video: number[]; probs: number[] } {
  const cases = JSON.parse(fs.readFileSync(path.join(fixturesDir(), 'e2e', 'cases.json'), 'utf8')).cases;
  return cases[`${video}/${labelSet}`];
}

/** Recorded HF probabilities of a fixture case, by label. */
export function recordedProbs(video: string, labelSet = 'labels3'): Map<string, number> {
  const c = recordedCase(video, labelSet);
  return new Map(c.labels.map((l, i) => [l, c.probs[i]]));
}

export interface Running {
  app: FastifyInstance;
  url: string;
  port: number;
}

/** Builds and starts a server on 127.0.0.1, a free port. */
export async function startServer(options: Omit<ServerOptions, 'modelId'> & { modelId?: string }): Promise<Running> {
  const app = await buildServer({ modelId: 'xclip-e2e-a', ...options });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, port: Number(new URL(url).port) };
}

export interface Part {
  name: string;
  value: string | Buffer;
  filename?: string;
  contentType?: string;
}

/** A multipart/form-data body. */
export function multipart(parts: readonly Part[], boundary = `xclip${Math.random().toString(16).slice(2)}`): { body: Buffer; headers: Record<string, string> } {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    const disposition = `form-data; name="${p.name}"${p.filename !== undefined ? `; filename="${p.filename}"` : ''}`;
    const type = p.contentType ?? (p.filename !== undefined ? 'application/octet-stream' : undefined);
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: ${disposition}\r\n${type ? `Content-Type: ${type}\r\n` : ''}\r\n`));
    chunks.push(Buffer.isBuffer(p.value) ? p.value : Buffer.from(p.value));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not); loosely typed for assertions. */
  json: any;
}

function collect(res: http.IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
    });
  });
}

export interface RequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string | object;
}

/** One request on its own connection. Objects are sent as JSON. */
export function send(url: string, init: RequestInit = {}): Promise<Reply> {
  const { method = init.body === undefined ? 'GET' : 'POST', headers = {} } = init;
  let body = init.body;
  if (body !== undefined && !Buffer.isBuffer(body) && typeof body !== 'string') {
    body = JSON.stringify(body);
    headers['content-type'] ??= 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => collect(res).then(resolve, reject));
    req.on('error', reject);
    req.end(body);
  });
}

/** An upload whose body the test releases when it wants; `response` settles when the server answers. */
export interface HeldUpload {
  response: Promise<Reply>;
  /** Sends the rest of the body. */
  finish(): void;
  /** Drops the connection (a client that goes away). */
  abort(): void;
}

/**
 * Starts a multipart request and sends all of its body but the last `holdBack` bytes (the closing boundary and a
 * bit of the last part), so the server has the request in flight until finish() or abort().
 */
export function holdUpload(url: string, parts: readonly Part[], headers: Record<string, string> = {}, holdBack = 64): HeldUpload {
  const { body, headers: h } = multipart(parts);
  const req = http.request(url, { method: 'POST', headers: { ...h, ...headers, 'content-length': String(body.length) }, agent: false });
  const response = new Promise<Reply>((resolve, reject) => {
    req.on('response', (res) => collect(res).then(resolve, reject));
    req.on('error', reject);
  });
  response.catch(() => undefined);
  req.write(body.subarray(0, body.length - holdBack));
  return {
    response,
    finish: () => req.end(body.subarray(body.length - holdBack)),
    abort: () => req.destroy(),
  };
}

/** Polls `cond` every 10 ms until it holds or `ms` pass. */
export async function until(cond: () => boolean, ms = 10000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A multipart upload announced with "Expect: 100-continue", as curl sends large ones: the body goes out only if the
 * server says 100 Continue. Resolves with the answer and whether the body was sent.
 */
export function sendExpectingContinue(url: string, parts: readonly Part[]): Promise<Reply & { bodySent: boolean }> {
  const { body, headers } = multipart(parts);
  return new Promise((resolve, reject) => {
    let bodySent = false;
    const req = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': String(body.length), expect: '100-continue' }, agent: false });
    req.on('continue', () => {
      bodySent = true;
      req.end(body);
    });
    req.on('response', (res) => {
      collect(res).then((r) => {
        resolve({ ...r, bodySent });
        if (!bodySent) req.destroy();
      }, reject);
    });
    req.on('error', reject);
  });
}
