// The job queue's pure parts (no Redis): Redis URLs, queue names, video references, and how failures are sorted
// into permanent and transient and written into a job's failed reason.
import { redisConnection } from '../../lib/jobs/connection';
import { checkQueueName, failedReason, jobError, parseFailedReason } from '../../lib/jobs/jobTypes';
import { videoRef } from '../../lib/jobs/queue';
import { XClipError } from '../../lib/errors';

describe('redisConnection', () => {
  it('reads host, port, database, user and password; rediss:// means TLS', () => {
    expect(redisConnection('redis://127.0.0.1:6390/3', {})).toEqual({ host: '127.0.0.1', port: 6390, db: 3 });
    expect(redisConnection('redis://redis.internal', {})).toEqual({ host: 'redis.internal', port: 6379, db: 0 });
    expect(redisConnection('rediss://worker:p%40ss@[::1]:7000', {})).toEqual({ host: '::1', port: 7000, db: 0, username: 'worker', password: 'p@ss', tls: {} });
  });

  it('takes the password from REDIS_PASSWORD when the URL has none', () => {
    expect(redisConnection('redis://h:1', { REDIS_PASSWORD: 'secret' }).password).toBe('secret');
    expect(redisConnection('redis://:inline@h:1', { REDIS_PASSWORD: 'secret' }).password).toBe('inline');
  });

  it('refuses what is not a Redis URL', () => {
    expect(() => redisConnection(6379)).toThrow(new TypeError('Expected a redis:// or rediss:// URL for redis but received 6379'));
    expect(() => redisConnection('http://h:6379')).toThrow(RangeError);
    expect(() => redisConnection('127.0.0.1:6379')).toThrow(RangeError);
    expect(() => redisConnection('redis://h:6379/x')).toThrow('Expected integer between 0 and 65536 for redis database but received NaN');
  });
});

describe('queue names and video references', () => {
  it('a queue name has no colon (BullMQ keys are prefix:name:...)', () => {
    expect(checkQueueName('videos-eu.v2')).toBe('videos-eu.v2');
    expect(() => checkQueueName('a:b')).toThrow(RangeError);
    expect(() => checkQueueName('')).toThrow(RangeError);
    expect(() => checkQueueName(undefined)).toThrow(TypeError);
  });

  it('videoRef: a Buffer is inline bytes, an http(s) URL a URL, anything else a path', () => {
    expect(videoRef(Buffer.from('abc'))).toEqual({ data: 'YWJj' });
    expect(videoRef(new Uint8Array([1, 2, 3]).subarray(1))).toEqual({ data: Buffer.from([2, 3]).toString('base64') });
    expect(videoRef('HTTPS://videos.example.com/a.mp4')).toEqual({ url: 'HTTPS://videos.example.com/a.mp4' });
    expect(videoRef('ftp/a.mp4')).toEqual({ path: 'ftp/a.mp4' });
    expect(() => videoRef('')).toThrow(TypeError);
  });
});

describe('failures', () => {
  it('a corrupt or refused video, or bad job data, is permanent; I/O, fetches, timeouts and the unexpected are transient', () => {
    for (const code of ['VIDEO_OPEN_FAILED', 'VIDEO_NO_STREAM', 'VIDEO_DECODE_FAILED', 'FILE_NOT_FOUND', 'INVALID_INPUT'] as const) {
      expect(jobError(new XClipError(code, 'x'))).toEqual({ code, message: 'x', permanent: true });
    }
    for (const code of ['IO_ERROR', 'VIDEO_TIMEOUT', 'INTERNAL', 'DISPOSED'] as const) expect(jobError(new XClipError(code, 'x')).permanent).toBe(false);
    expect(jobError(new RangeError('Expected integer between 1 and 3 for topK but received 4'))).toEqual({ code: 'INVALID_INPUT', message: 'Expected integer between 1 and 3 for topK but received 4', permanent: true });
    expect(jobError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))).toEqual({ code: 'ECONNRESET', message: 'socket hang up', permanent: false });
    expect(jobError(new Error('?')).permanent).toBe(false);
  });

  it('the failed reason keeps the code, and reads back', () => {
    const e = { code: 'VIDEO_NO_STREAM', message: 'no video stream in a.mp4:\nline 2' };
    expect(failedReason(e)).toBe('VIDEO_NO_STREAM: no video stream in a.mp4:\nline 2');
    expect(parseFailedReason(failedReason(e))).toEqual(e);
    expect(parseFailedReason('job stalled more than allowable limit').code).toBe('STALLED');
    expect(parseFailedReason('something else')).toEqual({ code: 'JOB_FAILED', message: 'something else' });
    expect(parseFailedReason(undefined)).toEqual({ code: 'JOB_FAILED', message: '' });
  });
});
