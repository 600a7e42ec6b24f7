// A real redis-server (Debian's) for one test file: on 127.0.0.1, a free port, a temp dir. Stop it in afterAll;
// it is also killed when the test process exits, so a crashed or failed run never leaves one behind.
import { type ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';

export interface RedisServer {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** The server's process id (for CPU accounting in the bench); changes on restart. */
  readonly pid: number | undefined;
  /** Kills it (SIGKILL) and starts it again on the same port and dir; with `persist`, the data survive. */
  restart(downMs?: number): Promise<void>;
  /** SIGKILL, no restart. */
  kill(): Promise<void>;
  /** Stops it and removes its dir. Idempotent. */
  stop(): Promise<void>;
}

export interface RedisStartOptions {
  /** Append-only file fsynced on every write, so a kill -9 loses nothing; default off (nothing on disk). */
  persist?: boolean;
}

const READY_MS = 10000;

/** A port nothing listens on now (the kernel's pick); redis-server may still lose a race for it, then we retry. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** PING until PONG (raw RESP: no client library needed to know the server is up). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      data += d.toString();
      if (data.includes('\r\n')) done(data.startsWith('+PONG'));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

async function launch(port: number, dir: string, persist: boolean): Promise<ChildProcess> {
  const args = ['--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log')];
  if (persist) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');
  const child = spawn('redis-server', args, { stdio: 'ignore' });
  const gone = new Promise<Error>((resolve) => {
    child.once('error', (err) => resolve(err));
    child.once('exit', (code, signal) => resolve(new Error(`redis-server exited (${code ?? signal}); log: ${path.join(dir, 'redis.log')}`)));
  });
  const t0 = Date.now();
  while (Date.now() - t0 < READY_MS) {
    const failed = await Promise.race([gone, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
    if (failed) throw failed;
    if (await ping(port)) return child;
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer PING within ${READY_MS} ms`);
}

/**
 * Starts redis-server.
 * @example
 * let redis: RedisServer;
 * beforeAll(async () => { redis = await startRedis(); });
 * afterAll(() => redis.stop());
 */
export async function startRedis(options: RedisStartOptions = {}): Promise<RedisServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-redis-'));
  const persist = options.persist ?? false;
  let child: ChildProcess | undefined;
  let port = 0;
  for (let attempt = 0; !child; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir, persist);
    } catch (err) {
      if (attempt >= 3) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  let stopped = false;
  const kill = async (): Promise<void> => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get pid() {
      return child?.pid;
    },
    kill,
    async restart(downMs = 0) {
      await kill();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      child = await launch(port, dir, persist);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (child) {
        const c = child;
        child = undefined;
        c.kill('SIGTERM');
        const t = setTimeout(() => c.kill('SIGKILL'), 5000);
        await exited(c);
        clearTimeout(t);
      }
      process.off('exit', killOnExit);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
