// The image processor handle: a preprocessor config read and validated once by the core, shared by every call
// that preprocesses frames (preprocess) or videos (prepare).
#pragma once

#include <napi.h>

#include <memory>

#include "xclip/preprocess.h"

namespace xclip_binding {

// The config behind a handle made by imageProcessor.load/fromConfig; INVALID_INPUT for anything else. Workers
// keep the shared_ptr, so the handle may be collected while they run.
std::shared_ptr<const xclip::ImageProcessorConfig> image_processor_of(const Napi::Value& handle);

// Registers imageProcessor.load and imageProcessor.fromConfig on `ns`.
void init_image_processor(Napi::Env env, Napi::Object ns);

}  // namespace xclip_binding
