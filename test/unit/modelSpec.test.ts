// --model resolution shared by the CLI, the server and the job worker: demo only by name, no silent fallback.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { XClipError } from '../../lib/errors';
import { DEFAULT_MODEL_ID, resolveModelSpec } from '../../lib/modelSpec';
import { modelDir } from '../helpers/fixtures';

describe('resolveModelSpec', () => {
  let cache: string;
  const saved = { ...process.env };

  beforeAll(() => {
    cache = fs.mkdtempSync(path.join(os.tmpdir(), 'xclip-spec-'));
    process.env.HF_HUB_CACHE = path.join(cache, 'hub');
    process.env.XCLIP_NODE_CACHE = path.join(cache, 'xclip');
  });

  afterAll(() => {
    process.env = saved;
    fs.rmSync(cache, { recursive: true, force: true });
  });

  it('takes a directory as it is', async () => {
    await expect(resolveModelSpec(modelDir('xclip-tiny3'))).resolves.toEqual({ id: modelDir('xclip-tiny3'), dir: modelDir('xclip-tiny3'), demo: false });
  });

  it('fails offline with HUB_OFFLINE instead of falling back to random weights', async () => {
    const err = await resolveModelSpec(undefined, { localFilesOnly: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(XClipError);
    expect((err as XClipError).code).toBe('HUB_OFFLINE');
    expect((err as XClipError).message).toContain(DEFAULT_MODEL_ID);
  });

  it('gives the generated demo model only when asked for by name', async () => {
    const m = await resolveModelSpec('demo');
    expect(m.demo).toBe(true);
    expect(m.dir.startsWith(path.join(cache, 'xclip'))).toBe(true);
    expect(fs.existsSync(path.join(m.dir, 'model.safetensors'))).toBe(true);
  });
});
