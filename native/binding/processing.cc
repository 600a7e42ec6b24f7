// Image processor and video decoding: everything that touches pixels or files, each call on a PromiseWorker.
#include "processing.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "args.h"
#include "errors.h"
#include "image_processor.h"
#include "tensor_convert.h"
#include "worker.h"
#include "xclip/model.h"
#include "xclip/preprocess.h"
#ifdef XCLIP_WITH_FFMPEG
#include "xclip/prepare.h"
#include "xclip/video.h"
#endif

namespace xclip_binding {
namespace {

// A Uint8Array a worker reads for the whole call (CallMemory: co-owned if the addon made it, else copied now).
PinnedBytes read_bytes(const Napi::Value& v, const std::string& name, CallMemory& memory) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throw_code(v.Env(), "INVALID_INPUT", name + " must be a Uint8Array");
  }
  return memory.read(v.As<Napi::TypedArray>());
}

// Explicit frame indices of one read (the core's limit), checked before walking them (see id_list).
constexpr size_t kMaxIndices = 100000;

// ---- image processor ----------------------------------------------------------------------------------

// A call's `out`: the Float32Array the caller gives for the pixel values (e.g. one video's slot of a batch), written
// through the call's CallMemory (in place when it is the addon's memory, else through a scratch that write_back
// copies in). Undefined/null: none; the pixel values then come back in a buffer of their own.
struct PixelValuesOut {
  float* data = nullptr;
  int64_t length = 0;
  Napi::ObjectReference array;
  bool defined() const { return !array.IsEmpty(); }
};

PixelValuesOut pixel_values_out(const Napi::Value& value, CallMemory& memory) {
  PixelValuesOut out;
  if (value.IsUndefined() || value.IsNull()) return out;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_code(value.Env(), "INVALID_INPUT", "out must be a Float32Array");
  const auto array = value.As<Napi::TypedArray>();
  out.data = reinterpret_cast<float*>(memory.write(array));
  out.length = out.data == nullptr ? 0 : static_cast<int64_t>(array.ElementLength());
  out.array = Napi::Persistent(value.As<Napi::Object>());
  return out;
}

// The pixel_values a worker made, as JS gets them: in the caller's array when it gave one (after write_back), else in
// a buffer of their own.
Napi::Value pixel_values_result(Napi::Env env, CallMemory& memory, const PixelValuesOut& out, const at::Tensor& pixel_values) {
  if (!out.defined()) return OutputBuilder(env, {}).tensor(pixel_values);
  memory.write_back(env);
  Napi::Object t = Napi::Object::New(env);
  t.Set("type", "float32");
  t.Set("data", out.array.Value());
  Napi::Array dims = Napi::Array::New(env, static_cast<size_t>(pixel_values.dim()));
  for (int64_t i = 0; i < pixel_values.dim(); ++i) dims.Set(static_cast<uint32_t>(i), static_cast<double>(pixel_values.size(i)));
  t.Set("dims", dims);
  return t;
}

// Frames one preprocess call may take (all videos together): far more than any batch (64 videos of 32 frames are
// 2048), and within it a call's arguments are walked in milliseconds.
constexpr uint64_t kMaxPreprocessFrames = 65536;

class PreprocessWorker : public PromiseWorker {
 public:
  PreprocessWorker(Napi::Env env, const Napi::Value& handle, const Napi::Value& videos, const Napi::Value& out,
                   std::optional<at::Device> device)
      : PromiseWorker(env), config_(image_processor_of(handle)), out_(pixel_values_out(out, memory_)), device_(device) {
    if (!videos.IsArray()) throw_code(env, "INVALID_INPUT", "videos must be an array of videos");
    Napi::Array vs = videos.As<Napi::Array>();
    // Lengths are checked before each array is walked (walking 2^32 - 1 holes takes minutes).
    uint64_t total = 0;
    auto count = [&](uint64_t n, const std::string& what) {
      total += n;
      if (total > kMaxPreprocessFrames)
        throw_code(env, "INVALID_INPUT", what + ": more than " + std::to_string(kMaxPreprocessFrames) + " frames in one call");
    };
    count(vs.Length(), "videos");
    total = 0;
    for (uint32_t b = 0; b < vs.Length(); ++b) {
      Napi::Value video = vs.Get(b);
      const std::string vname = "videos[" + std::to_string(b) + "]";
      if (!video.IsArray()) throw_code(env, "INVALID_INPUT", vname + " must be an array of frames");
      Napi::Array frames = video.As<Napi::Array>();
      count(frames.Length(), vname);
      std::vector<xclip::FrameView> views;
      for (uint32_t t = 0; t < frames.Length(); ++t) {
        const std::string fname = vname + "[" + std::to_string(t) + "]";
        Napi::Value fv = frames.Get(t);
        if (!fv.IsObject()) throw_code(env, "INVALID_INPUT", fname + " must be a frame {data, width, height}");
        Napi::Object f = fv.As<Napi::Object>();
        PinnedBytes bytes = read_bytes(f.Get("data"), fname + ".data", memory_);
        xclip::FrameView view;
        view.data = bytes.data;
        view.length = static_cast<int64_t>(bytes.size);
        view.width = int_field(f, "width", 0);
        view.height = int_field(f, "height", 0);
        views.push_back(view);
      }
      videos_.push_back(std::move(views));
    }
  }

