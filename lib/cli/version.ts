/**
 * The package's version, from its package.json.
 * @module
 * @internal
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

import { packageRoot } from '../native';

export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}
