/**
 * @file `bench-kernels`: throughput of the decode kernels on this machine's WebGPU adapter, as GB/s (weight +
 * activation bytes read / kernel time) next to the device's own streaming-read bandwidth measured in the same
 * run, so a kernel's distance from the memory roofline is one number. Real model shapes on GPUs; small shapes
 * on fallback adapters (lavapipe, SwiftShader) unless --full.
 */
import { UsageError, flagNumber, flagString, type CliCommand } from '../cliTypes.ts';
import { describeGpu } from '../../workers/gpu/device.ts';
import { acquireNodeGpu } from '../../workers/gpu/nodeGpu.ts';
import { KernelContext } from '../../kernels/lib/context.ts';
import { QUANT_GEOMETRY, QUANT_TYPES, isQuantType, type QuantType } from '../../kernels/lib/quant.ts';
import { MATVEC_ROWS, MATVEC_WG_SIZES, matvecDefaultVariant, type MatvecVariant } from '../../kernels/matvec.ts';
import { Q8_WEIGHT_TYPES, isQ8WeightType } from '../../kernels/act_quant.ts';
import {
  benchActQuant,
  benchMatvec,
  benchMatmul,
  benchMoe,
  BenchError,
  checkKernels,
  streamRead,
  type CheckResult,
  type MatvecCase,
  type MatmulResult,
  type MatvecResult,
  type MoeCase,
  type MoeResult,
  type TimeOptions,
} from '../lib/benchKernels.ts';

/** Real decode shapes (n_in × n_out): Granite/OLMoE attention, DBRX QKV, DBRX output head. */
const REAL: readonly (readonly [number, number])[] = [
  [2048, 2048],
  [6144, 8192],
];
const HEAD: readonly [number, number] = [6144, 100352];
const HEAD_TYPES: readonly QuantType[] = ['Q4_K', 'Q6_K', 'Q8_0'];
const SMALL: readonly (readonly [number, number])[] = [[1024, 1024]];

/** One MoE layer's decode (router + gate/up + down/combine), Q4_K experts. */
const MOE_REAL: readonly MoeCase[] = [
  { name: 'OLMoE-1B-7B', type: 'Q4_K', nEmbd: 2048, nFf: 1024, nExpert: 64, k: 8 },
  { name: 'DBRX', type: 'Q4_K', nEmbd: 6144, nFf: 10752, nExpert: 16, k: 4 },
];
const MOE_SMALL: readonly MoeCase[] = [{ name: 'small', type: 'Q4_K', nEmbd: 512, nFf: 256, nExpert: 8, k: 2 }];

function cases(types: readonly QuantType[], full: boolean): MatvecCase[] {
  const out: MatvecCase[] = [];
  for (const type of types) {
    for (const [nIn, nOut] of full ? REAL : SMALL) out.push({ type, nIn, nOut });
    if (full && HEAD_TYPES.includes(type)) out.push({ type, nIn: HEAD[0], nOut: HEAD[1] });
  }
  return out;
}

function parseTypes(raw: string | undefined): readonly QuantType[] {
  if (raw === undefined) return QUANT_TYPES;
  const out: QuantType[] = [];
  for (const t of raw.split(',').map((s) => s.trim().toUpperCase())) {
    if (!isQuantType(t)) throw new UsageError(`bench-kernels: unknown type '${t}' (known: ${QUANT_TYPES.join(', ')})`);
    out.push(t);
  }
  return out;
}

function sweepVariants(ctx: KernelContext): Required<MatvecVariant>[] {
  const out: Required<MatvecVariant>[] = [];
  for (const subgroups of ctx.subgroups ? [true, false] : [false])
    for (const workgroupSize of MATVEC_WG_SIZES) for (const rows of MATVEC_ROWS) out.push({ workgroupSize, rows, subgroups });
  return out;
}

const fmt = (n: number, d = 1): string => n.toFixed(d);