 protected:
  void Run() override {
    if (device_) {  // the libtorch-op path on that device, back in host memory for JavaScript
      const at::Tensor on_device = xclip::preprocess_videos_on(videos_, *config_, *device_);
      pixel_values_ = out_.defined() ? xclip::copy_pixel_values_into(on_device, out_.data, out_.length)
                                     : prepare_output(on_device.to(at::kCPU));
      return;
    }
    pixel_values_ = out_.defined() ? xclip::preprocess_videos_into(videos_, *config_, out_.data, out_.length)
                                   : prepare_output(xclip::preprocess_videos(videos_, *config_));
  }
  Napi::Value Result(Napi::Env env) override { return pixel_values_result(env, memory_, out_, pixel_values_); }

 private:
  std::shared_ptr<const xclip::ImageProcessorConfig> config_;
  PixelValuesOut out_;
  std::optional<at::Device> device_;
  std::vector<std::vector<xclip::FrameView>> videos_;
  at::Tensor pixel_values_;
};

// The optional device argument of preprocess and prepare ("cpu", "cuda", "cuda:N", "auto"): where the libtorch-op
// preprocessing runs (preprocess_videos_on); absent, the CPU loops.
std::optional<at::Device> device_arg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return std::nullopt;
  return xclip::resolve_device(string_arg(info, i, "device"));
}

// preprocess(handle, videos, out?, device?) -> Tensor float32 [B, T, 3, H, W], in `out` (a Float32Array of exactly
// that size) when given; computed on `device` when given.
Napi::Value Preprocess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return (new PreprocessWorker(env, info[0], info[1], info.Length() > 2 ? info[2] : env.Undefined(), device_arg(info, 3)))->Start();
}

#ifdef XCLIP_WITH_FFMPEG
// ---- video --------------------------------------------------------------------------------------------

xclip::VideoSource video_source(const Napi::Value& v, CallMemory& memory) {
  if (v.IsString()) return xclip::VideoSource::from_path(v.As<Napi::String>().Utf8Value());
  // Even zero bytes read as a (broken) buffer source, never as an empty path: read() never returns null data.
  PinnedBytes bytes = read_bytes(v, "source", memory);
  return xclip::VideoSource::from_buffer(bytes.data, bytes.size);
}

Napi::Object info_to_js(Napi::Env env, const xclip::VideoInfo& i) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("width", i.width);
  o.Set("height", i.height);
  o.Set("fps", i.fps);
  o.Set("frameCount", static_cast<double>(i.frame_count));
  o.Set("containerFrameCount", static_cast<double>(i.container_frame_count));
  o.Set("duration", i.duration);
  o.Set("codec", i.codec);
  o.Set("pixelFormat", i.pix_fmt);
  o.Set("rotation", i.rotation);
  o.Set("mirrored", i.mirrored);
  o.Set("hasVideo", i.has_video);
  o.Set("indexIncomplete", i.index_incomplete);
  return o;
}

template <typename T>
Napi::Array number_array(Napi::Env env, const std::vector<T>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(v[i]));
  return a;
}

// One set of sampled frames as read and readClips return it: the frames (uint8 [n, H, W, 3]) under `key`, with
// their frame indices and timestamps.
Napi::Object sampled_to_js(Napi::Env env, const char* key, Napi::Value frames, const std::vector<int64_t>& indices,
                           const std::vector<double>& timestamps) {
  Napi::Object o = Napi::Object::New(env);
  o.Set(key, frames);
  o.Set("indices", number_array(env, indices));
  o.Set("timestamps", number_array(env, timestamps));
  return o;
}

// What read and readClips both report about the decode: the stream, frames seen, and a truncation warning.
void set_decode_report(Napi::Object& o, const xclip::VideoInfo& info, int64_t decoded_frames, bool truncated,
                       const std::string& warning) {
  Napi::Env env = o.Env();
  o.Set("info", info_to_js(env, info));
  o.Set("decodedFrameCount", static_cast<double>(decoded_frames));
  o.Set("truncated", truncated);
  o.Set("warning", warning);
}

