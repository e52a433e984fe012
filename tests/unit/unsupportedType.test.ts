/**
 * @file A tensor type without GPU kernels (IQ2_XXS here) is refused by the upload plan, before any GPU buffer
 * exists, with UnsupportedModelError naming the tensor and the type; `inspect` says "cannot run" for it.
 */
import { describe, expect, it } from 'vitest';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';
import { GgmlType, tensorBytes } from '../../workers/gguf/ggmlTypes.ts';
import { openGgufModel } from '../../workers/gguf/model.ts';
import { kv, writeGgufToBytes } from '../../workers/gguf/writer.ts';
import { planUpload, UnsupportedModelError } from '../../workers/engine/loader.ts';
import { formatReport, inspectModel } from '../../scripts/commands/inspect.ts';

async function modelWith(type: GgmlType) {
  const t = (name: string, dims: number[], ty: GgmlType) => ({ name, dims, type: ty, data: new Uint8Array(tensorBytes(ty, dims)) });
  const bytes = await writeGgufToBytes(
    [kv.string('general.architecture', 'llama')],
    [t('token_embd.weight', [256, 8], GgmlType.Q8_0), t('blk.0.ffn_down.weight', [256, 4], type), t('output_norm.weight', [256], GgmlType.F32)],
  );
  return openGgufModel(arrayBufferSource(bytes, 'iq2.gguf'));
}

describe('unsupported tensor types', () => {
  it('the upload plan refuses IQ2_XXS, naming the tensor and the type', async () => {
    const model = await modelWith(GgmlType.IQ2_XXS);
    const names = model.tensors.map((x) => x.name);
    let err: unknown;
    try {
      planUpload({ maxBinding: 2 ** 30 }, model, names);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedModelError);
    expect(String(err)).toContain('blk.0.ffn_down.weight');
    expect(String(err)).toContain('IQ2_XXS');
  });

  it('the same model with a supported type plans its upload', async () => {
    const model = await modelWith(GgmlType.Q4_K);
    const plan = planUpload({ maxBinding: 2 ** 30 }, model, model.tensors.map((x) => x.name));
    expect(plan.tensors).toHaveLength(3);
    expect(plan.gpuBytes).toBeGreaterThan(0);
  });

  it('inspect says it cannot run, and why', async () => {
    const text = formatReport(inspectModel(await modelWith(GgmlType.IQ2_XXS)));
    expect(text).toMatch(/cannot run this model: .*blk\.0\.ffn_down\.weight.*IQ2_XXS/);
  });
});
