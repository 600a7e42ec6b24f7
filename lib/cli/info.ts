/**
 * `xclip-node info`: versions, device, threads and BLAS.
 * @module
 * @internal
 */
import { binding } from '../native';
import { cudaInfo, getNumThreads } from '../runtime';
import type { Command } from './command';
import { EXIT_OK } from './io';
import { packageVersion } from './version';

export const info: Command = {
  name: 'info',
  summary: 'versions, CUDA devices, threads, BLAS',
  usage: 'info',
  options: [],
  async run({ io }) {
    const b = binding();
    const v = b.versions();
    io.out(
      [
        `xclip-node ${packageVersion()}`,
        `node       ${process.version}`,
        `libtorch   ${v.libtorch}`,
        `ffmpeg     ${v.ffmpeg}`,
        `cuda       ${cudaInfo().summary}`,
        `threads    ${getNumThreads()}`,
        `blas       ${v.blasLoaded}; libtorch built for BLAS_INFO=${v.blas}`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  },
};
