#pragma once

#include <napi.h>

namespace xclip_binding {

// Registers `debug` (counters, forceCopyOutputs, addressOf, inspect, makeOutput) on exports; test build only.
void init_test_hooks(Napi::Env env, Napi::Object exports);

}  // namespace xclip_binding
