// The memory an MP4/MOV (ISO BMFF) file can make FFmpeg's demuxer allocate, checked before FFmpeg reads it.
//
// FFmpeg's mov demuxer builds an index entry (~40 bytes with its per-sample side tables) for every sample the
// sample tables claim, while it opens the file: a run-length stts/stsc, a constant stsz sample size, a trun
// without per-sample fields or an edit list repeating the media let a few kilobytes claim hundreds of millions of
// samples (gigabytes of index, seconds of CPU) long before any frame limit can apply. Real files never claim more
// samples than they have bytes, so a track that does is refused here, as is a video track claiming more frames
// than max_frames. Internal to the core.
#pragma once

#include <cstdint>

#include "video_ffmpeg.h"

namespace xclip::video {

// Walks the top-level boxes of `bytes` (a no-op for anything that is not box-structured) and throws
// kVideoTooLarge when a track's sample tables (moov), fragments (moof/trun) or random-access index (mfra/tfra)
// claim more samples than the file has bytes, or a video track more frames than max_frames (when > 0). Compressed
// movie headers (cmov), which cannot be checked without inflating them, are refused with kVideoUnsupported.
void check_sample_tables(const ByteSource& bytes, int64_t max_frames, const DecodeControl& control);

}  // namespace xclip::video