class ProbeWorker : public PromiseWorker {
 public:
  ProbeWorker(Napi::Env env, const Napi::Value& source, const Napi::Object& o)
      : PromiseWorker(env),
        source_(video_source(source, memory_)),
        max_pixels_(int_field(o, "maxPixels", xclip::kDefaultMaxPixels)),
        max_frames_(int_field(o, "maxFrames", xclip::kDefaultMaxFrames)),
        timeout_ms_(int_field(o, "timeoutMs", xclip::kDefaultTimeoutMs)) {}

 protected:
  void Run() override { info_ = xclip::probe_video(source_, max_pixels_, max_frames_, timeout_ms_); }
  Napi::Value Result(Napi::Env env) override { return info_to_js(env, info_); }

 private:
  xclip::VideoSource source_;
  int64_t max_pixels_, max_frames_, timeout_ms_;
  xclip::VideoInfo info_;
};

Napi::Value ProbeVideo(const Napi::CallbackInfo& info) {
  Napi::Object o = options_arg(info.Length() > 1 ? info[1] : info.Env().Undefined(), "options");
  return (new ProbeWorker(info.Env(), info[0], o))->Start();
}

// ---- cancellation: JS makes a token, hands it to a decode call in its options, and flips it with cancel(token) (a
// plain store, safe at any time); the decoder polls it where it checks its deadline. The worker holds its own
// reference, so a token collected while a call runs stays valid for that call.
constexpr uint32_t kCancelMagic = 0x434e434c;  // "CNCL"
struct CancelToken {
  uint32_t magic = kCancelMagic;
  std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);
};

CancelToken* cancel_token_of(const Napi::Value& v) {
  auto* t = v.IsExternal() ? v.As<Napi::External<CancelToken>>().Data() : nullptr;
  if (t == nullptr || t->magic != kCancelMagic) throw_code(v.Env(), "INVALID_INPUT", "expected a cancel token");
  return t;
}

Napi::Value NewCancelToken(const Napi::CallbackInfo& info) {
  return Napi::External<CancelToken>::New(info.Env(), new CancelToken(), [](Napi::Env, CancelToken* t) { delete t; });
}

Napi::Value Cancel(const Napi::CallbackInfo& info) {
  cancel_token_of(info[0])->flag->store(true, std::memory_order_relaxed);
  return info.Env().Undefined();
}

// The flag of options.cancel, or null when the call has none.
std::shared_ptr<std::atomic<bool>> cancel_flag(const Napi::Object& o) {
  Napi::Value v = o.Get("cancel");
  if (v.IsUndefined() || v.IsNull()) return nullptr;
  return cancel_token_of(v)->flag;
}

// options: {numFrames, sampling: 'segment-middle'|'uniform'|'indices'|'hf-random', indices, frameSampleRate, seed,
//           maxPixels, maxFrames, timeoutMs, applyRotation, threads, cancel}
// The limits and decoder settings ReadOptions and ClipOptions share, read the same way for both calls.
template <class Options>
void decode_limits(const Napi::Object& o, Options& r) {
  r.max_pixels = int_field(o, "maxPixels", r.max_pixels);
  r.max_frames = int_field(o, "maxFrames", r.max_frames);
  r.timeout_ms = int_field(o, "timeoutMs", r.timeout_ms);
  r.apply_rotation = bool_field(o, "applyRotation", false);
  r.threads = static_cast<int>(int_field(o, "threads", 0));
}

xclip::ReadOptions read_options(const Napi::Object& o) {
  xclip::ReadOptions r;
  r.num_frames = static_cast<int>(int_field(o, "numFrames", r.num_frames));
  std::string s = o.Get("sampling").IsString() ? o.Get("sampling").As<Napi::String>().Utf8Value() : "segment-middle";
  if (s == "segment-middle") r.sampling = xclip::Sampling::kSegmentMiddle;
  else if (s == "uniform") r.sampling = xclip::Sampling::kUniform;
  else if (s == "indices") r.sampling = xclip::Sampling::kIndices;
  else if (s == "hf-random") r.sampling = xclip::Sampling::kHfRandom;
  else throw_code(o.Env(), "INVALID_INPUT", "unknown sampling \"" + s + "\"");
  if (r.sampling == xclip::Sampling::kIndices) r.indices = id_list(o.Get("indices"), "indices", kMaxIndices);
  r.frame_sample_rate = static_cast<int>(int_field(o, "frameSampleRate", r.frame_sample_rate));
  r.seed = static_cast<uint64_t>(int_field(o, "seed", 0));
  decode_limits(o, r);
  return r;
}

