// xclip-core: the native core without Node, for machines (GPU boxes) where only CMake and libtorch exist.
//   xclip-core info
//   xclip-core check <model_dir> <case.safetensors|case_dir>... [--device D] [--dtype T]
//   xclip-core bench [--config base|<config.json>] [--videos N] [--texts N] [--iters N] [--device D] [--dtype T]
//   xclip-core bench-decode <video>   (decode throughput vs. read_video's sparse sampling on one file)
#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "xclip/error.h"
#include "xclip/bench.h"
#include "xclip/flops.h"
#include "xclip/model.h"
#include "xclip/runtime.h"
#include "xclip/versions.h"
#include "xclip/weights.h"
#ifdef XCLIP_WITH_FFMPEG
#include "decode_bench.h"
#include "xclip/video.h"
#endif

namespace fs = std::filesystem;
using namespace xclip;

namespace {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> flags;
  std::string get(const std::string& k, const std::string& def) const {
    auto it = flags.find(k);
    return it == flags.end() ? def : it->second;
  }
  int get_int(const std::string& k, int def) const {
    auto it = flags.find(k);
    if (it == flags.end()) return def;
    try {
      return std::stoi(it->second);
    } catch (...) {
      throw Error(ErrorCode::kInvalidInput, "--" + k + " expects an integer but received " + it->second);
    }
  }
};

Args parse_args(int argc, char** argv, int first) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      if (i + 1 >= argc) throw Error(ErrorCode::kInvalidInput, "missing value for " + s);
      a.flags[s.substr(2)] = argv[++i];
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

void usage() {
  std::cout << "usage:\n"
               "  xclip-core info\n"
               "  xclip-core check <model_dir> <case.safetensors|case_dir>... [--device cpu|cuda[:N]] [--dtype float32]\n"
               "  xclip-core bench [--config base|<config.json>] [--videos 8] [--texts 16] [--iters 3] [--warmup 1]\n"
               "                   [--device cpu|cuda[:N]] [--dtype float32|float16|bfloat16] [--threads N]\n"
               "                   [--baseline 0|1]\n"
               "  xclip-core bench-decode <video>\n";
}

int cmd_info() {
  ensure_threads_initialised();
  RuntimeVersions v = runtime_versions();
  std::cout << "libtorch:  " << v.libtorch << "\n"
            << "ffmpeg:    " << v.ffmpeg << "\n"
            << "blas:      " << loaded_blas() << (v.mkldnn ? " (+ oneDNN)" : "") << "; libtorch built for " << v.blas << "\n"
            << "threads:   " << get_num_threads() << " intra-op\n"
            << "cuda:      " << describe_cuda(cuda_info()) << "\n";
  std::cout << at::show_config();
  return 0;
}

// Tolerances from fixtures/README.md: attentions 1e-5, loss 1e-5, the rest 1e-4 (deep12 2e-4).
double tolerance_for(const std::string& key, const std::string& model_dir) {
  if (key.find("attentions.") != std::string::npos || key == "loss") return 1e-5;
  return model_dir.find("deep12") != std::string::npos ? 2e-4 : 1e-4;
}

void flatten(const BaseModelOutputWithPooling& o, const std::string& p, TensorMap& out) {
  if (o.last_hidden_state.defined()) out[p + "last_hidden_state"] = o.last_hidden_state;
  if (o.pooler_output.defined()) out[p + "pooler_output"] = o.pooler_output;
  for (size_t i = 0; i < o.hidden_states.size(); ++i) out[p + "hidden_states." + std::to_string(i)] = o.hidden_states[i];
  for (size_t i = 0; i < o.attentions.size(); ++i) out[p + "attentions." + std::to_string(i)] = o.attentions[i];
}

