// Finds and loads the weights of a model directory, in HF's order of preference.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "untrusted_json.h"
#include "xclip/error.h"
#include "xclip/weights.h"

namespace xclip {
namespace fs = std::filesystem;

namespace {

// `load_shard` reads one shard file: load_safetensors, or load_pytorch_bin for legacy sharded checkpoints.
TensorMap load_sharded(const std::string& dir, const std::string& index_path, TensorMap (*load_shard)(const std::string&)) {
  nlohmann::json j = parse_json_limited(
      read_file_limited(index_path, kMaxConfigFileBytes, ErrorCode::kFileNotFound, ErrorCode::kWeightsCorrupt),
      ErrorCode::kWeightsCorrupt, index_path + ": malformed JSON: ");
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object()) {
    throw Error(ErrorCode::kWeightsCorrupt, index_path + ": weight_map must be an object");
  }
  std::map<std::string, std::string> key_to_shard;
  std::set<std::string> shards;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    if (!it.value().is_string()) throw Error(ErrorCode::kWeightsCorrupt, index_path + ": weight_map." + it.key() + " must be a file name");
    std::string shard = it.value().get<std::string>();
    // Shards must live in the model directory: no absolute paths or parent traversal.
    if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos || shard == "..") {
      throw Error(ErrorCode::kWeightsCorrupt, index_path + ": shard name \"" + shard + "\" is not a plain file name");
    }
    key_to_shard[it.key()] = shard;
    shards.insert(shard);
  }
  TensorMap out;
  for (const auto& shard : shards) {
    TensorMap part = load_shard(dir + "/" + shard);
    for (auto& [k, v] : part) {
      auto where = key_to_shard.find(k);
      if (where == key_to_shard.end() || where->second != shard) {
        throw Error(ErrorCode::kWeightsCorrupt, dir + "/" + shard + ": tensor '" + k + "' is not listed for this shard in " + index_path);
      }
      out.emplace(k, std::move(v));
    }
  }
  for (const auto& [k, shard] : key_to_shard) {
    if (!out.count(k)) throw Error(ErrorCode::kWeightsCorrupt, index_path + ": tensor '" + k + "' is missing from shard " + shard);
  }
  return out;
}

}  // namespace

TensorMap load_checkpoint_dir(const std::string& dir) {
  if (!fs::is_directory(dir)) throw Error(ErrorCode::kFileNotFound, "model directory not found: " + dir);
  const std::string st = dir + "/model.safetensors";
  if (fs::exists(st)) return load_safetensors(st);
  const std::string index = dir + "/model.safetensors.index.json";
  if (fs::exists(index)) return load_sharded(dir, index, load_safetensors);
  const std::string bin = dir + "/pytorch_model.bin";
  if (fs::exists(bin)) return load_pytorch_bin(bin);
  const std::string bin_index = dir + "/pytorch_model.bin.index.json";
  if (fs::exists(bin_index)) return load_sharded(dir, bin_index, load_pytorch_bin);
  throw Error(ErrorCode::kFileNotFound, "no weights in " + dir +
                                            ": expected model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
                                            "pytorch_model.bin.index.json");
}

}  // namespace xclip
