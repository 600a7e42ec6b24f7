// The addon's debug hooks (test build only: native/binding/test_hooks.cc).
import { binding, type NativeDebug } from '../../lib/native';

export function debugHooks(): NativeDebug {
  const debug = binding().debug;
  if (!debug) throw new Error('the addon has no debug hooks: the tests need its test build (XCLIP_TEST_ADDON=1, build/Test/xclip.node)');
  return debug;
}