void flatten(const XCLIPOutput& o, const std::string& p, TensorMap& out) {
  if (o.loss.defined()) out[p + "loss"] = o.loss;
  out[p + "logits_per_video"] = o.logits_per_video;
  out[p + "logits_per_text"] = o.logits_per_text;
  out[p + "text_embeds"] = o.text_embeds;
  out[p + "video_embeds"] = o.video_embeds;
  flatten(o.text_model_output, p + "text_model_output.", out);
  flatten(o.vision_model_output, p + "vision_model_output.", out);
  flatten(o.mit_output, p + "mit_output.", out);
}

at::Tensor opt(const TensorMap& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? at::Tensor() : it->second;
}

// Runs the call a fixture case file records (fixtures/README.md "cases/") and returns outputs under its keys.
TensorMap run_case(const std::string& model_dir, const std::string& case_name, const TensorMap& in,
                   const ModelOptions& mo) {
  TensorMap out;
  ForwardOptions full;
  full.output_attentions = full.output_hidden_states = true;
  if (case_name == "text_model" || case_name == "text_quirks") {
    auto tm = XCLIPTextModel::from_pretrained(model_dir, mo);
    flatten(tm->forward(in.at("inputs.input_ids"), opt(in, "inputs.attention_mask"), {}, full), "", out);
    if (case_name == "text_quirks") {
      auto m = XCLIPModel::from_pretrained(model_dir, mo);
      out["get_text_features"] = m->get_text_features(in.at("inputs.input_ids"), opt(in, "inputs.attention_mask"));
      out["pooled_index"] = in.at("inputs.input_ids").argmax(-1);
    }
    return out;
  }
  if (case_name == "vision_model") {
    auto vm = XCLIPVisionModel::from_pretrained(model_dir, mo);
    flatten(vm->forward(in.at("inputs.pixel_values"), full), "", out);
    return out;
  }
  auto m = XCLIPModel::from_pretrained(model_dir, mo);
  const at::Tensor ids = in.at("inputs.input_ids"), pix = in.at("inputs.pixel_values");
  if (case_name == "features") {
    out["get_text_features"] = m->get_text_features(ids, opt(in, "inputs.attention_mask"));
    out["get_text_features_no_mask"] = m->get_text_features(ids);
    out["get_video_features"] = m->get_video_features(pix);
    return out;
  }
  ForwardOptions fo = case_name == "forward_full" ? full : ForwardOptions{};
  fo.return_loss = case_name == "forward_loss";
  flatten(m->forward(ids, pix, opt(in, "inputs.attention_mask"), opt(in, "inputs.position_ids"), fo), "", out);
  if (case_name == "forward_position_ids") {
    out["get_text_features"] = m->get_text_features(ids, opt(in, "inputs.attention_mask"), in.at("inputs.position_ids"));
  }
  if (case_name == "forward_shapes") {
    flatten(m->forward(in.at("b.inputs.input_ids"), in.at("b.inputs.pixel_values"), opt(in, "b.inputs.attention_mask")),
            "b.", out);
  }
  return out;
}

