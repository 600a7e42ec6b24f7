/**
 * What the job queue needs from outside: the `bullmq` and `prom-client` packages, loaded on first use, and a Redis
 * URL turned into connection options. bullmq is an optional peer dependency: an application that runs jobs has it
 * already (and must share one copy of it with xclip-node), and one that only classifies does not pay for it.
 * @module
 * @internal
 */
import type * as BullMQ from 'bullmq';
import type * as PromClient from 'prom-client';

import { peer } from '../peer';
import { integerInRange, is, rangeError, typeError } from '../validate';

/**
 * The bullmq module.
 * @example
 * const { Queue } = bullmq();
 */
export function bullmq(): typeof BullMQ {
  return peer('bullmq', '^5.81.5', 'the job queue');
}

/**
 * The prom-client module.
 * @example
 * const { Registry } = promClient();
 */
export function promClient(): typeof PromClient {
  return peer('prom-client', '^15.1.3', "the worker's metrics");
}

/**
 * Where Redis is, as ioredis takes it.
 * @example
 * const c: RedisConnection = { host: '127.0.0.1', port: 6379, db: 0 };
 */
export interface RedisConnection {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** Set for `rediss://` (TLS, as managed Redis services offer). */
  tls?: Record<string, never>;
}

/**
 * Parses `redis://[user:password@]host[:port][/db]` (or `rediss://` for TLS). The password may also come from
 * `REDIS_PASSWORD`, which keeps it out of the process list.
 * @example
 * redisConnection('redis://127.0.0.1:6379/2'); // { host: '127.0.0.1', port: 6379, db: 2 }
 */
export function redisConnection(url: unknown, env: NodeJS.ProcessEnv = process.env): RedisConnection {
  const expected = 'a redis:// or rediss:// URL';
  if (!is.string(url)) throw typeError('redis', expected, url);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw rangeError('redis', expected, url);
  }
  if ((u.protocol !== 'redis:' && u.protocol !== 'rediss:') || u.hostname === '') throw rangeError('redis', expected, url);
  const db = u.pathname === '' || u.pathname === '/' ? 0 : Number(u.pathname.slice(1));
  const out: RedisConnection = {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port === '' ? 6379 : integerInRange('redis port', Number(u.port), 1, 65535),
    db: integerInRange('redis database', db, 0, 1 << 16),
  };
  if (u.username) out.username = decodeURIComponent(u.username);
  const password = u.password ? decodeURIComponent(u.password) : env.REDIS_PASSWORD;
  if (password) out.password = password;
  if (u.protocol === 'rediss:') out.tls = {};
  return out;
}
