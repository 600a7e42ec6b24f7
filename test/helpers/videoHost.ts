// A plain HTTP server on 127.0.0.1 (a free port) that serves the files of a folder, for tests of URL videos: it
// records every request, and can answer a path with an error status a number of times (or always) first.
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';

export interface VideoHost {
  /** `http://127.0.0.1:PORT`. */
  readonly base: string;
  readonly port: number;
  /** Paths requested so far, in order. */
  readonly requests: string[];
  /** Answers `urlPath` with `status` the next `times` requests (Infinity: always), then serves the file. */
  fail(urlPath: string, times: number, status?: number): void;
  /** Stops it (open connections included). */
  close(): Promise<void>;
}

/** Serves `dir`'s files as `/<name>`; unknown names are 404. */
export async function startVideoHost(dir: string): Promise<VideoHost> {
  const requests: string[] = [];
  const failures = new Map<string, { left: number; status: number }>();
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    requests.push(url);
    const failure = failures.get(url);
    if (failure && failure.left > 0) {
      failure.left--;
      res.writeHead(failure.status).end();
      return;
    }
    const file = path.join(dir, path.basename(decodeURIComponent(url)));
    if (!fs.existsSync(file)) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': 'video/mp4' }).end(fs.readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    port,
    requests,
    fail: (urlPath, times, status = 503) => void failures.set(urlPath, { left: times, status }),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
