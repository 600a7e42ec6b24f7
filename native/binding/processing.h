#pragma once

#include <napi.h>

namespace xclip_binding {

// Registers the tokenizer, image processor and video entry points on exports.
void init_processing(Napi::Env env, Napi::Object exports);

}  // namespace xclip_binding
