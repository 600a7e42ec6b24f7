#pragma once

#include <napi.h>

namespace xclip_binding {

// Registers the model entry points (load, forward, features, save, dispose) on exports.
void init_models(Napi::Env env, Napi::Object exports);

}  // namespace xclip_binding