int cmd_check(const Args& a) {
  if (a.positional.size() < 2) {
    usage();
    return 2;
  }
  ModelOptions mo;
  mo.device = a.get("device", "cpu");
  mo.dtype = a.get("dtype", "float32");
  const std::string model_dir = a.positional[0];
  std::vector<std::string> files;
  for (size_t i = 1; i < a.positional.size(); ++i) {
    if (fs::is_directory(a.positional[i])) {
      for (const auto& e : fs::directory_iterator(a.positional[i]))
        if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
    } else {
      files.push_back(a.positional[i]);
    }
  }
  std::sort(files.begin(), files.end());
  // Half precision cannot meet float32 tolerances; report deviations but judge them loosely.
  const double scale = mo.dtype == "float32" ? 1.0 : 500.0;
  int bad = 0, compared = 0;
  for (const auto& file : files) {
    TensorMap in = load_safetensors(file);
    std::string case_name = fs::path(file).stem().string();
    auto t0 = std::chrono::steady_clock::now();
    TensorMap out = run_case(model_dir, case_name, in, mo);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s (%.1f ms)\n", case_name.c_str(), ms);
    for (const auto& [key, expected] : in) {
      if (key.rfind("inputs.", 0) == 0 || key.rfind("b.inputs.", 0) == 0 || key.rfind("f64.", 0) == 0) continue;
      auto it = out.find(key);
      if (it == out.end()) {
        std::printf("  %-48s MISSING\n", key.c_str());
        ++bad;
        continue;
      }
      at::Tensor act = it->second.detach().to(at::kCPU).to(at::kDouble);
      at::Tensor exp = expected.to(at::kDouble);
      if (act.sizes() != exp.sizes()) {
        std::printf("  %-48s SHAPE MISMATCH\n", key.c_str());
        ++bad;
        continue;
      }
      double dev = act.numel() ? (act - exp).abs().max().item<double>() : 0.0;
      double tol = tolerance_for(key, model_dir) * scale;
      bool ok = act.numel() == 0 || ((act - exp).abs() <= tol + tol * exp.abs()).all().item<bool>();
      ++compared;
      if (!ok) ++bad;
      std::printf("  %-48s max|d| %.3e  %s\n", key.c_str(), dev, ok ? "ok" : "FAIL");
    }
  }
  std::printf("%d outputs compared, %d outside tolerance\n", compared, bad);
  return bad == 0 ? 0 : 1;
}

// fn returns its last output; reading one element back waits for queued GPU work without CUDA headers.
double seconds_of(const std::function<at::Tensor()>& fn, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) fn().flatten()[0].item<double>();
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor last;
  for (int i = 0; i < iters; ++i) last = fn();
  last.flatten()[0].item<double>();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / iters;
}

#ifdef XCLIP_WITH_FFMPEG
// Every frame decoded (with and without the RGB conversion) against read_video's sampled reads of the same file,
// with one decoder thread and with FFmpeg's choice.
int cmd_bench_decode(const Args& a) {
  if (a.positional.size() != 1) throw Error(ErrorCode::kInvalidInput, "usage: xclip-core bench-decode <video>");
  auto src = VideoSource::from_path(a.positional[0]);
  for (int threads : {1, 0}) {
    tools::DecodeThroughput d = tools::measure_decode_throughput(src, false, threads);
    tools::DecodeThroughput r = tools::measure_decode_throughput(src, true, threads);
    std::printf("threads=%d: decode only %lld frames %.3f s (%.1f fps); decode+rgb24 %.3f s (%.1f fps)\n", threads,
                static_cast<long long>(d.frames), d.seconds, d.frames_per_second, r.seconds, r.frames_per_second);
  }
  for (int threads : {1, 0}) {
    for (int t : {8, 32}) {
      ReadOptions o;
      o.num_frames = t;
      o.threads = threads;
      auto t0 = std::chrono::steady_clock::now();
      DecodedVideo v = read_video(src, o);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("read_video num_frames=%d threads=%d: %.3f s (N=%lld, decoded %lld frames, index %d)\n", t, threads, s,
                  static_cast<long long>(v.decoded_frame_count), static_cast<long long>(v.decode_work_frames),
                  static_cast<int>(v.used_index));
    }
  }
  return 0;
}
#endif

