/**
 * @file What the MoE wrappers (moe_router.ts, moe_decode.ts, moe_prefill.ts) share: the offered sizes, the
 * ggml-cpu rounding of expert inputs, and the binding of expert tensors. Expert tensors split into chunks of
 * whole experts (GpuWeight.chunks, binding limits) are bound together, up to 8 chunks per tensor, and picked by
 * expert index in the shader (`weightBindingsWgsl`); when the chunks of all tensors do not fit the device's
 * storage-buffer limit the experts are split into windows (`expertWindows`), one dispatch each.
 */
import commonSource from './moe_common.wgsl?raw';
import { check, type KernelContext } from './lib/context.ts';
import { wgslParamsStruct, type ParamSchema } from './lib/params.ts';
import { QUANT_INCLUDES, QUANT_TYPES } from './lib/quant.ts';
import type { GgmlRounding } from './act_quant.ts';
import type { GpuWeight, GpuWeightType } from './lib/weights.ts';

/** Expert weight types the MoE kernels decode (all of kernels/lib/quant.wgsl). */
export const MOE_WEIGHT_TYPES: readonly GpuWeightType[] = QUANT_TYPES;
/** Workgroup sizes offered (decode expert kernels). */
export const MOE_WG_SIZES = [64, 128, 256] as const;
/** Router workgroup sizes offered (one workgroup per token reads the whole router: the more lanes the better). */
export const MOE_ROUTER_WG_SIZES = [64, 128, 256, 512, 1024] as const;
/** Rows per invocation offered for the decode expert kernels (each activation part is reused RPT times). */
export const MOE_ROWS_PER_THREAD = [1, 2, 4] as const;
/** Most chunks of one expert tensor bound in one dispatch. */
export const MOE_MAX_CHUNK_BINDINGS = 8;
/** Most experts per token (router workgroup array). */
export const MOE_MAX_K = 16;

/**
 * ggml-cpu's rounding of each expert product's input (act_quant.ts ggmlRoundingFor of the weight type), applied
 * in place; an absent entry stays f32. x is rounded after the router has read it; the shared expert reads x
 * too, so the caller passes `sharedX` when the shared gate/up round differently.
 */
export interface MoeRounding {
  /** x before the routed gate+up. */
  readonly x?: GgmlRounding;
  /** The GLU rows before the routed down. */
  readonly h?: GgmlRounding;
  /** The shared expert's GLU row before its down. */
  readonly sharedH?: GgmlRounding;
}

export const MOE_INCLUDES: Readonly<Record<string, string>> = { ...QUANT_INCLUDES, moe_common: commonSource };

export type Defines = Record<string, string | number | boolean>;

export function baseDefines(ctx: KernelContext): Defines {
  return ctx.subgroups ? { USE_SUBGROUPS: true } : {};
}

export function withParams(source: string, schema: ParamSchema): string {
  return source.replace('PARAMS_STRUCT', wgslParamsStruct(schema));
}

/**
 * WGSL for `n` weight buffers at bindings first.. and the accessors quant.wgsl needs, `qw_load(word)` (and
 * `qw_load4` for 16-byte-aligned types), reading the buffer selected by the private `q_sel`.
 */
export function weightBindingsWgsl(first: number, n: number, vec4: boolean): string {
  const elem = vec4 ? 'vec4<u32>' : 'u32';
  const decl = Array.from({ length: n }, (_, i) => `@group(0) @binding(${first + i}) var<storage, read> wbuf${i}: array<${elem}>;`);
  const accessor = (name: string, ret: string, idx: string, suffix: string): string => {
    const read = (i: number): string => `wbuf${i}[${idx}]${suffix}`;
    const body =
      n === 1
        ? `  return ${read(0)};`
        : `  switch q_sel {\n${Array.from({ length: n - 1 }, (_, i) => `    case ${i}u: { return ${read(i)}; }`).join('\n')}\n` +
          `    default: { return ${read(n - 1)}; }\n  }`;
    return `fn ${name}(i: u32) -> ${ret} {\n${body}\n}`;
  };
  const fns = vec4
    ? [accessor('qw_load', 'u32', 'i >> 2u', '[i & 3u]'), accessor('qw_load4', 'vec4<u32>', 'i >> 2u', '')]
    : [accessor('qw_load', 'u32', 'i', '')];
  return [...decl, 'var<private> q_sel: u32;', ...fns].join('\n');
}

