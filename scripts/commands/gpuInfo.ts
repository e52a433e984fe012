/** @file `gpu-info`: which adapter Node WebGPU gives us, its features and limits (JSON with --json). */
import type { CliCommand } from '../cliTypes.ts';
import { describeGpu } from '../../workers/gpu/device.ts';
import { acquireNodeGpu } from '../../workers/gpu/nodeGpu.ts';

export const command: CliCommand = {
  name: 'gpu-info',
  summary: 'print the WebGPU adapter, features and limits that the engine gets on this machine',
  flags: { json: { kind: 'boolean', help: 'print one JSON object' } },
  async run(flags, io) {
    const gpu = await acquireNodeGpu();
    io.out(flags.json ? JSON.stringify(gpu.info) + '\n' : describeGpu(gpu.info) + '\n');
    gpu.device.destroy();
    return 0;
  },
};
