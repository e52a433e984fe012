/**
 * @file `inspect`: what is in a GGUF (single or split): architecture and hyper-parameters as the engine reads
 * them, sizes, a quant-type histogram, metadata and the tensor table. Read by ranges, so it is instant even on
 * multi-GB files. `--json` prints the same as one object.
 */
import { requireString, type CliCommand } from '../cliTypes.ts';
import { describeModel, expectedTensors, type ModelConfig } from '../../workers/gguf/arch.ts';
import { BLOCK_LAYOUT, typeName } from '../../kernels/lib/weights.ts';
import { unsupportedTypeReason } from '../../kernels/lib/weightTypes.ts';
import { GgufError } from '../../workers/gguf/errors.ts';
import { ggmlTypeName } from '../../workers/gguf/ggmlTypes.ts';
import { typeLabel, type GgufValue } from '../../workers/gguf/metadata.ts';
import type { GgufModel } from '../../workers/gguf/model.ts';
import { openModelFile } from '../lib/nodeSource.ts';

const fmtBytes = (n: number): string =>
  n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;

/** f32 metadata reads back as the nearest double (0.2199999988...); print the shortest f32 spelling. */
const f32 = (x: number): string => String(Number(x.toPrecision(7)));

function short(v: GgufValue): string {
  if (Array.isArray(v)) {
    const head = v.slice(0, 4).map(short).join(', ');
    return `[${v.length}] ${head}${v.length > 4 ? ', …' : ''}`;
  }
  if (typeof v === 'string') {
    const s = JSON.stringify(v);
    return s.length > 80 ? s.slice(0, 77) + '…"' : s;
  }
  return typeof v === 'number' && !Number.isInteger(v) ? f32(v) : String(v);
}

export interface InspectReport {
  files: { name: string; size: number; version: number; tensors: number; dataOffset: number }[];
  architecture: string | undefined;
  hparams: ModelConfig | undefined;
  problem: string | undefined;
  /** Tensors the architecture does not have (a block past block_count, an unknown name) or of a type it cannot hold. */
  warnings: string[];
  params: number;
  tensorBytes: number;
  types: Record<string, { tensors: number; bytes: number; params: number }>;
  metadata: { key: string; type: string; value: string }[];
  tensors: { name: string; type: string; dims: number[]; bytes: number; offset: number; part: number }[];
}

const VECTOR_TYPES = new Set(['F32', 'F16', 'BF16']);

/**
 * What the loader would not expect: tensors outside the architecture's list (a hostile or broken file can carry
 * blocks past block_count, which nothing would read), vectors (norms, biases) not in a float type, and types
 * Brix has no kernels for.
 */
function tensorWarnings(model: GgufModel, hp: ModelConfig | undefined): string[] {
  const out: string[] = [];
  const expected = hp ? new Map(expectedTensors(hp).map((e) => [e.name, e])) : undefined;
  for (const t of model.tensors) {
    const type = ggmlTypeName(t.type);
    if (expected && !expected.has(t.name)) {
      const blk = /^blk\.(\d+)\./.exec(t.name);
      out.push(
        blk && hp && Number(blk[1]) >= hp.nLayer
          ? `tensor '${t.name}' is in block ${blk[1]}, beyond block_count ${hp.nLayer}`
          : `tensor '${t.name}' is not one ${hp?.arch ?? 'this architecture'} has`,
      );
    }
    const vector = t.dims.filter((d) => d > 1).length <= 1;
    if (!typeName(t.type)) out.push(`tensor '${t.name}' has type ${type}, which Brix has no kernels for (supported: ${Object.keys(BLOCK_LAYOUT).join(', ')})`);
    else if (vector && !VECTOR_TYPES.has(type)) out.push(`tensor '${t.name}' is a vector of type ${type}; norms and biases are F32 (or F16/BF16)`);
  }
  return out;
}

export function inspectModel(model: GgufModel): InspectReport {
  let hparams: ModelConfig | undefined;
  let problem: string | undefined;
  try {
    hparams = describeModel(model);
  } catch (e) {
    if (!(e instanceof GgufError)) throw e;
    problem = `${e.code}: ${e.message}`;
  }
  // A tensor type without kernels is as fatal as bad metadata: the loader refuses it before any upload.
  const noKernels = model.tensors.find((t) => unsupportedTypeReason(t.type) !== undefined);
  if (noKernels) {
    const why = `tensor ${noKernels.name} has type ${ggmlTypeName(noKernels.type)}: ${unsupportedTypeReason(noKernels.type)}`;
    problem = problem ? `${problem}; ${why}` : why;
  }
  const types: InspectReport['types'] = {};
  let params = 0;
  for (const t of model.tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    params += n;
    const k = ggmlTypeName(t.type);
    const h = (types[k] ??= { tensors: 0, bytes: 0, params: 0 });
    h.tensors++;
    h.bytes += t.nbytes;
    h.params += n;
  }
  return {
    files: model.files.map((f) => ({ name: f.source.name, size: f.source.size, version: f.version, tensors: f.tensors.length, dataOffset: f.dataOffset })),
    architecture: model.metadata.optString('general.architecture'),
    hparams,
    problem,
    warnings: tensorWarnings(model, hparams),
    params,
    tensorBytes: model.tensorBytes,
    types,
    metadata: model.metadata.entries().map((e) => ({ key: e.key, type: typeLabel(e.type), value: short(e.value) })),
    tensors: model.tensors.map((t) => ({ name: t.name, type: ggmlTypeName(t.type), dims: t.dims, bytes: t.nbytes, offset: t.offset, part: t.part })),
  };
}

