// Checkpoint I/O: HF `model.safetensors` (memory-mapped), sharded `model.safetensors.index.json`, and legacy
// `pytorch_model.bin` (torch zip + restricted pickle). Every byte read here is untrusted input.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <string>

namespace xclip {

// Ordered by key so iteration (and error messages) are deterministic.
using TensorMap = std::map<std::string, at::Tensor>;

// Memory-maps the file copy-on-write; F32 tensors alias the mapping (zero-copy), which stays alive until
// the last tensor referring to it is released. F16/BF16/F64/I64/I32/U8/BOOL are supported dtypes.
TensorMap load_safetensors(const std::string& path);
// Same parser over caller-owned bytes (tensors are copied out); used by tests and fuzzers.
TensorMap parse_safetensors(const uint8_t* data, size_t size, const std::string& source = "<buffer>");
// Writes tensors (made contiguous, moved to CPU) in the safetensors format with {"format":"pt"} metadata.
void save_safetensors(const std::string& path, const TensorMap& tensors);

// Legacy torch.save() zip archive holding a state dict. Only the pickle opcodes and globals a state dict
// needs are accepted; anything else is refused by name, never executed.
TensorMap load_pytorch_bin(const std::string& path);
// Same reader over caller-owned bytes of a whole archive (storages are copied out); used by tests and fuzzers.
TensorMap parse_pytorch_bin(const uint8_t* data, size_t size, const std::string& source = "<buffer>");

// Loads the weights of a model directory: model.safetensors, else model.safetensors.index.json (shards),
// else pytorch_model.bin, else pytorch_model.bin.index.json (legacy shards). Throws kFileNotFound naming what was
// looked for.
TensorMap load_checkpoint_dir(const std::string& dir);

}  // namespace xclip
