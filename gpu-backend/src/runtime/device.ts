// Devices the backend runs on and the onnxruntime execution providers each one asks for. Type-only
// use of onnxruntime here, so configuration parsing does not load the native binding.
import type { InferenceSession } from 'onnxruntime-node';

export type Device = 'cpu' | 'cuda' | 'auto';

export type ProviderList = readonly InferenceSession.ExecutionProviderConfig[];

/**
 * Device -> execution providers, in the order onnxruntime tries them. `auto` is the only entry that
 * may end up on the CPU when CUDA cannot load (see LocalSession.create).
 */
const providerTable: Readonly<Record<Device, (cudaDeviceId: number) => ProviderList>> = Object.freeze({
  cpu: () => ['cpu'],
  cuda: (deviceId: number) => [{ name: 'cuda', deviceId }],
  auto: (deviceId: number) => [{ name: 'cuda', deviceId }, 'cpu'],
});

export const devices = Object.freeze(Object.keys(providerTable) as Device[]);

export function parseDevice(value: string): Device {
  if (!(devices as readonly string[]).includes(value)) {
    throw new Error(`'device' must be one of ${devices.join(', ')}, got '${value}'`);
  }
  return value as Device;
}

export function providersFor(device: Device, cudaDeviceId: number): ProviderList {
  const entry = providerTable[device];
  if (entry === undefined) throw new Error(`'device' must be one of ${devices.join(', ')}, got '${device}'`);
  return entry(cudaDeviceId);
}

/** How a session is created: the device and onnxruntime's thread pools. */
export interface SessionConfig {
  device: Device;
  cudaDeviceId: number;
  /** 0 lets onnxruntime choose (one thread per physical core). */
  intraOpThreads: number;
  interOpThreads: number;
}
