// The device the model suites (parity, processor, e2e) load their models onto: XCLIP_TEST_DEVICE, 'cpu' when unset.
// scripts/device_check_node.sh sets it to 'cuda' on a GPU machine, so the same assertions run there.
import { DEVICE_PATTERN, type Device, type ModelDtype } from '../../lib/models';

function testDevice(): Device {
  const d = process.env.XCLIP_TEST_DEVICE ?? 'cpu';
  if (!DEVICE_PATTERN.test(d)) throw new Error(`XCLIP_TEST_DEVICE must be cpu, cuda, cuda:N or auto but is ${JSON.stringify(d)}`);
  return d as Device;
}

export const TEST_DEVICE: Device = testDevice();

/** Load options on the test device, plus `extra` (a dtype, batching options, ...). */
export function onTestDevice<T extends object = { dtype?: ModelDtype }>(extra: T = {} as T): T & { device: Device } {
  return { ...extra, device: TEST_DEVICE };
}
