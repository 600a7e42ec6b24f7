// Small MP4 files built box by box (ISO/IEC 14496-12) for tests: sample tables that claim what a test needs, and
// fixture copies with another display matrix. The one video track holds `jpeg` samples, which is all FFmpeg's
// demuxer needs to parse the tables; nothing here encodes video.

const u32 = (...values: number[]): Buffer => {
  const b = Buffer.alloc(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
};
const box = (type: string, ...payload: Buffer[]): Buffer => {
  const body = Buffer.concat(payload);
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body]);
};
const fullBox = (type: string, versionFlags: number, ...payload: Buffer[]): Buffer => box(type, u32(versionFlags), ...payload);
const identity = (): Buffer => u32(0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000);

/** An MP4 whose `tracks` video tracks each claim `samples` one-byte samples (constant size: no table bytes). */
export function claimsMp4(samples: number, tracks = 1): Buffer {
  const trak = (id: number): Buffer => {
    const entry = Buffer.concat([
      Buffer.alloc(6), Buffer.from([0, 1]), Buffer.alloc(16), Buffer.from([0, 64, 0, 48]), u32(0x480000, 0x480000, 0),
      Buffer.from([0, 1]), Buffer.alloc(32), Buffer.from([0, 24, 0xff, 0xff]),
    ]);
    const stbl = box('stbl',
      fullBox('stsd', 0, u32(1), box('jpeg', entry)),
      fullBox('stts', 0, u32(1, samples, 1)),
      fullBox('stsc', 0, u32(1, 1, samples, 1)),
      fullBox('stsz', 0, u32(1, samples)),
      fullBox('stco', 0, u32(1, 0)));
    const minf = box('minf', fullBox('vmhd', 1, u32(0, 0)), box('dinf', fullBox('dref', 0, u32(1), fullBox('url ', 1))), stbl);
    const hdlr = fullBox('hdlr', 0, u32(0), Buffer.from('vide', 'latin1'), u32(0, 0, 0), Buffer.from('v\0', 'latin1'));
    const mdia = box('mdia', fullBox('mdhd', 0, u32(0, 0, 25, samples, 0x55c40000)), hdlr, minf);
    return box('trak', fullBox('tkhd', 3, u32(0, 0, id, 0, samples, 0, 0, 0, 0), identity(), u32(64 << 16, 48 << 16)), mdia);
  };
  const mvhd = fullBox('mvhd', 0, u32(0, 0, 25, samples, 0x10000), Buffer.from([1, 0]), Buffer.alloc(10), identity(),
    Buffer.alloc(24), u32(tracks + 1));
  const traks = Array.from({ length: tracks }, (_, i) => trak(i + 1));
  return Buffer.concat([
    box('ftyp', Buffer.from('isom', 'latin1'), u32(512), Buffer.from('isomiso2mp41', 'latin1')),
    box('moov', mvhd, ...traks),
    box('mdat', Buffer.alloc(64, 0xff)),
  ]);
}

/** A copy of an MP4 whose first track's display matrix has the 2x2 part [a b; c d] (FFmpeg's order). */
export function withDisplayMatrix(mp4: Buffer, a: number, b: number, c: number, d: number): Buffer {
  const out = Buffer.from(mp4);
  const tkhd = out.indexOf('tkhd', 0, 'latin1') - 4;
  const v1 = out[tkhd + 8] === 1;
  const m = tkhd + 8 + 4 + (v1 ? 32 : 20) + 16; // header, version/flags, times/id/duration, reserved..volume
  [[0, a], [4, b], [12, c], [16, d]].forEach(([at, v]) => out.writeInt32BE(v * 65536, m + at));
  return out;
}
