/**
 * `--media-root` and `--allow-url-fetch`, the media-source policy as `serve` and `worker` take it from the command
 * line: checked here, so that a mistake is a usage error before any model loads.
 * @module
 * @internal
 */
import * as fs from 'node:fs';

import { type MediaPolicy, MediaSources } from '../mediaSource';
import { type ParsedArgs, UsageError, stringOption } from './args';

/**
 * `mediaRoot` (an existing directory) and `allowUrlHosts` (comma-separated, each as MediaSources reads it) from the
 * command line; absent options stay undefined.
 */
export function mediaPolicyOptions(args: ParsedArgs): Pick<MediaPolicy, 'mediaRoot' | 'allowUrlHosts'> {
  const mediaRoot = stringOption(args, 'media-root');
  if (mediaRoot !== undefined && !(fs.existsSync(mediaRoot) && fs.statSync(mediaRoot).isDirectory())) throw new UsageError(`--media-root ${mediaRoot} is not a directory`);
  const hosts = stringOption(args, 'allow-url-fetch');
  const allowUrlHosts = hosts?.split(',').map((h) => h.trim()).filter((h) => h.length > 0);
  if (hosts !== undefined && allowUrlHosts!.length === 0) throw new UsageError('--allow-url-fetch expects comma-separated hosts');
  try {
    // Parses the hosts the way the policy will; it holds nothing until used.
    new MediaSources({ allowUrlHosts });
  } catch (err) {
    throw new UsageError(`--allow-url-fetch: ${(err as Error).message}`);
  }
  return { mediaRoot, allowUrlHosts };
}
