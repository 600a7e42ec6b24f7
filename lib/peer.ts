/**
 * Packages that only some applications use (the job queue's bullmq and prom-client, the video index's
 * @lancedb/lancedb and apache-arrow), loaded on first use so that one which only classifies never loads them; the
 * optional peer dependencies among them are not installed either unless the application asks for them.
 * @module
 * @internal
 */

const loaded = new Map<string, unknown>();

/**
 * The package `name`, or an error that says what needs it and how to install it.
 * @example
 * const { Queue } = peer<typeof import('bullmq')>('bullmq', '^5.81.5', 'the job queue');
 */
export function peer<T>(name: string, range: string, what: string): T {
  if (!loaded.has(name)) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded.set(name, require(name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND' || !(err as Error).message.includes(`'${name}'`)) throw err;
      throw new Error(`${what} needs the ${name} package (an optional peer dependency of xclip-node): npm install ${name}@${range}`, { cause: err });
    }
  }
  return loaded.get(name) as T;
}
