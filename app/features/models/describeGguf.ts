/**
 * @file What a model added by URL is, from its GGUF header alone: the engine's header reader (workers/gguf) over
 * HTTP Range requests, so a multi-GB model is described from its first few MB (header: metadata and tensor
 * infos; split sets read each part's header) before anything is downloaded. The header is untrusted: the
 * reader bounds every count and length, and the strings shown are cut short.
 */
import { openUrlSource, type ByteSource } from '../../../workers/gguf/byteSource.ts';
import { elementCount, ggmlTypeName } from '../../../workers/gguf/ggmlTypes.ts';
import { openGgufModel, type GgufModel } from '../../../workers/gguf/model.ts';
import type { ModelDetails } from './catalog.ts';

export interface GgufDescription {
  readonly details: ModelDetails;
  /** Bytes of every part together (the download). */
  readonly sizeBytes: number;
}

const clip = (s: string, n = 80): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** "Q8_0 88 %, F32 12 %": tensor types by share of the tensor bytes, largest first. */
function quantMix(m: GgufModel): string {
  const by = new Map<string, number>();
  for (const t of m.tensors) by.set(ggmlTypeName(t.type), (by.get(ggmlTypeName(t.type)) ?? 0) + t.nbytes);
  const total = m.tensorBytes || 1;
  const parts = [...by].sort((a, b) => b[1] - a[1]);
  const shown = parts.filter(([, b]) => b / total >= 0.005).slice(0, 4);
  return shown.map(([n, b]) => `${n} ${Math.round((100 * b) / total)} %`).join(', ') + (shown.length < parts.length ? ', …' : '');
}

/** The details of an opened GGUF model (tested on synthetic files; the same code runs on URL sources). */
export function describeGgufModel(m: GgufModel): ModelDetails {
  const md = m.metadata;
  const arch = md.optString('general.architecture') ?? 'unknown';
  const num = (k: string): number | undefined => {
    const v = md.get(`${arch}.${k}`);
    return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
  };
  const nExpert = num('expert_count') ?? 0;
  const nUsed = num('expert_used_count') ?? 0;
  let params = 0;
  let expertParams = 0;
  let largest = 0;
  for (const t of m.tensors) {
    const n = elementCount(t.dims);
    params += n;
    if (t.name.includes('_exps')) expertParams += n;
    largest = Math.max(largest, t.nbytes);
  }
  const active = nExpert > 0 && nUsed > 0 ? params - expertParams + (expertParams * Math.min(nUsed, nExpert)) / nExpert : params;
  const license = md.optString('general.license');
  const licenseLink = md.optString('general.license.link');
  return {
    architecture: clip(arch, 40),
    params,
    activeParams: Math.round(active),
    ...(nExpert > 0 ? { experts: { total: nExpert, used: nUsed } } : {}),
    context: num('context_length') ?? 0,
    quant: quantMix(m),
    license: license !== undefined ? clip(license) : 'not stated in the file',
    ...(licenseLink !== undefined && /^https:\/\//.test(licenseLink) ? { licenseUrl: licenseLink } : {}),
    largestTensorBytes: largest,
  };
}

export async function describeSource(first: ByteSource, openSibling: (fileName: string) => Promise<ByteSource>, signal?: AbortSignal): Promise<GgufDescription> {
  const m = await openGgufModel(first, openSibling, { signal });
  return { details: describeGgufModel(m), sizeBytes: m.sources.reduce((s, x) => s + x.size, 0) };
}

/** Reads the header of the GGUF at `url` (and of its split siblings) by ranged requests. */
export async function describeGgufUrl(url: string, signal?: AbortSignal): Promise<GgufDescription> {
  const first = await openUrlSource(url, { signal });
  return describeSource(first, (name) => openUrlSource(new URL(name, url).href, { signal }), signal);
}