export function checkWorkgroup(ctx: KernelContext, wg: number, tpr: number, who: string, sizes: readonly number[] = MOE_WG_SIZES): void {
  check(
    sizes.includes(wg) && wg <= ctx.info.limits.maxComputeInvocationsPerWorkgroup,
    () => `${who}: workgroup size ${wg} is not one of ${sizes.join(', ')} within the device limit`,
  );
  check(Number.isInteger(tpr) && tpr >= 1 && (tpr & (tpr - 1)) === 0 && tpr <= wg, () => `${who}: threads per row ${tpr} must be a power of two <= ${wg}`);
}

export function checkRpt(rpt: number, who: string): void {
  check((MOE_ROWS_PER_THREAD as readonly number[]).includes(rpt), () => `${who}: rows per thread ${rpt} is not one of ${MOE_ROWS_PER_THREAD.join(', ')}`);
}

export function pow2Floor(n: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, n)));
}

export function checkBuffer(buf: GPUBuffer, offsetElems: number, nElems: number, who: string, what: string): void {
  check(Number.isInteger(offsetElems) && offsetElems >= 0, () => `${who}: ${what} offset ${offsetElems} must be a non-negative integer`);
  check((offsetElems + nElems) * 4 <= buf.size, () => `${who}: ${what} holds ${buf.size / 4} elements < ${offsetElems} + ${nElems}`);
}

export function checkPositiveInt(n: number, who: string, what: string): void {
  check(Number.isInteger(n) && n > 0, () => `${who}: ${what} must be a positive integer, got ${n}`);
}

/** Experts per chunk of a 3-D expert tensor (chunks hold whole experts, all but the last the same count). */
export function expertsPerChunk(w: GpuWeight, who: string): number {
  const epc = w.chunks[0].rows / w.rowGroup;
  w.chunks.forEach((c, i) =>
    check(c.firstRow === i * epc * w.rowGroup, () => `${who}: ${w.name} chunk ${i} does not start at expert ${i * epc}`),
  );
  return epc;
}

export interface ExpertWindow {
  readonly lo: number;
  readonly hi: number;
  /** Per tensor: first chunk bound and how many. */
  readonly c0: readonly number[];
  readonly n: readonly number[];
}

/**
 * Splits experts [0, nExpert) into consecutive windows whose chunks (of every tensor in `ws`) fit `budget`
 * storage bindings, at most MOE_MAX_CHUNK_BINDINGS per tensor. One window in the common case.
 */
export function expertWindows(ws: readonly GpuWeight[], epc: readonly number[], nExpert: number, budget: number, who: string): ExpertWindow[] {
  const chunkOf = (i: number, e: number): number => Math.floor(e / epc[i]);
  const need = (lo: number, hi: number): number[] => ws.map((_, i) => chunkOf(i, hi - 1) - chunkOf(i, lo) + 1);
  const fits = (lo: number, hi: number): boolean => {
    const n = need(lo, hi);
    return n.every((c) => c <= MOE_MAX_CHUNK_BINDINGS) && n.reduce((a, b) => a + b, 0) <= budget;
  };
  check(fits(0, 1), () => `${who}: the device's storage-buffer limit leaves ${budget} bindings for ${ws.length} weight tensors`);
  const out: ExpertWindow[] = [];
  for (let lo = 0; lo < nExpert; ) {
    let hi = lo + 1;
    while (hi < nExpert && fits(lo, hi + 1)) hi++;
    out.push({ lo, hi, c0: ws.map((_, i) => chunkOf(i, lo)), n: need(lo, hi) });
    lo = hi;
  }
  return out;
}


export function storageBudget(ctx: KernelContext, fixed: number, override: number | undefined): number {
  return (override ?? ctx.info.limits.maxStorageBuffersPerShaderStage) - fixed;
}
