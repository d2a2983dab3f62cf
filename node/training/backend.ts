// Backend choice at start-up: tfjs-node (native TensorFlow) when it loads, else the wasm backend
// with flnode's Conv2DBackpropFilter kernel, else the plain JS cpu backend.
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { createLogger } from '../log.ts';
import { registerWasmConv2DBackpropFilter } from './conv2d-backprop-filter.ts';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
const log = createLogger('training');
let chosen: Promise<string> | null = null;

async function tryTensorflow(): Promise<boolean> {
  try {
    const name = '@tensorflow/tfjs-node';
    await import(/* optional dependency */ name);
    return await tf.setBackend('tensorflow');
  } catch {
    return false;
  }
}

async function tryWasm(): Promise<boolean> {
  try {
    const require = createRequire(import.meta.url);
    const dist = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    setWasmPaths(join(dist, '/'));
    registerWasmConv2DBackpropFilter();
    return await tf.setBackend('wasm');
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'wasm backend failed to start');
    return false;
  }
}

/** The cpu backend prints an "install tfjs-node" banner on its first tensor; flnode logs its own backend choice. */
function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

/** Selects the backend once per process and logs the choice. */
export function initBackend(prefer: BackendPreference = (process.env.FLNODE_BACKEND as BackendPreference) || 'auto'): Promise<string> {
  chosen ??= (async () => {
    const order: BackendPreference[] = prefer === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [prefer];
    for (const b of order) {
      const ok = b === 'tensorflow' ? await tryTensorflow() : b === 'wasm' ? await tryWasm() : await tf.setBackend('cpu');
      if (ok) {
        await tf.ready();
        silenceCpuBanner();
        log.info({ backend: tf.getBackend() }, 'tfjs backend selected');
        return tf.getBackend();
      }
      if (prefer !== 'auto') throw new Error(`tfjs backend "${b}" is not available`);
    }
    throw new Error('no tfjs backend available');
  })();
  return chosen;
}

/** Switch backends explicitly (benchmarks and tests that compare backends). */
export async function useBackend(name: 'wasm' | 'cpu'): Promise<void> {
  if (name === 'wasm') {
    if (!(await tryWasm())) throw new Error('wasm backend not available');
  } else await tf.setBackend('cpu');
  await tf.ready();
  silenceCpuBanner();
}