export const command: CliCommand = {
  name: 'bench-kernels',
  summary: 'GB/s of the decode matvec per weight type at model shapes (plus Q4_K prefill matmul and MoE decode) against the read bandwidth',
  flags: {
    json: { kind: 'boolean', help: 'print one JSON object' },
    full: { kind: 'boolean', help: 'real model shapes also on fallback adapters (slow there)' },
    types: { kind: 'string', help: `comma-separated weight types (default all: ${QUANT_TYPES.join(',')})` },
    sweep: { kind: 'boolean', help: 'time every matvec variant (workgroup size × rows × subgroups), not only the default' },
    reps: { kind: 'number', help: 'timed passes per case, best kept (default 3)' },
    check: { kind: 'boolean', help: 'first check matvec (every variant) and matmul of every type against the CPU reference on this adapter (NMSE)' },
    'no-moe': { kind: 'boolean', help: 'skip the fused MoE decode (OLMoE-1B-7B and DBRX layer shapes)' },
    'no-int8': { kind: 'boolean', help: 'skip the int8-activation matvec (Q4_K, Q8_0) and act_quant' },
  },
  async run(flags, io) {
    const types = parseTypes(flagString(flags, 'types'));
    const reps = flagNumber(flags, 'reps') ?? 3;
    if (!Number.isInteger(reps) || reps < 1 || reps > 100) throw new UsageError(`bench-kernels: --reps must be 1..100, got ${reps}`);
    const gpu = await acquireNodeGpu();
    const ctx = new KernelContext(gpu.device, gpu.info);
    const fallback = gpu.info.isFallbackAdapter;
    const full = flags.full === true || !fallback;
    const opts: TimeOptions = fallback ? { passSeconds: 0.05, maxDispatches: 20, reps: Math.min(reps, 2) } : { passSeconds: 0.03, maxDispatches: 3000, reps };
    const rotate = fallback ? 0 : 256 << 20;
    const log = (s: string): void => {
      if (!flags.json) io.out(s);
    };
    log(`adapter: ${describeGpu(gpu.info)}\n`);

    const checks: CheckResult[] = [];
    if (flags.check) {
      for (const type of types) {
        const rs = await checkKernels(ctx, type, sweepVariants(ctx));
        checks.push(...rs);
        const worst = rs.reduce((a, r) => Math.max(a, r.nmse), 0);
        log(`check ${type.padEnd(7)} matvec × ${rs.length - 3} variants, matmul × 3 tiles: worst NMSE ${worst.toExponential(2)}${worst <= 1e-10 ? '' : '  FAIL'}\n`);
      }
    }

    // Large allocations first: after many buffers of other sizes were created and destroyed, big new buffers
    // measured markedly slower on an H200 (allocation history), so the MoE layers and the largest matvec
    // weights go first. The streaming read runs at the start (twice: the first pass brings the clocks up)
    // and at the end; the best is the device's read bandwidth.
    const streamBytes = fallback ? 64 << 20 : 1 << 30;
    const streams = [await streamRead(ctx, streamBytes, opts), await streamRead(ctx, streamBytes, opts)];

    const moe: MoeResult[] = [];
    const failures: string[] = [];
    if (!flags['no-moe']) {
      for (const c of full ? MOE_REAL : MOE_SMALL) {
        try {
          moe.push(await benchMoe(ctx, c, opts));
          if (!flags['no-int8'] && isQ8WeightType(c.type)) moe.push(await benchMoe(ctx, c, opts, true));
        } catch (e) {
          if (!(e instanceof BenchError)) throw e;
          failures.push(e.message);
        }
      }
    }
    const results: MatvecResult[] = [];
    const byBytes = (c: MatvecCase): number => c.nIn * c.nOut * QUANT_GEOMETRY[c.type].blockWords / QUANT_GEOMETRY[c.type].blockElems;
    for (const c of [...cases(types, full)].sort((p, q) => byBytes(q) - byBytes(p))) {
      const variants = (int8: boolean): Required<MatvecVariant>[] => (flags.sweep ? sweepVariants(ctx) : [matvecDefaultVariant(ctx, c.type, int8)]);
      try {
        results.push(...(await benchMatvec(ctx, c, variants(false), rotate, opts)));
        // The int8-activation path (Q4_K, Q8_0): llama.cpp's integer dot products.
        if (isQ8WeightType(c.type) && !flags['no-int8']) results.push(...(await benchMatvec(ctx, c, variants(true), rotate, opts, 'int8')));
      } catch (e) {
        if (!(e instanceof BenchError)) throw e;
        failures.push(e.message);
      }
    }
    const actQuant: { n: number; scaleBlock: 32 | 256; us: number }[] = [];
    if (!flags['no-int8'])
      for (const scaleBlock of [...new Set(types.filter(isQ8WeightType).map((t) => Q8_WEIGHT_TYPES[t]))])
        for (const n of full ? [2048, 6144] : [1024]) actQuant.push({ n, scaleBlock, us: (await benchActQuant(ctx, n, scaleBlock, opts)).seconds * 1e6 });
    // Prefill: the Q4_K matmul at the DBRX QKV shape for a short and a long prompt chunk.
    const mm: MatmulResult[] = [];
    if (types.includes('Q4_K'))
      for (const tokens of full ? [64, 512] : [16]) {
        const [nIn, nOut] = full ? [6144, 8192] : [1024, 1024];
        try {
          mm.push(await benchMatmul(ctx, { type: 'Q4_K', nIn, nOut, tokens }, opts));
        } catch (e) {
          if (!(e instanceof BenchError)) throw e;
          failures.push(e.message);
        }
      }
    streams.push(await streamRead(ctx, streamBytes, opts));
    const stream = streams.reduce((a, b) => (b.gbps > a.gbps ? b : a));

    log(`stream read ${fmt(stream.bytes / 2 ** 20, 0)} MiB: ${fmt(stream.gbps)} GB/s (${stream.timing.method}, ${stream.timing.dispatches} dispatches)\n`);
    log('matvec            n_in x n_out     variant              GB/s  %stream   us/dispatch\n');
    const order = new Map(types.map((t, i) => [t, i]));
    results.sort((p, q) => (order.get(p.type) ?? 0) - (order.get(q.type) ?? 0) || p.nOut * p.nIn - q.nOut * q.nIn);
    for (const r of results) {
      const v = `wg${r.variant.workgroupSize} r${r.variant.rows}${r.variant.subgroups ? ' sg' : ''}${r.activations === 'int8' ? ' int8' : ''}`;
      log(
        `${r.type.padEnd(8)} ${`${r.nIn} x ${r.nOut}`.padStart(16)}   ${v.padEnd(19)} ${fmt(r.gbps).padStart(7)}  ${fmt((100 * r.gbps) / stream.gbps).padStart(6)}%` +
          `   ${fmt(r.timing.seconds * 1e6, 2).padStart(10)}\n`,
      );
    }
    for (const a of actQuant) log(`act_quant n=${a.n} (${a.scaleBlock}-element scales): ${fmt(a.us, 2)} us/dispatch\n`);
    if (mm.length) log('matmul (prefill)  n_in x n_out      tokens    GFLOP/s    us/dispatch\n');
    for (const r of mm)
      log(`${r.type.padEnd(8)} ${`${r.nIn} x ${r.nOut}`.padStart(16)}   ${String(r.tokens).padStart(6)}  ${fmt(r.gflops).padStart(9)}   ${fmt(r.timing.seconds * 1e6, 2).padStart(12)}\n`);
    if (moe.length) log('moe decode        n_embd n_ff experts k    GB/s  %stream   us/layer (dispatches)\n');
    for (const r of moe) {
      log(
        `${(r.name + (r.int8 ? ' int8' : '')).padEnd(12)} ${`${r.nEmbd} ${r.nFf} ${r.nExpert} ${r.k}`.padStart(22)}  ${fmt(r.gbps).padStart(7)}  ${fmt((100 * r.gbps) / stream.gbps).padStart(6)}%` +
          `   ${fmt(r.timing.seconds * 1e6, 2).padStart(8)} (${r.dispatchesPerStep})\n`,
      );
    }
    for (const f of failures) log(`FAILED: ${f}\n`);
    if (flags.json) {
      io.out(
        JSON.stringify({
          adapter: describeGpu(gpu.info),
          fallback,
          full,
          checks,
          failures,
          stream: { bytes: stream.bytes, gbps: stream.gbps, method: stream.timing.method },
          matvec: results.map((r) => ({
            type: r.type,
            nIn: r.nIn,
            nOut: r.nOut,
            variant: r.variant,
            activations: r.activations,
            bytes: r.bytes,
            usPerDispatch: r.timing.seconds * 1e6,
            dispatchesPerPass: r.timing.dispatches,
            gbps: r.gbps,
            pctStream: (100 * r.gbps) / stream.gbps,
            weightCopies: r.copies,
            method: r.timing.method,
          })),
          actQuant,
          matmul: mm.map((r) => ({ type: r.type, nIn: r.nIn, nOut: r.nOut, tokens: r.tokens, usPerDispatch: r.timing.seconds * 1e6, gflops: r.gflops })),
          moe: moe.map((r) => ({
            name: r.name,
            int8: r.int8,
            type: r.type,
            nEmbd: r.nEmbd,
            nFf: r.nFf,
            nExpert: r.nExpert,
            k: r.k,
            bytes: r.bytes,
            usPerLayer: r.timing.seconds * 1e6,
            dispatchesPerLayer: r.dispatchesPerStep,
            gbps: r.gbps,
            pctStream: (100 * r.gbps) / stream.gbps,
          })),
        }) + '\n',
      );
    }
    gpu.device.destroy();
    return failures.length > 0 || checks.some((c) => !(c.nmse <= 1e-10)) ? 1 : 0;
  },
};
