# xclip-node is NOT built by node-gyp. The addon is built with cmake-js from CMakeLists.txt (it links the
# libtorch core, found through TorchConfig.cmake, which gyp cannot do portably):
#   npm install            -> "node-gyp-build-test || cmake-js compile"  (skips the build when a prebuild loads)
#   npm run build:native   -> cmake-js compile                           (build/Release/xclip.node)
#   npm run prebuildify    -> prebuildify --napi with scripts/prebuild-cmake-js.js standing in for node-gyp
# This file exists because tools look for it; running node-gyp on it stops with a message saying the above.
{
  "targets": [
    {
      "target_name": "xclip",
      "type": "none",
      "actions": [
        {
          "action_name": "use_cmake_js",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["<(INTERMEDIATE_DIR)/use-cmake-js.stamp"],
          "action": [
            "node", "-e",
            "console.error('xclip-node builds with cmake-js, not node-gyp: run `npx cmake-js compile` (see binding.gyp)'); process.exit(1)"
          ]
        }
      ]
    }
  ]
}
