/**
 * @file GGUF key/value metadata: the value model (with its exact on-disk types, so the splitter and writer can
 * copy metadata byte-for-byte in meaning) and `GgufMetadata`, the typed accessor that architecture code,
 * the tokenizer and the CLI read hyper-parameters through. Required getters throw `GgufError` naming the key
 * and what was found, so a missing or mistyped key is reported as such instead of surfacing later as NaN.
 */
import { GgufError } from './errors.ts';

/** GGUF value type ids (ggml/include/gguf.h, `enum gguf_type`). */
export const GgufValueTypeId = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GgufValueTypeId, 'array'>;
/** A scalar type, or an array of some type (arrays may nest). */
export type GgufValueType = GgufScalarType | { readonly arrayOf: GgufValueType };

/** 64-bit integers are `number` when safe, else `bigint`. Arrays hold plain values. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufKv {
  readonly key: string;
  readonly type: GgufValueType;
  readonly value: GgufValue;
}

export function typeLabel(t: GgufValueType): string {
  return typeof t === 'string' ? t : `${typeLabel(t.arrayOf)}[]`;
}

function describe(v: GgufValue | undefined): string {
  if (v === undefined) return 'nothing (key absent)';
  if (Array.isArray(v)) {
    const first = v.length > 0 ? describe(v[0]) : 'empty';
    return `an array of ${v.length} (${first}${v.length > 0 ? ', ...' : ''})`;
  }
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v)}`;
  return `${typeof v} ${String(v)}`;
}

export class GgufMetadata {
  private readonly map: Map<string, GgufKv>;

  constructor(entries: readonly GgufKv[]) {
    this.map = new Map(entries.map((e) => [e.key, e]));
  }

  get(key: string): GgufValue | undefined {
    return this.map.get(key)?.value;
  }
  /** The key with its on-disk type (for copying metadata exactly). */
  entry(key: string): GgufKv | undefined {
    return this.map.get(key);
  }
  entries(): GgufKv[] {
    return [...this.map.values()];
  }
  has(key: string): boolean {
    return this.map.has(key);
  }
  keys(): string[] {
    return [...this.map.keys()];
  }
  get size(): number {
    return this.map.size;
  }

  private fail(key: string, want: string): never {
    const found = this.get(key);
    throw new GgufError(
      found === undefined ? 'missing-metadata' : 'bad-metadata',
      `metadata key '${key}': expected ${want}, found ${describe(found)}`,
    );
  }

  string(key: string): string {
    const v = this.get(key);
    return typeof v === 'string' ? v : this.fail(key, 'a string');
  }
  optString(key: string): string | undefined {
    return this.has(key) ? this.string(key) : undefined;
  }
  /** Numbers of any width; a 64-bit value too large for a double is an error here. */
  number(key: string): number {
    const v = this.get(key);
    return typeof v === 'number' ? v : this.fail(key, 'a number');
  }
  optNumber(key: string): number | undefined {
    return this.has(key) ? this.number(key) : undefined;
  }
  bool(key: string): boolean {
    const v = this.get(key);
    return typeof v === 'boolean' ? v : this.fail(key, 'a bool');
  }
  optBool(key: string): boolean | undefined {
    return this.has(key) ? this.bool(key) : undefined;
  }
  stringArray(key: string): string[] {
    const v = this.get(key);
    if (Array.isArray(v) && v.every((x): x is string => typeof x === 'string')) return v;
    return this.fail(key, 'an array of strings');
  }
  optStringArray(key: string): string[] | undefined {
    return this.has(key) ? this.stringArray(key) : undefined;
  }
  numberArray(key: string): number[] {
    const v = this.get(key);
    if (Array.isArray(v) && v.every((x): x is number => typeof x === 'number')) return v;
    return this.fail(key, 'an array of numbers');
  }
  optNumberArray(key: string): number[] | undefined {
    return this.has(key) ? this.numberArray(key) : undefined;
  }
}