int cmd_bench(const Args& a) {
  XCLIPConfig config;
  const std::string cfg = a.get("config", "base");
  if (cfg != "base") config = load_config(cfg);
  if (a.flags.count("threads")) set_num_threads(a.get_int("threads", 1));
  ModelOptions mo;
  mo.device = a.get("device", "cpu");
  mo.dtype = a.get("dtype", "float32");
  const int videos = a.get_int("videos", 8), texts = a.get_int("texts", 16);
  const int iters = a.get_int("iters", 3), warmup = a.get_int("warmup", 1);
  auto model = XCLIPModel::from_config(config, mo, 0);
  const auto& v = config.vision_config;
  const at::Device dev = model->device();
  at::Tensor pix = at::randn({videos, v.num_frames, v.num_channels, v.image_size, v.image_size},
                             at::TensorOptions().device(dev));
  at::Tensor ids = at::randint(0, config.text_config.vocab_size - 1, {texts, 16}, at::TensorOptions().dtype(at::kLong).device(dev));
  ids.select(1, 15).fill_(config.text_config.vocab_size - 1);
  std::printf("device %s, dtype %s, %d threads, %d videos x %d frames, %d texts\n", dev.str().c_str(), mo.dtype.c_str(),
              get_num_threads(), videos, static_cast<int>(v.num_frames), texts);
  const double fv = video_features_flops(config, videos), ft = text_features_flops(config, texts, 16);
  const double ff = forward_flops(config, videos, texts, 16);
  // The denominator, measured in this process right before the model runs.
  const at::ScalarType peak_dtype = resolve_dtype(mo.dtype) == at::kBFloat16 ? at::kBFloat16 : at::kFloat;
  GemmPeak peak{};
  if (dev.is_cpu()) {
    peak = measure_gemm_peak(peak_dtype, 1.0, 4096, v.hidden_size, v.intermediate_size);
  } else {
    auto opts = at::TensorOptions().device(dev).dtype(resolve_dtype(mo.dtype));
    at::Tensor x = at::randn({4096, v.hidden_size}, opts), w = at::randn({v.intermediate_size, v.hidden_size}, opts);
    peak.gflops = 2.0 * 4096 * v.hidden_size * v.intermediate_size / seconds_of([&] { return at::linear(x, w); }, 2, 5) / 1e9;
    peak.backend = "aten";
  }
  std::printf("GEMM peak (%s, %s): %.1f GFLOP/s\n", mo.dtype.c_str(), peak.backend.c_str(), peak.gflops);
  std::printf("%-30s %10s %12s %10s %8s\n", "call", "ms", "items/s", "GFLOP/s", "of peak");
  auto row = [&](const char* name, double t, int items, double flop) {
    std::printf("%-30s %10.1f %12.2f %10.1f %7.0f%%\n", name, t * 1e3, items / t, flop / t / 1e9,
                100.0 * flop / t / 1e9 / peak.gflops);
  };
  row("get_video_features", seconds_of([&] { return model->get_video_features(pix); }, warmup, iters), videos, fv);
  row("get_text_features", seconds_of([&] { return model->get_text_features(ids); }, warmup, iters), texts, ft);
  row("forward", seconds_of([&] { return model->forward(ids, pix).logits_per_video; }, warmup, iters), videos, ff);
  if (dev.is_cpu() && onednn_built() && a.get("baseline", "1") != "0") {
    // The same model with every Linear on at::linear: what libtorch alone would give, in the same run.
    set_kernel_backend(KernelBackend::kATen);
    row("get_video_features (at::linear)", seconds_of([&] { return model->get_video_features(pix); }, warmup, iters),
        videos, fv);
    set_kernel_backend(KernelBackend::kAuto);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  try {
    std::string cmd = argv[1];
    Args a = parse_args(argc, argv, 2);
    if (cmd == "info") return cmd_info();
    if (cmd == "check") return cmd_check(a);
    if (cmd == "bench") return cmd_bench(a);
#ifdef XCLIP_WITH_FFMPEG
    if (cmd == "bench-decode") return cmd_bench_decode(a);
#endif
    std::cerr << "unknown command: " << cmd << "\n";
    usage();
    return 2;
  } catch (const Error& e) {
    std::cerr << "error [" << e.code_name() << "]: " << e.what() << "\n";
    return 1;
  } catch (const c10::Error& e) {
    std::cerr << "error [INTERNAL]: " << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error [INTERNAL]: " << e.what() << "\n";
    return 1;
  }
}
