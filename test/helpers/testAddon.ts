// Jest setup: lib/native.ts loads the addon's test build (build/Test/xclip.node), which adds the debug hooks the
// zero-copy and memory tests use. Processes the tests start inherit it.
process.env.XCLIP_TEST_ADDON = '1';