class ReadVideoWorker : public PromiseWorker {
 public:
  ReadVideoWorker(Napi::Env env, const Napi::Value& source, const Napi::Object& options)
      : PromiseWorker(env), source_(video_source(source, memory_)), options_(read_options(options)), cancel_(cancel_flag(options)) {
    options_.cancel = cancel_.get();
  }

 protected:
  void Run() override {
    video_ = xclip::read_video(source_, options_);
    video_.frames = prepare_output(video_.frames);
  }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, {});
    Napi::Object o = sampled_to_js(env, "frames", b.tensors(split_rows(video_.frames, kMaxOutputChunkBytes)), video_.indices, video_.timestamps);
    set_decode_report(o, video_.info, video_.decoded_frame_count, video_.truncated, video_.warning);
    return o;
  }

 private:
  xclip::VideoSource source_;
  xclip::ReadOptions options_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  xclip::DecodedVideo video_;
};

Napi::Value ReadVideo(const Napi::CallbackInfo& info) {
  Napi::Object o = options_arg(info.Length() > 1 ? info[1] : info.Env().Undefined(), "options");
  return (new ReadVideoWorker(info.Env(), info[0], o))->Start();
}

class ReadClipsWorker : public PromiseWorker {
 public:
  ReadClipsWorker(Napi::Env env, const Napi::Value& source, const Napi::Object& o)
      : PromiseWorker(env), source_(video_source(source, memory_)) {
    options_.num_frames = static_cast<int>(int_field(o, "numFrames", options_.num_frames));
    Napi::Value secs = o.Get("clipSeconds");
    if (secs.IsNumber()) options_.clip_seconds = secs.As<Napi::Number>().DoubleValue();
    Napi::Value stride = o.Get("strideSeconds");
    if (stride.IsNumber()) options_.stride_seconds = stride.As<Napi::Number>().DoubleValue();
    options_.num_clips = static_cast<int>(int_field(o, "numClips", 0));
    decode_limits(o, options_);
    cancel_ = cancel_flag(o);
    options_.cancel = cancel_.get();
  }

 protected:
  void Run() override {
    clips_ = xclip::read_video_clips(source_, options_);
    for (auto& c : clips_.clips) c.frames = prepare_output(c.frames);
  }
  Napi::Value Result(Napi::Env env) override {
    OutputBuilder b(env, {});
    Napi::Array arr = Napi::Array::New(env, clips_.clips.size());
    for (size_t i = 0; i < clips_.clips.size(); ++i) {
      const auto& c = clips_.clips[i];
      Napi::Object o = sampled_to_js(env, "frames", b.tensors(split_rows(c.frames, kMaxOutputChunkBytes)), c.indices, c.timestamps);
      o.Set("startSeconds", c.start_seconds);
      o.Set("endSeconds", c.end_seconds);
      o.Set("firstFrame", static_cast<double>(c.first_frame));
      o.Set("endFrame", static_cast<double>(c.end_frame));
      arr.Set(static_cast<uint32_t>(i), o);
    }
    Napi::Object r = Napi::Object::New(env);
    r.Set("clips", arr);
    set_decode_report(r, clips_.info, clips_.decoded_frame_count, clips_.truncated, clips_.warning);
    return r;
  }

 private:
  xclip::VideoSource source_;
  xclip::ClipOptions options_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  xclip::VideoClips clips_;
};

Napi::Value ReadVideoClips(const Napi::CallbackInfo& info) {
  Napi::Object o = options_arg(info.Length() > 1 ? info[1] : info.Env().Undefined(), "options");
  return (new ReadClipsWorker(info.Env(), info[0], o))->Start();
}

class ThumbnailWorker : public PromiseWorker {
 public:
  ThumbnailWorker(Napi::Env env, const Napi::Value& source, const Napi::Object& o)
      : PromiseWorker(env), source_(video_source(source, memory_)) {
    Napi::Value secs = o.Get("seconds");
    if (!secs.IsNumber()) throw_code(env, "INVALID_INPUT", "seconds must be a number");
    options_.seconds = secs.As<Napi::Number>().DoubleValue();
    options_.max_width = static_cast<int>(int_field(o, "maxWidth", options_.max_width));
    options_.quality = static_cast<int>(int_field(o, "quality", options_.quality));
    options_.max_pixels = int_field(o, "maxPixels", options_.max_pixels);
    options_.max_frames = int_field(o, "maxFrames", options_.max_frames);
    options_.timeout_ms = int_field(o, "timeoutMs", options_.timeout_ms);
    options_.threads = static_cast<int>(int_field(o, "threads", options_.threads));
    cancel_ = cancel_flag(o);
    options_.cancel = cancel_.get();
  }

