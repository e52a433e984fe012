/**
 * @file `profile`: where a decode step's GPU time goes. Times every dispatch of one decode step in its own
 * timestamped pass (GpuRunner.profileDecode) and sums by kernel, next to the wall time per token of ordinary
 * decoding (steps submitted ahead), so per-dispatch overhead, kernel time and CPU/sync time can be told apart.
 */
import { UsageError, flagNumber, type CliCommand } from '../cliTypes.ts';
import { modelFromFlags, SYNTHETIC_FLAGS } from '../lib/syntheticModel.ts';
import { ACTIVATIONS_FLAG, activationsFlag, loadNodeEngine } from '../lib/nodeEngine.ts';
import { GREEDY, type DispatchTime } from '../../workers/engine/runner.ts';

export const command: CliCommand = {
  name: 'profile',
  summary: 'GPU time of each kernel in one decode step (timestamp queries) against the wall time per token',
  flags: {
    model: { kind: 'string', help: 'GGUF file (or --synthetic)' },
    ...SYNTHETIC_FLAGS,
    pos: { kind: 'number', help: 'position (context length) of the profiled step (default 512)' },
    top: { kind: 'number', help: 'kernels listed (default 20)' },
    activations: ACTIVATIONS_FLAG,
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  async run(flags, io) {
    const pos = flagNumber(flags, 'pos') ?? 512;
    const top = flagNumber(flags, 'top') ?? 20;
    if (!Number.isInteger(pos) || pos < 1) throw new UsageError('--pos must be a positive integer');
    const activations = activationsFlag(flags);
    const { engine } = await loadNodeEngine(modelFromFlags(flags, 'profile').model, Math.max(pos + 64, 1024), { activations });
    try {
      const { runner } = engine.internals;
      if (!runner.profileDecode) throw new UsageError('profile: this runner cannot profile');
      const prompt = Array.from({ length: pos }, (_, i) => (i * 7919 + 13) % runner.config.nVocab);
      let tok = await runner.evalAndSample(prompt, 0, { sampling: GREEDY, step: 0, next: true });
      // Wall time of ordinary decoding right after the prompt (steps submitted ahead).
      const n = 32;
      const t0 = performance.now();
      for (let i = 0; i < n; i++) tok = await runner.evalAndSample([tok], pos + i, { sampling: GREEDY, step: i + 1, next: i + 1 < n });
      const wallMs = (performance.now() - t0) / n;
      let best: readonly DispatchTime[] | undefined;
      for (let r = 0; r < 3; r++) {
        const t = await runner.profileDecode(pos);
        if (!t) throw new UsageError('profile: the adapter has no timestamp queries');
        if (!best || sum(t) < sum(best)) best = t;
      }
      if (!best) throw new UsageError('profile: nothing measured');
      const byKernel = new Map<string, { us: number; n: number }>();
      for (const d of best) {
        const k = d.label.split(':').slice(0, 2).join(':');
        const e = byKernel.get(k) ?? { us: 0, n: 0 };
        e.us += d.us;
        e.n++;
        byKernel.set(k, e);
      }
      const rows = [...byKernel.entries()].sort((a, b) => b[1].us - a[1].us);
      const gpuMs = sum(best) / 1000;
      if (flags.json) {
        io.out(JSON.stringify({ pos, activations, dispatches: best.length, gpuMsPerStep: gpuMs, wallMsPerToken: wallMs, kernels: rows.map(([k, e]) => ({ kernel: k, dispatches: e.n, us: e.us })) }) + '\n');
        return 0;
      }
      io.out(`decode step at position ${pos} (activations ${activations}): ${best.length} dispatches, GPU ${gpuMs.toFixed(3)} ms (sum of per-dispatch pass times), wall ${wallMs.toFixed(3)} ms/token decoding\n`);
      io.out('kernel                                              dispatches      us     us/disp   share\n');
      for (const [k, e] of rows.slice(0, top))
        io.out(`${k.slice(0, 50).padEnd(50)} ${String(e.n).padStart(10)} ${e.us.toFixed(1).padStart(9)} ${(e.us / e.n).toFixed(2).padStart(9)} ${((100 * e.us) / (gpuMs * 1000)).toFixed(1).padStart(6)}%\n`);
      return 0;
    } finally {
      await engine.unload();
    }
  },
};

function sum(t: readonly DispatchTime[]): number {
  return t.reduce((a, d) => a + d.us, 0);
}
