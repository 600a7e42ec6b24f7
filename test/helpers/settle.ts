// After each test file: native calls it started must settle, including those whose promises it abandoned (e.g. the
// other videos of a classify call that rejected). A file that leaves work running holds up its jest worker's exit
// (node's exit waits for running pool work) and slows the next file in that worker.
import { bindingLoaded } from '../../lib/native';
import { pendingNativeCalls } from '../../lib/runtime';

const SETTLE_MS = 30000;

afterAll(async () => {
  if (!bindingLoaded()) return; // this file never loaded the addon
  const t0 = Date.now();
  while (pendingNativeCalls() > 0 && Date.now() - t0 < SETTLE_MS) await new Promise((r) => setTimeout(r, 5));
  const waited = Date.now() - t0;
  if (waited > 200) console.warn(`settle: native calls of this file were still running ${waited} ms after its last test`);
  expect(pendingNativeCalls()).toBe(0);
}, SETTLE_MS + 5000);