 protected:
  void Run() override { thumb_ = xclip::video_thumbnail(source_, options_); }
  Napi::Value Result(Napi::Env env) override {
    Napi::Object o = Napi::Object::New(env);
    // A few kB: copied into a Buffer V8 owns rather than kept alive behind an external one.
    o.Set("jpeg", Napi::Buffer<uint8_t>::Copy(env, thumb_.jpeg.data(), thumb_.jpeg.size()));
    o.Set("width", thumb_.width);
    o.Set("height", thumb_.height);
    o.Set("timestamp", thumb_.timestamp);
    o.Set("frameIndex", static_cast<double>(thumb_.frame_index));
    return o;
  }

 private:
  xclip::VideoSource source_;
  xclip::ThumbnailOptions options_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  xclip::Thumbnail thumb_;
};

// thumbnail(source, {seconds, maxWidth, quality, maxPixels, maxFrames, timeoutMs, threads, cancel})
//   -> {jpeg: Buffer, width, height, timestamp, frameIndex}
Napi::Value VideoThumbnail(const Napi::CallbackInfo& info) {
  Napi::Object o = object_arg(info, 1, "options");
  return (new ThumbnailWorker(info.Env(), info[0], o))->Start();
}

// decode + sample + preprocess in one worker: the frames never reach JS.
class PrepareWorker : public PromiseWorker {
 public:
  PrepareWorker(Napi::Env env, const Napi::Value& handle, const Napi::Value& source, const Napi::Object& options,
                const Napi::Value& out, std::optional<at::Device> device)
      : PromiseWorker(env),
        config_(image_processor_of(handle)),
        source_(video_source(source, memory_)),
        options_(read_options(options)),
        cancel_(cancel_flag(options)),
        out_(pixel_values_out(out, memory_)),
        device_(device) {
    options_.cancel = cancel_.get();
  }

 protected:
  void Run() override {
    prepared_ = out_.defined() ? xclip::prepare_video(source_, options_, *config_, out_.data, out_.length, device_)
                               : xclip::prepare_video(source_, options_, *config_, nullptr, 0, device_);
    if (!out_.defined()) prepared_.pixel_values = prepare_output(prepared_.pixel_values.to(at::kCPU));
  }
  Napi::Value Result(Napi::Env env) override {
    const xclip::DecodedVideo& d = prepared_.decode;
    Napi::Object o = sampled_to_js(env, "pixelValues", pixel_values_result(env, memory_, out_, prepared_.pixel_values), d.indices, d.timestamps);
    set_decode_report(o, d.info, d.decoded_frame_count, d.truncated, d.warning);
    return o;
  }

 private:
  std::shared_ptr<const xclip::ImageProcessorConfig> config_;
  xclip::VideoSource source_;
  xclip::ReadOptions options_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  PixelValuesOut out_;
  std::optional<at::Device> device_;
  xclip::PreparedVideo prepared_;
};

// prepare(imageProcessorHandle, source, readOptions, out?, device?) -> {pixelValues [1, T, 3, H, W], indices,
// timestamps, info, decodedFrameCount, truncated, warning}; pixelValues lie in `out` when it is given, and are
// computed on `device` when it is given.
Napi::Value PrepareVideo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = options_arg(info.Length() > 2 ? info[2] : env.Undefined(), "options");
  return (new PrepareWorker(env, info[0], info[1], o, info.Length() > 3 ? info[3] : env.Undefined(), device_arg(info, 4)))->Start();
}
#endif  // XCLIP_WITH_FFMPEG

}  // namespace

void init_processing(Napi::Env env, Napi::Object exports) {
  Napi::Object img = Napi::Object::New(env);
  init_image_processor(env, img);
  set_functions(env, img, {{"preprocess", Preprocess}});
  exports.Set("imageProcessor", img);
#ifdef XCLIP_WITH_FFMPEG
  Napi::Object video = Napi::Object::New(env);
  set_functions(env, video, {
      {"probe", ProbeVideo},
      {"read", ReadVideo},
      {"readClips", ReadVideoClips},
      {"thumbnail", VideoThumbnail},
      {"cancelToken", NewCancelToken},
      {"cancel", Cancel},
      {"prepare", PrepareVideo},
  });
  exports.Set("video", video);
#endif
}

}  // namespace xclip_binding
