/** describeGguf: a model's details from its GGUF header alone (the bundled demo, a split set of two parts). */
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import { describeSource } from '../../app/features/models/describeGguf.ts';
import { arrayBufferSource } from '../../workers/gguf/byteSource.ts';

const DIR = 'public/models/brix-demo-30m';
const part = (n: number): string => `brix-demo-30m-q8_0-0000${n}-of-00002.gguf`;
const src = (name: string) => arrayBufferSource(new Uint8Array(readFileSync(`${DIR}/${name}`)), name);

test('the demo split set: architecture, parameters, experts, context, quant mix and the download size', async () => {
  const d = await describeSource(src(part(1)), async (name) => src(name));
  expect(d.sizeBytes).toBe(28_555_104); // both parts, as served
  expect(d.details.architecture).toBe('dbrx');
  expect(d.details.experts).toEqual({ total: 16, used: 4 });
  expect(d.details.params).toBeGreaterThan(25e6);
  expect(d.details.activeParams).toBeLessThan(d.details.params);
  expect(d.details.context).toBeGreaterThan(0);
  expect(d.details.quant).toMatch(/^Q8_0 \d+ %/);
  expect(d.details.largestTensorBytes).toBeGreaterThan(0);
});
