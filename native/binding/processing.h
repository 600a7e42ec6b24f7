#pragma once

#include <napi.h>

namespace xclip_binding {

// Registers the image processor and video entry points on exports (processing.cc).
void init_processing(Napi::Env env, Napi::Object exports);

// Registers the tokenizer's entry points on exports (tokenizer.cc).
void init_tokenizer(Napi::Env env, Napi::Object exports);

}  // namespace xclip_binding