export function formatReport(r: InspectReport): string {
  const lines: string[] = [];
  const total = r.files.reduce((s, f) => s + f.size, 0);
  lines.push(`${r.files.length === 1 ? r.files[0].name : `${r.files.length} parts, first ${r.files[0].name}`}`);
  lines.push(
    `  GGUF v${r.files[0].version}, ${fmtBytes(total)} on disk, ${r.tensors.length} tensors, ${(r.params / 1e6).toFixed(2)}M parameters, ${fmtBytes(r.tensorBytes)} of tensor data (${((8 * r.tensorBytes) / Math.max(1, r.params)).toFixed(2)} bits/weight)`,
  );
  if (r.files.length > 1) for (const [i, f] of r.files.entries()) lines.push(`  part ${i + 1}: ${f.name} ${fmtBytes(f.size)}, ${f.tensors} tensors`);
  lines.push('', `architecture: ${r.architecture ?? '(none)'}`);
  if (r.problem) lines.push(`  cannot run this model: ${r.problem}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  const h = r.hparams;
  if (h) {
    lines.push(
      `  layers ${h.nLayer}, embd ${h.nEmbd}, vocab ${h.nVocab}, context ${h.nCtxTrain}`,
      `  attention: ${h.nHead} heads, ${h.nHeadKv} kv heads, head ${h.headDim}, rope ${h.rope.style} base ${f32(h.rope.freqBase)} dims ${h.rope.nRot}${h.rope.freqScale !== 1 ? ` scale ${f32(h.rope.freqScale)}` : ''}` +
        (h.fusedQkv ? ', fused qkv' : '') +
        (h.clampKqv ? `, clamp ±${h.clampKqv}` : '') +
        (h.qkNorm !== 'none' ? `, qk-norm ${h.qkNorm}` : '') +
        (h.qkvBias ? ', qkv bias' : ''),
      `  norm ${h.norm} eps ${f32(h.normEps)}; ` +
        (h.nExpert > 0
          ? `MoE ${h.nExpert} experts × ff ${h.nFf}, top-${h.nExpertUsed} softmax${h.normTopK ? ' + renorm' : ''}` +
            (h.nFfShexp ? `, shared expert ff ${h.nFfShexp}${h.sharedExpertGated ? ' (sigmoid gate)' : ''}` : '')
          : `dense ff ${h.nFf}`) +
        (h.tiedOutput ? '; tied embeddings' : ''),
    );
    if (h.embeddingScale !== 1 || h.residualScale !== 1 || h.logitScale !== 1) {
      lines.push(
        `  scales: embedding ×${f32(h.embeddingScale)}, attention ${f32(h.attentionScale)}, residual ×${f32(h.residualScale)}, logits ÷${f32(h.logitScale)}`,
      );
    }
  }
  lines.push('', 'tensor types:');
  for (const [t, v] of Object.entries(r.types).sort((a, b) => b[1].bytes - a[1].bytes)) {
    lines.push(`  ${t.padEnd(7)} ${String(v.tensors).padStart(5)} tensors  ${fmtBytes(v.bytes).padStart(11)}  ${(v.params / 1e6).toFixed(2).padStart(9)}M params`);
  }
  lines.push('', 'metadata:');
  const kw = Math.max(...r.metadata.map((m) => m.key.length));
  for (const m of r.metadata) lines.push(`  ${m.key.padEnd(kw)}  ${m.type.padEnd(8)} ${m.value}`);
  lines.push('', 'tensors:');
  const nw = Math.max(...r.tensors.map((t) => t.name.length), 4);
  const multi = r.files.length > 1;
  for (const t of r.tensors) {
    lines.push(
      `  ${t.name.padEnd(nw)}  ${t.type.padEnd(7)} ${`[${t.dims.join(', ')}]`.padEnd(22)} ${fmtBytes(t.bytes).padStart(11)}  @${t.offset}${multi ? ` part ${t.part + 1}` : ''}`,
    );
  }
  return lines.join('\n') + '\n';
}

export const command: CliCommand = {
  name: 'inspect',
  summary: 'print a GGUF model: architecture, hyper-parameters, sizes, quant-type histogram, metadata and tensor table',
  flags: {
    model: { kind: 'string', help: 'the .gguf (a split set: its first part)', required: true },
    json: { kind: 'boolean', help: 'print one JSON object' },
  },
  async run(flags, io) {
    const { model, close } = await openModelFile(requireString(flags, 'model'));
    try {
      const r = inspectModel(model);
      io.out(flags.json ? JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) + '\n' : formatReport(r));
    } finally {
      await close();
    }
    return 0;
  },
};
