/**
 * @file One schema per kernel for its uniform `Params`: the same ordered field list generates the WGSL
 * `struct Params` and packs the values, so the two can never drift apart (ratchet's WgslMetadata idea).
 * All fields are 4-byte scalars; the struct is padded to 16 bytes as uniform buffers require.
 */

export type ParamType = 'u32' | 'i32' | 'f32';
export type ParamSchema = readonly (readonly [name: string, type: ParamType])[];
export type ParamValues<S extends ParamSchema> = { readonly [K in S[number][0]]: number };

export function wgslParamsStruct(schema: ParamSchema, name = 'Params'): string {
  return `struct ${name} {\n${schema.map(([n, t]) => `  ${n}: ${t},`).join('\n')}\n}`;
}

export function paramsByteSize(schema: ParamSchema): number {
  return Math.max(16, Math.ceil((schema.length * 4) / 16) * 16);
}

export function packParams<S extends ParamSchema>(schema: S, values: ParamValues<S>): ArrayBuffer {
  const buf = new ArrayBuffer(paramsByteSize(schema));
  const dv = new DataView(buf);
  const vals: Readonly<Record<string, number>> = values;
  schema.forEach(([n, t], i) => {
    const v = vals[n];
    if (v === undefined || !Number.isFinite(v)) throw new RangeError(`param ${n} is ${String(v)}`);
    if (t === 'f32') dv.setFloat32(i * 4, v, true);
    else if (t === 'u32') {
      if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`param ${n} = ${v} is not a u32`);
      dv.setUint32(i * 4, v, true);
    } else {
      if (!Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw new RangeError(`param ${n} = ${v} is not an i32`);
      dv.setInt32(i * 4, v, true);
    }
  });
  return buf;
}
